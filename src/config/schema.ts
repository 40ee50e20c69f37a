import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { KEY_FORMAT } from '../auth/secrets.js';
import { PAGE_BYTES } from '../wasm/types.js';
import { hostProblem } from './checks.js';

const port = z.number().int().min(0).max(65535);
const positiveInt = z.number().int().positive();


const tierName = z.string().regex(/^[a-z0-9_-]{1,32}$/, 'must be 1-32 of [a-z0-9_-]');

/** A list given as a comma-separated string (an environment variable) or as an array (TOML). */
function commaList(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  return value.split(',').map((item) => item.trim()).filter((item) => item !== '');
}

/** One quota tier: every field optional, absent means "only the global limit". */
const tierSchema = z
  .object({
    requests_per_minute: positiveInt.optional(),
    runs_per_day: positiveInt.optional(),
    max_module_size: positiveInt.optional(),
    /** Milliseconds a run may ask for (and the default deadline of its runs). */
    max_timeout: positiveInt.optional(),
    /** Bytes of linear memory. */
    max_memory: positiveInt.optional(),
    max_modules: positiveInt.optional(),
    /** Bytes of content a tenant may hold over all kept versions of all its modules (each version counts its size). */
    max_storage: positiveInt.optional(),
    /** Calls of one tenant running at once; absent → the pool size (server.workers). */
    max_concurrency: positiveInt.max(1024).optional(),
    /** Milliseconds of guest CPU time a tenant may use per minute; over it runs get 429 QUOTA_EXCEEDED. */
    cpu_ms_per_minute: positiveInt.optional(),
    /** Most fuel a run may ask for; absent → limits.max_fuel. */
    max_fuel: positiveInt.optional(),
    /** Fuel of a run that asks for none; absent → runs are not metered unless they ask. */
    default_fuel: positiveInt.optional(),
    /** Most table elements a module may start with; absent → limits.max_table_elements. */
    max_table_elements: positiveInt.optional(),
    /** /events streams one tenant may hold open at once; more get 403 TIER_LIMIT. */
    max_event_streams: positiveInt.optional(),
    /** Bytes of file contents (unpacked) a module version may carry; absent → limits.max_files_bytes. */
    max_files_bytes: positiveInt.optional(),
    /** Entries a module version's files may have; absent → limits.max_files. */
    max_files: positiveInt.optional(),
    /** Milliseconds a job may ask for (above max_timeout if need be); absent → jobs.max_timeout. */
    max_job_timeout: positiveInt.optional(),
    /** Jobs of one tenant queued or running at once; more get 403 TIER_LIMIT. */
    max_queued_jobs: positiveInt.optional(),
    /** Schedules one tenant may have. */
    max_schedules: positiveInt.optional(),
  })
  .strict()
  .refine((t) => t.default_fuel === undefined || t.max_fuel === undefined || t.default_fuel <= t.max_fuel, {
    message: 'default_fuel must not be above max_fuel',
    path: ['default_fuel'],
  });

export type TierLimits = z.infer<typeof tierSchema>;

/** The whole configuration; every key has a default so an empty file is a valid config. */
export const configSchema = z
  .object({
    server: z
      .object({
        /** A host name or IP address to listen on, without a port. */
        host: z
          .string()
          .min(1)
          .superRefine((host, ctx) => {
            const problem = hostProblem(host);
            if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
          })
          .default('0.0.0.0'),
        port: port.default(8080),
        /** Runner pool size; 0 or absent means one per CPU core. */
        workers: z.number().int().min(0).max(256).default(0),
        /**
         * Node processes serving the one port (node:cluster, see src/cluster.ts); 0 means one per core,
         * 1 is a single process without a cluster. Above 1 needs the PostgreSQL store.
         */
        processes: z.number().int().min(0).max(1024).default(1),
        /** Bytes of JSON body accepted; a base64 module of max_module_size must fit. */
        body_limit: positiveInt.default(3 * 1024 * 1024),
        /** Milliseconds in-flight requests get to finish after SIGTERM. */
        shutdown_grace: positiveInt.default(10_000),
        trust_proxy: z.boolean().default(false),
        /** Server-Sent Events clients on /events at once; more get 503. */
        max_event_clients: positiveInt.default(1000),
        /** PEM files; both set → HTTPS. */
        tls_cert: z.string().min(1).optional(),
        tls_key: z.string().min(1).optional(),
        /** Milliseconds a client has to send a whole request (0 = no limit). */
        request_timeout: z.number().int().min(0).default(30_000),
        /** Milliseconds a client has to send the request headers. */
        headers_timeout: positiveInt.default(10_000),
        /** Milliseconds an idle keep-alive connection stays open. */
        keep_alive_timeout: positiveInt.default(5_000),
        /** Bytes of request line plus headers; more gets 431. */
        max_header_size: positiveInt.max(1024 * 1024).default(16_384),
      })
      .strict()
      .prefault({}),
    database: z
      .object({
        path: z.string().min(1).default('./data'),
        /**
         * `postgres://user[:password]@host[:port]/database`: the PostgreSQL store, shared by every node
         * given the same URL (env WESS_DATABASE_URL). Absent: the embedded LevelDB at `path`.
         */
        url: z
          .string()
          .regex(/^postgres(ql)?:\/\/[^\s]+$/, 'must be a postgres:// or postgresql:// URL')
          .optional(),
        /** Connections each process holds to PostgreSQL (database.url); several nodes each hold this many. */
        pool_size: positiveInt.max(1000).default(10),
        max_open_files: positiveInt.default(1000),
        /** Writes waiting for the writer before it answers 503. */
        queue_limit: positiveInt.default(1000),
      })
      .strict()
      .prefault({}),
    reader: z
      .object({
        cache_size: positiveInt.default(100),
        /** Seconds a cached entry stays valid. */
        ttl: positiveInt.default(3600),
      })
      .strict()
      .prefault({}),
    runner: z
      .object({
        /** Milliseconds for instantiate + call. */
        timeout: positiveInt.default(5000),
        /** Bytes of linear memory one instance may reach (a multiple of 64 KiB is advised). */
        max_memory: positiveInt.max(4 * 1024 * 1024 * 1024).default(268435456),
        /** Calls waiting for a worker before /run answers 503. */
        queue_limit: positiveInt.default(10_000),
        /** Compiled modules kept per process. */
        compiled_cache_size: positiveInt.default(256),
        /** Bytes of stdout and of stderr kept from one WASI run. */
        max_output: positiveInt.default(1024 * 1024),
        /** Milliseconds after which a running call stops taking room from short calls (an extra thread may start). */
        long_call_ms: positiveInt.default(50),
        /** Most runner threads while long calls hold the workers; 0 means 2 × workers + 1. */
        max_threads: z.number().int().min(0).max(1024).default(0),
      })
      .strict()
      .prefault({}),
    limits: z
      .object({
        max_module_size: positiveInt.default(2 * 1024 * 1024),
        max_args: z.number().int().min(0).max(1000).default(10),
        /** Argument tuples in one batch run. */
        max_batch: positiveInt.max(10_000).default(100),
        /** Elements a module's tables may start with (each costs memory per instance); a tier may lower it. */
        max_table_elements: positiveInt.max(10_000_000).default(1_000_000),
        /** Most fuel one run may ask for; a tier may lower it. */
        max_fuel: positiveInt.default(Number.MAX_SAFE_INTEGER),
        /** Versions a module keeps; a new version past it prunes the oldest (never the current one). */
        max_versions: positiveInt.max(1_000_000).default(100),
        /** Levels of arrays and objects a JSON body may nest; deeper is refused before it is parsed. */
        max_json_depth: positiveInt.max(1000).default(32),
        /** Bytes of file contents (unpacked) one module version may carry ("files" of an upload); a tier may lower it. */
        max_files_bytes: positiveInt.max(1024 * 1024 * 1024).default(16 * 1024 * 1024),
        /** Entries (files, directories, symlinks) one module version's files may have; a tier may lower it. */
        max_files: positiveInt.max(1_000_000).default(10_000),
        /** Bytes a WASI run may write over its version's files (an in-memory layer, discarded after the call); past it writes fail with ENOSPC. */
        max_scratch_bytes: positiveInt.max(1024 * 1024 * 1024).default(16 * 1024 * 1024),
      })
      .strict()
      .prefault({}),
    rate_limit: z
      .object({
        enabled: z.boolean().default(true),
        /** Requests per window per client (per API key; per IP when anonymous); a key's tier may set its own. */
        max: positiveInt.default(1000),
        /** Requests per window per client IP without a valid key (each refused 401 until then, 429 after). */
        anonymous_max: positiveInt.default(60),
        /** Milliseconds. */
        window: positiveInt.default(60_000),
        /** redis://host:port: counters shared by every node using it; absent → in memory. */
        redis_url: z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL').optional(),
        /** What a request gets when Redis does not answer: "open" lets it through, "closed" answers 503. */
        redis_failure: z.enum(['open', 'closed']).default('open'),
        /** Milliseconds to wait for Redis before treating it as down. */
        redis_timeout: positiveInt.default(500),
      })
      .strict()
      .prefault({}),
    auth: z
      .object({
        /** false lets anyone who reaches the port do anything, as an admin of tenant "default". */
        enabled: z.boolean().default(true),
        /** HMAC key for stored key hashes (32+ characters); absent → generated once and kept in the database. */
        secret: z.string().min(32, 'must be at least 32 characters').optional(),
        /** An admin key to create (or re-hash) at start: wess_<id>_<secret>; env WESS_ADMIN_KEY. */
        admin_key: z
          .string()
          .regex(KEY_FORMAT, 'must look like wess_<id>_<secret>: id 4-32 of [0-9a-z], secret 20+ of [A-Za-z0-9_-]')
          .optional(),
        /** Tier of keys created without one (admins excepted); must name a [tiers.<name>] table. */
        default_tier: tierName.optional(),
        /** Milliseconds between writes of per-key usage counters to the database. */
        usage_flush: positiveInt.default(5_000),
      })
      .strict()
      .prefault({}),
    backup: z
      .object({
        /**
         * HMAC-SHA256 key that signs backups (GET /admin/backup, wess backup --data) and that restore
         * verifies them with (env WESS_BACKUP_KEY). Unset: backups are refused. Never stored in the database.
         */
        key: z.string().min(32, 'must be at least 32 characters').optional(),
      })
      .strict()
      .prefault({}),
    jobs: z
      .object({
        /** Hosts a job's callback_url may name (exact host names, no port); empty: every callback is refused. Env: comma-separated. */
        callback_allow: z.preprocess(commaList, z.array(z.string().min(1))).default([]),
        /** Jobs one node runs at once; 0 means the workers background lanes may use (server.workers - 1, at least 1). */
        concurrency: z.number().int().min(0).max(1024).default(0),
        /** Milliseconds past a job's timeout before another node (or this one after a restart) may take it again. */
        lease: positiveInt.default(30_000),
        /** Milliseconds between looks at the store for due jobs when nothing woke the node. */
        poll: positiveInt.default(1_000),
        /** Milliseconds before the first retry; each retry waits twice the one before, with ±50% jitter. */
        retry_base: positiveInt.default(1_000),
        /** Milliseconds a retry waits at most. */
        retry_max: positiveInt.default(300_000),
        /** Error codes after which a job is tried again; any other error fails it at once. */
        retry_codes: z.preprocess(commaList, z.array(z.string().min(1))).default(['EXECUTION_TIMEOUT', 'UNAVAILABLE', 'INTERNAL']),
        /** Milliseconds a job may ask for when its tier sets no max_job_timeout. */
        max_timeout: positiveInt.default(300_000),
        /** Milliseconds an ended job is kept (from its creation) before it is deleted; its callback delivered first. */
        retention: positiveInt.default(7 * 24 * 3_600_000),
        /** Hours during which the same idempotency_key returns the first job. */
        idempotency_hours: positiveInt.default(24),
        /** Deliveries of one webhook before it is given up. */
        webhook_attempts: positiveInt.max(100).default(5),
        /** Milliseconds a callback receiver has to answer. */
        webhook_timeout: positiveInt.default(5_000),
      })
      .strict()
      .prefault({}),
    /** Named quota tiers; a key's tier caps what it may ask for. Absent fields fall back to the global limits. */
    tiers: z.record(tierName, tierSchema).default({}),
    log: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      })
      .strict()
      .prefault({}),
    observability: z
      .object({
        /** Calls of each module the invocation log keeps (GET /modules/{id}/invocations); 0 turns the log off. */
        invocations_kept: z.number().int().min(0).max(100_000).default(1000),
        /** Lines of guest stderr per second and tenant that go to the log, one record each; past it they are counted, not logged. 0: none. */
        guest_lines_per_second: z.number().int().min(0).max(1_000_000).default(100),
      })
      .strict()
      .prefault({}),
    /** OpenTelemetry traces over OTLP/HTTP (protobuf); off while endpoint is empty. */
    tracing: z
      .object({
        /** The collector's OTLP/HTTP base URL (e.g. http://otel-collector:4318); spans go to its /v1/traces. Empty: no tracing. */
        endpoint: z.union([z.literal(''), z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' })]).default(''),
        /** The share of traces started here that are recorded (0-1); a caller's traceparent decides for its own trace. */
        sample_ratio: z.number().min(0).max(1).default(1),
        /** The service.name resource attribute of every span. */
        service_name: z.string().min(1).max(128).default('wess'),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;

/** Whole 64 KiB pages that runner.max_memory allows one instance. */
export function maxMemoryPages(config: Config): number {
  return Math.floor(config.runner.max_memory / PAGE_BYTES);
}

/** The pool size a config asks for, resolving 0 to the number of cores. */
export function poolSize(config: Config): number {
  return config.server.workers > 0 ? config.server.workers : availableParallelism();
}

/** The node processes a config asks for, resolving 0 to the number of cores. */
export function processCount(config: Config): number {
  return config.server.processes > 0 ? config.server.processes : availableParallelism();
}

/** The most runner threads a config allows, resolving 0 to 2 × pool size + 1. */
export function maxThreads(config: Config): number {
  return config.runner.max_threads > 0 ? config.runner.max_threads : 2 * poolSize(config) + 1;
}
