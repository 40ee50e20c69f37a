import { createHash } from 'node:crypto';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { InvocationStore, ModuleWriter } from '../store/index.js';
import type { InvocationDraft, InvocationPage } from '../store/types.js';
import { NOTED_STDERR_BYTES, totalsOf, type RunNote } from './run-note.js';

/** How often the gathered invocations go to the store, in one housekeeping write. */
export const FLUSH_MS = 1000;
/**
 * Invocations waiting for a flush, over every module: past it new ones are dropped (and counted)
 * until the next flush, so a store that stopped taking writes cannot grow the server's memory.
 */
const MAX_PENDING = 100_000;
/** A failed flush is reported at most this often. */
const REPORT_MS = 60_000;

/**
 * A call as the request path hands it over: what it knows, untouched. The record (its time as text,
 * the digest of its input, its stderr as text, its stats summed) is made at flush, for kept calls only.
 */
export interface Invocation {
  /** Date.now() when it was answered. */
  at: number;
  requestId: string;
  traceId: string | null;
  keyId: string | null;
  status: number;
  code: string | null;
  note: RunNote;
  /** Whether its tenant keeps arguments (capture_args) as of the call. */
  capture: boolean;
}

/**
 * The invocation log of every module: calls are gathered in memory (a push per call, nothing else on
 * the request's path) and written once a second as one housekeeping message, which the writer commits
 * with whatever else is queued. Only the last `keep` calls of a module can survive a flush, so only
 * those are digested and written however many arrived. A crash loses at most the last second.
 */
export class InvocationLog {
  #pending = new Map<string, Invocation[]>();
  #count = 0;
  #flushing: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #lastReport = 0;

  constructor(
    private readonly options: { writer: ModuleWriter; store: InvocationStore; logger: Logger; metrics: Pick<Metrics, 'invocationsDropped'>; keep: number },
  ) {}

  /** Whether calls are logged at all (observability.invocations_kept above 0). */
  get enabled(): boolean {
    return this.options.keep > 0;
  }

  /** Gathers one call for the next flush. */
  record(module: string, invocation: Invocation): void {
    if (!this.enabled) return;
    if (this.#count >= MAX_PENDING) {
      this.options.metrics.invocationsDropped.inc();
      return;
    }
    let calls = this.#pending.get(module);
    if (calls === undefined) this.#pending.set(module, (calls = []));
    calls.push(invocation);
    this.#count++;
    // Older calls than the last `keep` can never be kept: trimmed in steps, so a push stays O(1).
    const keep = this.options.keep;
    if (calls.length >= 2 * keep) {
      calls.splice(0, calls.length - keep);
      this.#count -= keep;
    }
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      void this.flush();
    }, FLUSH_MS).unref();
  }

  /** One page of a module's log, including the calls not yet flushed (they are flushed first). */
  async page(module: string, options: Parameters<InvocationStore['page']>[1]): Promise<InvocationPage> {
    if (this.#pending.has(module)) await this.flush();
    else await this.#flushing;
    return this.options.store.page(module, options);
  }

  /** Writes what is gathered; resolves once it is durable (or refused, which is logged). */
  flush(): Promise<void> {
    this.#flushing = (this.#flushing ?? Promise.resolve()).then(() => this.#write());
    return this.#flushing;
  }

  /** Stops the timer and writes what is gathered (before the writer closes). */
  async close(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.flush();
  }

  async #write(): Promise<void> {
    if (this.#pending.size === 0) return;
    const pending = this.#pending;
    this.#pending = new Map();
    this.#count = 0;
    const keep = this.options.keep;
    const modules = [...pending].map(([module, calls]) => ({ module, records: calls.slice(-keep).map(recordOf) }));
    try {
      await this.options.writer.submit({ kind: 'append-invocations', keep, modules });
    } catch (err) {
      const now = Date.now();
      if (now - this.#lastReport >= REPORT_MS) {
        this.#lastReport = now;
        this.options.logger.warn({ err, calls: modules.reduce((n, m) => n + m.records.length, 0) }, 'invocation log could not be written; these calls are not in it (reported once a minute)');
      }
    }
  }
}

const utf8 = new TextDecoder();

/** The stored record of a call: its input's digest (sha256 of its JSON, or of a body's bytes), never the input itself unless the tenant keeps arguments. */
export function recordOf(call: Invocation): InvocationDraft {
  const { note } = call;
  const { durationMs: duration, cpuMs: cpu, queuedMs: queued, fuelUsed: fuel } = totalsOf(note.receipts);
  const stats: InvocationDraft['stats'] = { duration_ms: ms(duration), queued_ms: ms(queued), cpu_ms: ms(cpu), calls: note.receipts.length };
  if (fuel !== undefined) stats.fuel_used = fuel;
  if (note.memoryPages !== undefined) stats.memory_pages = note.memoryPages;
  const hash = createHash('sha256');
  hash.update(note.args instanceof Uint8Array ? note.args : JSON.stringify(note.args ?? null));
  const record: InvocationDraft = {
    time: new Date(call.at).toISOString(),
    request_id: call.requestId,
    trace_id: call.traceId,
    key_id: call.keyId,
    version: note.version,
    function: note.fn,
    route: note.route,
    args_digest: hash.digest('hex'),
    status: call.status,
    code: call.code,
    stats,
  };
  if (call.capture) record.args = note.args instanceof Uint8Array ? { body_base64: Buffer.from(note.args).toString('base64') } : note.args;
  if (note.stderr !== undefined) record.stderr = utf8.decode(note.stderr.subarray(0, NOTED_STDERR_BYTES));
  return record;
}

const ms = (value: number): number => Math.round(value * 1000) / 1000;
