import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type CounterConfiguration, type LabelValues } from 'prom-client';

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
function frontedCounter<L extends string>(config: CounterConfiguration<L>): { counter: Counter<L>; front: CounterFront<L> } {
  const holder: { front?: CounterFront<L> } = {};
  const counter = new Counter<L>({ ...config, collect: () => holder.front?.flush() });
  holder.front = new CounterFront(counter);
  return { counter, front: holder.front };
}

/**
 * Every metric Wess exports, on a registry of its own (never prom-client's global one), so that
 * several apps in one process (tests) do not collide. Labels stay bounded: route patterns,
 * methods, status codes, error codes and outcomes, never a module id, key or IP.
 */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const requests = frontedCounter({
    name: 'wess_requests_total',
    help: 'HTTP requests answered, by route pattern, method and status code.',
    labelNames: ['route', 'method', 'status'] as const,
    registers,
  });
  const tierRuns = frontedCounter({
    name: 'wess_tier_runs_total',
    help: 'Run requests answered, by the key tier that made them and outcome (ok, error).',
    labelNames: ['tier', 'outcome'] as const,
    registers,
  });
  const tierCpuSeconds = frontedCounter({
    name: 'wess_tier_cpu_seconds_total',
    help: 'Guest CPU time on workers (the runs\' cpu_ms), by key tier.',
    labelNames: ['tier'] as const,
    registers,
  });
  const tierFuel = frontedCounter({
    name: 'wess_tier_fuel_total',
    help: 'Fuel used by metered runs, by key tier.',
    labelNames: ['tier'] as const,
    registers,
  });
  const tierBytes = frontedCounter({
    name: 'wess_tier_bytes_total',
    help: 'Request and response body bytes, by key tier and direction (in, out).',
    labelNames: ['tier', 'direction'] as const,
    registers,
  });
  const requestDuration = new Histogram({
    name: 'wess_request_duration_seconds',
    help: 'Time from request received to response sent, by route pattern.',
    labelNames: ['route'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  const cacheHits = frontedCounter({
    name: 'wess_cache_hits',
    help: 'Reader cache hits, by cache (module metadata or content).',
    labelNames: ['cache'] as const,
    registers,
  });
  const cacheMisses = frontedCounter({
    name: 'wess_cache_misses',
    help: 'Reader cache misses, by cache (module metadata or content).',
    labelNames: ['cache'] as const,
    registers,
  });
  return {
    registry,
    requests: requests.counter,
    /** Per-request adds to wess_requests_total (see CounterFront). */
    requestsFront: requests.front,
    errors: new Counter({
      name: 'wess_errors_total',
      help: 'Error responses, by error code.',
      labelNames: ['code'] as const,
      registers,
    }),
    requestDuration,
    /** Per-request observations of wess_request_duration_seconds (see HistogramFront). */
    requestDurationFront: new HistogramFront(requestDuration),
    executionTime: new Histogram({
      name: 'wess_execution_time',
      help: 'Seconds a guest call took in its worker (instantiate + call), by outcome.',
      labelNames: ['outcome'] as const,
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers,
    }),
    cacheHits: cacheHits.counter,
    /** Per-lookup adds to wess_cache_hits (see CounterFront). */
    cacheHitsFront: cacheHits.front,
    cacheMisses: cacheMisses.counter,
    cacheMissesFront: cacheMisses.front,
    compiles: new Counter({
      name: 'wess_compiles_total',
      help: 'WebAssembly modules compiled (once per content hash per process while cached).',
      registers,
    }),
    compileTime: new Histogram({
      name: 'wess_compile_time_seconds',
      help: 'Seconds spent compiling a WebAssembly module.',
      buckets: [0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    writerQueueDepth: new Gauge({
      name: 'wess_writer_queue_depth',
      help: 'Writes waiting for the writer.',
      registers,
    }),
    writerBatchSize: new Histogram({
      name: 'wess_writer_batch_size',
      help: 'Writes committed together in one durable batch.',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
      registers,
    }),
    writerCommitTime: new Histogram({
      name: 'wess_writer_commit_seconds',
      help: 'Seconds one durable (sync) batch took to commit.',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    }),
    poolWorkers: new Gauge({
      name: 'wess_pool_workers',
      help: 'Worker threads in the runner pool.',
      registers,
    }),
    poolThreads: new Gauge({
      name: 'wess_pool_threads',
      help: 'Threads in the runner pool: workers, the spare, and extra threads started while long calls hold the others.',
      registers,
    }),
    suspectLanes: new Gauge({
      name: 'wess_runner_suspect_tenants',
      help: 'Tenants suspected after a recent timeout: they may not take the last idle thread, and the function that timed out runs one call at a time.',
      // Each process of a node suspects on its own: the most of them, not a sum counting a tenant twice.
      aggregator: 'max',
      registers,
    }),
    poolQueueDepth: new Gauge({
      name: 'wess_pool_queue_depth',
      help: 'Calls waiting for a worker.',
      registers,
    }),
    poolUtilization: new Gauge({
      name: 'wess_pool_utilization',
      help: 'Share of the pool busy running calls (0 to 1), as Piscina measures it.',
      // A share: over several processes (server.processes), their mean.
      aggregator: 'average',
      registers,
    }),
    poolBundleSize: new Histogram({
      name: 'wess_pool_bundle_calls',
      help: 'Calls sent to a worker together in one message (a bundle).',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128],
      registers,
    }),
    poolInFlight: new Gauge({
      name: 'wess_pool_in_flight_calls',
      help: 'Calls dispatched to workers and not yet answered.',
      registers,
    }),
    workerRestarts: new Counter({
      name: 'wess_worker_restarts_total',
      help: 'Workers terminated and replaced, by reason.',
      labelNames: ['reason'] as const,
      registers,
    }),
    moduleEvents: new Counter({
      name: 'wess_module_events_total',
      help: 'Module changes published on the event bus, by topic.',
      labelNames: ['topic'] as const,
      registers,
    }),
    eventClients: new Gauge({
      name: 'wess_event_clients',
      help: 'Server-Sent Events streams open on /events.',
      registers,
    }),
    modules: new Gauge({
      name: 'wess_modules',
      help: 'Modules stored.',
      // Every process of a node counts the same shared store: one count, not a sum.
      aggregator: 'max',
      registers,
    }),
    authFailures: new Counter({
      name: 'wess_auth_failures_total',
      help: 'Requests refused by authentication or authorization, by reason (missing, invalid, revoked, forbidden).',
      labelNames: ['reason'] as const,
      registers,
    }),
    rateLimitStoreErrors: new Counter({
      name: 'wess_rate_limit_store_errors_total',
      help: 'Rate-limit checks the store (Redis) could not answer, by what the request got (allowed = fail-open, refused = fail-closed).',
      labelNames: ['outcome'] as const,
      registers,
    }),
    quotaRejections: new Counter({
      name: 'wess_quota_rejections_total',
      help: 'Requests refused by a tier quota, by tier and quota.',
      labelNames: ['tier', 'quota'] as const,
      registers,
    }),
    tierRuns: tierRuns.counter,
    tierRunsFront: tierRuns.front,
    tierCpuSeconds: tierCpuSeconds.counter,
    tierCpuSecondsFront: tierCpuSeconds.front,
    tierFuel: tierFuel.counter,
    tierFuelFront: tierFuel.front,
    tierBytes: tierBytes.counter,
    tierBytesFront: tierBytes.front,
    auditWriteFailures: new Counter({
      name: 'wess_audit_write_failures_total',
      help: 'Audit entries that could not be written (each is also logged at error).',
      registers,
    }),
    invocationsDropped: new Counter({
      name: 'wess_invocations_dropped_total',
      help: 'Calls left out of the invocation log because too many were waiting for its next write.',
      registers,
    }),
    configReloads: new Counter({
      name: 'wess_config_reloads_total',
      help: 'Config reloads (SIGHUP), by outcome: success (applied) or rejected (invalid; the old config kept).',
      labelNames: ['outcome'] as const,
      registers,
    }),
    /**
     * HTTP handler requests (/h/…). Bounded labels: a route id, path or tenant would make one series
     * per route; per-route counts are in GET /routes/{id} (stats) instead.
     */
    handlerRequests: new Counter({
      name: 'wess_handler_requests_total',
      help: 'HTTP handler requests answered, by status class (2xx, 3xx, 4xx, 5xx) and access (public, private).',
      labelNames: ['class', 'access'] as const,
      registers,
    }),
    handlerDuration: new Histogram({
      name: 'wess_handler_duration_seconds',
      help: 'Time to answer an HTTP handler request (route lookup, the run, the CGI parse), by status class.',
      labelNames: ['class'] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    jobs: new Counter({
      name: 'wess_jobs_total',
      help: 'Job runs ended on this node, by outcome: succeeded, failed (not retried), retried, dead (attempts used), lost (taken again meanwhile).',
      labelNames: ['outcome'] as const,
      registers,
    }),
    jobQueueDepth: new Gauge({
      name: 'wess_job_queue_depth',
      help: 'Jobs queued or running, over every tenant (read from the store every 5 s at most).',
      aggregator: 'max',
      registers,
    }),
    jobQueueAge: new Gauge({
      name: 'wess_job_queue_age_seconds',
      help: 'Seconds the longest-waiting queued job has been due (a retry counts from the end of its backoff); 0 when none waits.',
      aggregator: 'max',
      registers,
    }),
    webhooks: new Counter({
      name: 'wess_webhooks_total',
      help: 'Job callback deliveries, by outcome: delivered, retried, failed (given up).',
      labelNames: ['outcome'] as const,
      registers,
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
