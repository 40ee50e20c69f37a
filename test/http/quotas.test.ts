import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import wabt from 'wabt';
import type { WessApp } from '../../src/app.js';
import { ConfigError, validateConfig } from '../../src/config/load.js';
import { authHeaders, fixture, startApp, upload, type TestApp } from '../helper.js';
import { makeKey as createKey, type MadeKey as CreatedKey } from '../helper.js';
import { within } from '../within.js';

// wabt runs on wasm itself: build text modules when this file loads, before any app's runner sets
// the process-wide wasm memory cap.
const wat = await wabt();
function fromWat(text: string): Buffer {
  const parsed = wat.parseWat('quota.wat', text, {});
  try {
    return Buffer.from(parsed.toBinary({}).buffer);
  } finally {
    parsed.destroy();
  }
}
/** Three initial pages: over the "tight" tier's two, far under the global cap. */
const THREE_PAGES = fromWat('(module (memory 3) (func (export "size") (result i32) (memory.size)))');

const PAGE = 65536;

/** Headers that send `key` (so the helper does not substitute the admin key). */
const as = (key: CreatedKey) => authHeaders({}, key.key);

/** Uploads a fixture (or bytes) as the admin into `tenant`. */
/**
 * An admin's upload into `tenant`, forced past the tenant's tier: the tests put there modules the
 * tier would refuse on upload, to see what the tier does when they run.
 */
async function adminUpload(app: WessApp, tenant: string, name: string, bytes: Uint8Array = fixture(name)): Promise<string> {
  const res = await app.inject({
    method: 'POST',
    url: `/modules?tenant=${tenant}&force=true`,
    payload: { name, content: Buffer.from(bytes).toString('base64') },
  });
  assert.equal(res.statusCode, 201, `admin upload of ${name} into ${tenant}: ${res.body}`);
  return (res.json() as { id: string }).id;
}

/** Uploads a fixture (or bytes) as JSON/base64 with `key`. */
function keyUpload(app: WessApp, key: CreatedKey, name: string, bytes: Uint8Array = fixture(name)) {
  return app.inject({ method: 'POST', url: '/modules', headers: as(key), payload: { name, content: Buffer.from(bytes).toString('base64') } });
}

function runAs(app: WessApp, key: CreatedKey, moduleId: string, payload: Record<string, unknown>) {
  return app.inject({ method: 'POST', url: `/modules/${moduleId}/run`, headers: as(key), payload });
}

type ErrorBody = { error: { code: string; message: string; details?: Record<string, unknown> } };
const errorOf = (res: { body: string }) => (JSON.parse(res.body) as ErrorBody).error;

/** The value of one series in a Prometheus text exposition (labels in any order); 0 when absent. */
function metric(text: string, name: string, labels: Record<string, string>): number {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\} (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[3]);
  }
  return 0;
}

async function scrape(app: WessApp): Promise<string> {
  const res = await app.inject({ method: 'GET', url: '/metrics' });
  assert.equal(res.statusCode, 200);
  return res.body;
}

describe('tier quotas over HTTP', { timeout: 60_000 }, () => {
  let t: TestApp;

  before(async () => {
    t = await startApp({
      // Far above the tight tier's 300 ms: a spin stopped within seconds was stopped by the tier.
      runner: { timeout: 60_000 },
      tiers: {
        free: { runs_per_day: 3 },
        small: { max_modules: 2 },
        tight: { max_module_size: 100, max_memory: 2 * PAGE, max_timeout: 300 },
      },
      auth: { default_tier: 'free' },
    });
  });
  after(async () => t?.close());

  test('runs_per_day: 3 runs (each batch item is one), then 429 QUOTA_EXCEEDED until midnight UTC; another key is unaffected', async () => {
    const id = await adminUpload(t.app, 'runs', 'add');
    const a = await createKey(t.app, { name: 'runs-a', role: 'runner', tenant: 'runs' });
    const b = await createKey(t.app, { name: 'runs-b', role: 'runner', tenant: 'runs' });
    assert.equal(a.tier, 'free', 'a key created without a tier gets auth.default_tier');

    const rejectedBefore = metric(await scrape(t.app), 'wess_quota_rejections_total', { tier: 'free', quota: 'runs_per_day' });

    assert.equal((await runAs(t.app, a, id, { function: 'add', args: [1, 2] })).statusCode, 200);
    const tooBig = await runAs(t.app, a, id, { function: 'add', batch: [[1, 2], [3, 4], [5, 6]] });
    assert.equal(tooBig.statusCode, 429, 'three items do not fit in the two runs left');
    assert.match(errorOf(tooBig).message, /this batch needs 3 and 2 are left/);
    const batch = await runAs(t.app, a, id, { function: 'add', batch: [[1, 2], [3, 4]] });
    assert.equal(batch.statusCode, 200, batch.body);
    assert.equal((batch.json() as { batch: unknown[] }).batch.length, 2);

    const refused = await runAs(t.app, a, id, { function: 'add', args: [5, 6] });
    assert.equal(refused.statusCode, 429, refused.body);
    const error = errorOf(refused);
    assert.equal(error.code, 'QUOTA_EXCEEDED');
    assert.match(error.message, /\b3\b/, 'the message names the limit');
    assert.match(error.message, /free/, 'the message names the tier');
    const retry = Number(refused.headers['retry-after']);
    assert.ok(Number.isInteger(retry) && retry > 0 && retry <= 86_400, `Retry-After is seconds to midnight UTC, got ${refused.headers['retry-after']}`);

    // Refused again: a refusal does not reset anything.
    assert.equal((await runAs(t.app, a, id, { function: 'add', args: [5, 6] })).statusCode, 429);

    const other = await runAs(t.app, b, id, { function: 'add', args: [5, 6] });
    assert.equal(other.statusCode, 200, `another key of the same tier keeps its own count: ${other.body}`);
    assert.deepEqual(other.json().results, [11]);

    const usage = await t.app.inject({ method: 'GET', url: `/keys/${a.id}/usage` });
    assert.equal(usage.statusCode, 200, usage.body);
    assert.equal(usage.json().usage.runs_today, 3);
    assert.equal(usage.json().limits.runs_per_day, 3);

    const rejectedAfter = metric(await scrape(t.app), 'wess_quota_rejections_total', { tier: 'free', quota: 'runs_per_day' });
    assert.equal(rejectedAfter - rejectedBefore, 3, 'wess_quota_rejections_total{tier="free",quota="runs_per_day"} counts every refusal');
  });

  test('max_modules: the third create is 403 TIER_LIMIT; a delete frees a slot', async () => {
    const dev = await createKey(t.app, { name: 'mods', role: 'developer', tenant: 'mods', tier: 'small' });
    const first = await keyUpload(t.app, dev, 'add');
    assert.equal(first.statusCode, 201, first.body);
    assert.equal((await keyUpload(t.app, dev, 'add')).statusCode, 201);
    const third = await keyUpload(t.app, dev, 'add');
    assert.equal(third.statusCode, 403, third.body);
    const error = errorOf(third);
    assert.equal(error.code, 'TIER_LIMIT');
    assert.match(error.message, /\b2\b/, 'the message names the limit');
    assert.match(error.message, /small/, 'the message names the tier');

    const del = await t.app.inject({ method: 'DELETE', url: `/modules/${(first.json() as { id: string }).id}`, headers: as(dev) });
    assert.equal(del.statusCode, 204, del.body);
    const again = await keyUpload(t.app, dev, 'add');
    assert.equal(again.statusCode, 201, `after a delete, one more create fits: ${again.body}`);
    assert.equal((await keyUpload(t.app, dev, 'add')).statusCode, 403);
  });

  test('max_modules: five creates racing for the last slot, exactly one wins', async () => {
    const dev = await createKey(t.app, { name: 'race', role: 'developer', tenant: 'race', tier: 'small' });
    assert.equal((await keyUpload(t.app, dev, 'add')).statusCode, 201);
    const racing = await Promise.all(Array.from({ length: 5 }, () => keyUpload(t.app, dev, 'add')));
    const statuses = racing.map((r) => r.statusCode).sort();
    assert.deepEqual(statuses, [201, 403, 403, 403, 403], `exactly one create may take the last slot: ${racing.map((r) => r.body).join('\n')}`);
    for (const lost of racing.filter((r) => r.statusCode === 403)) assert.equal(errorOf(lost).code, 'TIER_LIMIT');
    const list = await t.app.inject({ method: 'GET', url: '/modules', headers: as(dev) });
    assert.equal((list.json() as { items: unknown[] }).items.length, 2);
  });

  test('max_module_size: an upload over the tier size (under the global one) is 413 naming the tier', async () => {
    const dev = await createKey(t.app, { name: 'size', role: 'developer', tenant: 'size', tier: 'tight' });
    const big = fixture('float-ops');
    assert.ok(big.length > 100 && big.length < 2 * 1024 * 1024);

    const json = await keyUpload(t.app, dev, 'float-ops', big);
    assert.equal(json.statusCode, 413, json.body);
    assert.equal(errorOf(json).code, 'PAYLOAD_TOO_LARGE');
    assert.match(errorOf(json).message, /tight/, 'the JSON upload refusal names the tier');
    assert.match(errorOf(json).message, /\b100\b/, 'the JSON upload refusal names the limit');

    const raw = await t.app.inject({ method: 'POST', url: '/modules?name=float-ops', headers: authHeaders({ 'content-type': 'application/wasm' }, dev.key), payload: big });
    assert.equal(raw.statusCode, 413, raw.body);
    assert.equal(errorOf(raw).code, 'PAYLOAD_TOO_LARGE');
    assert.match(errorOf(raw).message, /tight/, 'the raw upload refusal names the tier');

    assert.equal((await keyUpload(t.app, dev, 'add')).statusCode, 201, 'a module under the tier size is accepted');
    // An admin uploading into the tenant is held to the tenant's tier too, unless it forces.
    const admin = await t.app.inject({ method: 'POST', url: '/modules?tenant=size', payload: { name: 'big', content: big.toString('base64') } });
    assert.equal(admin.statusCode, 413, 'the admin acting in tenant size gets its tier');
    assert.match(errorOf(admin).message, /tight/);
    assert.equal((await t.app.inject({ method: 'POST', url: '/modules?tenant=size&force=true', payload: { name: 'big', content: big.toString('base64') } })).statusCode, 201, 'the admin may force it');
  });

  test('max_memory: a module whose initial memory is over the tier is 400 MEMORY_LIMIT naming the tier; during a call memory.grow fails past it', async () => {
    const dev = await createKey(t.app, { name: 'memory', role: 'developer', tenant: 'memory', tier: 'tight' });
    assert.ok(THREE_PAGES.length <= 100, 'the module must be under the tier size, so only memory can refuse it');
    const res = await keyUpload(t.app, dev, 'three-pages', THREE_PAGES);
    assert.equal(res.statusCode, 400, res.body);
    assert.equal(errorOf(res).code, 'MEMORY_LIMIT');
    assert.match(errorOf(res).message, /tight/, 'the refusal names the tier');
    const three = await adminUpload(t.app, 'memory', 'three-pages', THREE_PAGES);
    const runThree = await runAs(t.app, dev, three, { function: 'size' });
    assert.equal(runThree.statusCode, 400, 'the admin\'s three-page module cannot run under the tier\'s two');
    assert.equal(errorOf(runThree).code, 'MEMORY_LIMIT');

    const grow = await adminUpload(t.app, 'memory', 'grow-memory');
    const within = await runAs(t.app, dev, grow, { function: 'grow', args: [1] });
    assert.equal(within.statusCode, 200, within.body);
    assert.deepEqual(within.json().results, [1], 'grew from 1 page to 2');
    const past = await runAs(t.app, dev, grow, { function: 'grow', args: [2] });
    assert.equal(past.statusCode, 200, past.body);
    assert.deepEqual(past.json().results, [-1], 'memory.grow to 3 pages fails under a tier of 2');
    assert.equal(past.json().stats.memory_pages, 1);
  });

  test('max_timeout: timeout_ms above the tier is 400; a spin with no timeout_ms stops at the tier deadline', async () => {
    const dev = await createKey(t.app, { name: 'time', role: 'developer', tenant: 'time', tier: 'tight' });
    const add = (await keyUpload(t.app, dev, 'add')).json() as { id: string };
    const spin = (await keyUpload(t.app, dev, 'loop-forever')).json() as { id: string };

    const over = await runAs(t.app, dev, add.id, { function: 'add', args: [1, 2], timeout_ms: 301 });
    assert.equal(over.statusCode, 400, over.body);
    assert.equal(errorOf(over).code, 'VALIDATION');
    assert.match(errorOf(over).message, /\b300\b/, 'the message names the limit');
    assert.match(errorOf(over).message, /tight/, 'the message names the tier');
    assert.equal((await runAs(t.app, dev, add.id, { function: 'add', args: [1, 2], timeout_ms: 300 })).statusCode, 200);

    const res = await within(runAs(t.app, dev, spin.id, { function: 'spin' }), 10_000, "a spin under the tier's 300 ms (runner.timeout is 60 s)");
    assert.equal(res.statusCode, 408, res.body);
    assert.equal(errorOf(res).code, 'EXECUTION_TIMEOUT');
    assert.equal(errorOf(res).message, 'call to "spin" did not finish within 300 ms; the guest was stopped');
  });

  test('POST /keys with an unknown tier is 400 naming it', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/keys', payload: { name: 'gold', role: 'developer', tier: 'gold' } });
    assert.equal(res.statusCode, 400, res.body);
    assert.equal(errorOf(res).code, 'VALIDATION');
    assert.match(errorOf(res).message, /gold/);
  });
});

describe('tier configuration', () => {
  const problemsOf = (input: unknown): string[] => {
    try {
      validateConfig(input);
    } catch (err) {
      assert.ok(err instanceof ConfigError, String(err));
      return err.problems;
    }
    return assert.fail('validateConfig accepted the config');
  };

  // A tier's max_memory or max_module_size above the global limit is accepted and lowered to it
  // (policy.ts lower()); its max_timeout is refused by the config instead (issue 15, item 15: it is
  // also the tier's default deadline), see test/config/load.test.ts. This checks the former through HTTP.
  test('a tier above a global limit is accepted and lowered to the global limit', async () => {
    const over = { max_memory: 17 * PAGE, max_module_size: 1001 };
    const config = validateConfig({ runner: { timeout: 1000, max_memory: 16 * PAGE }, limits: { max_module_size: 1000 }, tiers: { big: over } });
    assert.deepEqual({ ...config.tiers.big }, over);

    const t = await startApp({ runner: { timeout: 1000, max_memory: 16 * PAGE }, limits: { max_module_size: 1000 }, tiers: { big: over } });
    try {
      const key = await createKey(t.app, { name: 'big', role: 'developer', tier: 'big' });
      const usage = await t.app.inject({ method: 'GET', url: `/keys/${key.id}/usage` });
      assert.equal(usage.statusCode, 200, usage.body);
      const limits = usage.json().limits as Record<string, unknown>;
      assert.equal(limits.max_timeout_ms, 1000, 'no tier max_timeout: runner.timeout');
      assert.equal(limits.max_memory_bytes, 16 * PAGE, 'runner.max_memory wins over the tier');
      assert.equal(limits.max_module_size, 1000, 'limits.max_module_size wins over the tier');
      const add = (await keyUpload(t.app, key, 'add')).json() as { id: string };
      const res = await runAs(t.app, key, add.id, { function: 'add', args: [1, 2], timeout_ms: 1001 });
      assert.equal(res.statusCode, 400, res.body);
      assert.match(errorOf(res).message, /\b1000\b/, 'the refusal names the global limit that applies');
    } finally {
      await t.close();
    }
  });

  test('auth.default_tier naming a missing tier is refused', () => {
    const problems = problemsOf({ tiers: { free: {} }, auth: { default_tier: 'gold' } });
    assert.ok(problems.some((p) => p.startsWith('auth.default_tier') && p.includes('gold')), problems.join('; '));
  });

  test('a tier memory under one page is refused, naming the key', () => {
    const problems = problemsOf({ tiers: { tiny: { max_memory: 1000 } } });
    assert.ok(problems.some((p) => p.startsWith('tiers.tiny.max_memory')), problems.join('; '));
  });
});

describe('usage and quotas across a restart', { timeout: 60_000 }, () => {
  const overrides = {
    tiers: { free: { runs_per_day: 3 } },
    // Only the flush at close writes the counters.
    auth: { default_tier: 'free', usage_flush: 600_000 },
  };
  let dir: string;
  let t: TestApp | undefined;
  let key: CreatedKey;
  let before: Record<string, unknown>;

  const usageOf = async (app: WessApp) => {
    const res = await app.inject({ method: 'GET', url: `/keys/${key.id}/usage` });
    assert.equal(res.statusCode, 200, res.body);
    return res.json() as { key_id: string; tier: string | null; usage: Record<string, number | string | null>; limits: Record<string, unknown> };
  };

  after(async () => {
    await t?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('usage counts runs, errors, CPU time and bytes; tier metrics carry the tier and no key id', async () => {
    dir = await mkdtemp(join(tmpdir(), 'wess-quota-'));
    t = await startApp(overrides, dir);
    key = await createKey(t.app, { name: 'metered', role: 'runner' });
    const add = await upload(t.app, 'add');
    const trap = await upload(t.app, 'trap');

    assert.equal((await runAs(t.app, key, add.id, { function: 'add', args: [2, 3] })).statusCode, 200);
    const invalid = await runAs(t.app, key, add.id, { function: 'add', args: ['x', 1] });
    assert.equal(invalid.statusCode, 400, invalid.body);
    assert.equal(errorOf(invalid).code, 'INVALID_ARGUMENT');
    const trapped = await runAs(t.app, key, trap.id, { function: 'div', args: [1, 0] });
    assert.equal(trapped.statusCode, 422, trapped.body);
    assert.equal((await runAs(t.app, key, add.id, { function: 'add', args: [2, 3] })).statusCode, 429, 'three runs (errors included) use the quota');

    const view = await usageOf(t.app);
    assert.equal(view.key_id, key.id);
    assert.equal(view.tier, 'free');
    assert.equal(view.usage.runs, 3);
    assert.equal(view.usage.runs_today, 3);
    assert.ok(Number(view.usage.errors) >= 1, `errors: ${view.usage.errors}`);
    assert.ok(Number(view.usage.cpu_ms) > 0, `cpu_ms: ${view.usage.cpu_ms}`);
    assert.ok(Number(view.usage.bytes_in) > 0, `bytes_in: ${view.usage.bytes_in}`);
    assert.ok(Number(view.usage.bytes_out) > 0, `bytes_out: ${view.usage.bytes_out}`);
    assert.equal(view.usage.day, new Date().toISOString().slice(0, 10));
    assert.equal(view.limits.runs_per_day, 3);
    before = view.usage;

    const text = await scrape(t.app);
    assert.ok(metric(text, 'wess_tier_runs_total', { tier: 'free', outcome: 'ok' }) >= 1, 'wess_tier_runs_total{tier="free",outcome="ok"}');
    assert.ok(metric(text, 'wess_tier_runs_total', { tier: 'free', outcome: 'error' }) >= 2, 'wess_tier_runs_total{tier="free",outcome="error"}');
    assert.ok(metric(text, 'wess_tier_cpu_seconds_total', { tier: 'free' }) > 0, 'wess_tier_cpu_seconds_total{tier="free"}');
    assert.ok(metric(text, 'wess_tier_bytes_total', { tier: 'free', direction: 'in' }) > 0, 'wess_tier_bytes_total{tier="free",direction="in"}');
    assert.ok(metric(text, 'wess_tier_bytes_total', { tier: 'free', direction: 'out' }) > 0, 'wess_tier_bytes_total{tier="free",direction="out"}');
    assert.ok(metric(text, 'wess_quota_rejections_total', { tier: 'free', quota: 'runs_per_day' }) >= 1);
    assert.ok(!text.includes(key.id), 'no metric series carries a key id');
    assert.doesNotMatch(text, /\{[^}]*\bkey(_id)?="/, 'no metric has a key label');
  });

  test('after a restart on the same data dir, the key is still refused and its counters are kept', async () => {
    assert.ok(t, 'the previous test started the first app');
    await t.close();
    t = await startApp(overrides, dir);

    const view = await usageOf(t.app);
    for (const field of ['runs', 'errors', 'cpu_ms', 'bytes_in', 'bytes_out', 'day', 'runs_today'] as const) {
      assert.equal(view.usage[field], before[field], `usage.${field} after the restart`);
    }
    assert.notEqual(view.usage.updated_at, null, 'flushed counters carry updated_at');

    const add = (await t.app.inject({ method: 'GET', url: '/modules' })).json() as { items: { id: string; name: string }[] };
    const id = add.items.find((m) => m.name === 'add')?.id;
    assert.ok(id);
    const refused = await runAs(t.app, key, id, { function: 'add', args: [1, 1] });
    assert.equal(refused.statusCode, 429, `the daily count must survive the restart: ${refused.body}`);
    assert.equal(errorOf(refused).code, 'QUOTA_EXCEEDED');
  });
});

describe('per-key rate limits', { timeout: 30_000 }, () => {
  let t: TestApp;
  before(async () => {
    t = await startApp({ rate_limit: { enabled: true, max: 1000, window: 60_000 }, tiers: { metered: { requests_per_minute: 2 } } });
  });
  after(async () => t?.close());

  test("two keys have separate counters, and a tier's requests_per_minute applies", async () => {
    const a = await createKey(t.app, { name: 'rl-a', role: 'runner', tier: 'metered' });
    const b = await createKey(t.app, { name: 'rl-b', role: 'runner', tier: 'metered' });
    const list = (key: CreatedKey) => t.app.inject({ method: 'GET', url: '/modules', headers: as(key) });

    assert.equal((await list(a)).statusCode, 200);
    assert.equal((await list(a)).statusCode, 200);
    const limited = await list(a);
    assert.equal(limited.statusCode, 429, `the third request in a minute with a tier of 2/min: ${limited.body}`);
    assert.equal(errorOf(limited).code, 'RATE_LIMITED');
    assert.ok(Number(limited.headers['retry-after']) > 0, `Retry-After: ${limited.headers['retry-after']}`);

    const other = await list(b);
    assert.equal(other.statusCode, 200, `key b counts apart from key a: ${other.body}`);
    assert.equal((await t.app.inject({ method: 'GET', url: '/modules' })).statusCode, 200, 'the admin (no tier) is under rate_limit.max');
  });
});

describe('a key whose tier was removed from the config', { timeout: 30_000 }, () => {
  let dir: string;
  let t: TestApp | undefined;
  after(async () => {
    await t?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('falls back to auth.default_tier everywhere, requests_per_minute included', async () => {
    dir = await mkdtemp(join(tmpdir(), 'wess-quota-'));
    t = await startApp({ rate_limit: { max: 1000 }, tiers: { old: { requests_per_minute: 2 } } }, dir);
    const key = await createKey(t.app, { name: 'legacy', role: 'runner', tier: 'old' });
    await t.close();
    t = await startApp({ rate_limit: { max: 1000 }, tiers: { free: { requests_per_minute: 2 } }, auth: { default_tier: 'free' } }, dir);

    const usage = await t.app.inject({ method: 'GET', url: `/keys/${key.id}/usage` });
    assert.equal(usage.json().tier, 'free', 'the key reports the default tier');
    assert.equal(usage.json().limits.requests_per_minute, 2, 'the key reports the default tier\'s requests_per_minute');

    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await t.app.inject({ method: 'GET', url: '/modules', headers: as(key) })).statusCode);
    assert.deepEqual(
      statuses,
      [200, 200, 429],
      'BUG src/http/rate-limit.ts maxFor: it reads config.tiers[principal.tier] directly instead of tierOf(config, principal), ' +
        'so a key whose tier is no longer configured gets rate_limit.max instead of auth.default_tier\'s requests_per_minute ' +
        '(which GET /keys/:id/usage reports and every other limit applies)',
    );
  });
});
