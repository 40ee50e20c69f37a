/** A span's start and end, in epoch milliseconds (fractions kept). */
export interface Interval {
  start: number;
  end: number;
}

/** Epoch milliseconds with a fraction: what Wess times its spans in (cheap, and loads no tracing code). */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}
