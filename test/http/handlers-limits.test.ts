/**
 * HTTP handlers run under the limits of every call, through real HTTP: the caller's tier (a private
 * route) or the route's tenant's (a public one) sets the deadline, the memory and the concurrency,
 * and the run is charged to the route's tenant; the program's output is bounded; requests without a
 * key are rate-limited per client IP.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { listen, makeKey, startApp, wasiFixture, type MadeKey, type TestApp } from '../helper.js';
import { mostBundlesAtOnce } from '../runner-view.js';

/** An answer's JSON, read field by field by the assertions (which check its shape). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- assertions read nested fields of answers whose shape they check
type Json = Record<string, any>;

const MAX_OUTPUT = 4096;

/** A client of one app over real HTTP. */
function client(base: string) {
  const call = (path: string, init: RequestInit & { key?: MadeKey | string } = {}): Promise<Response> => {
    const { key, ...rest } = init;
    const headers = new Headers(rest.headers);
    if (key !== undefined) headers.set('authorization', `Bearer ${typeof key === 'string' ? key : key.key}`);
    return fetch(`${base}${path}`, { ...rest, headers, redirect: 'manual' });
  };
  /** Uploads a test/fixtures/wasi program as `key` and binds it to `path` of the key's tenant. */
  const bindAs = async (key: MadeKey, path: string, fixture: string, extra: Record<string, unknown> = {}): Promise<void> => {
    const json = { 'content-type': 'application/json' };
    const up = await call('/modules', { method: 'POST', key, headers: json, body: JSON.stringify({ name: fixture, content: wasiFixture(fixture).toString('base64') }) });
    assert.equal(up.status, 201, await up.clone().text());
    const { id } = (await up.json()) as { id: string };
    const res = await call('/routes', { method: 'POST', key, headers: json, body: JSON.stringify({ path, module: id, ...extra }) });
    assert.equal(res.status, 201, await res.text());
  };
  return { call, bindAs };
}

async function errorOf(res: Response, status: number, code: string): Promise<Json> {
  const body = (await res.json()) as Json;
  assert.equal(res.status, status, JSON.stringify(body));
  assert.equal(body.error?.code, code);
  assert.equal(body.error?.request_id, res.headers.get('x-request-id'));
  return body.error as Json;
}

describe('limits and quotas', () => {
  let t: TestApp;
  let call: ReturnType<typeof client>['call'];
  let bindAs: ReturnType<typeof client>['bindAs'];
  const keys: Record<string, MadeKey> = {};
  const key = (name: string): MadeKey => keys[name] ?? assert.fail(`no key ${name}`);

  before(async () => {
    t = await startApp({
      runner: { timeout: 5000, max_output: MAX_OUTPUT },
      tiers: {
        daily: { runs_per_day: 2 },
        quick: { max_timeout: 300 },
        tiny: { max_memory: 65536 },
        cpu: { cpu_ms_per_minute: 100, max_timeout: 300 },
        one: { max_timeout: 600, max_concurrency: 1 },
        two: { max_timeout: 600 },
      },
    });
    ({ call, bindAs } = client(await listen(t.app)));
    for (const tier of ['daily', 'quick', 'cpu', 'one', 'two']) keys[tier] = await makeKey(t.app, { name: tier, role: 'developer', tenant: tier, tier });
    keys.plain = await makeKey(t.app, { name: 'plain', role: 'developer', tenant: 'plain' });
    keys.visitor = await makeKey(t.app, { name: 'visitor', role: 'runner', tenant: 'visitor' });
    keys.mixed = await makeKey(t.app, { name: 'mixed dev', role: 'developer', tenant: 'mixed' });
    keys.mixedTiny = await makeKey(t.app, { name: 'mixed tiny', role: 'runner', tenant: 'mixed', tier: 'tiny' });
  });
  after(() => t.close());

  test('a handler that prints more than runner.max_output is a 502, not a cut answer', async () => {
    await bindAs(key('plain'), '/echo', 'http-echo', { public: true });
    const small = await call('/h/plain/echo?raw', { method: 'POST', body: Buffer.alloc(MAX_OUTPUT / 2, 7) });
    assert.equal(small.status, 200);
    assert.equal((await small.arrayBuffer()).byteLength, MAX_OUTPUT / 2);
    const error = await errorOf(await call('/h/plain/echo?raw', { method: 'POST', body: Buffer.alloc(MAX_OUTPUT * 2, 7) }), 502, 'BAD_GATEWAY');
    assert.match(error.message, /printed more than runner\.max_output \(4096 bytes\)/);
    assert.equal(error.details?.limit, MAX_OUTPUT);
  });

  test("the deadline is the tier's max_timeout: the caller's on a private route, the tenant's on a public one", async () => {
    await bindAs(key('quick'), '/loop', 'http-loop', { public: true });
    await bindAs(key('quick'), '/loop-private', 'http-loop');
    for (const res of [await call('/h/quick/loop'), await call('/h/quick/loop-private', { key: key('quick') })]) {
      const error = await errorOf(res, 504, 'GATEWAY_TIMEOUT');
      assert.match(error.message, /did not finish within 300 ms/);
      assert.equal(error.details?.cause, 'EXECUTION_TIMEOUT');
    }
  });

  test("memory: a private route runs under the calling key's tier, a public one under the tenant's", async () => {
    await bindAs(key('mixed'), '/private', 'http-hello');
    await bindAs(key('mixed'), '/public', 'http-hello', { public: true });
    assert.equal((await call('/h/mixed/private', { key: key('mixed') })).status, 200);
    // The runner key's tier allows one 64 KiB page; the program starts with two.
    const error = await errorOf(await call('/h/mixed/private', { key: key('mixedTiny') }), 502, 'BAD_GATEWAY');
    assert.equal(error.details?.cause, 'MEMORY_LIMIT');
    assert.match(error.message, /above the cap of 1 pages/);
    // The tenant's most generous tier (its developer key's: the global limit) serves the public route, whoever calls.
    assert.equal((await call('/h/mixed/public', { key: key('mixedTiny') })).status, 200);
    assert.equal((await call('/h/mixed/public')).status, 200);
  });

  test("a public route's runs count toward the runs_per_day of its tenant (the key that made the route), whatever key is sent", async () => {
    await bindAs(key('daily'), '/hello', 'http-hello', { public: true });
    assert.equal((await call('/h/daily/hello')).status, 200);
    // A key of another tenant is not charged for this tenant's page, nor held to its own count there.
    assert.equal((await call('/h/daily/hello', { key: key('visitor') })).status, 200);
    const error = await errorOf(await call('/h/daily/hello', { key: key('visitor') }), 429, 'QUOTA_EXCEEDED');
    assert.match(error.message, /used its 2 runs/);
    const usage = async (k: MadeKey) => (await t.app.inject({ method: 'GET', url: `/keys/${k.id}/usage` })).json<Json>().usage;
    assert.equal((await usage(key('daily'))).runs_today, 2);
    assert.equal((await usage(key('visitor'))).runs_today, 0);
  });

  test("a public route's CPU time is charged to its tenant's cpu_ms_per_minute", async () => {
    await bindAs(key('cpu'), '/hello', 'http-hello', { public: true });
    await bindAs(key('cpu'), '/loop', 'http-loop', { public: true });
    assert.equal((await call('/h/cpu/hello')).status, 200);
    // 300 ms of CPU until its deadline: three times the tenant's minute.
    await errorOf(await call('/h/cpu/loop'), 504, 'GATEWAY_TIMEOUT');
    const error = await errorOf(await call('/h/cpu/hello'), 429, 'QUOTA_EXCEEDED');
    assert.equal(error.details?.quota, 'cpu_ms_per_minute');
  });

  test("fair share: a tier's max_concurrency holds its handler requests to that many on workers at once", async () => {
    await bindAs(key('one'), '/loop', 'http-loop', { public: true });
    await bindAs(key('two'), '/loop', 'http-loop', { public: true });
    // Bundles on workers at once (runner-view.ts): a bundle's calls run one after another on its thread.
    const mostAtOnce = async (path: string): Promise<number> => {
      const [answers, most] = await mostBundlesAtOnce(t.app, () => Promise.all([1, 2].map(() => call(path))));
      for (const res of answers) await errorOf(res, 504, 'GATEWAY_TIMEOUT');
      return most;
    };
    assert.equal(await mostAtOnce('/h/one/loop'), 1, 'max_concurrency 1: the second request waits for the first');
    assert.equal(await mostAtOnce('/h/two/loop'), 2, 'without it both run at once (two workers)');
  });
});

describe('rate limit of requests without a key', () => {
  let t: TestApp;
  let call: ReturnType<typeof client>['call'];
  let dev: MadeKey;

  before(async () => {
    t = await startApp({ rate_limit: { max: 3, window: 60_000 } });
    let bindAs: ReturnType<typeof client>['bindAs'];
    ({ call, bindAs } = client(await listen(t.app)));
    dev = await makeKey(t.app, { name: 'dev', role: 'developer', tenant: 'site' });
    await bindAs(dev, '/page', 'http-hello', { public: true });
  });
  after(() => t.close());

  test('a public route serves rate_limit.max requests per window to a client IP, then 429; a key has its own count', async () => {
    for (let i = 0; i < 3; i++) {
      const res = await call('/h/site/page');
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('x-ratelimit-remaining'), String(2 - i));
    }
    const refused = await call('/h/site/page');
    await errorOf(refused, 429, 'RATE_LIMITED');
    assert.ok(refused.headers.get('retry-after'));
    // A key that is not valid counts as none: the same address's count.
    await errorOf(await call('/h/site/page', { key: 'wess_nosuchkey_AAAAAAAAAAAAAAAAAAAAAAAA' }), 429, 'RATE_LIMITED');
    assert.equal((await call('/h/site/page', { key: dev })).status, 200);
  });
});

describe('requests without a valid key to a private route', () => {
  const BOGUS = 'wess_nosuchkey_AAAAAAAAAAAAAAAAAAAAAAAA';

  /** An app with a private and a public route of tenant "site", and the tenant's developer key. */
  async function siteApp(anonymousMax: number): Promise<{ t: TestApp; call: ReturnType<typeof client>['call']; dev: MadeKey }> {
    // rate_limit.max far above anonymous_max: a refusal counted as a keyless request would never reach a 429 here.
    const t = await startApp({ rate_limit: { max: 1000, anonymous_max: anonymousMax, window: 60_000 } });
    const { call, bindAs } = client(await listen(t.app));
    const dev = await makeKey(t.app, { name: 'dev', role: 'developer', tenant: 'site' });
    await bindAs(dev, '/private', 'http-hello');
    await bindAs(dev, '/page', 'http-hello', { public: true });
    return { t, call, dev };
  }

  /** wess_auth_failures_total of `reason`, as /metrics says it. */
  async function authFailures(call: ReturnType<typeof client>['call'], reason: string): Promise<number> {
    const text = await (await call('/metrics')).text();
    return Number(new RegExp(`^wess_auth_failures_total\\{reason="${reason}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
  }

  test('regression (audit 20, item 1): they count against rate_limit.anonymous_max with the refusals of every other route, then 429; a public route still serves', async () => {
    const { t, call, dev } = await siteApp(4);
    try {
      const revoked = await makeKey(t.app, { name: 'gone', role: 'runner', tenant: 'site' });
      assert.equal((await t.app.inject({ method: 'DELETE', url: `/keys/${revoked.id}` })).statusCode, 204);
      // No key, a bogus one, a revoked one: refused as on any keyed route, from this address's allowance.
      for (const key of [undefined, BOGUS, revoked]) {
        const res = await call('/h/site/private', { key });
        await errorOf(res, 401, 'UNAUTHORIZED');
        assert.match(res.headers.get('www-authenticate') ?? '', /Bearer/);
      }
      // One allowance for the address, whatever the route: the fourth refusal, on an API route, is its last 401.
      assert.equal((await call('/modules', { key: BOGUS })).status, 401);
      const limited = await call('/h/site/private', { method: 'POST', key: BOGUS, body: 'guess' });
      const error = await errorOf(limited, 429, 'RATE_LIMITED');
      assert.match(error.message, /without a valid API key/);
      assert.equal(error.details?.limit, 4);
      assert.ok(Number(limited.headers.get('retry-after')) > 0);
      assert.equal((await call('/modules')).status, 429, 'and the API routes are closed to it as well');

      // A valid key is counted on its own: the route runs for it.
      assert.equal((await call('/h/site/private', { key: dev })).status, 200);
      // A public route needs no key, and one that is not valid is no reason to refuse (it may be the program's).
      for (const key of [undefined, BOGUS]) {
        const res = await call('/h/site/page', { key });
        assert.equal(res.status, 200);
        assert.equal(await res.text(), 'hello, world\n');
      }
      // A path no route matches is the same 404 with or without a key.
      await errorOf(await call('/h/site/nothing', { key: BOGUS }), 404, 'ROUTE_NOT_FOUND');
    } finally {
      await t.close();
    }
  });

  test('regression (audit 20, item 1): they are in wess_auth_failures_total and in the auth.denied counts, not audited one by one', async () => {
    const { t, call } = await siteApp(2);
    try {
      const [invalid, missing] = [await authFailures(call, 'invalid'), await authFailures(call, 'missing')];
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await call('/h/site/private', { key: BOGUS })).status);
      statuses.push((await call('/h/site/private')).status);
      assert.deepEqual(statuses, [401, 401, 429, 429, 429, 429]);
      assert.equal(await authFailures(call, 'invalid'), invalid + 5);
      assert.equal(await authFailures(call, 'missing'), missing + 1);

      await t.app.services.denials.flush();
      const audit = await t.app.inject({ method: 'GET', url: '/audit?limit=100' });
      const entries = (audit.json() as { items: Json[] }).items.filter((e) => e.action === 'auth.denied');
      // One entry per (address, reason, minute) with a count, as for any route: two only if the minute turned.
      const ofInvalid = entries.filter((e) => e.details?.reason === 'invalid');
      assert.ok(ofInvalid.length >= 1 && ofInvalid.length <= 2, JSON.stringify(entries));
      assert.equal(ofInvalid.reduce((n, e) => n + Number(e.count), 0), 5);
      assert.equal(ofInvalid.reduce((n, e) => n + Number(e.details?.rate_limited), 0), 3);
      for (const e of ofInvalid) assert.deepEqual([e.target, e.actor, e.ip], ['GET /h/*', null, '127.0.0.1']);
      const ofMissing = entries.filter((e) => e.details?.reason === 'missing');
      assert.deepEqual(ofMissing.map((e) => [e.count, e.status]), [[1, 429]]);
      assert.equal(entries.length, ofInvalid.length + ofMissing.length, 'no entry of its own for any of them');
    } finally {
      await t.close();
    }
  });
});
