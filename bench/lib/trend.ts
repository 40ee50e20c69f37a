import { median } from './stats.js';

/** How a series of memory samples moved, judged so a GC sawtooth is not read as a trend (nor hides one). */
export interface Trend {
  /** Median of the first and of the last quarter of the samples. */
  firstQuarter: number;
  lastQuarter: number;
  /** lastQuarter / firstQuarter − 1. */
  quarterGrowth: number;
  /** Theil–Sen slope (median of all pairwise slopes), per sample. */
  slope: number;
  /** The slope over the whole series, as a share of firstQuarter: what a steady leak would add. */
  slopeGrowth: number;
}

/**
 * Compares quartile medians and the Theil–Sen slope of evenly spaced samples. Both are robust to
 * the single high or low sample a GC cycle leaves, which a first-versus-last comparison is not:
 * a sawtooth between 217 and 263 MiB can read as +10% or −10% by where its ends fall.
 */
export function trend(samples: readonly number[]): Trend {
  if (samples.length < 4) throw new Error(`a trend needs at least 4 samples, got ${samples.length}`);
  const quarter = Math.max(1, Math.floor(samples.length / 4));
  const firstQuarter = median(samples.slice(0, quarter));
  const lastQuarter = median(samples.slice(-quarter));
  const slopes: number[] = [];
  for (let i = 0; i < samples.length; i++) {
    for (let j = i + 1; j < samples.length; j++) slopes.push((samples[j]! - samples[i]!) / (j - i));
  }
  const slope = median(slopes);
  return {
    firstQuarter,
    lastQuarter,
    quarterGrowth: lastQuarter / firstQuarter - 1,
    slope,
    slopeGrowth: (slope * (samples.length - 1)) / firstQuarter,
  };
}

/** Flat: neither the quartile medians nor the fitted slope grew by more than `bound` (0.1 = 10%). */
export function isFlat(t: Trend, bound: number): boolean {
  return t.quarterGrowth <= bound && t.slopeGrowth <= bound;
}
