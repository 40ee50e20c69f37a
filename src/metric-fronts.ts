import { Counter, type CounterConfiguration, type Histogram, type LabelValues } from 'prom-client';

/* Cheap per-request updates of prom-client metrics: metrics.ts builds the registry on these. */

/**
 * The per-request front of a labelled counter. prom-client hashes and validates the label object on
 * every inc() (and a labels() child does the same per call); a front keeps a plain sum per series,
 * found by the label values joined into one string, and adds the sums to the counter whenever the counter is
 * collected (a scrape, or get()), so readers see the same values. A series is created in the counter
 * on its first add, as an inc() would. Measured: ~0.5 µs per labelled inc, 5-6 per /run (issue 6).
 */
export class CounterFront<L extends string> {
  readonly #sums = new Map<string, CounterSeries<L>>();

  constructor(private readonly counter: Counter<L>) {}

  /** Adds `amount` to the series `labels`. */
  add(labels: LabelValues<L>, amount = 1): void {
    this.series(labels).add(amount);
  }

  /**
   * The series `labels`, to add to without a lookup (a pre-bound child, for a call site whose labels
   * are fixed). Values in the caller's key order: a call site that orders its labels differently
   * only splits a series' pending sum in two, and both halves still go to the same series when flushed.
   */
  series(labels: LabelValues<L>): CounterSeries<L> {
    const key = Object.values(labels).join('\u0001');
    let series = this.#sums.get(key);
    if (series === undefined) this.#sums.set(key, (series = new CounterSeries(this.counter, labels)));
    return series;
  }

  /** Hands the pending sums to the counter. */
  flush(): void {
    for (const series of this.#sums.values()) series.flush();
  }
}

/** One series of a CounterFront: a plain sum, handed to the counter when it is collected. */
export class CounterSeries<L extends string> {
  #amount = 0;
  #created = false;

  constructor(
    private readonly counter: Counter<L>,
    private readonly labels: LabelValues<L>,
  ) {}

  add(amount = 1): void {
    // What inc() refuses (a negative or non-finite amount) goes to it directly, to fail as it did.
    if (!(amount >= 0 && amount < Infinity)) return this.counter.inc(this.labels, amount);
    if (this.#created) {
      this.#amount += amount;
      return;
    }
    // The first add creates the series in the counter, as an inc() would.
    this.counter.inc(this.labels, amount);
    this.#created = true;
  }

  flush(): void {
    if (this.#amount === 0) return;
    const amount = this.#amount;
    this.#amount = 0;
    this.counter.inc(this.labels, amount);
  }
}

/** What a prom-client Histogram keeps per series (prom-client/lib/histogram.js), which HistogramSeries adds to. */
interface HistogramEntry {
  labels: Record<string, string | number>;
  sum: number;
  count: number;
  bucketValues: Record<number, number>;
}

/**
 * One series of a labelled histogram, pre-bound: prom-client's observe() validates and hashes the
 * label object on every call (~1.5% of the main thread on a cached GET, one per request). The first
 * observation goes through observe(), which creates the series; later ones add to the series'
 * sum, count and bucket in the histogram's own store, as observe() does, so a scrape reads them
 * with nothing to flush. test/metrics.test.ts checks the output is observe()'s, value for value.
 */
export class HistogramSeries<L extends string> {
  #entry: HistogramEntry | undefined;
  /** The store the entry was found in: a reset() replaces it, and the entry is looked up again. */
  #store: Record<string, HistogramEntry> | undefined;
  /** The histogram's bucket bounds, ascending (prom-client's upperBounds). */
  readonly #bounds: readonly number[];

  constructor(
    private readonly histogram: Histogram<L>,
    private readonly labels: LabelValues<L>,
  ) {
    this.#bounds = (histogram as unknown as { upperBounds: readonly number[] }).upperBounds;
  }

  observe(value: number): void {
    const store = (this.histogram as unknown as { hashMap: Record<string, HistogramEntry> }).hashMap;
    const entry = this.#entry;
    if (entry === undefined || this.#store !== store || !Number.isFinite(value)) {
      this.histogram.observe(this.labels, value);
      this.#bind();
      return;
    }
    entry.sum += value;
    entry.count += 1;
    for (const bound of this.#bounds) {
      if (value <= bound) {
        entry.bucketValues[bound] = (entry.bucketValues[bound] ?? 0) + 1;
        return;
      }
    }
  }

  #bind(): void {
    const store = (this.histogram as unknown as { hashMap: Record<string, HistogramEntry> }).hashMap;
    const wanted = Object.entries(this.labels);
    this.#store = store;
    this.#entry = Object.values(store).find((entry) => wanted.every(([name, value]) => String(entry.labels[name]) === String(value)));
  }
}

/** Pre-bound series of a labelled histogram, one per label set (see HistogramSeries). */
export class HistogramFront<L extends string> {
  readonly #series = new Map<string, HistogramSeries<L>>();

  constructor(private readonly histogram: Histogram<L>) {}

  series(labels: LabelValues<L>): HistogramSeries<L> {
    const key = Object.values(labels).join('\u0001');
    let series = this.#series.get(key);
    if (series === undefined) this.#series.set(key, (series = new HistogramSeries(this.histogram, labels)));
    return series;
  }
}

/** A counter and its front; the counter flushes the front whenever it is collected. */
export function frontedCounter<L extends string>(config: CounterConfiguration<L>): { counter: Counter<L>; front: CounterFront<L> } {
  const holder: { front?: CounterFront<L> } = {};
  const counter = new Counter<L>({ ...config, collect: () => holder.front?.flush() });
  holder.front = new CounterFront(counter);
  return { counter, front: holder.front };
}
