import { Transform } from 'node:stream';
import type { FastifyInstance, FastifyRequest, preParsingAsyncHookHandler } from 'fastify';
import { limitsFor, tierSuffix } from '../auth/policy.js';
import type { Config } from '../config/schema.js';
import type { ErrorCode } from '../errors.js';
import { maxArchiveBytes } from '../files/archive.js';
import { HANDLER_PREFIX } from './handlers/paths.js';

/** Content types read as a raw module, held whole: up to limits.max_module_size. */
export const WASM_TYPES = ['application/wasm', 'application/octet-stream'];
/** The import route streams this one line by line (routes/admin.ts): it has no body limit. */
export const NDJSON = 'application/x-ndjson';

/** The media type of a Content-Type header, without parameters, lower case ('' when there is none). */
export function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

/** A module upload or update (POST /modules, PUT /modules/{id}): its JSON may carry files besides the binary. */
export function isModuleUpload(method: string | undefined, url: string | undefined): boolean {
  const path = (url ?? '').split('?')[0] ?? '';
  return (method === 'POST' && path === '/modules') || (method === 'PUT' && /^\/modules\/[^/]+$/.test(path));
}

/**
 * The JSON body limit of a module upload: server.body_limit, plus room for the base64 of the largest
 * files archive limits.max_files_bytes and limits.max_files allow (archive.ts maxArchiveBytes).
 */
export function uploadJsonLimit(config: Config): number {
  const archive = maxArchiveBytes({ maxFilesBytes: config.limits.max_files_bytes, maxFiles: config.limits.max_files });
  return config.server.body_limit + Math.ceil(archive / 3) * 4;
}

const UPLOAD_JSON_KEY = 'server.body_limit, plus the base64 of a files archive of limits.max_files_bytes';

/**
 * The byte limit Fastify holds a body of `contentType` to, and the config key that sets it; none for
 * a streamed body. `route` is the request's method and URL: a module upload's JSON gets more room.
 */
export function bodyLimitOf(config: Config, contentType: string | undefined, route?: { method?: string; url?: string }): { limit: number; key: string } | undefined {
  const type = mediaType(contentType);
  // An HTTP handler's body goes to the guest whatever its type: every one is held to server.body_limit.
  if (route?.url?.startsWith(HANDLER_PREFIX)) return { limit: config.server.body_limit, key: 'server.body_limit' };
  if (type === NDJSON) return undefined;
  if (WASM_TYPES.includes(type)) return { limit: config.limits.max_module_size, key: 'limits.max_module_size' };
  if (type === 'application/json' && route && isModuleUpload(route.method, route.url)) return { limit: uploadJsonLimit(config), key: UPLOAD_JSON_KEY };
  return { limit: config.server.body_limit, key: 'server.body_limit' };
}

/** What Fastify raises for a body over its limit; the error handler turns it into bodyTooLarge's answer. */
function overLimit(): Error {
  return Object.assign(new Error('request body is over its limit'), { code: 'FST_ERR_CTP_BODY_TOO_LARGE', statusCode: 413 });
}

/**
 * A module upload route's bodyLimit is the JSON one (uploadJsonLimit), and Fastify lets a route's
 * limit override every parser's: this preParsing hook holds the other bodies of the route (a raw
 * binary, WebAssembly text) to their own limit again, by Content-Length and, for a chunked body,
 * by counting.
 */
export function capUploadBody(services: { config: Config }): preParsingAsyncHookHandler {
  return async (request, _reply, payload) => {
    const { config } = services;
    const applies = bodyLimitOf(config, request.headers['content-type'], request);
    if (applies === undefined || applies.limit >= uploadJsonLimit(config)) return payload;
    if (Number(request.headers['content-length']) > applies.limit) throw overLimit();
    let seen = 0;
    const counted = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        seen += chunk.byteLength;
        callback(seen > applies.limit ? overLimit() : null, chunk);
      },
    });
    payload.on('error', (err) => counted.destroy(err));
    return payload.pipe(counted);
  };
}

/**
 * The refusal of a body Fastify found over its limit, naming the limit. A raw module is told the
 * limit the upload's admission would apply (the tier's, when lower), in admission's words.
 */
export function bodyTooLarge(config: Config, request: FastifyRequest): { code: ErrorCode; message: string; details: Record<string, unknown> } {
  const length = Number(request.headers['content-length']);
  const size = Number.isSafeInteger(length) && length > 0 ? length : undefined;
  const applies = bodyLimitOf(config, request.headers['content-type'], request) ?? { limit: config.server.body_limit, key: 'server.body_limit' };
  if (applies.key === 'limits.max_module_size') {
    const { maxModuleSize, tier } = limitsFor(config, request.principal);
    const limit = `${maxModuleSize} bytes${tierSuffix(tier)}`;
    const message = size === undefined ? `module is over the limit of ${limit}` : `module is ${size} bytes; the limit is ${limit}`;
    return { code: 'PAYLOAD_TOO_LARGE', message, details: { size: size ?? null, limit: maxModuleSize, tier } };
  }
  const limit = `${applies.limit} bytes (${applies.key})`;
  const message = size === undefined ? `request body is over the limit of ${limit}` : `request body is ${size} bytes; the limit is ${limit}`;
  return { code: 'PAYLOAD_TOO_LARGE', message, details: { size: size ?? null, limit: applies.limit } };
}

/**
 * Answers `Expect: 100-continue` (curl sends it for bodies over 1 MiB, `wess` with every upload): a body
 * over its content type's limit is refused before the client sends it. Without this, Node says
 * "continue" to everything, the 413 comes while the client is still writing, and the connection closes
 * under it (EPIPE; the client may never read the answer). Any other request is told to continue, as
 * Node would, and then handled as usual: with the 100 withheld, Fastify's own size check answers 413.
 */
export function installExpectContinue(app: FastifyInstance, config: Config): void {
  app.server.on('checkContinue', (req, res) => {
    const applies = bodyLimitOf(config, req.headers['content-type'], req);
    const length = Number(req.headers['content-length']);
    if (!(applies && length > applies.limit)) res.writeContinue();
    app.server.emit('request', req, res);
  });
}
