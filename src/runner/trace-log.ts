import type { Logger } from '../logger.js';
import type { TraceLog } from './protocol.js';

/** Trace entries the log takes a second, process-wide; a guest tracing in a loop on every call cannot flood it. */
const ENTRIES_PER_SECOND = 20;

/**
 * Writes guests' env.trace lines to the log, one entry per call (at most TRACE_LOG_LINES of its lines),
 * tagged with the request id. Past ENTRIES_PER_SECOND in a second, entries are dropped and counted; the
 * count rides on the next entry written. The full lines are in the call's stderr, not lost.
 */
export class TraceLogger {
  private windowStart = 0;
  private inWindow = 0;
  private suppressed = 0;

  constructor(private readonly logger: Logger, private readonly now: () => number = Date.now) {}

  write(call: { requestId: string | undefined; sha256: string; fn: string }, log: TraceLog): void {
    const now = this.now();
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.inWindow = 0;
    }
    if (this.inWindow >= ENTRIES_PER_SECOND) {
      this.suppressed++;
      return;
    }
    this.inWindow++;
    const suppressed = this.suppressed;
    this.suppressed = 0;
    this.logger.info({
      ...(call.requestId === undefined ? {} : { request_id: call.requestId }),
      sha256: call.sha256,
      function: call.fn,
      trace: log.lines,
      ...(log.more > 0 ? { more_lines: log.more } : {}),
      ...(suppressed > 0 ? { suppressed_entries: suppressed } : {}),
    }, 'guest trace');
  }
}
