/** The median of a non-empty list (the mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The 1-based rank the nearest-rank method picks for percentile `p` of `n` samples: ⌈p/100 · n⌉. */
function nearestRank(n: number, p: number): number {
  return Math.min(n, Math.max(1, Math.ceil((p / 100) * n)));
}

/**
 * The nearest-rank percentile: always a value that was measured, never an interpolation. With n = 20,
 * p95 is the 19th smallest (only the worst sample is left out); with n = 60 it is the 57th.
 */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[nearestRank(sorted.length, p) - 1]!;
}

/** Which sample `percentile` picks, for a row's text: "the 57th of 60". */
export function rankOf(n: number, p: number): string {
  const rank = nearestRank(n, p);
  const tens = rank % 100;
  const suffix = tens >= 11 && tens <= 13 ? 'th' : (['th', 'st', 'nd', 'rd'][rank % 10] ?? 'th');
  return `the ${rank}${suffix} of ${n}`;
}

export const round = (value: number, digits = 2): number => Math.round(value * 10 ** digits) / 10 ** digits;

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Prints one line of harness progress to stderr (stdout stays for the final table). */
export function say(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}
