/**
 * HTTP handlers (WAGI) through real HTTP: route bindings, the CGI contract both ways, access,
 * versions, prefix matching and every way a handler can fail. The handlers are the C programs of
 * test/fixtures/wasi/http-*.c.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { fixture, listen, makeKey, startApp, TEST_ADMIN_KEY, wasiFixture, waitFor, type MadeKey, type TestApp } from '../helper.js';

/** An answer's JSON, read field by field by the assertions (which check its shape). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- assertions read nested fields of answers whose shape they check
type Json = Record<string, any>;

let t: TestApp;
let base: string;
let acme: MadeKey;
let acmeRunner: MadeKey;
let other: MadeKey;
const modules: Record<string, string> = {};

const BODY_LIMIT = 100_000;

async function call(path: string, init: RequestInit & { key?: MadeKey | string | null } = {}): Promise<Response> {
  const { key, ...rest } = init;
  const headers = new Headers(rest.headers);
  const secret = key === null || key === undefined ? undefined : typeof key === 'string' ? key : key.key;
  if (secret !== undefined && !headers.has('authorization')) headers.set('authorization', `Bearer ${secret}`);
  return fetch(`${base}${path}`, { ...rest, headers, redirect: 'manual' });
}

/** A request fetch will not send (TRACE), over node:http: its status and body. */
function rawCall(method: string, path: string, key: MadeKey): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${base}${path}`, { method, headers: { authorization: `Bearer ${key.key}` } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

async function json(res: Response): Promise<Json> {
  return (await res.json()) as Json;
}

async function uploadAs(key: MadeKey, name: string, bytes: Uint8Array): Promise<string> {
  const res = await call('/modules', { method: 'POST', key, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name, content: Buffer.from(bytes).toString('base64') }) });
  assert.equal(res.status, 201, await res.clone().text());
  return (await json(res)).id as string;
}

async function bind(key: MadeKey, body: Record<string, unknown>): Promise<Json> {
  const res = await call('/routes', { method: 'POST', key, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const answer = await json(res);
  assert.equal(res.status, 201, JSON.stringify(answer));
  return answer;
}

async function errorOf(res: Response, status: number, code: string): Promise<Json> {
  const body = await json(res);
  assert.equal(res.status, status, JSON.stringify(body));
  assert.equal(body.error?.code, code);
  assert.equal(body.error?.request_id, res.headers.get('x-request-id'));
  return body.error as Json;
}

before(async () => {
  t = await startApp({
    runner: { timeout: 1500 },
    server: { body_limit: BODY_LIMIT },
    // Runs of these tiers' keys (and of their tenants' public routes) are metered.
    tiers: { metered: { default_fuel: 50_000_000 }, starved: { default_fuel: 100_000 } },
  });
  base = await listen(t.app);
  acme = await makeKey(t.app, { name: 'acme dev', role: 'developer', tenant: 'acme' });
  acmeRunner = await makeKey(t.app, { name: 'acme runner', role: 'runner', tenant: 'acme' });
  other = await makeKey(t.app, { name: 'other dev', role: 'developer', tenant: 'other' });
  for (const name of ['http-hello', 'http-echo', 'http-redirect', 'http-bad-header', 'http-no-header', 'http-trap', 'http-loop', 'http-exit']) {
    modules[name] = await uploadAs(acme, name, wasiFixture(name));
  }
  modules.add = await uploadAs(acme, 'add', fixture('add'));
  modules.otherHello = await uploadAs(other, 'hello', wasiFixture('http-hello'));
});

after(() => t.close());

describe('route bindings', () => {
  test('create, read, list per tenant, replace and delete, each audited', async () => {
    const route = await bind(acme, { path: '/crud', module: modules['http-hello'] });
    assert.equal(route.tenant, 'acme');
    assert.equal(route.url, '/h/acme/crud');
    assert.equal(route.public, false);
    assert.equal(route.version, null);
    assert.equal(route.created_by, acme.id);
    assert.equal((await call('/h/acme/crud', { key: acme })).status, 200);

    const got = await call(`/routes/${route.id}`, { key: acmeRunner });
    assert.equal(got.status, 200);
    assert.equal((await json(got)).path, '/crud');
    const listed = await json(await call('/routes', { key: acmeRunner }));
    assert.ok(listed.items.some((r: { id: string }) => r.id === route.id));
    const othersList = await json(await call('/routes', { key: other }));
    assert.ok(!othersList.items.some((r: { id: string }) => r.id === route.id), "another tenant's list does not hold it");
    await errorOf(await call(`/routes/${route.id}`, { key: other }), 404, 'ROUTE_NOT_FOUND');

    const put = await call(`/routes/${route.id}`, { method: 'PUT', key: acme, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ path: '/crud2', module: modules['http-redirect'], public: true }) });
    assert.equal(put.status, 200);
    assert.equal((await call('/h/acme/crud2')).status, 302);
    await errorOf(await call('/h/acme/crud', { key: acme }), 404, 'ROUTE_NOT_FOUND');

    await errorOf(await call(`/routes/${route.id}`, { method: 'DELETE', key: acmeRunner }), 403, 'FORBIDDEN');
    await errorOf(await call(`/routes/${route.id}`, { method: 'DELETE', key: other }), 404, 'ROUTE_NOT_FOUND');
    assert.equal((await call(`/routes/${route.id}`, { method: 'DELETE', key: acme })).status, 204);
    await errorOf(await call('/h/acme/crud2'), 404, 'ROUTE_NOT_FOUND');

    const audit = await json(await call('/audit?tenant=acme&limit=100', { key: TEST_ADMIN_KEY }));
    const actions = audit.items.filter((e: { target: string }) => e.target === route.id).map((e: { action: string; status: number }) => `${e.action} ${e.status}`);
    assert.deepEqual(actions.sort(), ['route.create 201', 'route.delete 204', 'route.update 200']);
  });

  test('a bad binding is a 400 naming the field; a path taken is a 409', async () => {
    const post = (body: Record<string, unknown>, key: MadeKey = acme) =>
      call('/routes', { method: 'POST', key, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    for (const path of ['hello', '/trailing/', '/a//b', '/../x', '/a/./b', '/sp ace', '/bang!', '']) {
      const error = await errorOf(await post({ path, module: modules['http-hello'] }), 400, 'VALIDATION');
      assert.match(error.message, /body\.path/, path);
    }
    assert.match((await errorOf(await post({ path: '/x', module: '6f1c1a52-1d0e-4d47-9a43-7e7a0c1c9a11' }), 400, 'VALIDATION')).message, /body\.module: .* is not a module of tenant acme/);
    assert.match((await errorOf(await post({ path: '/x', module: modules.add }), 400, 'VALIDATION')).message, /not a WASI command/);
    assert.match((await errorOf(await post({ path: '/x', module: modules['http-hello'] }, other), 400, 'VALIDATION')).message, /not a module of tenant other/);
    assert.match((await errorOf(await post({ path: '/x', module: modules['http-hello'], version: 9 }), 400, 'VALIDATION')).message, /has no version 9/);
    for (const methods of [['BREW'], ['CONNECT'], ['propfind']]) await errorOf(await post({ path: '/x', module: modules['http-hello'], methods }), 400, 'VALIDATION');
    await errorOf(await post({ path: '/x', module: modules['http-hello'] }, acmeRunner), 403, 'FORBIDDEN');
    await bind(acme, { path: '/taken', module: modules['http-hello'] });
    await errorOf(await post({ path: '/taken', module: modules['http-echo'] }), 409, 'ROUTE_CONFLICT');
    // The same path in another tenant is another route.
    await bind(other, { path: '/taken', module: modules.otherHello });
  });
});

describe('the CGI contract', () => {
  before(async () => {
    await bind(acme, { path: '/echo', module: modules['http-echo'], public: true });
    await bind(acme, { path: '/echo-auth', module: modules['http-echo'], pass_authorization: true });
  });

  test('every CGI variable, argv[0], the request headers and the body reach the program', async () => {
    const res = await call('/h/acme/echo/a/b%20c?x=1&y=two', {
      method: 'POST',
      key: acme,
      headers: { 'content-type': 'text/plain', 'x-custom-thing': 'yes', 'x-api-key': 'hidden' },
      body: 'hello body',
    });
    const text = await res.text();
    assert.equal(res.status, 200, text);
    assert.equal(res.headers.get('content-type'), 'text/plain; charset=utf-8');
    assert.equal(res.headers.get('x-echo'), 'yes');
    const lines = text.split('\n');
    const value = (name: string) => lines.find((l) => l.startsWith(`${name}=`))?.slice(name.length + 1);
    const port = new URL(base).port;
    assert.equal(value('REQUEST_METHOD'), 'POST');
    assert.equal(value('SCRIPT_NAME'), '/echo');
    assert.equal(value('X_MATCHED_ROUTE'), '/echo');
    assert.equal(value('PATH_INFO'), '/a/b c');
    assert.equal(value('X_RAW_PATH_INFO'), '/a/b%20c');
    assert.equal(value('QUERY_STRING'), 'x=1&y=two');
    assert.equal(value('CONTENT_TYPE'), 'text/plain');
    assert.equal(value('CONTENT_LENGTH'), '10');
    assert.equal(value('SERVER_NAME'), '127.0.0.1');
    assert.equal(value('SERVER_PORT'), port);
    assert.equal(value('SERVER_PROTOCOL'), 'HTTP/1.1');
    assert.equal(value('GATEWAY_INTERFACE'), 'CGI/1.1');
    assert.equal(value('SERVER_SOFTWARE'), 'wess');
    assert.equal(value('PATH_TRANSLATED'), '/a/b c');
    assert.equal(value('REMOTE_ADDR'), '127.0.0.1');
    assert.equal(value('X_WESS_TENANT'), 'acme');
    assert.equal(value('X_FULL_URL'), '/h/acme/echo/a/b%20c?x=1&y=two');
    assert.equal(value('X_WESS_REQUEST_ID'), res.headers.get('x-request-id'));
    assert.equal(value('ARGC'), '1');
    assert.equal(value('ARGV0'), '/echo');
    assert.equal(value('HTTP_X_CUSTOM_THING'), 'yes');
    assert.equal(value('HTTP_HOST'), `127.0.0.1:${port}`);
    assert.equal(value('HTTP_AUTHORIZATION'), undefined, 'Authorization is not passed on unless the route asks');
    assert.equal(value('HTTP_X_API_KEY'), undefined, "Wess's own key header never is");
    assert.equal(value('HTTP_CONTENT_TYPE'), undefined);
    assert.equal(value('BODY'), 'hello body');
    // The 18 CGI variables of the README's table and no other (nothing of the host's environment).
    assert.equal(value('ENV_OTHERS'), '18');

    const bare = await (await call('/h/acme/echo')).text();
    assert.match(bare, /^PATH_INFO=$/m);
    assert.match(bare, /^QUERY_STRING=$/m);
    assert.match(bare, /^REQUEST_METHOD=GET$/m);
    assert.match(bare, /^CONTENT_LENGTH=0$/m);
  });

  test('regression (audit 20, item 2): any method Node parses reaches the program, with its body; the API routes still answer it 404', async () => {
    for (const method of ['PROPFIND', 'MKCOL', 'M-SEARCH', 'QUERY']) {
      const res = await call('/h/acme/echo/dav', { method, key: acme, headers: { 'content-type': 'application/xml' }, body: '<propfind/>' });
      const text = await res.text();
      assert.equal(res.status, 200, `${method}: ${text}`);
      assert.match(text, new RegExp(`^REQUEST_METHOD=${method}$`, 'm'));
      assert.match(text, /^PATH_INFO=\/dav$/m);
      assert.match(text, /^BODY=<propfind\/>$/m, `${method}: the body is the program's stdin`);
    }
    const trace = await rawCall('TRACE', '/h/acme/echo', acme);
    assert.equal(trace.status, 200, trace.text);
    assert.match(trace.text, /^REQUEST_METHOD=TRACE$/m);
    // Taken by the handlers only: elsewhere the method is Wess's 404, as it was.
    const elsewhere = await errorOf(await call('/modules', { method: 'PROPFIND', key: acme, headers: { 'content-type': 'application/xml' }, body: '<propfind/>' }), 404, 'NOT_FOUND');
    assert.match(elsewhere.message, /no route PROPFIND \/modules/);
  });

  test('a route that asks for it gets the Authorization header', async () => {
    const text = await (await call('/h/acme/echo-auth/x', { key: acme })).text();
    assert.match(text, new RegExp(`^HTTP_AUTHORIZATION=Bearer ${acme.key}$`, 'm'));
  });

  test('a binary body reaches the program and comes back byte for byte', async () => {
    const sent = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), randomBytes(50_000), Buffer.from('\n\n\r\n\r\n')]);
    const res = await call('/h/acme/echo?raw', { method: 'PUT', body: sent, headers: { 'content-type': 'application/octet-stream' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/octet-stream');
    assert.equal(res.headers.get('content-length'), String(sent.length));
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), sent);
  });

  test('hop-by-hop, cookie and framing headers from the guest are dropped; Wess keeps its own security headers', async () => {
    const res = await call('/h/acme/echo?hostile');
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'hostile\n');
    assert.equal(res.headers.get('set-cookie'), null);
    assert.equal(res.headers.get('transfer-encoding'), null);
    assert.equal(res.headers.get('upgrade'), null);
    assert.equal(res.headers.get('content-length'), '8');
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(res.headers.get('x-custom'), 'kept');
  });

  test('a header the guest prints twice is sent twice, not only its last line', async () => {
    const res = await call('/h/acme/echo?repeated');
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'repeated\n');
    assert.equal(res.headers.get('link'), '</a.css>; rel=preload, </b.js>; rel=preload');
    assert.equal(res.headers.get('vary'), 'Accept, Cookie');
  });

  test('Status and Location: a redirect', async () => {
    await bind(acme, { path: '/go', module: modules['http-redirect'], public: true });
    const res = await call('/h/acme/go');
    assert.equal(res.status, 302);
    assert.equal(res.headers.get('location'), 'https://example.com/moved');
    assert.equal(await res.text(), 'moved\n');
  });

  test('the receipt is in Server-Timing', async () => {
    const res = await call('/h/acme/echo');
    const timing = res.headers.get('server-timing') ?? '';
    assert.match(timing, /run;dur=[\d.]+/);
    assert.match(timing, /cpu;dur=[\d.]+/);
    assert.match(timing, /queued;dur=[\d.]+/);
    assert.match(timing, /compile;desc="(cached|fresh)"/);
    assert.match(timing, /version;desc="1"/);
  });

  test('HEAD runs the handler and answers its status and headers without the body', async () => {
    const got = await call('/h/acme/echo?hostile');
    const head = await call('/h/acme/echo?hostile', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), '');
    assert.equal(head.headers.get('content-length'), got.headers.get('content-length'));
    assert.equal(head.headers.get('x-custom'), 'kept', "the handler's own headers");
    assert.match(head.headers.get('server-timing') ?? '', /run;dur=[\d.]+/, 'the program ran');
    await bind(acme, { path: '/get-only', module: modules['http-hello'], methods: ['GET'], public: true });
    const refused = await call('/h/acme/get-only', { method: 'HEAD' });
    assert.equal(refused.status, 405, 'HEAD is a method of its own: a route taking only GET refuses it');
    assert.equal(refused.headers.get('allow'), 'GET');
    await bind(acme, { path: '/get-head', module: modules['http-hello'], methods: ['GET', 'HEAD'], public: true });
    const allowed = await call('/h/acme/get-head', { method: 'HEAD' });
    assert.equal(allowed.status, 200);
    assert.equal(allowed.headers.get('content-length'), String('hello, world\n'.length));
  });

  test('a body over server.body_limit is a 413, whatever its type', async () => {
    for (const type of ['application/octet-stream', 'text/plain', 'application/wasm']) {
      const res = await call('/h/acme/echo?raw', { method: 'POST', body: Buffer.alloc(BODY_LIMIT + 1), headers: { 'content-type': type } });
      await errorOf(res, 413, 'PAYLOAD_TOO_LARGE');
    }
  });
});

describe('access', () => {
  before(async () => {
    await bind(acme, { path: '/private', module: modules['http-hello'] });
    await bind(acme, { path: '/public', module: modules['http-hello'], public: true });
  });

  test('a private route needs a key of its tenant; a public one none', async () => {
    const denied = await call('/h/acme/private');
    await errorOf(denied, 401, 'UNAUTHORIZED');
    assert.match(denied.headers.get('www-authenticate') ?? '', /Bearer/);
    await errorOf(await call('/h/acme/private', { key: 'wess_nosuchkey_AAAAAAAAAAAAAAAAAAAAAAAA' }), 401, 'UNAUTHORIZED');
    const ok = await call('/h/acme/private', { key: acmeRunner });
    assert.equal(ok.status, 200);
    assert.equal(await ok.text(), 'hello, world\n');
    assert.equal((await call('/h/acme/private', { headers: { 'x-api-key': acme.key } })).status, 200);
    const pub = await call('/h/acme/public');
    assert.equal(pub.status, 200);
    assert.equal(await pub.text(), 'hello, world\n');
    assert.ok(pub.headers.get('x-ratelimit-limit'), 'public requests are rate-limited per client IP');
  });

  test("another tenant's route answers 404, exactly like none at all, with or without a key", async () => {
    const theirs = await errorOf(await call('/h/acme/private', { key: other }), 404, 'ROUTE_NOT_FOUND');
    const none = await errorOf(await call('/h/acme/nothing-here', { key: other }), 404, 'ROUTE_NOT_FOUND');
    assert.equal(theirs.message.replace('/private', '/X'), none.message.replace('/nothing-here', '/X'));
    await errorOf(await call('/h/nobody/anything'), 404, 'ROUTE_NOT_FOUND');
    await errorOf(await call('/h/acme/nothing-here'), 404, 'ROUTE_NOT_FOUND');
  });
});

describe('matching and versions', () => {
  test('the longest route path wins, segment by segment', async () => {
    await bind(other, { path: '/', module: modules.otherHello, public: true });
    const deep = await uploadAs(other, 'redirect', wasiFixture('http-redirect'));
    const echo = await uploadAs(other, 'echo', wasiFixture('http-echo'));
    await bind(other, { path: '/api', module: echo, public: true });
    await bind(other, { path: '/api/deep', module: deep, public: true });
    assert.match(await (await call('/h/other/api/x?q')).text(), /^SCRIPT_NAME=\/api$/m);
    assert.match(await (await call('/h/other/api')).text(), /^PATH_INFO=$/m);
    assert.equal((await call('/h/other/api/deep/z')).status, 302);
    assert.equal((await call('/h/other/api/deeper')).status, 200);
    assert.match(await (await call('/h/other/api/deeper')).text(), /^PATH_INFO=\/deeper$/m);
    assert.equal(await (await call('/h/other/apix')).text(), 'hello, world\n');
    assert.equal(await (await call('/h/other')).text(), 'hello, world\n');
  });

  test('methods: a route limited to some answers 405 with Allow to the others', async () => {
    await bind(acme, { path: '/only-get', module: modules['http-hello'], methods: ['GET', 'HEAD'], public: true });
    assert.equal((await call('/h/acme/only-get')).status, 200);
    const refused = await call('/h/acme/only-get', { method: 'POST', body: 'x' });
    await errorOf(refused, 405, 'METHOD_NOT_ALLOWED');
    assert.equal(refused.headers.get('allow'), 'GET, HEAD');
  });

  test('regression (audit 20, item 2): a route takes and refuses any method Node parses', async () => {
    await bind(acme, { path: '/dav', module: modules['http-echo'], methods: ['PROPFIND', 'REPORT'], public: true });
    const text = await (await call('/h/acme/dav', { method: 'PROPFIND' })).text();
    assert.match(text, /^REQUEST_METHOD=PROPFIND$/m);
    const refused = await call('/h/acme/dav', { method: 'GET' });
    await errorOf(refused, 405, 'METHOD_NOT_ALLOWED');
    assert.equal(refused.headers.get('allow'), 'PROPFIND, REPORT');
    await bind(acme, { path: '/get-only-dav', module: modules['http-echo'], methods: ['GET'], public: true });
    const propfind = await call('/h/acme/get-only-dav', { method: 'PROPFIND' });
    const error = await errorOf(propfind, 405, 'METHOD_NOT_ALLOWED');
    assert.equal(propfind.headers.get('allow'), 'GET');
    assert.match(error.message, /takes GET, not PROPFIND/);
  });

  test('a route follows the current version; a pinned one stays', async () => {
    const id = await uploadAs(acme, 'moving', wasiFixture('http-hello'));
    await bind(acme, { path: '/follows', module: id, public: true });
    await bind(acme, { path: '/pinned', module: id, version: 1, public: true });
    const res = await call(`/modules/${id}`, { method: 'PUT', key: acme, headers: { 'content-type': 'application/wasm' }, body: wasiFixture('http-redirect') });
    assert.equal(res.status, 200);
    const follows = await call('/h/acme/follows');
    assert.equal(follows.status, 302);
    assert.match(follows.headers.get('server-timing') ?? '', /version;desc="2"/);
    const pinned = await call('/h/acme/pinned');
    assert.equal(pinned.status, 200);
    assert.equal(await pinned.text(), 'hello, world\n');
  });

  test('a route whose module was deleted answers 502', async () => {
    const id = await uploadAs(acme, 'doomed', wasiFixture('http-hello'));
    await bind(acme, { path: '/doomed', module: id, public: true });
    assert.equal((await call(`/modules/${id}`, { method: 'DELETE', key: acme })).status, 204);
    assert.match((await errorOf(await call('/h/acme/doomed'), 502, 'BAD_GATEWAY')).message, /was deleted/);
  });
});

describe('a handler that fails', () => {
  before(async () => {
    for (const name of ['http-bad-header', 'http-no-header', 'http-trap', 'http-loop', 'http-exit']) await bind(acme, { path: `/${name}`, module: modules[name], public: true });
  });

  function stderrLogged(requestId: string | null, text: RegExp): Promise<void> {
    return waitFor(() => t.logs.some((line) => line.msg === 'guest stderr' && line.request_id === requestId && typeof line.route === 'string' && text.test(String(line.line))));
  }

  test('a malformed header block is a 502 naming the line', async () => {
    assert.match((await errorOf(await call('/h/acme/http-bad-header'), 502, 'BAD_GATEWAY')).message, /header line 2 is not "Name: value"/);
  });

  test('no headers is a 502', async () => {
    assert.match((await errorOf(await call('/h/acme/http-no-header'), 502, 'BAD_GATEWAY')).message, /no blank line after the headers/);
  });

  test('a trap is a 502, and what it wrote on stderr is logged with the request id', async () => {
    const res = await call('/h/acme/http-trap');
    const error = await errorOf(res, 502, 'BAD_GATEWAY');
    assert.match(error.message, /unreachable/);
    assert.equal(error.details?.cause, 'WASM_TRAP');
    assert.match(res.headers.get('server-timing') ?? '', /^run;dur=[\d.]+, cpu;dur=[\d.]+, queued;dur=[\d.]+, version;desc="1"$/, 'a failed run has its receipt too');
    await stderrLogged(res.headers.get('x-request-id'), /about to trap/);
    // The request is a call of the module in its invocation log, with the route and what it wrote.
    const log = await t.app.inject({ method: 'GET', url: `/modules/${modules['http-trap']}/invocations` });
    const call0 = (log.json() as { items: Array<Record<string, unknown>> }).items.find((c) => c.request_id === res.headers.get('x-request-id'));
    assert.ok(call0, 'the call is in the log');
    assert.deepEqual([call0.route, call0.function, call0.status, call0.code], ['/http-trap', '_start', 502, 'BAD_GATEWAY']);
    assert.match(String(call0.stderr), /about to trap/);
  });

  test('a non-zero exit is a 502 with its status; its stderr is logged', async () => {
    const res = await call('/h/acme/http-exit');
    const error = await errorOf(res, 502, 'BAD_GATEWAY');
    assert.match(error.message, /exited with status 3/);
    assert.equal(error.details?.exit_code, 3);
    await stderrLogged(res.headers.get('x-request-id'), /database unreachable/);
  });

  test('a handler that never answers is a 504 once its deadline passes; what it wrote on stderr before is logged', async () => {
    const res = await call('/h/acme/http-loop');
    const error = await errorOf(res, 504, 'GATEWAY_TIMEOUT');
    assert.equal(error.details?.cause, 'EXECUTION_TIMEOUT');
    const ran = /run;dur=([\d.]+)/.exec(res.headers.get('server-timing') ?? '');
    assert.ok(ran && Number(ran[1]) > 0, `how long it ran, in Server-Timing: ${res.headers.get('server-timing')}`);
    // Its worker was stopped, and the output it held with it: the lines come from the stderr mirror.
    await stderrLogged(res.headers.get('x-request-id'), /starting a job that never ends/);
  });
});

describe('a metered handler', () => {
  let metered: MadeKey;
  let starved: MadeKey;
  before(async () => {
    metered = await makeKey(t.app, { name: 'meter dev', role: 'developer', tenant: 'meter', tier: 'metered' });
    starved = await makeKey(t.app, { name: 'starved dev', role: 'developer', tenant: 'starved', tier: 'starved' });
    const hello = await uploadAs(metered, 'hello', wasiFixture('http-hello'));
    await bind(metered, { path: '/private', module: hello });
    await bind(metered, { path: '/public', module: hello, public: true });
    await bind(starved, { path: '/loop', module: await uploadAs(starved, 'loop', wasiFixture('http-loop')), public: true });
  });

  test("Server-Timing carries the fuel a run used, under the key's tier (private) and the tenant's (public)", async () => {
    for (const res of [await call('/h/meter/private', { key: metered }), await call('/h/meter/public')]) {
      assert.equal(res.status, 200);
      assert.equal(await res.text(), 'hello, world\n');
      const timing = res.headers.get('server-timing') ?? '';
      const fuel = /fuel;desc="(\d+)"/.exec(timing);
      assert.ok(fuel, timing);
      assert.ok(Number(fuel[1]) > 0 && Number(fuel[1]) <= 50_000_000, timing);
      assert.match(timing, /run;dur=[\d.]+, cpu;dur=[\d.]+, queued;dur=[\d.]+, compile;desc="(cached|fresh)", version;desc="1"/);
    }
    assert.doesNotMatch((await call('/h/acme/echo')).headers.get('server-timing') ?? '', /fuel;/, 'an unmetered run has no fuel entry');
  });

  test('a handler that runs out of fuel is a 502 saying so', async () => {
    const res = await call('/h/starved/loop');
    const error = await errorOf(res, 502, 'BAD_GATEWAY');
    assert.equal(error.details?.cause, 'FUEL_EXHAUSTED');
    assert.match(res.headers.get('server-timing') ?? '', /fuel;desc="100000"/, 'all the fuel it was given');
  });
});

test('per-route stats and bounded metrics', async () => {
  const route = await bind(acme, { path: '/counted', module: modules['http-hello'], public: true });
  for (let i = 0; i < 3; i++) assert.equal((await call('/h/acme/counted')).status, 200);
  const got = await json(await call(`/routes/${route.id}`, { key: acme }));
  assert.equal(got.stats['2xx'].requests, 3);
  assert.ok(got.stats['2xx'].max_ms > 0);
  const metrics = await (await call('/metrics')).text();
  assert.match(metrics, /wess_handler_requests_total\{class="2xx",access="public"\} \d+/);
  assert.match(metrics, /wess_handler_duration_seconds_count\{class="2xx"\} \d+/);
  assert.doesNotMatch(metrics, /wess_handler_[a-z_]+\{[^}]*route=/);
});
