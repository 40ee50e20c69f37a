/** Requests without a valid key: limited per client IP, audited in counts, never crowding out real writes. */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Redis } from 'ioredis';
import type { WessApp } from '../../src/app.js';
import type { AuditEntry } from '../../src/auth/types.js';
import { validateConfig } from '../../src/config/load.js';
import { REDIS_KEY_PREFIX } from '../../src/http/rate-limit.js';
import { authHeaders, fixture, listen, makeKey, noKey, startApp, type TestApp } from '../helper.js';

const BOGUS = 'wess_bogus0000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
const SHARED_REDIS = 'redis://127.0.0.1:6379';

/** A request with a key nobody issued, from `ip`. */
function bogus(app: WessApp, ip: string) {
  return app.inject({ method: 'GET', url: '/modules', remoteAddress: ip, headers: { authorization: `Bearer ${BOGUS}` } });
}

/** Every auth.denied entry of the audit log, walking every page (as the admin). */
async function denials(app: WessApp): Promise<AuditEntry[]> {
  const out: AuditEntry[] = [];
  let cursor: string | null = null;
  do {
    const url: string = `/audit?limit=100${cursor ? `&cursor=${cursor}` : ''}`;
    const res = await app.inject({ method: 'GET', url });
    assert.equal(res.statusCode, 200, res.body);
    const page = res.json() as { items: AuditEntry[]; next_cursor: string | null };
    out.push(...page.items.filter((e) => e.action === 'auth.denied'));
    cursor = page.next_cursor;
  } while (cursor);
  return out;
}

const sum = (entries: AuditEntry[], pick: (e: AuditEntry) => number) => entries.reduce((total, e) => total + pick(e), 0);

/** Runs `total` requests, `concurrency` at a time; their statuses in completion order. */
async function flood(total: number, concurrency: number, send: (i: number) => Promise<Response>): Promise<number[]> {
  const statuses: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const res = await send(next++);
        await res.arrayBuffer();
        statuses.push(res.status);
      }
    }),
  );
  return statuses;
}

const count = (statuses: number[], status: number) => statuses.filter((s) => s === status).length;

describe('requests without a valid key', { timeout: 60_000 }, () => {
  test('rate_limit.anonymous_max defaults to 60', () => {
    assert.equal(validateConfig({}).rate_limit.anonymous_max, 60);
  });

  test('regression (issue 15, item 3): bogus-key requests get 429 per IP after rate_limit.anonymous_max, not 401 forever', async () => {
    const t = await startApp({ rate_limit: { anonymous_max: 5, window: 60_000 } });
    try {
      const ip = '192.0.2.10';
      const answers = [];
      for (let i = 0; i < 8; i++) {
        // No key, a bogus one, a malformed one: every way of having no valid key counts alike.
        const headers = i % 3 === 0 ? noKey() : i % 3 === 1 ? { authorization: `Bearer ${BOGUS}` } : { 'x-api-key': 'not-a-key' };
        answers.push(await t.app.inject({ method: 'GET', url: '/modules', remoteAddress: ip, headers }));
      }
      assert.deepEqual(answers.map((r) => r.statusCode), [401, 401, 401, 401, 401, 429, 429, 429]);
      assert.equal(answers[4]?.headers['x-ratelimit-remaining'], '0');
      const limited = answers[7]!;
      const retryAfter = Number(limited.headers['retry-after']);
      assert.ok(retryAfter > 0 && retryAfter <= 60, `Retry-After ${String(limited.headers['retry-after'])}`);
      const { error } = limited.json() as { error: { code: string; message: string; details: { limit: number; retry_after_ms: number } } };
      assert.equal(error.code, 'RATE_LIMITED');
      assert.equal(error.details.limit, 5);
      assert.ok(error.details.retry_after_ms > 0 && error.details.retry_after_ms <= 60_000);
      assert.match(error.message, /without a valid API key/);

      // Counted per address: another client is not limited by this one's flood ...
      assert.equal((await bogus(t.app, '192.0.2.11')).statusCode, 401);
      // ... a valid key from the flooded address is counted on its key, and probes stay open.
      const dev = await makeKey(t.app, { name: 'dev', role: 'developer', tenant: 'acme' });
      assert.equal((await t.app.inject({ method: 'GET', url: '/modules', remoteAddress: ip, headers: authHeaders({}, dev.key) })).statusCode, 200);
      assert.equal((await t.app.inject({ method: 'GET', url: '/health/live', remoteAddress: ip, headers: noKey() })).statusCode, 200);
      // Unknown routes are no way around it.
      assert.equal((await t.app.inject({ method: 'GET', url: '/nowhere', remoteAddress: ip, headers: noKey() })).statusCode, 429);
    } finally {
      await t.close();
    }
  });

  test('regression (issue 15, item 3): a bogus-key flood writes one auth.denied entry per IP, reason and minute with a count, and a bounded number of log lines', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wess-test-'));
    const overrides = { rate_limit: { anonymous_max: 20, window: 60_000 } };
    const [a, b] = ['192.0.2.20', '192.0.2.21'];
    try {
      const t = await startApp(overrides, dir);
      let statuses: number[];
      try {
        statuses = (await Promise.all(Array.from({ length: 100 }, () => bogus(t.app, a)))).map((r) => r.statusCode);
        for (let i = 0; i < 10; i++) assert.equal((await t.app.inject({ method: 'POST', url: '/keys', remoteAddress: b, headers: noKey(), payload: {} })).statusCode, 401);
        assert.equal(count(statuses, 401), 20);
        assert.equal(count(statuses, 429), 80);
        // One access line for the first request of each (IP, reason, minute), not one per request.
        const accessLines = t.logs.filter((l) => l.msg === 'request' && (l.status === 401 || l.status === 429));
        assert.ok(accessLines.length >= 2 && accessLines.length <= 4, `${accessLines.length} access lines for 110 refused requests`);
      } finally {
        // Shutdown writes the running minute's counts.
        await t.close();
      }
      const summaries = t.logs.filter((l) => /^auth denied \d+ requests from /.test(String(l.msg)));
      assert.ok(summaries.length >= 1 && summaries.length <= 4, `${summaries.length} summary lines`);
      assert.ok(summaries.some((l) => l.ip === a && l.reason === 'invalid' && Number(l.count) > 1));

      const again = await startApp(overrides, dir);
      try {
        const entries = await denials(again.app);
        const ofA = entries.filter((e) => e.ip === a);
        const ofB = entries.filter((e) => e.ip === b);
        // One durable entry per (IP, reason, minute): two at most when the flood crossed a minute.
        assert.ok(ofA.length >= 1 && ofA.length <= 2, `${ofA.length} entries for ${a}`);
        assert.ok(ofB.length >= 1 && ofB.length <= 2, `${ofB.length} entries for ${b}`);
        assert.equal(entries.length, ofA.length + ofB.length);
        // count: every request refused for that reason; rate_limited: those answered 429.
        assert.equal(sum(ofA, (e) => e.count ?? 0), 100);
        assert.equal(sum(ofA, (e) => Number(e.details?.rate_limited)), 80);
        assert.equal(sum(ofB, (e) => e.count ?? 0), 10);
        assert.equal(sum(ofB, (e) => Number(e.details?.rate_limited)), 0);
        for (const e of ofA) assert.deepEqual([e.details?.reason, e.target, e.actor, e.tenant, e.outcome], ['invalid', 'GET /modules', null, null, 'failure']);
        for (const e of ofB) assert.deepEqual([e.details?.reason, e.target], ['missing', 'POST /keys']);
        for (const e of entries) assert.ok(Date.parse(String(e.details?.first_at)) <= Date.parse(String(e.details?.last_at)));
      } finally {
        await again.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("regression (issue 15, item 3): a tenant's PUT during a bogus-key flood succeeds (audit writes keep to their share of the writer queue)", async () => {
    // A small queue: half of it (2) is all that audit writes may take.
    const t = await startApp({ database: { queue_limit: 4 }, rate_limit: { anonymous_max: 50 } });
    try {
      const base = await listen(t.app);
      const dev = await makeKey(t.app, { name: 'dev', role: 'developer', tenant: 'acme' });
      // A key that may not upload: each of its tries is a 403, audited one by one (it has a valid key).
      const runner = await makeKey(t.app, { name: 'runner', role: 'runner', tenant: 'mallory' });
      const created = await fetch(`${base}/modules?name=calc`, { method: 'POST', headers: authHeaders({ 'content-type': 'application/wasm' }, dev.key), body: fixture('add') });
      assert.equal(created.status, 201);
      const { id } = (await created.json()) as { id: string };
      const wasm = fixture('add');

      const bogusFlood = flood(600, 24, () => fetch(`${base}/modules`, { headers: { authorization: `Bearer ${BOGUS}` } }));
      const forbiddenFlood = flood(600, 32, () =>
        fetch(`${base}/modules?name=x`, { method: 'POST', headers: authHeaders({ 'content-type': 'application/wasm' }, runner.key), body: wasm }),
      );
      const puts: number[] = [];
      for (let i = 0; i < 40; i++) {
        const res = await fetch(`${base}/modules/${id}`, { method: 'PUT', headers: authHeaders({ 'content-type': 'application/json' }, dev.key), body: JSON.stringify({ name: `calc-${i}` }) });
        puts.push(res.status);
        await res.arrayBuffer();
      }
      const [bogusStatuses, forbiddenStatuses] = await Promise.all([bogusFlood, forbiddenFlood]);
      assert.deepEqual(puts, Array.from({ length: 40 }, () => 200), 'every PUT of the tenant succeeded');
      assert.equal(count(bogusStatuses, 401), 50);
      assert.equal(count(bogusStatuses, 429), 550);
      assert.equal(count(forbiddenStatuses, 403), 600);
      const last = (await (await fetch(`${base}/modules/${id}`, { headers: authHeaders({}, dev.key) })).json()) as { version: number; name: string };
      assert.deepEqual([last.version, last.name], [41, 'calc-39']);
    } finally {
      await t.close();
    }
  });

  test('regression (issue 15, item 3): nodes sharing a Redis share the per-IP count of requests without a valid key', async () => {
    const ip = `10.${randomInt(256)}.${randomInt(256)}.${randomInt(1, 255)}`;
    const key = `${REDIS_KEY_PREFIX}ip:${ip}`;
    const redis = new Redis(SHARED_REDIS, { lazyConnect: true, maxRetriesPerRequest: 1 });
    const overrides = { rate_limit: { anonymous_max: 4, window: 60_000, redis_url: SHARED_REDIS } };
    const nodes: TestApp[] = [await startApp(overrides), await startApp(overrides)];
    try {
      await redis.connect();
      const [one, two] = nodes.map((n) => n.app) as [WessApp, WessApp];
      for (const app of [one, two, one, two]) assert.equal((await bogus(app, ip)).statusCode, 401);
      assert.equal(await redis.get(key), '4');
      assert.equal((await bogus(one, ip)).statusCode, 429);
      assert.equal((await bogus(two, ip)).statusCode, 429);
    } finally {
      await Promise.allSettled(nodes.map((n) => n.close()));
      await redis.del(key).catch(() => undefined);
      redis.disconnect();
    }
  });
});
