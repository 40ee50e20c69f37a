import { METHODS } from 'node:http';
import { validate as isUuid, version as uuidVersion } from 'uuid';
import { z } from 'zod';
import { describeIssues, echo } from '../echo.js';
import { wessError } from '../errors.js';
import { ROLES, TENANT_FORMAT } from '../auth/types.js';
import { isStandardBase64 } from '../base64.js';
import { MAX_VERSION } from '../store/index.js';

/**
 * Hand-written checks for the shapes nearly every request has, by schema: each returns what the
 * schema would give for `value`, or undefined to let zod decide (any other shape, and every error,
 * so messages stay zod's). On warm /run the three zod parses were ~2 µs of main-thread time a
 * request (bench, issue 6); these take ~0.1 µs.
 */
const FAST_PATHS = new Map<z.ZodType, (value: unknown) => unknown>();

/** Parses `value` with `schema` or throws VALIDATION naming every bad field. */
export function parseWith<T extends z.ZodType>(schema: T, value: unknown, where: string): z.output<T> {
  const fast = FAST_PATHS.get(schema)?.(value);
  if (fast !== undefined) return fast as z.output<T>;
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const problems = describeIssues(parsed.error.issues, where);
  throw wessError('VALIDATION', problems.join('; '), { problems });
}

const name = z
  .string()
  .min(1, 'must not be empty')
  .max(200, 'must be at most 200 characters')
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  .refine((s) => !/[\u0000-\u001f\u007f]/.test(s), 'must not contain control characters');

const base64 = z.string().min(1, 'must not be empty').refine(isStandardBase64, 'must be standard base64 (A-Z a-z 0-9 + /, padded with =)');

export const idParams = z.object({
  id: z.string().refine((id) => isUuid(id) && uuidVersion(id) === 4, 'must be a UUID v4'),
});

/** A module id, for bodies (paths use idParams). */
const moduleId = z.string().refine((id) => isUuid(id) && uuidVersion(id) === 4, 'must be a UUID v4');

export const tenant = z.string().regex(TENANT_FORMAT, 'must be 1-63 of a-z 0-9 _ - (starting with a letter or digit)');

/** A version's files: the base64 of a tar archive, plain or gzipped (src/files/archive.ts reads it). */
const files = base64;

export const createJsonBody = z.object({ name, content: base64, files: files.optional() }).strict();

/** A `true`/`false` query flag. */
export const flag = z.enum(['true', 'false'], 'must be true or false').transform((value) => value === 'true');

/** `?force=true`: an admin's change that skips the target tenant's tier (audited as forced). */
const force = flag;

/** `?tenant=`: an admin creating a module for another tenant. */
export const createQuery = z.object({ tenant: tenant.optional(), force: force.optional() }).strict();

/** Routes whose only query is `?force=`: rollback and import. */
export const forceQuery = z.object({ force: force.optional() }).strict();

export const updateJsonBody = z
  .object({ name: name.optional(), content: base64.optional(), files: files.optional() })
  .strict()
  .refine((body) => body.name !== undefined || body.content !== undefined, 'give name, content or both')
  // Files belong to the version they come with: new files make a new version of a binary, sent with them.
  .refine((body) => body.files === undefined || body.content !== undefined, 'files come with the binary they belong to: send content too');

export const rawUploadQuery = z.object({ name, tenant: tenant.optional(), force: force.optional() }).strict();
export const rawUpdateQuery = z.object({ name: name.optional(), force: force.optional() }).strict();

export const listQuery = z
  .object({
    limit: z.coerce.number().int('must be an integer').min(1).max(100).default(20),
    cursor: z.string().min(1).max(512).optional(),
  })
  .strict();

/** Lists that an admin may narrow to one tenant (modules, keys, audit). */
export const tenantListQuery = listQuery.extend({ tenant: tenant.optional() }).strict();

/** GET /modules/{id}/invocations: newest first, narrowed to one outcome or to calls at or after a time. */
export const invocationsQuery = z
  .object({
    limit: z.coerce.number().int('must be an integer').min(1).max(200).default(50),
    cursor: z.string().regex(/^[1-9][0-9]{0,15}$/, 'must be a next_cursor of this list').optional(),
    status: z.enum(['ok', 'error']).optional(),
    since: z.iso.datetime({ offset: true, error: 'must be an ISO 8601 time, e.g. 2026-12-07T10:00:00Z' }).optional(),
  })
  .strict();

/** PUT /settings: what a tenant chooses for itself (admins may name the tenant). */
export const tenantSettingsBody = z.object({ capture_args: z.boolean(), tenant: tenant.optional() }).strict();

/** GET /settings: admins may name the tenant. */
export const tenantQuery = z.object({ tenant: tenant.optional() }).strict();

/**
 * An HTTP handler route's path: `/`, or segments of unreserved URL characters, no trailing slash, no
 * `.` or `..` segment. Nothing to decode or normalise, so a route matches the request path as sent.
 */
const routePath = z
  .string()
  .max(200, 'must be at most 200 characters')
  .regex(/^\/(?:[A-Za-z0-9._~-]+(?:\/[A-Za-z0-9._~-]+)*)?$/, 'must be "/" or "/segment[/segment…]" of A-Z a-z 0-9 . _ ~ -, without a trailing slash')
  .refine((path) => !path.split('/').some((segment) => segment === '.' || segment === '..'), 'must not have a "." or ".." segment');

/**
 * Methods a route may be limited to, and that reach the handlers: every one Node's HTTP parser takes
 * (WebDAV's PROPFIND, QUERY, …) but CONNECT, which names a host and port rather than a path and
 * which Node hands to a 'connect' listener (Wess has none), so it can never reach a route.
 */
// A non-empty tuple, as z.enum wants: GET is always among them.
export const ROUTE_METHODS = METHODS.filter((m) => m !== 'CONNECT') as readonly string[] as readonly [string, ...string[]];

/** POST /routes and PUT /routes/{id} (a PUT replaces the whole binding; `tenant` is for an admin's POST only). */
export const routeBody = z
  .object({
    path: routePath,
    module: moduleId,
    version: z.number().int('must be an integer').min(1).max(MAX_VERSION).nullable().optional(),
    methods: z.array(z.enum(ROUTE_METHODS)).min(1, 'must name at least one method, or be left out').max(ROUTE_METHODS.length).nullable().optional(),
    public: z.boolean().optional(),
    pass_authorization: z.boolean().optional(),
    tenant: tenant.optional(),
  })
  .strict();

export const keyIdParams = z.object({ id: z.string().regex(/^[0-9a-z]{4,32}$/, 'must be a key id (4-32 of 0-9 a-z)') });

export const createKeyBody = z
  .object({
    name: name,
    role: z.enum(ROLES),
    /** Default: the creating admin's tenant. */
    tenant: tenant.optional(),
    /** A [tiers.<name>] of the config; default auth.default_tier (none for admins). null: no tier. */
    tier: z.string().min(1).max(32).nullable().optional(),
    /** Module ids the key is limited to. */
    modules: z.array(moduleId).min(1, 'must name at least one module, or be left out').max(100, 'at most 100 modules').optional(),
  })
  .strict();

export const runBody = z
  .object({
    function: z.string().min(1, 'must not be empty').max(1024).optional(),
    /** Call arguments, or for a WASI program its command-line arguments (strings). */
    args: z.array(z.unknown()).optional(),
    /** Argument tuples, each run on a fresh instance. */
    batch: z.array(z.array(z.unknown(), 'each batch item must be an array of arguments')).min(1, 'must not be empty').optional(),
    stdin: z.string().optional(),
    stdin_base64: base64.optional(),
    env: z.record(z.string(), z.string()).optional(),
    /** Deadline of this call in ms; at most the key tier's max_timeout (default) or runner.timeout. */
    timeout_ms: z.number().int('must be an integer').positive('must be positive').optional(),
    /** Fuel: the run is metered and stops (FUEL_EXHAUSTED) when it has used this much; at most the tier's max_fuel. */
    fuel: z.number().int('must be an integer').positive('must be positive').max(Number.MAX_SAFE_INTEGER).optional(),
  })
  .strict()
  .refine((body) => !(body.args !== undefined && body.batch !== undefined), 'give args or batch, not both')
  .refine((body) => !(body.stdin !== undefined && body.stdin_base64 !== undefined), 'give stdin or stdin_base64, not both');

export const runQuery = z
  .object({ version: z.coerce.number().int('must be an integer').min(1, 'must be at least 1').optional() })
  .strict();

/** argv and environment of a WASI run: bounded, so one request cannot ask for unbounded work. */
export const wasiArgs = z.array(z.string().max(4096, 'must be at most 4096 characters'), 'must be an array of strings').max(256, 'at most 256 arguments');
export const wasiEnv = z.record(z.string().min(1).max(256), z.string().max(32_768)).refine((env) => Object.keys(env).length <= 256, 'at most 256 variables');

/** A version number in a path: 1 to 10 digits (the key layout's width), no sign, no leading zero. */
const VERSION = /^[1-9][0-9]{0,9}$/;

export const versionParams = idParams.extend({
  version: z.string().regex(VERSION, 'must be a version number (1, 2, ...)').transform(Number),
});

export const rollbackBody = z
  .object({ version: z.number().int('must be an integer').min(1).max(MAX_VERSION) })
  .strict();

/** `"3"`, `3` or `W/"3"`: versions are exact, so a weak tag (a proxy may weaken ours) means the same. */
const IF_MATCH = /^(?:(?:W\/)?"([1-9][0-9]{0,9})"|([1-9][0-9]{0,9}))$/;

/**
 * The version an `If-Match` header expects, or undefined when there is none or it is `*` (any
 * current version, which every route here already requires). Anything else is VALIDATION.
 */
export function parseIfMatch(header: string | undefined): number | undefined {
  if (header === undefined || header.trim() === '*') return undefined;
  const match = IF_MATCH.exec(header.trim());
  if (!match) {
    throw wessError('VALIDATION', `header.if-match: must be one module version, as 3 or "3" (got ${echo(header)})`);
  }
  return Number(match[1] ?? match[2]);
}

/** The ETag of a module version: its number, quoted as RFC 9110 wants. */
export function etag(version: number): string {
  return `"${version}"`;
}

/** Version 4 (third group starts with 4) and RFC variant: a subset of what uuid's validate() and version() === 4 accept. */
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;
const RUN_BODY_KEYS: ReadonlySet<string> = new Set(['function', 'args']);

/**
 * An object literal, a null-prototype object, or one whose prototype has a null prototype: find-my-way's
 * route params are `new NullObject()` (a class whose prototype is Object.create(null)), and with the
 * narrower check every /run and GET /modules/{id} paid a full zod parse of its id (~2% of the main thread).
 */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as object | null;
  return proto === Object.prototype || proto === null || Object.getPrototypeOf(proto) === null;
}

FAST_PATHS.set(idParams, (value) => {
  if (!isPlainObject(value)) return undefined;
  const { id } = value;
  // z.object strips unknown keys: the output is { id } whatever else the params hold.
  return typeof id === 'string' && UUID_V4.test(id) ? { id } : undefined;
});

/** `{ "function": "add", "args": [...] }` and its subsets: valid as they are; zod's output has the same keys. */
FAST_PATHS.set(runBody, (value) => {
  if (!isPlainObject(value)) return undefined;
  for (const key in value) if (!RUN_BODY_KEYS.has(key)) return undefined;
  const fn = value.function;
  const args = value.args;
  const body: { function?: string; args?: unknown[] } = {};
  if (fn !== undefined) {
    if (typeof fn !== 'string' || fn.length < 1 || fn.length > 1024) return undefined;
    body.function = fn;
  }
  if (args !== undefined) {
    if (!Array.isArray(args)) return undefined;
    // A copy, as z.array gives: the parsed body never shares an array with the request.
    body.args = args.slice();
  }
  return body;
});

/** No query string at all: `{}`, as zod gives it (version left out). */
FAST_PATHS.set(runQuery, (value) => {
  if (!isPlainObject(value)) return undefined;
  for (const key in value) if (Object.hasOwn(value, key)) return undefined;
  return {};
});
