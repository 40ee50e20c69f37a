import { z } from 'zod';
import { ROLES } from '../auth/types.js';
import { ERROR_CODES } from '../errors.js';
import { jsonSchemaOptions, type JsonSchema } from './json-schema.js';

/**
 * What the API answers, as zod schemas used for the OpenAPI document only (nothing validates or
 * serializes with them). Each is a component of the document, named by its registry id; the
 * request side comes from the zod schemas in schemas.ts that the handlers validate with.
 */
const components = z.registry<{ id: string }>();

function component<T extends z.ZodType>(id: string, schema: T): T {
  components.add(schema, { id });
  return schema;
}

const timestamp = z.iso.datetime().meta({ description: 'RFC 3339, UTC' });
const cursor = z.string().nullable().meta({ description: 'Pass as ?cursor= for the next page; null on the last page' });
const sha256 = z.string().regex(/^[0-9a-f]{64}$/);
const valType = z.enum(['i32', 'i64', 'f32', 'f64', 'v128', 'funcref', 'externref']);

component(
  'Error',
  z.object({
    error: z.object({
      code: z.enum(Object.keys(ERROR_CODES) as [keyof typeof ERROR_CODES, ...Array<keyof typeof ERROR_CODES>]),
      message: z.string(),
      request_id: z.string().meta({ description: 'The x-request-id of the request; also in the server log' }),
      details: z.record(z.string(), z.unknown()).optional().meta({ description: 'Machine-readable specifics, e.g. the limit and tier of a refusal' }),
    }),
  }),
);

const functionExport = component(
  'Export',
  z.object({ name: z.string(), params: z.array(valType), results: z.array(valType) }).meta({ description: 'An exported function and its signature, read from the binary' }),
);

const filesSummary = z
  .object({
    count: z.number().int().meta({ description: 'Files (and symlinks) in the tree; directories are not counted' }),
    bytes: z.number().int().meta({ description: 'Bytes of file contents, unpacked' }),
    sha256: sha256.meta({ description: 'sha256 of the stored files image: the same tree has the same sha256, whatever archive it came in' }),
    size: z.number().int().meta({ description: 'Bytes the files image holds in the store (counted toward max_storage)' }),
  })
  .meta({ description: "The version's files, uploaded with it as a tar archive and preopened as / for its WASI runs; absent when it has none" });

const moduleShape = {
  id: z.uuid(),
  name: z.string(),
  version: z.number().int().min(1),
  sha256,
  size: z.number().int().meta({ description: 'Bytes of the stored binary' }),
  exports: z.array(functionExport),
  memory: z
    .object({ min_pages: z.number().int(), max_pages: z.number().int() })
    .nullable()
    .meta({ description: 'Memory limits as Wess enforces them (64 KiB pages); null without memory' }),
  kind: z.enum(['functions', 'wasi']).meta({ description: '"wasi": imports only wasi_snapshot_preview1' }),
  files: filesSummary.optional(),
};

const moduleRecord = component(
  'Module',
  z.object({ ...moduleShape, tenant: z.string(), created_at: timestamp, updated_at: timestamp }),
);
component('ModuleList', z.object({ items: z.array(moduleRecord), next_cursor: cursor }));

component('Version', z.object({ ...moduleShape, created_at: timestamp.meta({ description: 'When this version was written' }) }));
const versionSummary = z.object({ version: z.number().int().min(1), name: z.string(), sha256, size: z.number().int(), created_at: timestamp, files: filesSummary.optional() });
component('VersionList', z.object({ items: z.array(versionSummary), next_cursor: cursor }));

const runStats = z.object({
  duration_ms: z.number().meta({ description: 'Instantiate + call, measured in the worker (a batch: its items that answered, summed)' }),
  cpu_ms: z.number().meta({ description: "CPU time of the worker thread over the call (a batch: every item's, summed)" }),
  queued_ms: z.number().meta({ description: 'From acceptance until a worker started the call (a batch: its longest wait)' }),
  compile_cached: z.boolean(),
  memory_pages: z.number().int().nullable().meta({ description: "The instance's memory at the end; null without memory (and for a batch)" }),
  peak_memory_pages: z.number().int().nullable().meta({ description: 'The most memory the call (a batch: any item) reached; memory never shrinks, so this is its size at the end' }),
  fuel_used: z.number().int().optional().meta({ description: 'Fuel the run used (a batch: all items), when it ran metered' }),
  version: z.number().int().meta({ description: 'The module version that ran' }),
});
const wasmValue = z.union([z.number(), z.string()]).meta({ description: 'i64 results are decimal strings; NaN and infinities are strings' });
const streams = {
  stdout: z.string().optional(),
  stdout_base64: z.string().optional().meta({ description: 'Instead of stdout when it is not UTF-8' }),
  stdout_truncated: z.literal(true).optional(),
  stderr: z.string().optional(),
  stderr_base64: z.string().optional(),
  stderr_truncated: z.literal(true).optional(),
};
const itemError = z.object({ code: z.string(), message: z.string() });

component(
  'RunResult',
  z.union([
    z.object({ results: z.array(wasmValue), ...streams, stats: runStats }).meta({ title: 'Call', description: 'One call; stdout/stderr only when a WASI reactor printed' }),
    z
      .object({
        batch: z.array(z.union([z.object({ results: z.array(wasmValue) }), z.object({ error: itemError })])),
        stats: runStats.omit({ memory_pages: true }).extend({ memory_pages: z.null(), ok: z.number().int(), failed: z.number().int() }),
      })
      .meta({ title: 'Batch', description: 'One item per argument tuple, in order; an item that failed carries its error' }),
    z.object({ exit_code: z.number().int(), ...streams, stats: runStats }).meta({ title: 'WASI program', description: 'A WASI command run (_start)' }),
  ]),
);

const keyView = {
  id: z.string().meta({ description: 'The public part of wess_<id>_<secret>' }),
  name: z.string(),
  role: z.enum(ROLES),
  tenant: z.string(),
  tier: z.string().nullable(),
  modules: z.array(z.uuid()).nullable().meta({ description: 'Modules the key is limited to; null for its whole tenant' }),
  created_at: timestamp,
  created_by: z.string().nullable(),
  revoked_at: timestamp.nullable(),
};
component('Key', z.object(keyView));
component('CreatedKey', z.object({ key: z.string().meta({ description: 'The whole key, secret included: shown only in this answer' }), ...keyView }));
component('KeyList', z.object({ items: z.array(z.object(keyView)), next_cursor: cursor }));

const classStats = z.object({ requests: z.number().int(), total_ms: z.number(), max_ms: z.number() });
const routeView = {
  id: z.uuid(),
  tenant: z.string(),
  path: z.string().meta({ description: 'Requests to /h/{tenant}{path} and below it run the module' }),
  url: z.string().meta({ description: 'Where the route answers: /h/{tenant}{path}' }),
  module: z.uuid(),
  version: z.number().int().nullable().meta({ description: 'The pinned version; null: the current one' }),
  methods: z.array(z.string()).nullable().meta({ description: 'Methods the route takes; null: any' }),
  public: z.boolean(),
  pass_authorization: z.boolean(),
  created_by: z.string().nullable(),
  created_at: timestamp,
  updated_at: timestamp,
};
component(
  'Route',
  z.object({
    ...routeView,
    stats: z
      .object({ '2xx': classStats.optional(), '3xx': classStats.optional(), '4xx': classStats.optional(), '5xx': classStats.optional() })
      .optional()
      .meta({ description: 'GET /routes/{id} only: requests this node answered for the route since it started, by status class' }),
  }),
);
component('RouteList', z.object({ items: z.array(z.object(routeView)), next_cursor: cursor }));

const invocation = z.object({
  seq: z.number().int().meta({ description: "The module's invocation number: newer calls have higher ones" }),
  time: timestamp.meta({ description: 'When the answer was sent' }),
  request_id: z.string(),
  trace_id: z.string().nullable().meta({ description: "The trace id of the caller's traceparent, recorded whether or not tracing exports; null without one" }),
  key_id: z.string().nullable(),
  version: z.number().int(),
  function: z.string().nullable().meta({ description: 'The export called (`_start` for a WASI program); null when the call was refused before one was picked' }),
  route: z.string().nullable().meta({ description: 'The HTTP handler route path, for a call made through one' }),
  args_digest: z.string().nullable().meta({ description: "sha256 (hex) of the call's arguments as JSON (a handler: of its request body): which calls were alike, never what they held" }),
  args: z.unknown().optional().meta({ description: "The arguments themselves, only while the tenant's capture_args is on" }),
  status: z.number().int().meta({ description: 'The HTTP status the call was answered with' }),
  code: z.string().nullable().meta({ description: 'The error code of a failed call; null for a success' }),
  stats: z.object({
    duration_ms: z.number(),
    queued_ms: z.number(),
    cpu_ms: z.number(),
    fuel_used: z.number().int().optional(),
    memory_pages: z.number().int().nullable().optional(),
    calls: z.number().int().meta({ description: 'Calls that ran: 1, a batch its items, 0 for a call refused before it ran' }),
  }),
  stderr: z.string().optional().meta({ description: "The start (at most 4 KiB) of a WASI program's stderr, when it wrote any" }),
});
component('InvocationList', z.object({ items: z.array(invocation), next_cursor: cursor }));
component(
  'TenantSettings',
  z.object({
    tenant: z.string(),
    capture_args: z.boolean().meta({ description: "Whether the invocation log keeps calls' arguments (else only their digest)" }),
    updated_at: timestamp.nullable().meta({ description: 'null: never set (the defaults)' }),
  }),
);

const nullableLimit = z.number().int().nullable();
component(
  'KeyUsage',
  z.object({
    key_id: z.string(),
    tier: z.string().nullable(),
    suspected_until: timestamp.nullable().meta({
      description: "Set for a minute after a call of the key's tenant ran past its deadline: until then the tenant may not take the runner's last free thread, and calls of the function that timed out go to workers one at a time",
    }),
    usage: z.object({
      runs: z.number().int(),
      errors: z.number().int(),
      cpu_ms: z.number(),
      fuel: z.number().int().meta({ description: 'Fuel used by metered runs' }),
      bytes_in: z.number().int(),
      bytes_out: z.number().int(),
      day: z.string().meta({ description: 'UTC day (YYYY-MM-DD) runs_today counts' }),
      runs_today: z.number().int(),
      updated_at: timestamp.nullable(),
    }),
    storage: z
      .object({
        tenant: z.string(),
        stored_bytes: z.number().int().meta({ description: "Bytes of content the key's tenant holds: the size of every kept version of every module (a version sharing content still counts)" }),
        max_storage: nullableLimit.meta({ description: "What the key's tier lets the tenant hold; null: no limit" }),
      })
      .meta({ description: "The key's tenant's storage, exact as of the last durable write" }),
    limits: z.object({
      runs_per_day: nullableLimit,
      requests_per_minute: nullableLimit,
      max_modules: nullableLimit,
      max_storage: nullableLimit.meta({ description: 'Bytes of content the tenant may hold over all kept versions' }),
      max_versions: z.number().int().meta({ description: 'Versions a module keeps; a new one past it prunes the oldest' }),
      max_module_size: z.number().int(),
      max_timeout_ms: z.number().int(),
      max_memory_bytes: z.number().int(),
      max_concurrency: z.number().int().meta({ description: "Calls of the key's tenant running at once" }),
      cpu_ms_per_minute: nullableLimit.meta({ description: "Guest CPU ms the key's tenant may use per minute" }),
      max_fuel: z.number().int(),
      default_fuel: nullableLimit.meta({ description: 'Fuel of a run that asks for none; null: not metered' }),
      max_table_elements: z.number().int(),
      max_event_streams: nullableLimit.meta({ description: "/events streams the key's tenant may hold open at once; null: only the server's limit" }),
    }),
  }),
);

const auditEntry = z.object({
  id: z.string(),
  at: timestamp,
  actor: z.string().nullable(),
  tenant: z.string().nullable(),
  action: z.string().meta({ examples: ['module.update'] }),
  target: z.string().nullable(),
  request_id: z.string(),
  ip: z.string(),
  status: z.number().int(),
  outcome: z.enum(['success', 'failure']),
  count: z.number().int().optional().meta({
    description: 'Requests the entry stands for when it aggregates them (auth.denied without a valid key: one entry per client IP, reason and minute); absent means one',
  }),
  details: z.record(z.string(), z.unknown()).optional(),
});
component('AuditList', z.object({ items: z.array(auditEntry), next_cursor: cursor }));

const jobStatus = z.enum(['queued', 'running', 'succeeded', 'failed', 'dead', 'cancelled']);
const job = component(
  'Job',
  z.object({
    id: z.string().meta({ description: 'A UUIDv7: jobs sort by creation time' }),
    module: z.uuid(),
    version: z.number().int().meta({ description: 'The module version the job runs' }),
    status: jobStatus,
    attempts: z.number().int().meta({ description: 'Runs started so far (one cut short by a crash counts)' }),
    max_attempts: z.number().int(),
    result: z.record(z.string(), z.unknown()).optional().meta({ description: 'What POST /run would have answered (a succeeded job)' }),
    error: itemError.optional().meta({ description: "The last attempt's error" }),
    next_attempt_at: timestamp.optional().meta({ description: 'When a queued job may run next (after a backoff)' }),
    callback_url: z.string().nullable(),
    webhook: z.object({ status: z.enum(['pending', 'delivered', 'failed']), attempts: z.number().int(), last_error: z.string().optional() }).nullable(),
    idempotency_key: z.string().nullable(),
    schedule_id: z.string().nullable(),
    created_at: timestamp,
    started_at: timestamp.nullable(),
    finished_at: timestamp.nullable(),
  }),
);
component('JobList', z.object({ items: z.array(job), next_cursor: cursor }));
component('JobAccepted', z.object({ id: z.string(), status: jobStatus }));
const schedule = component(
  'Schedule',
  z
    .object({
      id: z.string(),
      module: z.uuid(),
      cron: z.string(),
      timezone: z.string().nullable(),
      next_at: timestamp.meta({ description: 'Its next tick' }),
      last_fired_at: timestamp.nullable(),
      fired: z.number().int().meta({ description: 'Jobs it has created' }),
      created_at: timestamp,
      timeout: z.number().int(),
      max_attempts: z.number().int(),
      callback_url: z.string().nullable(),
    })
    .catchall(z.unknown())
    .meta({ description: "Beside these, the run body its jobs run (function, args, batch, …)" }),
);
component('ScheduleList', z.object({ items: z.array(schedule), next_cursor: cursor }));
component('WebhookSecret', z.object({ secret: z.string().meta({ description: 'Shown this once: Wess-Signature is an HMAC-SHA256 under it' }) }));

const verifyFigures = {
  started_at: timestamp,
  finished_at: timestamp,
  modules: z.number().int(),
  versions: z.number().int(),
  blobs: z.number().int().meta({ description: 'Distinct contents read and hashed' }),
  bytes: z.number().int(),
};
const VerifySummary = z.object({ ...verifyFigures, damaged: z.number().int() });
component(
  'VerifyReport',
  z.object({
    ...verifyFigures,
    damaged: z.array(
      z.object({
        module_id: z.string(),
        version: z.number().int(),
        sha256: z.string(),
        problem: z.enum(['missing', 'damaged', 'unreadable']),
        message: z.string(),
        files: z.literal(true).optional().meta({ description: "The damaged blob is the version's files image, not its binary" }),
      }),
    ),
  }),
);

component('Status', z.object({ status: z.enum(['ok', 'ready']) }));
/** What /health adds for an admin key. */
const healthDetail = z.object({
  uptime_s: z.number().int(),
  database: z.object({ status: z.string(), engine: z.enum(['leveldb', 'postgres']), problem: z.string().optional() }),
  writer: z.object({ accepting: z.boolean(), queued: z.number().int(), queue_limit: z.number().int(), batches: z.number().int(), modules: z.number().int() }),
  runner: z.object({ workers: z.number().int(), queued: z.number().int(), in_flight: z.number().int(), utilization: z.number() }),
  memory: z.object({ rss: z.number().int(), heap_used: z.number().int() }),
  store: z.object({
    status: z.enum(['ok', 'damaged']).meta({ description: 'damaged: some stored content failed its sha256 or could not be read; run `wess doctor`' }),
    damaged_blobs: z.number().int(),
    damaged_modules: z.array(z.string()).meta({ description: 'Some of the affected modules (at most 20)' }),
    last_verify: VerifySummary.nullable().meta({ description: 'The last full verification (GET /admin/verify), if any since the start' }),
  }),
});
component(
  'Health',
  z
    .object({ status: z.enum(['ready', 'not_ready', 'shutting_down']), version: z.string(), ...healthDetail.partial().shape })
    .meta({ description: 'status and version for anyone; the other fields only with an admin key' }),
);

const COMPONENTS = '#/components/schemas/';

/** The document's components.schemas, by name. */
export function componentSchemas(): Record<string, JsonSchema> {
  // Responses are documented as what the server sends: zod's output side.
  const { schemas } = z.toJSONSchema(components, { ...jsonSchemaOptions('output'), uri: (id) => `${COMPONENTS}${id}` });
  return Object.fromEntries(
    Object.entries(schemas).map(([id, schema]) => {
      const { $schema: _dialect, $id: _id, ...rest } = schema as JsonSchema;
      return [id, rest];
    }),
  );
}

/** A reference to component `name`. */
export function ref(name: ComponentName): JsonSchema {
  return { $ref: `${COMPONENTS}${name}` };
}

export type ComponentName =
  | 'Error'
  | 'Export'
  | 'Module'
  | 'ModuleList'
  | 'Version'
  | 'VersionList'
  | 'RunResult'
  | 'Key'
  | 'CreatedKey'
  | 'KeyList'
  | 'Route'
  | 'RouteList'
  | 'InvocationList'
  | 'TenantSettings'
  | 'KeyUsage'
  | 'AuditList'
  | 'Job'
  | 'JobList'
  | 'JobAccepted'
  | 'WebhookSecret'
  | 'Schedule'
  | 'ScheduleList'
  | 'Status'
  | 'Health'
  | 'VerifyReport';
