import type { Command } from 'commander';
import type { InvocationRecord } from '../../store/types.js';
import type { CliDeps } from '../context.js';
import { show, type Column } from '../output.js';
import { listPages, pageOptions, printPage, type PageOptions } from '../pages.js';

const INVOCATION_COLUMNS: Column<InvocationRecord>[] = [
  { header: 'TIME', value: (c) => c.time },
  { header: 'STATUS', value: (c) => String(c.status), right: true },
  { header: 'CODE', value: (c) => show(c.code) },
  { header: 'VERSION', value: (c) => String(c.version), right: true },
  { header: 'CALLED', value: (c) => show(c.route ?? c.function) },
  { header: 'MS', value: (c) => String(c.stats.duration_ms), right: true },
  { header: 'QUEUED', value: (c) => String(c.stats.queued_ms), right: true },
  { header: 'REQUEST', value: (c) => c.request_id },
  { header: 'TRACE', value: (c) => show(c.trace_id) },
];

/** Registers `wess invocations ID`: a module's last calls (GET /modules/{id}/invocations). */
export function registerInvocationsCommand(program: Command, deps: CliDeps): void {
  pageOptions(program.command('invocations <id>').description("a module's last calls, newest first (--json for every field: stats, args digest, stderr)"), 'calls')
    .option('--status <status>', 'only calls that succeeded (ok) or failed (error)')
    .option('--since <time>', 'only calls answered at or after this ISO 8601 time')
    .action(
      deps.action(async (ctx, command) => {
        const [id] = command.processedArgs as [string];
        const opts = command.opts<PageOptions & { status?: string; since?: string }>();
        const query = { limit: opts.limit, cursor: opts.cursor, status: opts.status, since: opts.since };
        const page = await listPages<InvocationRecord>(ctx, `/modules/${encodeURIComponent(id)}/invocations`, query, opts.all === true);
        printPage(ctx, page, INVOCATION_COLUMNS, 'calls');
      }),
    );
}
