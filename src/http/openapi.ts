import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance, FastifySchema } from 'fastify';
import { z } from 'zod';
import { ERROR_CODES, type ErrorCode } from '../errors.js';
import { VERSION } from '../version.js';
import { toJsonSchema, type JsonSchema } from './json-schema.js';
import { componentSchemas, ref } from './openapi-schemas.js';

export { ref } from './openapi-schemas.js';
export type { JsonSchema } from './json-schema.js';

/** Where the document and the explorer are served; both open, like /health. */
export const OPENAPI_PATH = '/openapi.json';
export const DOCS_PREFIX = '/docs';

/** A schema for the document: a zod schema (converted with z.toJSONSchema) or JSON Schema as is. */
export type DocSchema = z.ZodType | JsonSchema;

/** A success answer of a route. */
export interface Reply {
  description: string;
  /** The body; none for e.g. 204. */
  body?: DocSchema;
  /** Default application/json. */
  contentType?: string;
  /** Response headers worth knowing, by name: their description. */
  headers?: Record<string, string>;
}

/** How a route describes itself for the OpenAPI document; see describeRoute. */
export interface RouteDoc {
  summary: string;
  description?: string;
  tags: string[];
  /**
   * 'key' (default): needs an API key and is rate limited. 'open': neither (probes, scrapes, docs).
   * 'optional': open, but a key may be sent and changes the answer (/health's detail for admins).
   */
  access?: 'key' | 'open' | 'optional';
  params?: DocSchema;
  query?: DocSchema;
  headers?: DocSchema;
  /** Descriptions of fields of params, query, headers and (top-level) body, by field name. */
  fields?: Record<string, string>;
  /** A JSON body (a schema), or bodies by content type. */
  body?: z.ZodType | Record<string, DocSchema>;
  /** The body may be left out (the handler reads a missing body as `{}`). */
  bodyOptional?: boolean;
  responses: Record<number, Reply>;
  /**
   * Error codes the handler (or what it calls) can answer with. Those every route of its kind can
   * give are added: 401, 429, 503 for keyed routes, 500 for all, and 400/413/415 for any method
   * but GET and HEAD (Fastify parses a body sent to them, even to a DELETE).
   */
  errors?: readonly ErrorCode[];
}

/** Errors any keyed route can give: no or bad key, rate limit, shutting down, a bug. */
const KEYED_ERRORS: ErrorCode[] = ['UNAUTHORIZED', 'RATE_LIMITED', 'UNAVAILABLE', 'INTERNAL'];
/** Errors of Fastify's body parsing, for methods whose body it reads. */
const BODY_ERRORS: ErrorCode[] = ['VALIDATION', 'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE'];
const RETRY_AFTER_STATUSES = new Set([429, 503]);
const BODY_OPTIONAL = 'x-wess-body-optional';
/**
 * Where describeRoute keeps a route's description in its `schema`. A symbol, so that Fastify sees a
 * schema without body, querystring, params or response, and compiles and runs nothing per request.
 */
const ROUTE_DOC = Symbol('wess.routeDoc');

function isZod(schema: unknown): schema is z.ZodType {
  return schema instanceof z.ZodType;
}

/** JSON Schema of what a request may send: zod's input side, so the docs say what validation accepts. */
export function inputSchema(schema: DocSchema): JsonSchema {
  return isZod(schema) ? toJsonSchema(schema, 'input') : schema;
}

function outputSchema(schema: DocSchema): JsonSchema {
  return isZod(schema) ? toJsonSchema(schema, 'output') : schema;
}

/** `schema` with the descriptions of `fields` set on its properties. */
function withFields(schema: JsonSchema, fields: Record<string, string> | undefined): JsonSchema {
  const properties = schema.properties as Record<string, JsonSchema> | undefined;
  if (!fields || !properties) return schema;
  const described = Object.fromEntries(
    Object.entries(properties).map(([name, property]) => [name, fields[name] ? { ...property, description: fields[name] } : property]),
  );
  return { ...schema, properties: described };
}

function errorResponses(codes: ErrorCode[]): Record<number, JsonSchema> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of new Set(codes)) {
    const status = ERROR_CODES[code].status;
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  const responses: Record<number, JsonSchema> = {};
  for (const [status, list] of byStatus) {
    const response: JsonSchema = {
      description: list.map((code) => `${code}: ${ERROR_CODES[code].description}`).join(' '),
      content: { 'application/json': { schema: ref('Error') } },
    };
    if (RETRY_AFTER_STATUSES.has(status)) response.headers = { 'retry-after': { description: 'Seconds to wait before retrying', type: 'integer' } };
    responses[status] = response;
  }
  return responses;
}

function successResponse(reply: Reply): JsonSchema {
  const response: JsonSchema = { description: reply.description };
  if (reply.headers) {
    response.headers = Object.fromEntries(Object.entries(reply.headers).map(([name, description]) => [name, { description, type: 'string' }]));
  }
  if (reply.body === undefined) return { ...response, type: 'null' };
  return { ...response, content: { [reply.contentType ?? 'application/json']: { schema: outputSchema(reply.body) } } };
}

function requestBody(body: NonNullable<RouteDoc['body']>, fields: RouteDoc['fields']): JsonSchema {
  const byType: Record<string, DocSchema> = isZod(body) ? { 'application/json': body } : body;
  return { content: Object.fromEntries(Object.entries(byType).map(([type, schema]) => [type, { schema: withFields(inputSchema(schema), fields) }])) };
}

/**
 * Route options that describe a route in the OpenAPI document: `app.get(path, describeRoute({...}), handler)`.
 * Documentation only: Fastify never validates or serializes with it (the handlers validate with zod,
 * whose messages are part of the contract), and it costs nothing per request; registerOpenApi turns
 * it into the operation when the document is first built.
 */
export function describeRoute(doc: RouteDoc): { schema: FastifySchema } {
  return { schema: { [ROUTE_DOC]: doc } as FastifySchema };
}

/** Methods an OpenAPI 3.1 path item has a field for: a route's others (PROPFIND, QUERY, …) cannot be listed in it. */
export const OPENAPI_METHODS: ReadonlySet<string> = new Set(['GET', 'PUT', 'POST', 'DELETE', 'OPTIONS', 'HEAD', 'PATCH', 'TRACE']);

/** Marks a route left out of the document (see undocumentedRoute); a symbol, for the reason ROUTE_DOC is one. */
const UNDOCUMENTED = Symbol('wess.undocumented');

/**
 * Route options that leave a route out of the OpenAPI document: the methods it has no field for,
 * which a documented route of the same path names in its description. Costs nothing per request.
 */
export function undocumentedRoute(): { schema: FastifySchema } {
  return { schema: { [UNDOCUMENTED]: true } as FastifySchema };
}

/** The operation of a described route, as @fastify/swagger reads a Fastify schema. */
function operationSchema(doc: RouteDoc, methods: string[]): JsonSchema {
  const open = doc.access === 'open' || doc.access === 'optional';
  // Fastify parses a body sent with any method but GET and HEAD, and that can fail.
  const readsBody = methods.some((method) => method !== 'GET' && method !== 'HEAD');
  const codes = [...(doc.errors ?? []), ...(open ? ['INTERNAL' as const] : KEYED_ERRORS), ...(readsBody ? BODY_ERRORS : [])];
  const response: Record<number, JsonSchema> = errorResponses(codes);
  for (const [status, reply] of Object.entries(doc.responses)) response[Number(status)] = successResponse(reply);
  const schema: JsonSchema = { summary: doc.summary, tags: doc.tags, response };
  if (doc.description) schema.description = doc.description;
  // An empty requirement ({}) among the alternatives is OpenAPI's way of saying the key is optional.
  if (open) schema.security = doc.access === 'optional' ? [{}, { bearer: [] }, { apiKey: [] }] : [];
  if (doc.params) schema.params = withFields(inputSchema(doc.params), doc.fields);
  if (doc.query) schema.querystring = withFields(inputSchema(doc.query), doc.fields);
  if (doc.headers) schema.headers = withFields(inputSchema(doc.headers), doc.fields);
  if (doc.body) schema.body = requestBody(doc.body, doc.fields);
  if (doc.bodyOptional) schema[BODY_OPTIONAL] = true;
  return schema;
}

/** The CSP of the /docs pages: everything from this origin, no inline script, nothing from elsewhere. */
export const DOCS_CSP = [
  "default-src 'none'",
  "base-uri 'self'",
  "connect-src 'self'",
  "font-src 'self' data:",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "img-src 'self' data:",
  "script-src 'self'",
  "style-src 'self'",
].join('; ');

const TAGS = [
  { name: 'modules', description: 'Upload, read, replace and delete WebAssembly modules' },
  { name: 'run', description: 'Call exported functions, in batches, or run WASI programs' },
  { name: 'versions', description: 'Module history and rollback' },
  { name: 'events', description: 'Module changes as Server-Sent Events' },
  { name: 'keys', description: 'API keys, roles, tenants and usage' },
  { name: 'routes', description: 'Bind paths to WASI programs that answer HTTP requests' },
  { name: 'handlers', description: 'HTTP handlers: /h/{tenant}{path} runs the bound WASI program (a public route needs no key)' },
  { name: 'audit', description: 'Who did what' },
  { name: 'jobs', description: 'Runs made later, retried, with a signed callback when they end' },
  { name: 'admin', description: 'Backup, export and import' },
  { name: 'health', description: 'Probes and metrics (no key needed)' },
  { name: 'meta', description: 'This document (no key needed)' },
];

/**
 * Registers the OpenAPI document (GET /openapi.json) and the explorer (/docs). Call before the
 * routes: @fastify/swagger collects routes as they are added.
 */
export async function registerOpenApi(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Wess',
        version: VERSION,
        description: 'Stores WebAssembly modules and runs their exported functions over HTTP. Errors always have the Error shape.',
      },
      components: {
        schemas: componentSchemas(),
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'wess_<id>_<secret>', description: 'Authorization: Bearer wess_<id>_<secret>' },
          apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key', description: 'x-api-key: wess_<id>_<secret>' },
        },
      },
      // Either scheme: a list of alternatives.
      security: [{ bearer: [] }, { apiKey: [] }],
      tags: TAGS,
    },
    transform: ({ schema, url, route }) => {
      if ((schema as { [UNDOCUMENTED]?: true } | undefined)?.[UNDOCUMENTED]) return { schema: { hide: true }, url };
      const doc = (schema as { [ROUTE_DOC]?: RouteDoc } | undefined)?.[ROUTE_DOC];
      return { schema: doc ? operationSchema(doc, [route.method].flat()) : schema, url };
    },
    // Only an OpenAPI (not a Swagger 2) document is ever built here.
    transformObject: (document) => markOptionalBodies(('openapiObject' in document ? document.openapiObject : {}) as JsonSchema),
  });
  app.get(
    OPENAPI_PATH,
    describeRoute({ summary: 'This OpenAPI document', tags: ['meta'], access: 'open', responses: { 200: { description: 'OpenAPI 3.1 document', body: { type: 'object' } } } }),
    async () => app.swagger(),
  );
  await app.register(swaggerUi, { routePrefix: DOCS_PREFIX, staticCSP: DOCS_CSP, theme: { title: 'Wess API' }, uiConfig: { deepLinking: true }, validatorUrl: false });
}

/** @fastify/swagger marks every body required; a route that reads a missing body as `{}` says otherwise. */
function markOptionalBodies(document: JsonSchema): JsonSchema {
  for (const item of Object.values((document.paths ?? {}) as Record<string, Record<string, JsonSchema>>)) {
    for (const operation of Object.values(item)) {
      if (!operation[BODY_OPTIONAL]) continue;
      delete operation[BODY_OPTIONAL];
      const body = operation.requestBody as JsonSchema | undefined;
      if (body) body.required = false;
    }
  }
  return document;
}
