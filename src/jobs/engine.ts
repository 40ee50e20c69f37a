import { performance } from 'node:perf_hooks';
import { limitsFor } from '../auth/policy.js';
import { hasErrorCode, wessError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { CallScope } from '../runner/pool.js';
import { receiptOf, wasiOutputOf } from '../runner/pool.js';
import { poolSize, type Config } from '../config/schema.js';
import { callInput, runFuel, type RunBody, type RunExecutor, type Target } from '../runs/execute.js';
import type { JobError, JobOutcome, JobRecord } from '../store/job-types.js';
import type { Services } from '../services.js';
import { backoff } from './backoff.js';
import { jobView } from './view.js';
import { checkCallback, deliver, type Delivery } from './webhooks.js';
import type { Context } from '@opentelemetry/api';
import { ERROR_CODES, type ErrorCode } from '../errors.js';
import { noteAnswer, runNote, type RunNote } from '../observability/run-note.js';
import { traceIdOf } from '../observability/trace-context.js';

/** A job run's span while tracing is on: the context its runner spans go under, and how it ends. */
interface JobTrace {
  context: Context;
  traceId: string;
  /** Whether the job's trace is recorded (sampled): only then does its call ask the worker for phase times. */
  sampled: boolean;
  end(outcome: JobOutcome): void;
}

/** Due schedules fired per look; more wait for the next one (which comes at once: see #tick). */
const SCHEDULES_PER_TICK = 100;
/** How often at most due schedules are looked for (a wake for every job ended would otherwise add a write per job). */
const SCHEDULES_EVERY_MS = 200;
/**
 * Main-thread utilization above which new claims wait BUSY_DELAY_MS: the workers are shared fairly
 * (background lanes), but synchronous requests also share the event loop with every job's
 * bookkeeping (claims, outcomes, their writes), and a backlog must not slow their answers.
 * Measured over windows of at least ELU_WINDOW_MS (shorter ones are noise).
 */
const BUSY = 0.8;
const BUSY_DELAY_MS = 20;
const ELU_WINDOW_MS = 25;
/** Ended jobs deleted per look, and how often at most the engine looks (retention is coarse). */
const PURGE_LIMIT = 500;
const PURGE_EVERY_MS = 60_000;
/** How often at most the queue gauges read the store. */
const GAUGE_EVERY_MS = 5_000;

/**
 * Jobs one node runs at once: jobs.concurrency, else as many as the background lanes have workers
 * (all but one): a claimed job then starts at once, instead of spending its deadline (which counts
 * from acceptance, waiting included) in the runner's queue.
 */
function jobConcurrency(config: Config): number {
  return config.jobs.concurrency > 0 ? config.jobs.concurrency : Math.max(1, poolSize(config) - 1);
}

/**
 * Runs jobs on this node: claims due jobs from the store (as many as it has room for, jobs.concurrency),
 * runs them through the runner's background lanes, reports each outcome, and delivers callbacks.
 * Claims hold a lease (the job's timeout plus jobs.lease): a node that dies holding a job loses it
 * when the lease ends, and another node (or this one restarted) runs it again. So a job runs at
 * least once, and its outcome is stored once: a report from a run whose lease was lost is refused.
 */
export class JobEngine {
  readonly #running = new Set<Promise<void>>();
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Infinity;
  #ticking = false;
  #again = false;
  #stopped = false;
  #gaugesAt = 0;
  #schedulesAt = 0;
  #purgedAt = 0;
  #elu = performance.eventLoopUtilization();
  #eluAt = performance.now();
  #busy = false;

  constructor(
    private readonly services: Services,
    private readonly executor: RunExecutor,
    private readonly log: Logger,
  ) {}

  /** Starts claiming; call once the store and the runner are up. */
  start(): void {
    this.wake();
  }

  /** Looks for due jobs now (a job was submitted or redriven here, or a run ended and left room). */
  wake(): void {
    this.#schedule(0);
  }

  /** Looks again at `at` (Date.now() ms) at the latest: a schedule's next tick, sooner than the next poll. */
  wakeAt(at: number): void {
    this.#schedule(Math.max(0, at - Date.now()));
  }

  /** Stops claiming; runs in progress go on (the runner's close ends them). */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  /** Resolves once every run and delivery in progress has reported. */
  async drain(): Promise<void> {
    while (this.#running.size > 0) await Promise.allSettled([...this.#running]);
  }

  /** Jobs and deliveries this node has in progress. */
  get active(): number {
    return this.#running.size;
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    const at = Date.now() + ms;
    if (this.#timer !== undefined && this.#timerAt <= at) return;
    clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#timerAt = Infinity;
      void this.#tick();
    }, ms);
    this.#timer.unref();
  }

  async #tick(): Promise<void> {
    if (this.#ticking) {
      this.#again = true;
      return;
    }
    this.#ticking = true;
    this.#again = false;
    const { config, store } = this.services;
    let delay: number | undefined;
    try {
      // Schedules first, so that the jobs they create are claimed in the same turn.
      if (!this.#stopped && Date.now() - this.#schedulesAt >= SCHEDULES_EVERY_MS) {
        this.#schedulesAt = Date.now();
        if ((await store.writer.submit({ kind: 'fire-schedules', limit: SCHEDULES_PER_TICK })) === SCHEDULES_PER_TICK) this.#again = true;
      }
      const room = jobConcurrency(config) - this.#running.size;
      if (room > 0 && !this.#stopped && this.#mainThreadBusy()) {
        delay = BUSY_DELAY_MS;
      } else if (room > 0 && !this.#stopped) {
        const tasks = await store.writer.submit({ kind: 'claim-jobs', limit: room, leaseMs: config.jobs.lease });
        for (const task of tasks) {
          // Settled by the claim itself: its outcome is this node's to count, as if its run had reported it.
          if (task.action === 'dead') this.services.metrics.jobs.inc({ outcome: 'dead' });
          else this.#track(task.action === 'run' ? this.#run(task.job) : this.#deliver(task.job));
        }
        // A full claim may have left due jobs behind; a claim that settled jobs without tasks may too.
        if (tasks.length === room) this.#again = true;
      }
      await this.#gauges();
      await this.#purge();
    } catch (err) {
      this.log.warn({ err }, 'claiming due jobs failed; trying again at the next poll');
    } finally {
      this.#ticking = false;
      this.#schedule(delay ?? (this.#again ? 0 : config.jobs.poll));
    }
  }

  /** True while the event loop was busier than BUSY over the last window. */
  #mainThreadBusy(): boolean {
    const now = performance.now();
    if (now - this.#eluAt >= ELU_WINDOW_MS) {
      const current = performance.eventLoopUtilization();
      this.#busy = performance.eventLoopUtilization(current, this.#elu).utilization > BUSY;
      this.#elu = current;
      this.#eluAt = now;
    }
    return this.#busy;
  }

  #track(work: Promise<void>): void {
    const tracked = work
      .catch((err: unknown) => this.log.error({ err }, 'job task failed'))
      .finally(() => {
        this.#running.delete(tracked);
        this.wake();
      });
    this.#running.add(tracked);
  }

  async #run(job: JobRecord): Promise<void> {
    const { config } = this.services;
    const limits = limitsFor(config, { tier: job.tier });
    const who = { keyId: job.key_id, limits, lane: job.tenant };
    const traced = this.#startTrace(job);
    let outcome: JobOutcome;
    let note: RunNote | undefined;
    try {
      const target = await this.#target(job);
      const body = job.run as RunBody;
      // Background lane of the tenant: its own key, so it never queues with the tenant's synchronous calls.
      const scope: CallScope = {
        lane: `job:${job.tenant}`, background: true, maxConcurrency: limits.maxConcurrency, maxMemoryPages: limits.maxMemoryPages,
        timeoutMs: job.timeout_ms, fuel: runFuel(body.fuel, limits), requestId: job.id, tracePhases: traced?.sampled,
      };
      note = runNote(target, body.function ?? null, callInput(body));
      const { body: result, receipts, fn, compileCached, stderr, memoryPages } = await this.executor.execute(target, body, scope, this.log);
      note.fn = fn;
      noteAnswer(note, receipts, compileCached, stderr, memoryPages);
      this.executor.account(who, 'ok', receipts);
      outcome = { ok: true, result };
    } catch (err) {
      const receipt = receiptOf(err);
      if (note && receipt) noteAnswer(note, [receipt], undefined, wasiOutputOf(err)?.stderr);
      this.executor.account(who, 'error', receipt ? [receipt] : []);
      const error = this.#errorOf(err, job);
      outcome = { ok: false, error, retry: config.jobs.retry_codes.includes(error.code), retryAt: backoff(job.attempts, config.jobs.retry_base, config.jobs.retry_max) };
    }
    if (note) this.#recordCall(job, note, outcome, traced);
    traced?.end(outcome);
    await this.#report(job, outcome);
  }

  /** A job's run is a call of its module like any other: its stderr lines to the log, the call to the invocation log. */
  #recordCall(job: JobRecord, note: RunNote, outcome: JobOutcome, traced: JobTrace | undefined): void {
    const { guestOutput, invocations, tenantSettings } = this.services;
    guestOutput.takeStderr(note, job.id);
    if (traced) this.services.tracing?.recordRun(traced.context, note);
    if (!invocations.enabled) return;
    const code = outcome.ok ? null : outcome.error.code;
    invocations.record(note.module, {
      at: Date.now(),
      // A job's run has no request of its own: the job id stands for it (GET /jobs/{id}).
      requestId: job.id,
      traceId: traced?.traceId ?? traceIdOf(job.trace?.traceparent),
      keyId: job.key_id,
      status: code === null ? 200 : (ERROR_CODES[code as ErrorCode]?.status ?? 500),
      code,
      note,
      capture: tenantSettings.get(job.tenant).capture_args,
    });
  }

  /** A span for this run of `job`, under the trace it was submitted in (tracing on only). */
  #startTrace(job: JobRecord): JobTrace | undefined {
    const tracing = this.services.tracing;
    if (!tracing) return undefined;
    const { span, context } = tracing.startConsumer({ traceparent: job.trace?.traceparent, tracestate: job.trace?.tracestate }, 'job run', {
      'wess.job.id': job.id, 'wess.job.attempt': job.attempts, 'wess.module.id': job.module, 'wess.module.version': job.version, 'wess.tenant': job.tenant,
    });
    return {
      context,
      traceId: span.spanContext().traceId,
      sampled: span.isRecording(),
      end: (outcome) => {
        span.setAttribute('wess.outcome', outcome.ok ? 'ok' : outcome.error.code);
        tracing.end(span, !outcome.ok && outcome.error.code === 'INTERNAL' ? outcome.error.message : undefined);
      },
    };
  }

  /** The version the job was submitted for; gone (module deleted, version pruned) fails the job. */
  async #target(job: JobRecord): Promise<Target> {
    const { reader } = this.services.store;
    const current = await reader.getModule(job.module);
    if (!current || current.tenant !== job.tenant) throw wessError('MODULE_NOT_FOUND', `no module with id ${job.module}`);
    if (current.version === job.version) return current;
    const pinned = await reader.getVersion(job.module, job.version);
    if (!pinned) throw wessError('VERSION_NOT_FOUND', `module ${job.module} has no version ${job.version}`);
    return { ...pinned, tenant: current.tenant };
  }

  #errorOf(err: unknown, job: JobRecord): JobError {
    if (hasErrorCode(err) && err.code !== 'INTERNAL') return { code: err.code, message: err.message };
    this.log.error({ err, job: job.id }, 'job run failed with an internal error');
    return { code: 'INTERNAL', message: 'the run failed with an internal error (logged with the job id)' };
  }

  /** Stores the outcome of `job`'s current attempt; refused when the job was taken again after its lease ran out. */
  async #report(job: JobRecord, outcome: JobOutcome): Promise<void> {
    const { store, metrics } = this.services;
    try {
      const after = await store.writer.submit({ kind: 'change-job', id: job.id, change: { to: 'finish', attempt: job.attempts, outcome } });
      metrics.jobs.inc({ outcome: after.status === 'queued' ? 'retried' : after.status });
    } catch (err) {
      if (hasErrorCode(err) && err.code === 'JOB_STATE') {
        metrics.jobs.inc({ outcome: 'lost' });
        this.log.warn({ job: job.id, attempt: job.attempts }, 'a job run ended after its lease: another claim has the job, and this outcome is dropped');
        return;
      }
      // Not stored: the lease runs out and the job runs again.
      this.log.error({ err, job: job.id }, "a job's outcome could not be stored; it runs again when its lease ends");
    }
  }

  async #deliver(job: JobRecord): Promise<void> {
    const { config, store, metrics } = this.services;
    const url = job.callback_url as string;
    const secret = await store.jobs.webhookSecret(job.tenant);
    let result: { delivered: true } | { delivered: false; error: string };
    try {
      // Checked again: jobs.callback_allow may have changed since the job was submitted.
      checkCallback(url, config.jobs.callback_allow);
      result = secret === undefined ? { delivered: false, error: `tenant ${job.tenant} has no webhook secret (POST /webhook-secret)` } : await this.#post(job, url, secret);
    } catch (err) {
      result = { delivered: false, error: (err as Error).message };
    }
    const attempts = job.webhook?.attempts ?? 1;
    const retryAt = result.delivered || attempts >= config.jobs.webhook_attempts ? null : backoff(attempts, config.jobs.retry_base, config.jobs.retry_max);
    metrics.webhooks.inc({ outcome: result.delivered ? 'delivered' : retryAt === null ? 'failed' : 'retried' });
    if (!result.delivered) this.log.warn({ job: job.id, attempt: attempts, error: result.error }, 'job callback not delivered');
    try {
      await store.writer.submit({ kind: 'change-job', id: job.id, change: { to: 'webhook', delivered: result.delivered, ...(result.delivered ? {} : { error: result.error }), retryAt } });
    } catch (err) {
      this.log.warn({ err, job: job.id }, "a callback's delivery could not be stored; it is delivered again when its lease ends");
    }
  }

  /** The signed callback, carrying the job's trace (W3C headers): a span of it while tracing is on. */
  async #post(job: JobRecord, url: string, secret: string): Promise<Delivery> {
    const { config, tracing } = this.services;
    const body = JSON.stringify(jobView(job));
    if (!tracing) return deliver(url, body, secret, config.jobs.webhook_timeout, job.trace ? { ...job.trace } : {});
    const parent = tracing.extract({ traceparent: job.trace?.traceparent, tracestate: job.trace?.tracestate });
    const { span, headers } = tracing.startClient(parent, 'job webhook', { 'http.request.method': 'POST', 'url.full': url, 'wess.job.id': job.id });
    const result = await deliver(url, body, secret, config.jobs.webhook_timeout, headers);
    tracing.end(span, result.delivered ? undefined : result.error);
    return result;
  }

  /** Deletes ended jobs past jobs.retention, every PURGE_EVERY_MS at most (sooner for a retention shorter than it). */
  async #purge(): Promise<void> {
    const { config, store } = this.services;
    const now = Date.now();
    if (now - this.#purgedAt < Math.min(PURGE_EVERY_MS, config.jobs.retention)) return;
    this.#purgedAt = now;
    const before = new Date(now - config.jobs.retention).toISOString();
    const purged = await store.writer.submit({ kind: 'purge-jobs', before, limit: PURGE_LIMIT });
    if (purged > 0) this.log.info({ purged, before }, 'deleted ended jobs past jobs.retention');
    // A full purge left more: the next look goes on at once.
    if (purged === PURGE_LIMIT) this.#purgedAt = 0;
  }

  /** Queue depth and age from the store, every GAUGE_EVERY_MS at most. */
  async #gauges(): Promise<void> {
    const now = Date.now();
    if (now - this.#gaugesAt < GAUGE_EVERY_MS) return;
    this.#gaugesAt = now;
    const { active, oldest_due_at } = await this.services.store.jobs.queueStats();
    this.services.metrics.jobQueueDepth.set(active);
    this.services.metrics.jobQueueAge.set(oldest_due_at === null ? 0 : Math.max(0, (now - Date.parse(oldest_due_at)) / 1000));
  }
}
