import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { frontedCounter, HistogramFront } from './metric-fronts.js';

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
