import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { ROOT, fixture, startApp, upload, type TestApp } from '../helper.js';

/** A fixture's WebAssembly text (test/fixtures/wasm/<name>.wat). */
const watFixture = (name: string) => readFileSync(new URL(`test/fixtures/wasm/${name}.wat`, ROOT), 'utf8');
const WASM_MAGIC = Buffer.from([0x00, 0x61, 0x73, 0x6d]);

describe('module routes', () => {
  let t: TestApp;
  before(async () => {
    t = await startApp();
  });
  after(async () => t.close());

  test('POST /modules with JSON/base64 creates a module with its real signatures', async () => {
    const bytes = fixture('add');
    const res = await t.app.inject({ method: 'POST', url: '/modules', payload: { name: 'adder', content: bytes.toString('base64') } });
    assert.equal(res.statusCode, 201);
    const mod = res.json();
    assert.match(mod.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(res.headers.location, `/modules/${mod.id}`);
    assert.equal(mod.name, 'adder');
    assert.equal(mod.version, 1);
    assert.equal(mod.size, bytes.length);
    assert.equal(mod.sha256, createHash('sha256').update(bytes).digest('hex'));
    assert.deepEqual(mod.exports, [{ name: 'add', params: ['i32', 'i32'], results: ['i32'] }]);
    assert.equal(mod.memory, null);
    assert.ok(Date.parse(mod.created_at) > 0);
    assert.equal(mod.created_at, mod.updated_at);
    assert.ok(res.headers['x-request-id']);
  });

  test('POST /modules with a raw application/wasm body and ?name=', async () => {
    const res = await t.app.inject({
      method: 'POST', url: '/modules?name=raw-grow', headers: { 'content-type': 'application/wasm' }, payload: fixture('grow-memory'),
    });
    assert.equal(res.statusCode, 201);
    const mod = res.json();
    assert.equal(mod.name, 'raw-grow');
    assert.deepEqual(mod.memory, { min_pages: 1, max_pages: 4096 });
  });

  test('a declared memory maximum below the cap is kept', async () => {
    const mod = await upload(t.app, 'memory-max');
    assert.deepEqual(mod.memory, { min_pages: 1, max_pages: 10 });
  });

  test('GET /modules/:id and /content give back metadata and the exact bytes', async () => {
    const mod = await upload(t.app, 'float-ops');
    const meta = await t.app.inject({ method: 'GET', url: `/modules/${mod.id}` });
    assert.equal(meta.statusCode, 200);
    assert.deepEqual(meta.json(), mod);
    assert.equal(meta.json().content, undefined);
    const content = await t.app.inject({ method: 'GET', url: `/modules/${mod.id}/content` });
    assert.equal(content.statusCode, 200);
    assert.equal(content.headers['content-type'], 'application/wasm');
    assert.deepEqual(content.rawPayload, fixture('float-ops'));
  });

  test('GET /modules paginates without duplicates', async () => {
    const local = await startApp();
    try {
      const ids = new Set<string>();
      for (let i = 0; i < 7; i++) ids.add((await upload(local.app, 'add')).id);
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const url: string = `/modules?limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
        const res = await local.app.inject({ method: 'GET', url });
        assert.equal(res.statusCode, 200);
        const page = res.json() as { items: { id: string }[]; next_cursor: string | null };
        assert.ok(page.items.length <= 3);
        seen.push(...page.items.map((m) => m.id));
        cursor = page.next_cursor;
        pages++;
      } while (cursor && pages < 10);
      assert.equal(pages, 3);
      assert.deepEqual(new Set(seen), ids);
      assert.equal(seen.length, 7);
      for (const bad of ['limit=0', 'limit=101', 'limit=abc', 'cursor=%%%', 'bogus=1']) {
        const res = await local.app.inject({ method: 'GET', url: `/modules?${bad}` });
        assert.equal(res.statusCode, 400, bad);
        assert.equal(res.json().error.code, 'VALIDATION', bad);
      }
    } finally {
      await local.close();
    }
  });

  test('PUT replaces content and name and bumps the version; the new content runs', async () => {
    const mod = await upload(t.app, 'add');
    const res = await t.app.inject({
      method: 'PUT', url: `/modules/${mod.id}`, payload: { name: 'now-double', content: fixture('single-export').toString('base64') },
    });
    assert.equal(res.statusCode, 200);
    const updated = res.json();
    assert.equal(updated.version, 2);
    assert.equal(updated.name, 'now-double');
    assert.equal(updated.created_at, mod.created_at);
    assert.deepEqual(updated.exports.map((e: { name: string }) => e.name), ['double']);
    const run = await t.app.inject({ method: 'POST', url: `/modules/${mod.id}/run`, payload: { args: [21] } });
    assert.deepEqual(run.json().results, [42]);
    const renamed = await t.app.inject({ method: 'PUT', url: `/modules/${mod.id}`, payload: { name: 'renamed' } });
    assert.equal(renamed.statusCode, 200);
    assert.equal(renamed.json().version, 3);
    assert.equal(renamed.json().sha256, updated.sha256);
    const raw = await t.app.inject({
      method: 'PUT', url: `/modules/${mod.id}?name=raw`, headers: { 'content-type': 'application/wasm' }, payload: fixture('add'),
    });
    assert.equal(raw.statusCode, 200);
    assert.equal(raw.json().name, 'raw');
    assert.equal(raw.json().version, 4);
  });

  test('a rename never brings back content that a concurrent PUT replaced (regression: rename re-sent the content it had read)', async () => {
    for (let round = 0; round < 5; round++) {
      const mod = await upload(t.app, 'add');
      const [content, rename] = await Promise.all([
        t.app.inject({ method: 'PUT', url: `/modules/${mod.id}`, payload: { content: fixture('single-export').toString('base64') } }),
        t.app.inject({ method: 'PUT', url: `/modules/${mod.id}`, payload: { name: 'renamed' } }),
      ]);
      assert.deepEqual([content.statusCode, rename.statusCode], [200, 200]);
      const now = (await t.app.inject({ method: 'GET', url: `/modules/${mod.id}` })).json();
      assert.deepEqual([now.version, now.name, now.exports[0].name], [3, 'renamed', 'double'], `round ${round}`);
    }
  });

  test('PUT with a bad module is refused and leaves the old version running', async () => {
    const mod = await upload(t.app, 'add');
    for (const content of [Buffer.from('not wasm at all'), fixture('imports-fn'), fixture('big-memory')]) {
      const res = await t.app.inject({ method: 'PUT', url: `/modules/${mod.id}`, payload: { content: content.toString('base64') } });
      assert.equal(res.statusCode, 400);
    }
    const meta = await t.app.inject({ method: 'GET', url: `/modules/${mod.id}` });
    assert.equal(meta.json().version, 1);
    const run = await t.app.inject({ method: 'POST', url: `/modules/${mod.id}/run`, payload: { function: 'add', args: [2, 3] } });
    assert.deepEqual(run.json().results, [5]);
  });

  test('DELETE removes the module: 204, then 404 everywhere', async () => {
    const mod = await upload(t.app, 'add');
    const del = await t.app.inject({ method: 'DELETE', url: `/modules/${mod.id}` });
    assert.equal(del.statusCode, 204);
    assert.equal(del.body, '');
    const gone = [
      ['GET', `/modules/${mod.id}`], ['GET', `/modules/${mod.id}/content`], ['DELETE', `/modules/${mod.id}`], ['POST', `/modules/${mod.id}/run`],
      ['PUT', `/modules/${mod.id}`], ['GET', `/modules/${mod.id}/versions`], ['GET', `/modules/${mod.id}/versions/1`],
      ['GET', `/modules/${mod.id}/versions/1/content`], ['POST', `/modules/${mod.id}/rollback`],
    ] as const;
    for (const [method, url] of gone) {
      const payload = method === 'PUT' ? { name: 'x' } : url.endsWith('/rollback') ? { version: 1 } : method === 'POST' ? { function: 'add', args: [1, 2] } : undefined;
      const res = await t.app.inject({ method, url, ...(payload ? { payload } : {}) });
      assert.equal(res.statusCode, 404, `${method} ${url}`);
      assert.equal(res.json().error.code, 'MODULE_NOT_FOUND');
    }
  });

  test('uploads are refused with clear 4xx errors', async () => {
    const cases: [string, Record<string, unknown>, number, string][] = [
      ['not wasm', { name: 'x', content: Buffer.from('hello world!').toString('base64') }, 400, 'INVALID_WASM'],
      ['imports', { name: 'x', content: fixture('imports-fn').toString('base64') }, 400, 'FORBIDDEN_IMPORT'],
      ['big memory', { name: 'x', content: fixture('big-memory').toString('base64') }, 400, 'MEMORY_LIMIT'],
      ['shared memory', { name: 'x', content: fixture('shared-memory').toString('base64') }, 400, 'MEMORY_LIMIT'],
      ['memory64', { name: 'x', content: fixture('memory64').toString('base64') }, 400, 'MEMORY_LIMIT'],
      ['two memories', { name: 'x', content: fixture('two-memories').toString('base64') }, 400, 'MEMORY_LIMIT'],
      ['bad base64', { name: 'x', content: 'AGFzbQ!!' }, 400, 'VALIDATION'],
      ['no name', { content: fixture('add').toString('base64') }, 400, 'VALIDATION'],
      ['empty name', { name: '', content: fixture('add').toString('base64') }, 400, 'VALIDATION'],
      ['unknown field', { name: 'x', content: fixture('add').toString('base64'), extra: 1 }, 400, 'VALIDATION'],
      ['wrong type', { name: 7, content: ['a'] }, 400, 'VALIDATION'],
    ];
    for (const [label, payload, status, code] of cases) {
      const res = await t.app.inject({ method: 'POST', url: '/modules', payload });
      assert.equal(res.statusCode, status, `${label}: ${res.body}`);
      const body = res.json();
      assert.equal(body.error.code, code, label);
      assert.ok(body.error.message.length > 5, label);
      assert.equal(body.error.request_id, res.headers['x-request-id'], label);
    }
    const text = await t.app.inject({ method: 'POST', url: '/modules', headers: { 'content-type': 'text/plain' }, payload: 'hi' });
    assert.equal(text.statusCode, 415);
    assert.equal(text.json().error.code, 'UNSUPPORTED_MEDIA_TYPE');
    const broken = await t.app.inject({ method: 'POST', url: '/modules', headers: { 'content-type': 'application/json' }, payload: '{"name": ' });
    assert.equal(broken.statusCode, 400);
    assert.equal(broken.json().error.code, 'VALIDATION');
    const rawNoName = await t.app.inject({ method: 'POST', url: '/modules', headers: { 'content-type': 'application/wasm' }, payload: fixture('add') });
    assert.equal(rawNoName.statusCode, 400);
  });

  test('a module over 2 MiB is refused with 413, raw or base64', async () => {
    const big = Buffer.alloc(2 * 1024 * 1024 + 1);
    const raw = await t.app.inject({ method: 'POST', url: '/modules?name=big', headers: { 'content-type': 'application/wasm' }, payload: big });
    assert.equal(raw.statusCode, 413);
    assert.equal(raw.json().error.code, 'PAYLOAD_TOO_LARGE');
    const json = await t.app.inject({ method: 'POST', url: '/modules', payload: { name: 'big', content: big.toString('base64') } });
    assert.equal(json.statusCode, 413);
    assert.equal(json.json().error.code, 'PAYLOAD_TOO_LARGE');
    const huge = await t.app.inject({ method: 'POST', url: '/modules', payload: { name: 'big', content: Buffer.alloc(4 * 1024 * 1024).toString('base64') } });
    assert.equal(huge.statusCode, 413);
  });

  test('bad ids are 400, unknown ids 404, unknown routes 404 with the error body', async () => {
    const bad = await t.app.inject({ method: 'GET', url: '/modules/not-a-uuid' });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().error.code, 'VALIDATION');
    const missing = await t.app.inject({ method: 'GET', url: '/modules/9b2f4f0e-3c1a-4d7e-9f6b-2a1c3e5d7f90' });
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.json().error.code, 'MODULE_NOT_FOUND');
    const route = await t.app.inject({ method: 'GET', url: '/nope' });
    assert.equal(route.statusCode, 404);
    assert.equal(route.json().error.code, 'NOT_FOUND');
    assert.ok(route.headers['x-request-id']);
  });

  test('regression: router errors (over-long path segment) get the error body and a request id', async () => {
    const res = await t.app.inject({ method: 'GET', url: `/modules/${'a'.repeat(5000)}` });
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().error.code, 'VALIDATION');
    assert.ok(res.body.length < 500, 'the URL is not echoed back');
    assert.equal(res.json().error.request_id, res.headers['x-request-id']);
  });

  test('regression: a JSON null run body is a VALIDATION error, not an empty call', async () => {
    const mod = await upload(t.app, 'single-export');
    const res = await t.app.inject({ method: 'POST', url: `/modules/${mod.id}/run`, headers: { 'content-type': 'application/json' }, payload: 'null' });
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().error.code, 'VALIDATION');
  });

  test('an incoming x-request-id is echoed; a malformed one is replaced', async () => {
    const echoed = await t.app.inject({ method: 'GET', url: '/health/live', headers: { 'x-request-id': 'abc-123' } });
    assert.equal(echoed.headers['x-request-id'], 'abc-123');
    const replaced = await t.app.inject({ method: 'GET', url: '/health/live', headers: { 'x-request-id': 'bad id\twith spaces' } });
    assert.notEqual(replaced.headers['x-request-id'], 'bad id\twith spaces');
    assert.ok(String(replaced.headers['x-request-id']).length > 0);
  });
});

describe('regression (issue 15, item 17): WebAssembly text uploads are compiled, not refused as "bad magic number"', () => {
  let t: TestApp;
  before(async () => {
    t = await startApp({ server: { body_limit: 64 * 1024 } });
  });
  after(async () => t.close());

  const run = (id: string, args: number[]) => t.app.inject({ method: 'POST', url: `/modules/${id}/run`, payload: { function: 'add', args } });

  test('text/wat is compiled; the stored content is the binary; it runs', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/modules?name=add-text', headers: { 'content-type': 'text/wat; charset=utf-8' }, payload: watFixture('add') });
    assert.equal(res.statusCode, 201, res.body);
    const mod = res.json();
    assert.deepEqual(mod.exports, [{ name: 'add', params: ['i32', 'i32'], results: ['i32'] }]);
    const content = await t.app.inject({ method: 'GET', url: `/modules/${mod.id}/content` });
    assert.deepEqual(content.rawPayload.subarray(0, 4), WASM_MAGIC, 'the binary is stored, not the text');
    assert.equal(content.rawPayload.length, mod.size);
    assert.equal(mod.sha256, createHash('sha256').update(content.rawPayload).digest('hex'));
    assert.deepEqual((await run(mod.id, [2, 3])).json().results, [5]);
  });

  test('text sent as application/wasm, or base64 in JSON, is recognised as text', async () => {
    const text = `;; a comment first\n(; and a block one ;)\n${watFixture('add')}`;
    const raw = await t.app.inject({ method: 'POST', url: '/modules?name=detected', headers: { 'content-type': 'application/wasm' }, payload: text });
    assert.equal(raw.statusCode, 201, raw.body);
    assert.deepEqual((await run(raw.json().id, [40, 2])).json().results, [42]);
    const json = await t.app.inject({ method: 'POST', url: '/modules', payload: { name: 'json-text', content: Buffer.from(text).toString('base64') } });
    assert.equal(json.statusCode, 201, json.body);
    // A binary that is simply broken still says what is wrong with it.
    const junk = await t.app.inject({ method: 'POST', url: '/modules?name=junk', headers: { 'content-type': 'application/wasm' }, payload: Buffer.from('not a module') });
    assert.equal(junk.statusCode, 400);
    assert.equal(junk.json().error.code, 'INVALID_WASM');
  });

  test('text with an error is 400 INVALID_WASM naming its line and column', async () => {
    const text = '(module\n  (func (export "f") (result i32)\n    (i33.const 1)))\n';
    const res = await t.app.inject({ method: 'POST', url: '/modules?name=broken', headers: { 'content-type': 'text/wat' }, payload: text });
    assert.equal(res.statusCode, 400, res.body);
    const { error } = res.json();
    assert.equal(error.code, 'INVALID_WASM');
    assert.match(error.message, /^WebAssembly text: line 3, column \d+: /);
    assert.equal(error.details.line, 3);
    assert.equal(typeof error.details.column, 'number');
    // Valid syntax that does not type-check is refused the same way, before V8 sees it.
    const typed = await t.app.inject({ method: 'POST', url: '/modules?name=typed', headers: { 'content-type': 'text/wat' }, payload: '(module\n  (func (result i32)\n    f32.const 1))' });
    assert.equal(typed.statusCode, 400, typed.body);
    assert.match(typed.json().error.message, /^WebAssembly text: line \d+, column \d+: /);
  });

  test('PUT takes text too: a new version from it', async () => {
    const first = await upload(t.app, 'add');
    const res = await t.app.inject({ method: 'PUT', url: `/modules/${first.id}`, headers: { 'content-type': 'text/wat' }, payload: watFixture('add-i64') });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().version, 2);
    assert.deepEqual(res.json().exports[0].params, ['i64', 'i64']);
  });

  test('text over server.body_limit is 413', async () => {
    const padded = `${watFixture('add')}\n;; ${'x'.repeat(64 * 1024)}\n`;
    const res = await t.app.inject({ method: 'POST', url: '/modules?name=big-text', headers: { 'content-type': 'text/wat' }, payload: padded });
    assert.equal(res.statusCode, 413, res.body);
    assert.equal(res.json().error.code, 'PAYLOAD_TOO_LARGE');
  });
});
