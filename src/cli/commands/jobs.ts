import type { Command } from 'commander';
import { positiveInt } from '../args.js';
import type { CliContext, CliDeps } from '../context.js';
import { show, type Column } from '../output.js';
import { listPages, pageOptions, printPage, type ListSpec, type PageOptions } from '../pages.js';

/** A job as the server shows it (GET /jobs/{id}). */
interface JobView {
  id: string;
  module: string;
  version: number;
  status: string;
  attempts: number;
  max_attempts: number;
  result?: unknown;
  error?: { code: string; message: string };
  next_attempt_at?: string;
  callback_url: string | null;
  webhook: { status: string; attempts: number } | null;
  schedule_id: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
}

/** A schedule as the server shows it (GET /schedules/{id}); its run body's fields beside these. */
interface ScheduleView {
  id: string;
  module: string;
  cron: string;
  timezone: string | null;
  next_at: string;
  last_fired_at: string | null;
  fired: number;
  function?: string;
  created_at: string;
}

const JOB_COLUMNS: Column<JobView>[] = [
  { header: 'ID', value: (j) => j.id },
  { header: 'MODULE', value: (j) => j.module },
  { header: 'STATUS', value: (j) => j.status },
  { header: 'ATTEMPTS', value: (j) => `${j.attempts}/${j.max_attempts}`, right: true },
  { header: 'CREATED', value: (j) => j.created_at },
  { header: 'FINISHED', value: (j) => show(j.finished_at) },
];

const SCHEDULE_COLUMNS: Column<ScheduleView>[] = [
  { header: 'ID', value: (s) => s.id },
  { header: 'MODULE', value: (s) => s.module },
  { header: 'CRON', value: (s) => s.cron },
  { header: 'TZ', value: (s) => s.timezone ?? 'UTC' },
  { header: 'NEXT', value: (s) => s.next_at },
  { header: 'FIRED', value: (s) => String(s.fired), right: true },
];

function jobFields(job: JobView): [string, string][] {
  const fields: [string, string][] = [
    ['id', job.id],
    ['module', `${job.module} (version ${job.version})`],
    ['status', job.status],
    ['attempts', `${job.attempts} of ${job.max_attempts}`],
  ];
  if (job.result !== undefined) fields.push(['result', JSON.stringify(job.result)]);
  if (job.error !== undefined) fields.push(['error', `${job.error.code}: ${job.error.message}`]);
  if (job.next_attempt_at !== undefined) fields.push(['next attempt', job.next_attempt_at]);
  if (job.callback_url !== null) fields.push(['callback', `${job.callback_url} (${job.webhook ? `${job.webhook.status}, ${job.webhook.attempts} tries` : 'not yet'})`]);
  if (job.schedule_id !== null) fields.push(['schedule', job.schedule_id]);
  fields.push(['created', job.created_at], ['started', show(job.started_at)], ['finished', show(job.finished_at)]);
  return fields;
}

const ENDED = new Set(['succeeded', 'failed', 'dead', 'cancelled']);
const WAIT_POLL_MS = 250;

/** Polls the job until it ends. */
async function waitForEnd(ctx: CliContext, id: string): Promise<JobView> {
  for (;;) {
    const job = (await ctx.client.get<JobView>(jobPath(id))).body;
    if (ENDED.has(job.status)) return job;
    await new Promise((resolve) => setTimeout(resolve, WAIT_POLL_MS));
  }
}

const jobPath = (id: string) => `/jobs/${encodeURIComponent(id)}`;
const modulePath = (id: string) => `/modules/${encodeURIComponent(id)}`;

interface JobOptions {
  callback?: string;
  maxAttempts?: number;
  timeout?: number;
}

/** The job fields shared by `jobs submit` and `schedules create`. */
function jobOptions(command: Command): Command {
  return command
    .option('--callback <url>', "POST the job here when it ends, signed with the tenant's webhook secret")
    .option('--max-attempts <n>', 'runs before the job is dead (default 3)', positiveInt('--max-attempts'))
    .option('--timeout <ms>', "milliseconds per attempt (up to the tier's max_job_timeout)", positiveInt('--timeout'));
}

function jobBody(fn: string, args: string[], opts: JobOptions): Record<string, unknown> {
  return { function: fn, args, callback_url: opts.callback, max_attempts: opts.maxAttempts, timeout: opts.timeout };
}

/** `<parent> ls` with paging, `--tenant` (admins) and a `--<name> <value>` option per filter, sent as `?<name>=`. */
function addFilteredList<T>(parent: Command, deps: CliDeps, spec: ListSpec<T> & { filters: Array<[string, string]> }): void {
  const command = pageOptions(parent.command('ls').description(spec.description), spec.noun);
  for (const [name, description] of spec.filters) command.option(`--${name} <${name}>`, description);
  command.option('--tenant <tenant>', `one tenant's ${spec.noun} (admin keys only)`).action(
    deps.action(async (ctx, cmd) => {
      const opts = cmd.opts<PageOptions & Record<string, string | undefined>>();
      const query: Record<string, string | number | undefined> = { limit: opts.limit, cursor: opts.cursor, tenant: opts.tenant };
      for (const [name] of spec.filters) query[name] = opts[name];
      printPage(ctx, await listPages<T>(ctx, spec.path, query, opts.all === true), spec.columns, spec.noun);
    }),
  );
}

/** Registers `wess jobs submit|get|ls|retry|cancel|secret` and `wess schedules create|get|ls|rm`. */
export function registerJobCommands(program: Command, deps: CliDeps): void {
  const jobs = program.command('jobs').description('run functions later: submit jobs, follow them, retry dead ones');

  jobOptions(jobs.command('submit <module> <function> [args...]'))
    .description('queue a call as a job; prints its id (with --wait, waits for it to end and prints it)')
    .option('--idempotency-key <key>', 'a repeat with the same key returns the first job')
    .option('--wait', 'wait for the job to end; exit 4 when it did not succeed')
    .action(
      deps.action(async (ctx, command) => {
        const [module, fn, args] = command.processedArgs as [string, string, string[]];
        const opts = command.opts<JobOptions & { idempotencyKey?: string; wait?: boolean }>();
        const json = { ...jobBody(fn, args, opts), idempotency_key: opts.idempotencyKey };
        const accepted = (await ctx.client.request<{ id: string; status: string }>('POST', `${modulePath(module)}/jobs`, { json })).body;
        if (!opts.wait) {
          ctx.out.emit(accepted, () => ctx.out.line(accepted.id));
          return;
        }
        const job = await waitForEnd(ctx, accepted.id);
        ctx.out.emit(job, () => ctx.out.fields(jobFields(job)));
        return job.status === 'succeeded' ? 0 : 4;
      }),
    );

  jobs
    .command('get <id>')
    .description("a job's status, attempts, and result or error")
    .action(
      deps.action(async (ctx, command) => {
        const [id] = command.processedArgs as [string];
        const job = (await ctx.client.get<JobView>(jobPath(id))).body;
        ctx.out.emit(job, () => ctx.out.fields(jobFields(job)));
      }),
    );

  addFilteredList(jobs, deps, {
    noun: 'jobs', path: '/jobs', columns: JOB_COLUMNS, description: 'list jobs, oldest first (--status dead: the dead-letter list)',
    filters: [['status', 'only jobs with this status (queued, running, succeeded, failed, dead, cancelled)'], ['module', "only this module's jobs"]],
  });

  for (const [name, description] of [['retry', 'queue a dead or failed job again, its attempts reset'], ['cancel', 'cancel a queued job']] as const) {
    jobs
      .command(`${name} <id>`)
      .description(description)
      .action(
        deps.action(async (ctx, command) => {
          const [id] = command.processedArgs as [string];
          const job = (await ctx.client.request<JobView>(name === 'retry' ? 'POST' : 'DELETE', name === 'retry' ? `${jobPath(id)}/retry` : jobPath(id))).body;
          ctx.out.emit(job, () => ctx.out.line(`job ${job.id} is ${job.status}`));
        }),
      );
  }

  jobs
    .command('secret')
    .description("create or rotate the tenant's webhook signing secret; printed this once")
    .option('--tenant <tenant>', "another tenant's (admin keys only)")
    .action(
      deps.action(async (ctx, command) => {
        const { tenant } = command.opts<{ tenant?: string }>();
        const made = (await ctx.client.request<{ secret: string }>('POST', '/webhook-secret', { query: { tenant } })).body;
        ctx.out.emit(made, () => ctx.out.line(made.secret));
      }),
    );

  const schedules = program.command('schedules').description('create jobs on a cron schedule');

  jobOptions(schedules.command('create <module> <function> [args...]'))
    .description('a job on every tick of --cron (five fields, or six with seconds first)')
    .requiredOption('--cron <expression>', 'e.g. "*/5 * * * *"')
    .option('--timezone <zone>', 'an IANA time zone the expression is read in (default UTC)')
    .action(
      deps.action(async (ctx, command) => {
        const [module, fn, args] = command.processedArgs as [string, string, string[]];
        const opts = command.opts<JobOptions & { cron: string; timezone?: string }>();
        const json = { ...jobBody(fn, args, opts), cron: opts.cron, timezone: opts.timezone };
        const made = (await ctx.client.request<ScheduleView>('POST', `${modulePath(module)}/schedules`, { json })).body;
        ctx.out.emit(made, () => ctx.out.fields([['id', made.id], ['cron', made.cron], ['next', made.next_at]]));
      }),
    );

  schedules
    .command('get <id>')
    .description('a schedule: its expression, next tick and jobs fired')
    .action(
      deps.action(async (ctx, command) => {
        const [id] = command.processedArgs as [string];
        const s = (await ctx.client.get<ScheduleView>(`/schedules/${encodeURIComponent(id)}`)).body;
        ctx.out.emit(s, () =>
          ctx.out.fields([['id', s.id], ['module', s.module], ['function', show(s.function)], ['cron', s.cron], ['timezone', s.timezone ?? 'UTC'], ['next', s.next_at], ['last fired', show(s.last_fired_at)], ['fired', String(s.fired)]]),
        );
      }),
    );

  addFilteredList(schedules, deps, { noun: 'schedules', path: '/schedules', columns: SCHEDULE_COLUMNS, description: 'list schedules', filters: [['module', "only this module's schedules"]] });

  schedules
    .command('rm <id>')
    .description('delete a schedule (its jobs so far are kept)')
    .action(
      deps.action(async (ctx, command) => {
        const [id] = command.processedArgs as [string];
        await ctx.client.delete(`/schedules/${encodeURIComponent(id)}`);
        if (!ctx.json) ctx.out.line(`deleted schedule ${id}`);
      }),
    );
}
