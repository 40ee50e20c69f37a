import assert from 'node:assert/strict';
import diagnostics from 'node:diagnostics_channel';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance, RouteOptions } from 'fastify';
import { ERROR_CODES, type ErrorCode } from '../../src/errors.js';
import { DOCS_PREFIX, OPENAPI_PATH } from '../../src/http/openapi.js';
import { VERSION } from '../../src/version.js';
import { listen, noKey, startApp, type TestApp } from '../helper.js';

type Json = Record<string, unknown>;
interface Operation {
  summary?: string;
  tags?: string[];
  security?: unknown[];
  requestBody?: { required?: boolean; content?: Record<string, { schema?: Json }> };
  responses: Record<string, { description?: string; content?: Record<string, { schema?: Json }> }>;
}
type Document = { openapi: string; info: Json; servers?: Json[]; paths: Record<string, Record<string, Operation>>; components: Json; security: Json[]; tags: Array<{ name: string }> };

/** Routes whose own description is not ours to give: swagger-ui's pages and assets. */
const isExplorerRoute = (url: string) => url === DOCS_PREFIX || url.startsWith(`${DOCS_PREFIX}/`);
const ERROR_REF = '#/components/schemas/Error';

interface Recorded {
  method: string;
  url: string;
  schema: object | undefined;
}

/** Every route a freshly built app registers, as Fastify's onRoute hook sees them. */
async function startRecordingRoutes(): Promise<{ t: TestApp; routes: Recorded[] }> {
  const routes: Recorded[] = [];
  // Fastify publishes each new instance here before anything is registered on it.
  const onInit = (message: unknown) => {
    (message as { fastify: FastifyInstance }).fastify.addHook('onRoute', (route: RouteOptions) => {
      for (const method of [route.method].flat()) routes.push({ method, url: route.url, schema: route.schema });
    });
  };
  diagnostics.subscribe('fastify.initialization', onInit);
  try {
    return { t: await startApp(), routes };
  } finally {
    diagnostics.unsubscribe('fastify.initialization', onInit);
  }
}

/** Needs no key: no security requirement, or an empty one among the alternatives (the key is optional). */
const isOpen = (op: Operation): boolean => Array.isArray(op.security) && (op.security.length === 0 || op.security.some((r) => Object.keys(r as object).length === 0));

function operations(doc: Document): Array<[string, Operation]> {
  return Object.entries(doc.paths).flatMap(([path, item]) => Object.entries(item).map(([method, op]): [string, Operation] => [`${method.toUpperCase()} ${path}`, op]));
}

/** Resolves a local JSON pointer (`#/components/schemas/Module`) in `doc`. */
function resolvePointer(doc: unknown, pointer: string): unknown {
  return pointer
    .slice(2)
    .split('/')
    .map((part) => part.replaceAll('~1', '/').replaceAll('~0', '~'))
    .reduce<unknown>((node, part) => (node !== null && typeof node === 'object' ? (node as Json)[part] : undefined), doc);
}

function collectRefs(node: unknown, found: string[] = []): string[] {
  if (Array.isArray(node)) for (const item of node) collectRefs(item, found);
  else if (node !== null && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref' && typeof value === 'string') found.push(value);
      else collectRefs(value, found);
    }
  }
  return found;
}

describe('OpenAPI document', () => {
  let t: TestApp;
  let routes: Recorded[];
  let doc: Document;

  before(async () => {
    ({ t, routes } = await startRecordingRoutes());
    const res = await t.app.inject({ method: 'GET', url: OPENAPI_PATH, headers: noKey() });
    assert.equal(res.statusCode, 200, 'the document is served without a key');
    doc = res.json() as Document;
  });
  after(() => t.close());

  it('describes every registered route, and only those', () => {
    const ours = routes.filter((r) => r.method !== 'HEAD' && !isExplorerRoute(r.url));
    assert.ok(ours.some((r) => r.method === 'POST' && r.url === '/modules/:id/run'), 'the route list was recorded');
    const registered = new Set(ours.map((r) => `${r.method} ${r.url.replace(/:([A-Za-z_]+)/g, '{$1}').replace(/\*$/, '{*}')}`));
    const documented = new Set(operations(doc).map(([name]) => name));
    const missing = [...registered].filter((r) => !documented.has(r));
    // The handlers take every method Node parses: their operation names those it does not list (a path item has no field for most).
    assert.ok(missing.includes('PROPFIND /h/{*}'), 'the handlers take PROPFIND');
    const handlers = (doc.paths['/h/{*}']?.get as { description?: string } | undefined)?.description ?? '';
    for (const name of missing) {
      const [method, path] = name.split(' ') as [string, string];
      assert.equal(path, '/h/{*}', `${name}: a registered route missing from the document`);
      assert.ok(handlers.includes(` ${method}`), `the handlers' description names ${method}`);
    }
    assert.deepEqual([...documented].filter((r) => !registered.has(r)), [], 'documented operations that are not routes');
  });

  it('gives Fastify nothing to validate or serialize with, so requests cost what they did', () => {
    for (const route of routes.filter((r) => !isExplorerRoute(r.url))) {
      assert.ok(route.schema, `${route.method} ${route.url} is described`);
      assert.deepEqual(Object.keys(route.schema), [], `${route.method} ${route.url}: no body, querystring, params, headers or response for Fastify`);
    }
  });

  it('is OpenAPI 3.x with the package version, relative servers and resolvable $refs', () => {
    assert.match(doc.openapi, /^3\.\d+\.\d+$/);
    assert.equal(doc.info.version, VERSION);
    for (const server of doc.servers ?? []) assert.match(String(server.url), /^\//, 'servers stay relative');
    const refs = collectRefs(doc);
    assert.ok(refs.includes(ERROR_REF));
    for (const ref of new Set(refs)) {
      assert.match(ref, /^#\//, `${ref} is a local reference`);
      assert.ok(resolvePointer(doc, ref) !== undefined, `${ref} resolves`);
    }
  });

  it('gives every operation a summary, declared tags and a success answer', () => {
    const declared = new Set(doc.tags.map((tag) => tag.name));
    for (const [name, op] of operations(doc)) {
      assert.ok(op.summary && op.summary.length > 3, `${name} has a summary`);
      assert.ok(op.tags && op.tags.length > 0, `${name} has tags`);
      for (const tag of op.tags ?? []) assert.ok(declared.has(tag), `${name}: tag ${tag} is declared`);
      assert.ok(Object.keys(op.responses).some((status) => /^2\d\d$/.test(status)), `${name} has a 2xx answer`);
      assert.ok(!('Default Response' === Object.values(op.responses)[0]?.description), `${name} describes its answers`);
    }
  });

  it('describes each error status with the Error schema and the codes it carries', () => {
    for (const [name, op] of operations(doc)) {
      const open = isOpen(op);
      const statuses = Object.keys(op.responses).map(Number);
      const expected = open ? [500] : [401, 429, 500, 503];
      for (const status of expected) assert.ok(statuses.includes(status), `${name} lists ${status}`);
      if (open) assert.ok(!statuses.includes(401), `${name} is open: no 401`);
      for (const [status, response] of Object.entries(op.responses)) {
        if (Number(status) < 400 || (name === 'GET /health' && status === '503')) continue;
        assert.equal(response.content?.['application/json']?.schema?.$ref, ERROR_REF, `${name} ${status} uses the Error schema`);
        const codes = [...(response.description ?? '').matchAll(/\b([A-Z_]{4,}):/g)].map((m) => m[1] as ErrorCode);
        assert.ok(codes.length > 0, `${name} ${status} names its codes`);
        for (const code of codes) assert.equal(ERROR_CODES[code]?.status, Number(status), `${name}: ${code} belongs under ${status}`);
      }
    }
  });

  it('describes request bodies, both upload content types, binary and stream answers', () => {
    for (const [name, op] of operations(doc)) {
      if (!/^(POST|PUT) /.test(name)) continue;
      assert.ok(Object.keys(op.requestBody?.content ?? {}).length > 0, `${name} describes its body`);
    }
    for (const name of ['POST /modules', 'PUT /modules/{id}']) {
      const content = doc.paths[name.split(' ')[1] as string]?.[name.split(' ')[0]?.toLowerCase() as string]?.requestBody?.content ?? {};
      assert.ok(content['application/json']?.schema?.properties, `${name} takes JSON`);
      assert.equal(content['application/wasm']?.schema?.format, 'binary', `${name} takes a raw module`);
    }
    assert.equal(doc.paths['/modules/{id}/run']?.post?.requestBody?.required, false, 'a run without a body is allowed');
    // Fastify parses (and can refuse) a body sent with any method but GET and HEAD.
    assert.ok(doc.paths['/modules/{id}']?.delete?.responses['415'], 'DELETE lists 415');
    assert.equal(doc.paths['/modules/{id}']?.get?.responses['415'], undefined, 'GET does not');
    assert.ok(doc.paths['/modules/{id}/content']?.get?.responses['200']?.content?.['application/wasm']);
    assert.ok(doc.paths['/events']?.get?.responses['200']?.content?.['text/event-stream']);
    assert.ok(Object.keys(doc.paths['/metrics']?.get?.responses['200']?.content ?? {}).some((type) => type.startsWith('text/plain')));
  });

  it('names both ways to send a key, and leaves probes and docs open', () => {
    const schemes = (doc.components.securitySchemes ?? {}) as Record<string, Json>;
    assert.deepEqual(schemes.bearer, { ...schemes.bearer, type: 'http', scheme: 'bearer' });
    assert.deepEqual(schemes.apiKey, { ...schemes.apiKey, type: 'apiKey', in: 'header', name: 'x-api-key' });
    assert.deepEqual(doc.security, [{ bearer: [] }, { apiKey: [] }]);
    const open = operations(doc).filter(([, op]) => isOpen(op)).map(([name]) => name);
    assert.deepEqual(open.sort(), ['GET /', 'GET /console/{file}', 'GET /health', 'GET /health/live', 'GET /health/ready', 'GET /metrics', `GET ${OPENAPI_PATH}`].sort());
    // /health takes a key, optionally: an admin's adds the detail.
    assert.deepEqual(doc.paths['/health']?.get?.security, [{}, { bearer: [] }, { apiKey: [] }]);
  });

  it('documents zod schemas without validating with them: messages stay zod\'s', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/modules?limit=0' });
    assert.equal(res.statusCode, 400);
    assert.match((res.json() as { error: { message: string } }).error.message, /^query\.limit: /);
    const limit = doc.paths['/modules']?.get as unknown as { parameters: Array<{ name: string; schema: Json }> };
    assert.deepEqual(limit.parameters.find((p) => p.name === 'limit')?.schema, { default: 20, type: 'integer', minimum: 1, maximum: 100 });
  });
});

describe('API explorer at /docs', () => {
  let t: TestApp;
  let base: string;

  before(async () => {
    t = await startApp();
    base = await listen(t.app);
  });
  after(() => t.close());

  it('serves the UI and every asset it loads, without a key, under a CSP that allows them', async () => {
    const page = await fetch(`${base}${DOCS_PREFIX}`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    const csp = page.headers.get('content-security-policy') ?? '';
    assert.match(csp, /script-src 'self'(;|$)/, 'scripts only from this origin');
    assert.match(csp, /img-src 'self' data:/, 'the logo is a data: URL');
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|upgrade-insecure-requests/);
    const html = await page.text();
    // Nothing inline that the CSP would block: every script has a src and no body, no style blocks or attributes.
    for (const [, attrs, body] of html.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)) {
      assert.match(attrs ?? '', /\ssrc="/);
      assert.equal((body ?? '').trim(), '');
    }
    assert.doesNotMatch(html, /<style|\sstyle=|\son[a-z]+=/i);

    const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => new URL(m[1] as string, `${base}${DOCS_PREFIX}`));
    assert.ok(assets.length >= 5, 'the page loads its scripts and styles');
    const types: Record<string, RegExp> = { js: /javascript/, css: /^text\/css/, png: /^image\/png/ };
    for (const url of assets) {
      assert.equal(url.origin, base, `${url} is same-origin`);
      const res = await fetch(url);
      await res.arrayBuffer();
      assert.equal(res.status, 200, `${url.pathname} answers`);
      const ext = url.pathname.split('.').pop() ?? '';
      assert.match(res.headers.get('content-type') ?? '', types[ext] ?? /./, `${url.pathname} has a ${ext} content type`);
    }
  });

  it('points the UI at the same document as /openapi.json', async () => {
    const initializer = await (await fetch(`${base}${DOCS_PREFIX}/static/swagger-initializer.js`)).text();
    assert.match(initializer, /resolveUrl\('\.\/json'\)/);
    const [viaDocs, direct] = await Promise.all([fetch(`${base}${DOCS_PREFIX}/json`), fetch(`${base}${OPENAPI_PATH}`)]);
    assert.equal(viaDocs.status, 200);
    assert.deepEqual(await viaDocs.json(), await direct.json());
  });

  it('keeps the API\'s own strict CSP on API answers', async () => {
    const res = await fetch(`${base}/health/live`);
    await res.arrayBuffer();
    assert.equal(res.headers.get('content-security-policy'), "default-src 'none';frame-ancestors 'none'");
  });
});
