import cluster from 'node:cluster';
import { write, writeSync } from 'node:fs';
import { pino, type Bindings, type ChildLoggerOptions, type DestinationStream, type LevelWithSilentOrString, type Logger, type LoggerOptions, type SerializedError } from 'pino';
import { KEY_IN_TEXT } from './auth/secrets.js';

export type { Logger };

/** Paths never written to a log, whatever the level. */
export const REDACT_PATHS = ['req.headers.authorization', 'req.headers["x-api-key"]', 'headers.authorization', 'headers["x-api-key"]'];
const CENSOR = '[redacted]';

/**
 * `text` with the secret of anything shaped like an API key replaced by `[redacted]` (the id, which
 * is public, stays): a key sent in a query string (`?api_key=`), a path or a stray header would
 * otherwise be written whole to the logs, which are read by more people than keys are.
 */
export function redactKeys(text: string): string {
  // indexOf first: the access line runs this on every URL, and nearly none holds a key.
  return text.indexOf('wess') === -1 ? text : text.replace(KEY_IN_TEXT, `wess_$1_${CENSOR}`);
}

/** Header values as logged: anything shaped like a key redacted (the named auth headers are censored whole by REDACT_PATHS). */
function serializeHeaders(headers: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(headers)) {
    out[name] = typeof value === 'string' ? redactKeys(value) : Array.isArray(value) ? value.map((v) => (typeof v === 'string' ? redactKeys(v) : v)) : value;
  }
  return out;
}

/** What a logged request shows (Fastify's own serializer, with keys in the URL redacted): never its headers or body. */
function serializeRequest(req: { method?: string; url?: string; host?: string; ip?: string; socket?: { remotePort?: number } }): Record<string, unknown> {
  return { method: req.method, url: req.url === undefined ? undefined : redactKeys(req.url), host: req.host, remoteAddress: req.ip, remotePort: req.socket?.remotePort };
}

/** pino's error serializer, with keys redacted from the message and stack (a URL can end up in either). */
function serializeError(err: Error): SerializedError {
  const out = pino.stdSerializers.err(err);
  if (typeof out.message === 'string') out.message = redactKeys(out.message);
  if (typeof out.stack === 'string') out.stack = redactKeys(out.stack);
  return out;
}

let lastMs = -1;
let lastTime = '';

/**
 * pino's isoTime, memoised per millisecond: the same `,"time":"…"` text, but a busy server writes
 * several lines per ms and `new Date().toISOString()` was ~1.5% of the main thread on warm /run.
 */
export function isoTime(): string {
  const now = Date.now();
  if (now !== lastMs) {
    lastMs = now;
    lastTime = `,"time":"${new Date(now).toISOString()}"`;
  }
  return lastTime;
}

/** The `service` field of every line. */
const SERVICE = 'wess';
/**
 * Fields of every line: the service, and in a worker of server.processes > 1 its pid, since the
 * workers write to one stdout and a line must say which process wrote it.
 */
const BASE: Record<string, unknown> = cluster.isWorker ? { service: SERVICE, pid: process.pid } : { service: SERVICE };
/** BASE as the access line writes it, after the time. */
const BASE_JSON = `,${JSON.stringify(BASE).slice(1, -1)}`;

/** The pino options every Wess logger uses: JSON lines, ISO time, secrets redacted. */
export function loggerOptions(level: string): LoggerOptions {
  return {
    level,
    base: BASE,
    timestamp: isoTime,
    redact: { paths: REDACT_PATHS, censor: CENSOR },
    serializers: { req: serializeRequest, headers: serializeHeaders, err: serializeError, url: (url: unknown) => (typeof url === 'string' ? redactKeys(url) : url) },
  };
}

/** The fields of the one access line per request. */
export interface AccessFields {
  requestId: string;
  method: string;
  url: string;
  status: number;
  ms: number;
  moduleId: string | undefined;
  keyId: string | undefined;
}

/**
 * Writes the access line exactly as `logger.child({ request_id }).info({ method, url, status, ms,
 * module_id, key_id }, 'request')` would (same fields, same order, undefined ones left out), as one
 * string handed to the logger's destination. pino's generic path (a child's bindings, then a walk of
 * the object with serializer, redaction and type checks per field) was ~9% of the main thread on warm
 * /run (issue 6); of these fields only the URL is ever redacted (redactKeys), here as well.
 * test/logger.test.ts checks the two lines are the same document.
 */
export function writeAccessLine(logger: Logger, f: AccessFields): void {
  if (!logger.isLevelEnabled('info')) return;
  // Only the URL can hold a character JSON must escape: a request id is a UUID or a caller's token of
  // [A-Za-z0-9._:-] (request-id.ts), a method an HTTP token, a module id a UUID, a key id [0-9a-z].
  let line = `{"level":${logger.levels.values.info}${isoTime()}${BASE_JSON},"request_id":"${f.requestId}","method":"${f.method}","url":${JSON.stringify(redactKeys(f.url))},"status":${f.status},"ms":${f.ms}`;
  if (f.moduleId !== undefined) line += `,"module_id":"${f.moduleId}"`;
  if (f.keyId !== undefined) line += `,"key_id":"${f.keyId}"`;
  (logger as unknown as Record<symbol, DestinationStream>)[pino.symbols.streamSym]?.write(`${line},"msg":"request"}\n`);
}

/** stdout's one writer, shared by every logger: one queue keeps their lines in order. */
let stdout: LineWriter | undefined;

/**
 * Bytes a write to a pipe is atomic up to (POSIX PIPE_BUF; 4096 on Linux): the workers of
 * server.processes share one stdout, and a longer write may be interleaved with another's mid-line.
 */
export const PIPE_BUF = 4096;

/** The primary of server.processes shares stdout with its workers: its lines go out whole too. */
export function shareStdout(): void {
  stdout?.setAtomicBytes(PIPE_BUF);
}

/** A logger writing JSON lines to stdout (main.ts, and tests that need a logger but not its output). */
export function createLogger(level: string): Logger {
  stdout ??= new LineWriter(1, cluster.isWorker ? PIPE_BUF : Infinity);
  return pino(loggerOptions(level), stdout);
}

/** A full fd (a pipe whose reader lags) is retried after this many ms, as sonic-boom does. */
const RETRY_MS = 100;
/**
 * Lines wait at most this long to be written, so a busy server writes ~100 chunks a second instead of
 * one per event-loop turn: each fs.write costs the main thread a few µs (writeBuffer was ~3% of it).
 */
const BATCH_MS = 10;
/**
 * Queued characters past which new lines are dropped (and counted) rather than held: a stdout that
 * stopped draining (a stuck pipe reader) must not grow the server's memory without bound.
 */
const MAX_QUEUED = 16 * 1024 * 1024;

/**
 * pino's destination: lines queue in memory and go out joined, one async fs.write per BATCH_MS at most.
 * pino's default (sonic-boom, async) runs Buffer.byteLength over its whole pending buffer (up to 16 KiB)
 * for every line; on warm /run, with one access line per request, sonic-boom was ~6% of the main thread
 * and this ~1% (CPU profiles, issue 6). Like pino's async default: lines still queued when the process
 * exits are written synchronously then; a closed pipe (EPIPE) stops logging; a SIGKILL loses the queue.
 */
export class LineWriter implements DestinationStream {
  #lines: string[] = [];
  #queued = 0;
  #dropped = 0;
  /** Bytes handed to fs.write and not yet confirmed (a partial write keeps the rest here). */
  #writing: Buffer | undefined;
  /** Taken lines not yet handed to fs.write, in writes of at most atomicBytes. */
  #chunks: string[] = [];
  #scheduled = false;
  #inFlight = false;
  #dead = false;
  #waiters: Array<() => void> = [];

  /**
   * `atomicBytes`: the most bytes one write may carry, made of whole lines (a longer line goes out
   * alone), so that writers sharing a pipe never split each other's lines (PIPE_BUF). Infinity (a
   * process that has stdout to itself): everything queued in one write.
   */
  constructor(
    private readonly fd: number,
    private atomicBytes = Infinity,
  ) {
    process.once('exit', () => this.flushSync());
  }

  /** From now on, writes of at most `bytes` of whole lines (see the constructor). */
  setAtomicBytes(bytes: number): void {
    this.atomicBytes = bytes;
  }

  write(line: string): boolean {
    if (this.#dead) return true;
    if (this.#queued + line.length > MAX_QUEUED) {
      this.#dropped++;
      return true;
    }
    this.#queued += line.length;
    this.#lines.push(line);
    this.#schedule();
    return true;
  }

  /** Calls `done` once everything queued so far is written (pino's logger.flush()). */
  flush(done?: (err?: Error) => void): void {
    if (done === undefined) return;
    if (this.#writing === undefined && this.#chunks.length === 0 && this.#lines.length === 0) return done();
    this.#waiters.push(done);
    // Now rather than after the batching timer: that timer is unref'd, and a caller waiting on a
    // flush (with nothing else to do) must not see its process exit first. The write itself holds it.
    this.#next();
  }

  /** Writes the queued lines now, blocking (process exit). A write in flight is left to finish. */
  flushSync(): void {
    if (this.#dead) return;
    const chunks = [...this.#chunks, ...(this.#lines.length > 0 ? this.#take() : [])];
    this.#chunks = [];
    try {
      for (const chunk of chunks) {
        const data = Buffer.from(chunk);
        for (let at = 0; at < data.length; ) at += writeSync(this.fd, data, at);
      }
    } catch {
      // Exiting: nowhere left to report a failed log write.
    }
  }

  #schedule(): void {
    if (this.#scheduled || this.#writing !== undefined) return;
    this.#scheduled = true;
    // Unref'd: a pending log line never keeps the process alive; 'exit' writes what is left.
    setTimeout(() => {
      this.#scheduled = false;
      this.#next();
    }, BATCH_MS).unref();
  }

  #next(): void {
    // One fs.write at a time: a timer or a flush arriving meanwhile is picked up by its callback.
    if (this.#inFlight) return;
    if (this.#writing === undefined) {
      if (this.#chunks.length === 0) {
        if (this.#lines.length === 0 || this.#dead) return this.#drained();
        this.#chunks = this.#take();
      }
      this.#writing = Buffer.from(this.#chunks.shift() as string);
    }
    const chunk = this.#writing;
    this.#inFlight = true;
    write(this.fd, chunk, 0, chunk.length, null, (err, written) => {
      this.#inFlight = false;
      if (err) return this.#failed(err as NodeJS.ErrnoException);
      this.#writing = written < chunk.length ? chunk.subarray(written) : undefined;
      // A partial write, the rest of a take, or lines someone is waiting on: go on now; otherwise
      // batch again.
      if (this.#writing !== undefined || this.#chunks.length > 0 || (this.#lines.length > 0 && this.#waiters.length > 0)) this.#next();
      else if (this.#lines.length > 0) this.#schedule();
      else this.#drained();
    });
  }

  /**
   * Everything queued, with a line saying how many were dropped since the last take: one string, or
   * with atomicBytes as many strings of whole lines as it takes (a longer line alone).
   */
  #take(): string[] {
    const lines = this.#lines;
    this.#lines = [];
    this.#queued = 0;
    if (this.#dropped !== 0) {
      lines.push(`${JSON.stringify({ level: 40, time: new Date().toISOString(), ...BASE, dropped: this.#dropped, msg: 'log lines dropped: stdout was not draining' })}\n`);
      this.#dropped = 0;
    }
    if (this.atomicBytes === Infinity) return [lines.join('')];
    const chunks: string[] = [];
    let chunk: string[] = [];
    let bytes = 0;
    for (const line of lines) {
      const size = Buffer.byteLength(line);
      if (chunk.length > 0 && bytes + size > this.atomicBytes) {
        chunks.push(chunk.join(''));
        chunk = [];
        bytes = 0;
      }
      chunk.push(line);
      bytes += size;
    }
    if (chunk.length > 0) chunks.push(chunk.join(''));
    return chunks;
  }

  #failed(err: NodeJS.ErrnoException): void {
    if (err.code === 'EAGAIN' || err.code === 'EBUSY') {
      setTimeout(() => this.#next(), RETRY_MS).unref();
      return;
    }
    // EPIPE (the reader is gone) and anything else: stop logging rather than crash the server over it.
    this.#dead = true;
    this.#writing = undefined;
    this.#chunks = [];
    this.#lines = [];
    this.#drained();
  }

  #drained(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const done of waiters) done();
  }
}

/**
 * A request's logger (Fastify's request.log) that becomes a pino child only when something logs
 * through it. Fastify otherwise builds a child, its bindings serialized, for every request, and on
 * the hot paths nothing logs through it (the access line is written by writeAccessLine); a debug or
 * trace call below the level does not build it either. The child, once built, is pino's own.
 */
export class LazyRequestLogger {
  #child: Logger | undefined;

  constructor(
    private readonly parent: Logger,
    private readonly bindings: Bindings,
    private readonly options: ChildLoggerOptions,
  ) {}

  /** Fastify's childLoggerFactory (app.ts). */
  static factory(this: void, logger: Logger, bindings: Bindings, options: ChildLoggerOptions): LazyRequestLogger {
    return new LazyRequestLogger(logger, bindings, options);
  }

  #real(): Logger {
    return (this.#child ??= this.parent.child(this.bindings, this.options));
  }

  get level(): LevelWithSilentOrString {
    return this.#child?.level ?? this.options.level ?? this.parent.level;
  }

  set level(level: LevelWithSilentOrString) {
    this.#real().level = level;
  }

  child(bindings: Bindings, options?: ChildLoggerOptions): Logger {
    return this.#real().child(bindings, options);
  }

  /** Whether a line at `level` would be written (without building the child for a level below it). */
  isLevelEnabled(level: string): boolean {
    return this.#child !== undefined || this.options.level !== undefined ? this.#real().isLevelEnabled(level) : this.parent.isLevelEnabled(level);
  }

  // Methods on the prototype, not arrow-function fields: this object is made per request.
  fatal(...args: LogArgs): void {
    this.#real().fatal(...args);
  }

  error(...args: LogArgs): void {
    this.#real().error(...args);
  }

  warn(...args: LogArgs): void {
    this.#real().warn(...args);
  }

  info(...args: LogArgs): void {
    this.#real().info(...args);
  }

  debug(...args: LogArgs): void {
    if (this.isLevelEnabled('debug')) this.#real().debug(...args);
  }

  trace(...args: LogArgs): void {
    if (this.isLevelEnabled('trace')) this.#real().trace(...args);
  }

  silent(): void {}
}

/** The arguments of a pino log call (its widest overload). */
type LogArgs = [obj: unknown, msg?: string, ...args: unknown[]];
