import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { VERSION } from '../../src/version.js';
import { authHeaders, listen, makeKey, noKey, startApp, upload, waitFor } from '../helper.js';

describe('health, metrics and logs', () => {
  test('liveness, readiness and detail', async () => {
    const t = await startApp();
    try {
      assert.equal((await t.app.inject({ method: 'GET', url: '/health/live' })).statusCode, 200);
      const ready = await t.app.inject({ method: 'GET', url: '/health/ready' });
      assert.equal(ready.statusCode, 200);
      // inject sends the test admin key: the detail.
      const detail = (await t.app.inject({ method: 'GET', url: '/health' })).json();
      assert.equal(detail.status, 'ready');
      assert.equal(detail.database.status, 'open');
      assert.equal(detail.runner.workers, 2);
      assert.equal(typeof detail.version, 'string');
    } finally {
      await t.close();
    }
  });

  test('regression (issue 15, item 8): /health tells a stranger only its status and version; the detail needs an admin key', async () => {
    const t = await startApp();
    try {
      const mod = await upload(t.app, 'add');
      // A read found this module's content damaged: the detail names it, of whichever tenant.
      t.app.services.storeHealth.noteDamaged('0'.repeat(64), mod.id);
      const dev = await makeKey(t.app, { name: 'dev', role: 'developer', tenant: 'acme' });
      const asStranger = await t.app.inject({ method: 'GET', url: '/health', headers: noKey() });
      assert.equal(asStranger.statusCode, 200);
      assert.deepEqual(asStranger.json(), { status: 'ready', version: VERSION });
      for (const key of [dev.key, 'wess_nosuchkey_0123456789abcdefghijklmn', 'not a key']) {
        const res = await t.app.inject({ method: 'GET', url: '/health', headers: { authorization: `Bearer ${key}` } });
        assert.equal(res.statusCode, 200, 'a key that is not an admin\'s is not refused');
        assert.deepEqual(res.json(), { status: 'ready', version: VERSION }, key);
      }
      const asAdmin = await t.app.inject({ method: 'GET', url: '/health' });
      assert.equal(asAdmin.statusCode, 200);
      assert.deepEqual(asAdmin.json().store.damaged_modules, [mod.id]);
      assert.equal(asAdmin.json().runner.workers, 2);
      // Not ready keeps its 503, with the short answer for a stranger too.
      t.app.services.lifecycle.closing = true;
      const closing = await t.app.inject({ method: 'GET', url: '/health', headers: noKey() });
      assert.equal(closing.statusCode, 503);
      assert.deepEqual(closing.json(), { status: 'shutting_down', version: VERSION });
      assert.equal((await t.app.inject({ method: 'GET', url: '/health' })).json().status, 'shutting_down');
    } finally {
      await t.close();
    }
  });

  test('/health shows the detail to everyone while auth is disabled (everyone is an admin then)', async () => {
    const t = await startApp({ auth: { enabled: false } });
    try {
      const res = await t.app.inject({ method: 'GET', url: '/health', headers: noKey() });
      assert.equal(res.json().database.status, 'open');
    } finally {
      await t.close();
    }
  });

  test('regression (issue 15, item 19): GET / needs no key: a browser gets the web console (issue 19), curl gets pointers to the API', async () => {
    const t = await startApp();
    try {
      const browser = await t.app.inject({ method: 'GET', url: '/', headers: noKey({ accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' }) });
      assert.equal(browser.statusCode, 200);
      assert.match(String(browser.headers['content-type']), /^text\/html/);
      assert.match(browser.body, /<title>Wess console<\/title>/);
      assert.match(String(browser.headers['content-security-policy']), /^default-src 'self'/);
      const curl = await t.app.inject({ method: 'GET', url: '/', headers: noKey({ accept: '*/*' }) });
      assert.equal(curl.statusCode, 200);
      assert.match(String(curl.headers['content-type']), /^application\/json/);
      assert.match(String(curl.headers.vary), /accept/i);
      const body = curl.json();
      assert.equal(body.docs, '/docs');
      assert.equal(body.openapi, '/openapi.json');
      assert.equal(body.version, VERSION);
      assert.match(body.message, /\/docs/);
      // With a key it is the same answer, and the audit log has no denial for it.
      assert.equal((await t.app.inject({ method: 'GET', url: '/' })).statusCode, 200);
      const audit = (await t.app.inject({ method: 'GET', url: '/audit' })).json() as { items: Array<{ action: string }> };
      assert.ok(!audit.items.some((e) => e.action === 'auth.denied'));
    } finally {
      await t.close();
    }
  });

  test('/metrics exports the named series with bounded labels', async () => {
    const t = await startApp();
    try {
      const mod = await upload(t.app, 'add');
      await t.app.inject({ method: 'POST', url: `/modules/${mod.id}/run`, payload: { function: 'add', args: [1, 2] } });
      await t.app.inject({ method: 'POST', url: `/modules/${mod.id}/run`, payload: { function: 'nope' } });
      await t.app.inject({ method: 'GET', url: `/modules/${mod.id}` });
      const res = await t.app.inject({ method: 'GET', url: '/metrics' });
      assert.equal(res.statusCode, 200);
      assert.match(String(res.headers['content-type']), /text\/plain/);
      const text = res.body;
      for (const series of [
        'wess_requests_total{route="/modules/:id/run",method="POST",status="200"} 1',
        'wess_errors_total{code="UNKNOWN_FUNCTION"} 1',
        'wess_execution_time_bucket',
        'wess_cache_hits',
        'wess_cache_misses',
        'wess_compiles_total 1',
        'wess_compile_time_seconds_count 1',
        'wess_writer_queue_depth',
        'wess_writer_batch_size_count',
        'wess_pool_workers 2',
        'wess_pool_utilization',
        'process_cpu_user_seconds_total',
        'nodejs_heap_size_used_bytes',
      ]) {
        assert.ok(text.includes(series), `missing ${series}`);
      }
      assert.doesNotMatch(text, new RegExp(mod.id), 'no per-module label');
      assert.doesNotMatch(text, /127\.0\.0\.1/, 'no per-IP label');
    } finally {
      await t.close();
    }
  });

  test('one JSON log line per request with request id, module id and timing', async () => {
    const t = await startApp();
    try {
      const mod = await upload(t.app, 'add');
      const res = await t.app.inject({ method: 'POST', url: `/modules/${mod.id}/run`, payload: { function: 'add', args: [1, 2] } });
      const line = t.logs.find((l) => l.msg === 'request' && l.request_id === res.headers['x-request-id']);
      assert.ok(line, 'request log line');
      assert.equal(line.module_id, mod.id);
      assert.equal(line.status, 200);
      assert.equal(typeof line.ms, 'number');
    } finally {
      await t.close();
    }
  });

  test('rate limit: 429 RATE_LIMITED with Retry-After; health and metrics are not limited', async () => {
    const t = await startApp({ rate_limit: { max: 3, window: 60_000 } });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) statuses.push((await t.app.inject({ method: 'GET', url: '/modules' })).statusCode);
      assert.deepEqual(statuses, [200, 200, 200, 429]);
      const limited = await t.app.inject({ method: 'GET', url: '/modules' });
      assert.equal(limited.json().error.code, 'RATE_LIMITED');
      assert.ok(Number(limited.headers['retry-after']) > 0);
      for (let i = 0; i < 5; i++) assert.equal((await t.app.inject({ method: 'GET', url: '/health/live' })).statusCode, 200);
      assert.equal((await t.app.inject({ method: 'GET', url: '/metrics' })).statusCode, 200);
    } finally {
      await t.close();
    }
  });
});

describe('lifecycle', () => {
  test('a restart with the same data dir keeps every acknowledged module', async () => {
    const first = await startApp();
    const dir = first.dataDir;
    const created: { id: string; sha256: unknown }[] = [];
    try {
      const uploads = await Promise.all(Array.from({ length: 20 }, (_, i) => upload(first.app, i % 2 ? 'add' : 'float-ops')));
      created.push(...uploads.map((m) => ({ id: m.id, sha256: m.sha256 })));
      await first.app.inject({ method: 'DELETE', url: `/modules/${created[0]?.id}` });
    } finally {
      await first.app.close();
    }
    const second = await startApp({}, dir);
    try {
      for (const [i, mod] of created.entries()) {
        const res = await second.app.inject({ method: 'GET', url: `/modules/${mod.id}` });
        assert.equal(res.statusCode, i === 0 ? 404 : 200);
        if (i > 0) assert.equal(res.json().sha256, mod.sha256);
      }
      const run = await second.app.inject({ method: 'POST', url: `/modules/${created[1]?.id}/run`, payload: { function: 'add', args: [40, 2] } });
      assert.deepEqual(run.json().results, [42]);
    } finally {
      await second.close();
      const { rm } = await import('node:fs/promises');
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('close lets an in-flight call finish, then refuses new ones', async () => {
    const t = await startApp({ runner: { timeout: 400 } });
    const base = await listen(t.app);
    const mod = await upload(t.app, 'loop-forever');
    const inflight = fetch(`${base}/modules/${mod.id}/run`, {
      method: 'POST', headers: authHeaders({ 'content-type': 'application/json' }), body: JSON.stringify({ function: 'spin' }),
    });
    await waitFor(() => t.app.services.runner.stats().inFlight === 1);
    const closing = t.close();
    const res = await inflight;
    assert.equal(res.status, 408);
    await closing;
    assert.equal(t.app.services.runner.ready, false);
  });
});
