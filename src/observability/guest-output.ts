import type { Logger } from '../logger.js';
import { NOTED_STDERR_BYTES, type RunNote } from './run-note.js';

/** Characters of one stderr line that go to the log; the rest is cut (and says so). */
const LINE_CHARS = 2048;
/** How often a tenant's dropped-lines count is told (once per tenant that dropped any). */
const SUMMARY_MS = 60_000;

interface Bucket {
  tokens: number;
  refilledAt: number;
  dropped: number;
}

/**
 * A guest's stderr in the server log: every line its own record, with the request id, module,
 * version and tenant (wasmtime users asked for exactly this, #7257). Lines are rate-limited per tenant
 * (a token bucket of `perSecond`, refilled continuously), so one tenant's chatty program cannot flood
 * the log that every tenant's lines go to; what a tenant dropped is told once a minute.
 */
export class GuestOutput {
  readonly #buckets = new Map<string, Bucket>();
  readonly #decoder = new TextDecoder();
  #summary: NodeJS.Timeout | undefined;

  constructor(
    private readonly logger: Logger,
    private readonly perSecond: number,
  ) {}

  /**
   * Logs the lines of the stderr a finished call noted, then keeps only its start on the note: a view
   * would keep the whole output alive for as long as the invocation log holds the call.
   */
  takeStderr(note: RunNote, requestId: string): void {
    const stderr = note.stderr;
    if (stderr === undefined) return;
    this.stderr(note, requestId, stderr);
    if (stderr.length > NOTED_STDERR_BYTES) note.stderr = stderr.slice(0, NOTED_STDERR_BYTES);
  }

  /** Logs `stderr`'s lines for the call `note` describes (request `requestId`). */
  stderr(note: RunNote, requestId: string, stderr: Uint8Array): void {
    if (stderr.length === 0 || this.perSecond === 0) return;
    const bucket = this.#bucket(note.tenant);
    const text = this.#decoder.decode(stderr);
    let start = 0;
    while (start < text.length) {
      let end = text.indexOf('\n', start);
      if (end === -1) end = text.length;
      if (bucket.tokens < 1) {
        // The rest of the output is dropped whole: counted by lines, without reading them one by one.
        bucket.dropped += countLines(text, start);
        this.#scheduleSummary();
        return;
      }
      bucket.tokens--;
      const line = text.slice(start, Math.min(end, start + LINE_CHARS));
      const cut = end - start > LINE_CHARS;
      this.logger.info({ request_id: requestId, module_id: note.module, version: note.version, tenant: note.tenant, ...(note.route === null ? {} : { route: note.route }), line, ...(cut ? { cut: true } : {}) }, 'guest stderr');
      start = end + 1;
    }
  }

  /** Tells what was dropped so far (shutdown). */
  close(): void {
    clearTimeout(this.#summary);
    this.#summary = undefined;
    this.#tellDropped();
  }

  #bucket(tenant: string): Bucket {
    const now = Date.now();
    let bucket = this.#buckets.get(tenant);
    if (bucket === undefined) {
      bucket = { tokens: this.perSecond, refilledAt: now, dropped: 0 };
      this.#buckets.set(tenant, bucket);
    } else {
      bucket.tokens = Math.min(this.perSecond, bucket.tokens + ((now - bucket.refilledAt) / 1000) * this.perSecond);
      bucket.refilledAt = now;
    }
    return bucket;
  }

  #scheduleSummary(): void {
    this.#summary ??= setTimeout(() => {
      this.#summary = undefined;
      this.#tellDropped();
    }, SUMMARY_MS).unref();
  }

  #tellDropped(): void {
    for (const [tenant, bucket] of this.#buckets) {
      if (bucket.dropped > 0) this.logger.warn({ tenant, dropped: bucket.dropped, lines_per_second: this.perSecond }, 'guest stderr lines dropped: over the tenant\'s lines per second');
      bucket.dropped = 0;
      // Full buckets hold nothing worth keeping: the map only grows with tenants that are logging now.
      if (bucket.tokens >= this.perSecond) this.#buckets.delete(tenant);
    }
  }
}

/** Lines in `text` from `start` (a last line without its newline counts). */
function countLines(text: string, start: number): number {
  let lines = 0;
  for (let i = text.indexOf('\n', start); i !== -1; i = text.indexOf('\n', i + 1)) lines++;
  return text.endsWith('\n') ? lines : lines + 1;
}
