import { createHash } from 'node:crypto';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { InvocationStore, ModuleWriter } from '../store/index.js';
import type { InvocationDraft, InvocationPage } from '../store/types.js';
import { NOTED_STDERR_BYTES, totalsOf, type RunNote } from './run-note.js';

/** How often the gathered invocations go to the store. */
export const FLUSH_MS = 1000;
/**
 * Calls per write of a flush. A flush of a busy module's ring (1,000 calls by default) made and
 * committed as one write held the event loop for one stretch of 5-35 ms each second (digests, JSON,
 * LevelDB's batch of as many puts), which every request in flight then waited out: the warm /run p99.
 * In writes of this many, made one after the other, requests are served between them.
 */
export const CALLS_PER_WRITE = 200;
/** The most writes one flush makes (each a commit): with many busy modules, a write carries more calls instead. */
const MAX_WRITES_PER_FLUSH = 10;
/**
 * Invocations waiting for a flush, over every module: past it new ones are dropped (and counted)
 * until the next flush, so a store that stopped taking writes cannot grow the server's memory.
 */
const MAX_PENDING = 100_000;
/** A failed flush is reported at most this often. */
const REPORT_MS = 60_000;

/**
 * A call as the request path hands it over: what it knows, untouched. Its fields are copied into its
 * module's ring (the object itself is not kept); the record (its time as text, the digest of its input,
 * its stderr as text) is made at flush, for kept calls only.
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
 * The invocation log of every module: calls are gathered in memory and written once a second, in
 * housekeeping writes of CALLS_PER_WRITE calls one after the other, each committed with whatever else
 * the writer has queued. A crash loses at most the last second.
 *
 * Each module gathers into a ring of `keep` slots that are reused from one call to the next: a call's
 * fields are copied into its slot, so the request's objects (the note, its receipts, the call itself)
 * die young. Holding them instead, up to the flush, got them promoted to the old generation by every
 * scavenge in between: at 10,000 calls a second that was 50 MB more heap and half again the scavenge
 * time. Only the last `keep` calls can survive a flush, so only those are digested and written,
 * however many arrived. A flush takes a ring's slots whole (the ring goes on with its spare ones) and
 * gives them back once written: calls arriving during the flush's writes never overwrite them.
 */
export class InvocationLog {
  #rings = new Map<string, CallRing>();
  /** Slots holding calls not yet flushed, over every module. */
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

  /** Gathers one call for the next flush (its fields: `invocation` itself is not kept). */
  record(module: string, invocation: Invocation): void {
    if (!this.enabled) return;
    let ring = this.#rings.get(module);
    if (ring === undefined) this.#rings.set(module, (ring = new CallRing(this.options.keep)));
    // A full ring overwrites its oldest call; one that would grow waits for room under MAX_PENDING.
    if (!ring.full) {
      if (this.#count >= MAX_PENDING) {
        this.options.metrics.invocationsDropped.inc();
        return;
      }
      this.#count++;
    }
    ring.push(invocation);
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      void this.flush();
    }, FLUSH_MS).unref();
  }

  /** One page of a module's log, including the calls not yet flushed (they are flushed first). */
  async page(module: string, options: Parameters<InvocationStore['page']>[1]): Promise<InvocationPage> {
    if ((this.#rings.get(module)?.size ?? 0) > 0) await this.flush();
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
    const taken: { module: string; ring: CallRing; slots: CallSlot[] }[] = [];
    let calls = 0;
    for (const [module, ring] of this.#rings) {
      // A module with no call since the last flush lets its slots go.
      if (ring.size === 0) {
        this.#rings.delete(module);
        continue;
      }
      const slots = ring.take();
      calls += slots.length;
      taken.push({ module, ring, slots });
    }
    this.#count = 0;
    const perWrite = Math.max(CALLS_PER_WRITE, Math.ceil(calls / MAX_WRITES_PER_FLUSH));
    let modules: { module: string; records: InvocationDraft[] }[] = [];
    let size = 0;
    for (const { module, ring, slots } of taken) {
      for (let at = 0; at < slots.length; ) {
        const part = slots.slice(at, at + perWrite - size);
        at += part.length;
        // Made just before their write, so that this work is spread over the flush as the writes are.
        modules.push({ module, records: part.map((slot) => slot.draft()) });
        ring.recycle(part);
        size += part.length;
        if (size === perWrite) {
          await this.#submit(modules);
          modules = [];
          size = 0;
        }
      }
    }
    if (modules.length > 0) await this.#submit(modules);
  }

  /** One write of the flush; resolves once it is durable, or refused (which is logged, at most once a minute). */
  async #submit(modules: { module: string; records: InvocationDraft[] }[]): Promise<void> {
    try {
      await this.options.writer.submit({ kind: 'append-invocations', keep: this.options.keep, modules });
    } catch (err) {
      const now = Date.now();
      if (now - this.#lastReport >= REPORT_MS) {
        this.#lastReport = now;
        this.options.logger.warn({ err, calls: modules.reduce((n, m) => n + m.records.length, 0) }, 'invocation log could not be written; these calls are not in it (reported once a minute)');
      }
    }
  }
}

/** One module's calls since the last flush: its last `keep`, in slots reused round and round. */
class CallRing {
  #slots: CallSlot[] = [];
  /** Slots a flush gave back, for the ring to fill once its own are taken. */
  readonly #spare: CallSlot[] = [];
  /** The slot the next call goes to. */
  #next = 0;
  /** Calls held (at most keep); the newest is just before #next. */
  size = 0;

  constructor(private readonly keep: number) {}

  get full(): boolean {
    return this.size === this.keep;
  }

  push(call: Invocation): void {
    let slot = this.#slots[this.#next];
    if (slot === undefined) this.#slots.push((slot = this.#spare.pop() ?? new CallSlot()));
    slot.fill(call);
    this.#next = (this.#next + 1) % this.keep;
    if (this.size < this.keep) this.size++;
  }

  /** The calls held, oldest first; the ring is then empty and fills spare slots (recycle gives these back). */
  take(): CallSlot[] {
    const taken: CallSlot[] = [];
    for (let i = this.size; i > 0; i--) taken.push(this.#slots[(this.#next - i + this.keep) % this.keep] as CallSlot);
    this.#slots = [];
    this.#next = 0;
    this.size = 0;
    return taken;
  }

  /** Slots whose records are made: their call's objects go, and they are kept for the ring's next calls. */
  recycle(slots: readonly CallSlot[]): void {
    for (const slot of slots) {
      slot.release();
      if (this.#spare.length < this.keep) this.#spare.push(slot);
    }
  }
}

/**
 * A call as the log holds it until the flush: numbers and strings copied out of the call and its note
 * (the strings are the module record's, the key's or constants, but for the request id), and a
 * reference to its arguments and stderr, which the record's digest and text are made from.
 */
class CallSlot {
  at = 0;
  requestId = '';
  traceId: string | null = null;
  keyId: string | null = null;
  status = 0;
  code: string | null = null;
  capture = false;
  version = 0;
  fn: string | null = null;
  route: string | null = null;
  args: unknown = null;
  durationMs = 0;
  cpuMs = 0;
  queuedMs = 0;
  fuelUsed: number | undefined = undefined;
  calls = 0;
  memoryPages: number | null | undefined = undefined;
  stderr: Uint8Array | undefined = undefined;

  fill(call: Invocation): this {
    const { note } = call;
    const totals = totalsOf(note.receipts);
    this.at = call.at;
    this.requestId = call.requestId;
    this.traceId = call.traceId;
    this.keyId = call.keyId;
    this.status = call.status;
    this.code = call.code;
    this.capture = call.capture;
    this.version = note.version;
    this.fn = note.fn;
    this.route = note.route;
    this.args = note.args;
    this.durationMs = totals.durationMs;
    this.cpuMs = totals.cpuMs;
    this.queuedMs = totals.queuedMs;
    this.fuelUsed = totals.fuelUsed;
    this.calls = note.receipts.length;
    this.memoryPages = note.memoryPages;
    this.stderr = note.stderr;
    return this;
  }

  /** Lets the call's own objects go once its record is made. */
  release(): void {
    this.args = null;
    this.stderr = undefined;
    this.requestId = '';
  }

  /** The stored record: the input's digest (sha256 of its JSON, or of a body's bytes), never the input itself unless the tenant keeps arguments. */
  draft(): InvocationDraft {
    const stats: InvocationDraft['stats'] = { duration_ms: ms(this.durationMs), queued_ms: ms(this.queuedMs), cpu_ms: ms(this.cpuMs), calls: this.calls };
    if (this.fuelUsed !== undefined) stats.fuel_used = this.fuelUsed;
    if (this.memoryPages !== undefined) stats.memory_pages = this.memoryPages;
    const { args } = this;
    const hash = createHash('sha256');
    hash.update(args instanceof Uint8Array ? args : JSON.stringify(args ?? null));
    const record: InvocationDraft = {
      time: new Date(this.at).toISOString(),
      request_id: this.requestId,
      trace_id: this.traceId,
      key_id: this.keyId,
      version: this.version,
      function: this.fn,
      route: this.route,
      args_digest: hash.digest('hex'),
      status: this.status,
      code: this.code,
      stats,
    };
    if (this.capture) record.args = args instanceof Uint8Array ? { body_base64: Buffer.from(args).toString('base64') } : args;
    if (this.stderr !== undefined) record.stderr = utf8.decode(this.stderr.subarray(0, NOTED_STDERR_BYTES));
    return record;
  }
}

const utf8 = new TextDecoder();

/** The stored record of one call, as the log makes it at a flush. */
export function recordOf(call: Invocation): InvocationDraft {
  return new CallSlot().fill(call).draft();
}

const ms = (value: number): number => Math.round(value * 1000) / 1000;
