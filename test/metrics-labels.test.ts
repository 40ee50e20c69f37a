import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { authHeaders, fixture, makeKey, startApp, upload, wasiFixture, type MadeKey, type TestApp } from './helper.js';

/**
 * Every label Wess's own metrics may have, and what bounds its values: a tier, a route pattern, a
 * route class, a code from the error table. Never a module, key, tenant, request or route id: one
 * series per module or key would grow /metrics (and Prometheus) with every tenant's traffic.
 */
const WESS_LABELS = new Set(['route', 'method', 'status', 'code', 'outcome', 'reason', 'tier', 'quota', 'direction', 'cache', 'topic', 'class', 'access', 'le']);
/** prom-client's process and Node.js metrics label what the runtime has (heap spaces, handle types). */
const RUNTIME_LABELS = new Set(['type', 'space', 'version', 'major', 'minor', 'patch', 'kind', 'le']);

interface Series {
  metric: string;
  labels: Record<string, string>;
}

function series(text: string): Series[] {
  const out: Series[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || !line.includes('{')) continue;
    const labels: Record<string, string> = {};
    for (const [, name, value] of line.slice(line.indexOf('{'), line.lastIndexOf('}') + 1).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[name as string] = value as string;
    out.push({ metric: line.slice(0, line.indexOf('{')), labels });
  }
  return out;
}

describe('metrics labels stay bounded', () => {
  let t: TestApp;
  const secrets: string[] = [];
  const ids: string[] = [];

  before(async () => {
    t = await startApp({ tiers: { small: { max_timeout: 500 } } });
    const keys: MadeKey[] = [];
    for (const tenant of ['acme', 'globex']) {
      keys.push(await makeKey(t.app, { name: `${tenant}-dev`, role: 'developer', tenant, tier: 'small' }));
      keys.push(await makeKey(t.app, { name: `${tenant}-run`, role: 'runner', tenant }));
    }
    for (const key of keys) {
      secrets.push(key.id, key.key, key.tenant);
      for (let i = 0; i < 3; i++) {
        const made = await t.app.inject({ method: 'POST', url: `/modules?name=m${i}`, headers: authHeaders({ 'content-type': 'application/wasm' }, key.key), payload: fixture(i === 2 ? 'trap' : 'add') });
        if (made.statusCode !== 201) continue;
        const id = (made.json() as { id: string }).id;
        ids.push(id);
        await t.app.inject({ method: 'POST', url: `/modules/${id}/run`, headers: authHeaders({}, key.key), payload: { function: i === 2 ? 'unreachable' : 'add', args: i === 2 ? [] : [1, 2] } });
        await t.app.inject({ method: 'GET', url: `/modules/${id}/invocations`, headers: authHeaders({}, key.key) });
      }
    }
    const wasi = await upload(t.app, 'exit', wasiFixture('exit'));
    ids.push(wasi.id);
    const route = await t.app.inject({ method: 'POST', url: '/routes', payload: { path: '/metrics-test', module: wasi.id, public: true } });
    if (route.statusCode === 201) {
      ids.push((route.json() as { id: string }).id);
      await t.app.inject({ method: 'GET', url: '/h/default/metrics-test/x' });
    }
    // Refusals and misses with ids of their own: a bad key, an unknown module, an unknown path.
    const unknown = randomUUID();
    ids.push(unknown);
    await t.app.inject({ method: 'GET', url: `/modules/${unknown}`, headers: { authorization: 'Bearer wess_nosuchkey_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' } });
    await t.app.inject({ method: 'GET', url: `/modules/${unknown}` });
    await t.app.inject({ method: 'GET', url: `/no/such/${unknown}` });
  });
  after(async () => t.close());

  test('no series is labelled by a module, key, tenant, request or route id, and every label is a bounded one', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/metrics' });
    assert.equal(res.statusCode, 200);
    const all = series(res.body);
    assert.ok(all.some((s) => s.metric === 'wess_requests_total'), 'the requests were counted');
    for (const { metric, labels } of all) {
      const allowed = metric.startsWith('wess_') ? WESS_LABELS : RUNTIME_LABELS;
      for (const [name, value] of Object.entries(labels)) {
        assert.ok(allowed.has(name), `${metric} has label ${name}="${value}", which is not a bounded one`);
        for (const id of [...ids, ...secrets]) assert.ok(!value.includes(id), `${metric}{${name}="${value}"} names ${id}`);
      }
      if (labels.route !== undefined) assert.ok(labels.route === 'unmatched' || !/[0-9a-f]{8}-[0-9a-f]{4}-/.test(labels.route), `route label ${labels.route} is a pattern, not a path`);
    }
  });
});
