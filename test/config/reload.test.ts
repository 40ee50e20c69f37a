/** Config reload in process: buildApp, then reloadConfig, and each live setting really changes behaviour. */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { Counter } from 'prom-client';
import { loadConfig, validateConfig } from '../../src/config/load.js';
import { reloadConfig } from '../../src/config/reload.js';
import type { Config } from '../../src/config/schema.js';
import { authHeaders, makeKey, startApp, upload, type TestApp } from '../helper.js';

type Patch = Partial<Record<keyof Config, Record<string, unknown>>>;

/** The app's config with `patch` laid over it section by section (tiers replaced whole), validated. */
function patched(config: Config, patch: Patch): Config {
  const input = structuredClone(config) as unknown as Record<string, Record<string, unknown>>;
  for (const [section, values] of Object.entries(patch)) input[section] = section === 'tiers' ? values : { ...input[section], ...values };
  return validateConfig(input);
}

const reload = (t: TestApp, patch: Patch) => reloadConfig(t.app.services, () => patched(t.app.services.config, patch));

async function count(counter: Counter<string>, labels: Record<string, string>): Promise<number> {
  const { values } = await counter.get();
  return values.find((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want))?.value ?? 0;
}

const list = (t: TestApp, headers?: Record<string, string>) => t.app.inject({ method: 'GET', url: '/modules', ...(headers ? { headers } : {}) });
const messages = (t: TestApp) => t.logs.map((line) => String(line.msg));

describe('config reload', { timeout: 60_000 }, () => {
  const apps: TestApp[] = [];
  const start = async (overrides: Parameters<typeof startApp>[0]) => {
    const t = await startApp(overrides);
    apps.push(t);
    return t;
  };
  after(async () => {
    for (const t of apps) await t.close();
  });

  test('rate limits: enabling it and lowering max gives 429 sooner; window and max change live', async () => {
    const t = await start({ rate_limit: { enabled: false, max: 1000 } });
    for (let i = 0; i < 5; i++) {
      const res = await list(t);
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['x-ratelimit-limit'], undefined, 'disabled: not counted');
    }
    const result = reload(t, { rate_limit: { enabled: true, max: 2 } });
    assert.equal(result.outcome, 'success');
    assert.deepEqual(result.applied, ['rate_limit.enabled', 'rate_limit.max']);
    assert.equal((await list(t)).headers['x-ratelimit-limit'], '2');
    assert.equal((await list(t)).statusCode, 200);
    const limited = await list(t);
    assert.equal(limited.statusCode, 429);
    assert.equal((limited.json() as { error: { code: string } }).error.code, 'RATE_LIMITED');

    reload(t, { rate_limit: { max: 5, window: 600_000 } });
    const raised = await list(t);
    assert.equal(raised.statusCode, 200, 'the fourth request fits under the new max of 5');
    assert.equal(raised.headers['x-ratelimit-limit'], '5');
    assert.ok(Number(raised.headers['x-ratelimit-reset']) > 60, `the 10-minute window is in force: reset ${String(raised.headers['x-ratelimit-reset'])} s`);
    assert.equal(await count(t.app.services.metrics.configReloads, { outcome: 'success' }), 2);
  });

  test('tiers and auth.default_tier: a key gets the new limits on its next request', async () => {
    // Deadlines in seconds: the runs below are healthy and must never meet them, however busy the machine.
    const t = await start({ tiers: { free: { max_timeout: 5000 } }, auth: { default_tier: 'free' } });
    const add = await upload(t.app, 'add');
    const dev = await makeKey(t.app, { name: 'dev', role: 'developer' });
    assert.equal(dev.tier, 'free');
    const run = (body: Record<string, unknown>) =>
      t.app.inject({ method: 'POST', url: `/modules/${add.id}/run`, headers: authHeaders({}, dev.key), payload: { function: 'add', args: [1, 2], ...body } });
    assert.equal((await run({ timeout_ms: 3000 })).statusCode, 200);

    const result = reload(t, { tiers: { free: { max_timeout: 2000, runs_per_day: 2, requests_per_minute: 30 }, pro: {} }, auth: { default_tier: 'pro' } });
    assert.deepEqual(result.applied, ['auth.default_tier', 'tiers.free.max_timeout', 'tiers.free.requests_per_minute', 'tiers.free.runs_per_day', 'tiers.pro']);
    const over = await run({ timeout_ms: 3000 });
    assert.equal(over.statusCode, 400);
    assert.match((over.json() as { error: { message: string } }).error.message, /\b2000\b/);
    const second = await run({});
    assert.equal(second.statusCode, 200);
    assert.equal(second.headers['x-ratelimit-limit'], '30', "the tier's requests_per_minute is the key's rate limit now");
    const quota = await run({});
    assert.equal(quota.statusCode, 429);
    assert.equal((quota.json() as { error: { code: string } }).error.code, 'QUOTA_EXCEEDED');
    assert.equal((await makeKey(t.app, { name: 'later', role: 'runner' })).tier, 'pro', 'new keys get the new default tier');
  });

  test('reader: a smaller cache_size evicts, a shorter ttl expires entries', async () => {
    const t = await start({ reader: { cache_size: 100, ttl: 3600 } });
    const a = await upload(t.app, 'add');
    const b = await upload(t.app, 'trap');
    const misses = () => count(t.app.services.metrics.cacheMisses, { cache: 'module' });
    const get = async (id: string) => assert.equal((await t.app.inject({ method: 'GET', url: `/modules/${id}` })).statusCode, 200);
    await get(a.id);
    const warm = await misses();
    await get(a.id);
    await get(b.id);
    await get(a.id);
    assert.equal(await misses(), warm + 1, 'with 100 entries only b missed');

    reload(t, { reader: { cache_size: 1 } });
    const resized = await misses();
    await get(a.id);
    await get(b.id);
    await get(a.id);
    assert.equal(await misses(), resized + 3, 'one entry: a and b evict each other');

    reload(t, { reader: { ttl: 1 } });
    await get(b.id);
    const cached = await misses();
    await get(b.id);
    assert.equal(await misses(), cached, 'just cached: a hit');
    const deadline = Date.now() + 5000;
    while ((await misses()) === cached && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      await get(b.id);
    }
    assert.equal(await misses(), cached + 1, 'the 1 s TTL expired the entry (with 3600 s it would have stayed)');
  });

  test('log.level: the root logger and every request logger follow it, and the reload is announced', async () => {
    const t = await start({ log: { level: 'info' } });
    const requestLines = () => messages(t).filter((m) => m === 'request').length;
    await list(t);
    assert.equal(requestLines(), 1);
    reload(t, { log: { level: 'warn' } });
    assert.ok(messages(t).includes('config reloaded: log.level "info" → "warn"'), 'announced before going quiet');
    await list(t);
    assert.equal(requestLines(), 1, 'info lines are no longer written');
    reload(t, { log: { level: 'debug' } });
    await list(t);
    assert.equal(requestLines(), 2);
    assert.ok(messages(t).includes('payload sizes'), 'debug lines are written now');
    assert.ok(messages(t).includes('config reloaded: log.level "warn" → "debug"'));
  });

  test('restart-only settings are named in a warning and keep their values; the live ones still apply', async () => {
    const t = await start({});
    const secret = 'a-new-secret-that-must-never-be-logged-0123456789';
    const result = reload(t, { server: { port: 9999, workers: 1 }, runner: { timeout: 1000 }, auth: { secret }, rate_limit: { max: 7 } });
    assert.equal(result.outcome, 'success');
    assert.deepEqual(result.applied, ['rate_limit.max']);
    assert.deepEqual(result.restartRequired, ['auth.secret', 'runner.timeout', 'server.port', 'server.workers']);
    const { config } = t.app.services;
    assert.equal(config.runner.timeout, 5000);
    assert.equal(config.server.workers, 2);
    assert.equal(config.rate_limit.max, 7);
    assert.ok(Object.isFrozen(config.rate_limit), 'the swapped-in config is frozen too');
    const warning = t.logs.find((l) => l.level === 40 && String(l.msg).startsWith('config reload:'));
    assert.ok(warning, 'a warning names the restart-only settings');
    assert.match(String(warning.msg), /auth\.secret, runner\.timeout, server\.port, server\.workers .*restart/);
    assert.ok(!JSON.stringify(t.logs).includes(secret), 'the secret is never logged');
    const add = await upload(t.app, 'add');
    const res = await t.app.inject({ method: 'POST', url: `/modules/${add.id}/run`, payload: { function: 'add', args: [1, 2], timeout_ms: 2000 } });
    assert.equal(res.statusCode, 200, 'runner.timeout is still 5000 ms (1000 would refuse timeout_ms 2000)');
    assert.equal(res.headers['x-ratelimit-limit'], '7');
  });

  test('an invalid config is refused with one error line naming every problem, and nothing changes', async () => {
    const t = await start({ rate_limit: { max: 50 } });
    const dir = await mkdtemp(join(tmpdir(), 'wess-reload-'));
    try {
      const file = join(dir, 'wess.toml');
      await writeFile(file, '[rate_limit]\nmax = 0\n[log]\nlevel = "loud"\n[server]\nbogus = 1\n');
      const before = t.app.services.config;
      const load = () => loadConfig({ argv: ['--config', file], env: {} });
      const result = reloadConfig(t.app.services, load);
      assert.equal(result.outcome, 'rejected');
      assert.equal(result.problems.length, 3);
      assert.equal(t.app.services.config, before, 'the very same config object stays in force');
      const errors = t.logs.filter((l) => l.level === 50);
      assert.equal(errors.length, 1);
      for (const path of ['rate_limit.max', 'log.level', 'server.bogus']) assert.match(String(errors[0]?.msg), new RegExp(path.replace('.', '\\.')));

      await writeFile(file, '[rate_limit\nmax = 1\n');
      const syntax = reloadConfig(t.app.services, load);
      assert.equal(syntax.outcome, 'rejected');
      assert.match(syntax.problems[0] ?? '', /wess\.toml/);
      assert.equal(t.app.services.config, before);
      assert.equal((await list(t)).headers['x-ratelimit-limit'], '50', 'the old limit still holds');
      assert.equal(await count(t.app.services.metrics.configReloads, { outcome: 'rejected' }), 2);
      assert.equal(await count(t.app.services.metrics.configReloads, { outcome: 'success' }), 0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
