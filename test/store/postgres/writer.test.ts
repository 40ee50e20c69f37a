import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { EventBus, type BusEvent } from '../../../src/events.js';
import { createLogger } from '../../../src/logger.js';
import { createMetrics } from '../../../src/metrics.js';
import { GroupWriter } from '../../../src/store/group-writer.js';
import { migrate } from '../../../src/store/postgres/migrate.js';
import { PgCommitter } from '../../../src/store/postgres/writer.js';
import type { ModuleRecord } from '../../../src/store/types.js';
import { content } from '../helper.js';
import { pgOptions, testDatabase, type TestDatabase } from './pg-helper.js';

/** One node: its own pool, bus and group writer on the shared database. */
function node(db: TestDatabase, maxVersions = 100) {
  const pool = db.pool();
  const bus = new EventBus();
  const events: BusEvent[] = [];
  bus.subscribe('*', (event) => events.push(event));
  const logger = createLogger('silent');
  const writer = new GroupWriter({
    committer: new PgCommitter(pool, randomUUID(), maxVersions, logger),
    bus,
    metrics: createMetrics(),
    logger,
    queueLimit: 1000,
    moduleCount: 0,
  });
  return { pool, bus, events, writer };
}

async function rows<T>(db: TestDatabase, sql: string, params: unknown[] = []): Promise<T[]> {
  return (await db.pool().query(sql, params)).rows as T[];
}

describe('PostgreSQL writer', pgOptions, () => {
  let db: TestDatabase;
  before(async () => {
    db = await testDatabase();
    await migrate(db.pool());
  });
  after(() => db?.close());

  test('create, update, rename, rollback, delete: records, versions, bytes held, blobs kept once and dropped with their last version', async () => {
    const a = node(db);
    const created = await a.writer.submit({ kind: 'create-module', id: randomUUID(), tenant: 't1', name: 'm', content: content('one') });
    assert.equal(created.version, 1);
    const updated = await a.writer.submit({ kind: 'update-module', id: created.id, content: content('two'), expectVersion: 1 });
    assert.equal(updated.version, 2);
    const renamed = await a.writer.submit({ kind: 'rename-module', id: created.id, name: 'renamed' });
    assert.deepEqual([renamed.version, renamed.name, renamed.sha256], [3, 'renamed', updated.sha256]);
    const rolled = await a.writer.submit({ kind: 'rollback-module', id: created.id, toVersion: 1 });
    assert.deepEqual([rolled.version, rolled.sha256, rolled.name], [4, created.sha256, 'm']);
    const stored = await rows<{ record: ModuleRecord }>(db, 'SELECT record FROM wess_modules WHERE id = $1', [created.id]);
    assert.deepEqual(stored[0]?.record, rolled, 'the record as the writer answered it');
    const size = created.size;
    const held = await rows<{ bytes: string }>(db, "SELECT bytes FROM wess_tenants WHERE tenant = 't1'");
    assert.equal(Number(held[0]?.bytes), 4 * size, 'four versions of equal size held');
    const blobs = await rows<{ n: string }>(db, 'SELECT count(*) AS n FROM wess_blobs');
    assert.equal(Number(blobs[0]?.n), 2, 'two distinct contents, stored once each');

    await assert.rejects(a.writer.submit({ kind: 'update-module', id: created.id, content: content('x'), expectVersion: 1 }), { code: 'VERSION_CONFLICT' });
    await assert.rejects(a.writer.submit({ kind: 'rollback-module', id: created.id, toVersion: 9 }), { code: 'VERSION_NOT_FOUND' });
    await assert.rejects(a.writer.submit({ kind: 'delete-module', id: created.id, tenant: 'other' }), { code: 'MODULE_NOT_FOUND' });

    const deleted = await a.writer.submit({ kind: 'delete-module', id: created.id });
    assert.equal(deleted.version, 4);
    assert.equal((await rows(db, 'SELECT 1 FROM wess_versions WHERE module_id = $1', [created.id])).length, 0);
    assert.equal(Number((await rows<{ n: string }>(db, 'SELECT count(*) AS n FROM wess_blobs'))[0]?.n), 0, 'blobs gone with their last version');
    assert.equal(Number((await rows<{ bytes: string }>(db, "SELECT bytes FROM wess_tenants WHERE tenant = 't1'"))[0]?.bytes), 0);
    assert.deepEqual(a.events.map((e) => e.topic), ['module.created', 'module.updated', 'module.updated', 'module.updated', 'module.deleted']);
    assert.equal(a.events[3]?.topic === 'module.updated' && a.events[3].rollback_from, 1);
    assert.equal(a.writer.moduleCount, 0);
  });

  test('pruning past max_versions drops the oldest versions, audits it, and frees their bytes', async () => {
    const a = node(db, 2);
    const m = await a.writer.submit({ kind: 'create-module', id: randomUUID(), tenant: 'tp', name: 'p', content: content('p1') });
    await a.writer.submit({ kind: 'update-module', id: m.id, content: content('p2') });
    const third = await a.writer.submit({ kind: 'update-module', id: m.id, content: content('p3') });
    const versions = await rows<{ version: string }>(db, 'SELECT version FROM wess_versions WHERE module_id = $1 ORDER BY version', [m.id]);
    assert.deepEqual(versions.map((v) => Number(v.version)), [2, 3]);
    const audit = await rows<{ entry: { action: string; details: { versions: number[] } } }>(db, "SELECT entry FROM wess_audit WHERE entry->>'action' = 'module.prune'");
    assert.deepEqual(audit[0]?.entry.details.versions, [1]);
    assert.equal(Number((await rows<{ bytes: string }>(db, "SELECT bytes FROM wess_tenants WHERE tenant = 'tp'"))[0]?.bytes), 2 * third.size);
    const event = a.events.at(-1);
    assert.deepEqual(event?.topic === 'module.updated' ? event.pruned_versions : null, [1]);
  });

  test('If-Match raced on two nodes: exactly one new version, the other VERSION_CONFLICT', async () => {
    const a = node(db);
    const b = node(db);
    const m = await a.writer.submit({ kind: 'create-module', id: randomUUID(), tenant: 'race', name: 'r', content: content('r0') });
    for (let round = 0; round < 10; round++) {
      const version = round + 1;
      const results = await Promise.allSettled([
        a.writer.submit({ kind: 'update-module', id: m.id, content: content(`a${round}`), expectVersion: version }),
        b.writer.submit({ kind: 'update-module', id: m.id, content: content(`b${round}`), expectVersion: version }),
      ]);
      const ok = results.filter((r) => r.status === 'fulfilled');
      const conflicts = results.filter((r) => r.status === 'rejected' && (r.reason as { code?: string }).code === 'VERSION_CONFLICT');
      assert.deepEqual([ok.length, conflicts.length], [1, 1], `round ${round}: ${JSON.stringify(results.map((r) => r.status))}`);
    }
    const current = await rows<{ version: string }>(db, 'SELECT version FROM wess_modules WHERE id = $1', [m.id]);
    assert.equal(Number(current[0]?.version), 11);
  });

  test('max_modules and max_storage hold when two nodes create at once', async () => {
    const a = node(db);
    const b = node(db);
    const quota = { tier: 'small', maxModules: 5 };
    const creates = Array.from({ length: 16 }, (_, i) =>
      (i % 2 ? a : b).writer.submit({ kind: 'create-module', id: randomUUID(), tenant: 'quota', name: `q${i}`, content: content(`q${i}`), quota }),
    );
    const results = await Promise.allSettled(creates);
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 5);
    assert.ok(results.filter((r) => r.status === 'rejected').every((r) => (r.reason as { code?: string }).code === 'TIER_LIMIT'));
    assert.equal(Number((await rows<{ n: string }>(db, "SELECT count(*) AS n FROM wess_modules WHERE tenant = 'quota'"))[0]?.n), 5);

    const size = content('s0').content.byteLength;
    const storage = { tier: 'bytes', maxStorage: size * 3 };
    const more = Array.from({ length: 8 }, (_, i) =>
      (i % 2 ? a : b).writer.submit({ kind: 'create-module', id: randomUUID(), tenant: 'storage', name: `s${i}`, content: content(`s${i}`), quota: storage }),
    );
    const stored = await Promise.allSettled(more);
    assert.equal(stored.filter((r) => r.status === 'fulfilled').length, 3);
    assert.equal(Number((await rows<{ bytes: string }>(db, "SELECT bytes FROM wess_tenants WHERE tenant = 'storage'"))[0]?.bytes), size * 3);
  });

  test('usage counters from two nodes add up; each node gets the stored totals back', async () => {
    const a = node(db);
    const b = node(db);
    const day = '2026-12-06';
    const added = { runs: 3, errors: 1, cpu_ms: 1.5, fuel: 10, bytes_in: 100, bytes_out: 50, day, runs_today: 3 };
    const usage = { ...added, updated_at: '2026-12-06T10:00:00.000Z' };
    await Promise.all([
      a.writer.submit({ kind: 'put-usage', usage: [{ keyId: 'k1', usage, added }] }),
      b.writer.submit({ kind: 'put-usage', usage: [{ keyId: 'k1', usage, added }] }),
    ]);
    const totals = await a.writer.submit({ kind: 'put-usage', usage: [{ keyId: 'k1', usage, added }] });
    assert.deepEqual(totals?.[0]?.usage, { runs: 9, errors: 3, cpu_ms: 4.5, fuel: 30, bytes_in: 300, bytes_out: 150, day, runs_today: 9, updated_at: usage.updated_at });
    const tomorrow = { ...added, day: '2026-12-07', runs_today: 1, runs: 1 };
    const next = await b.writer.submit({ kind: 'put-usage', usage: [{ keyId: 'k1', usage: { ...usage, day: '2026-12-07' }, added: tomorrow }] });
    assert.deepEqual([next?.[0]?.usage.day, next?.[0]?.usage.runs_today, next?.[0]?.usage.runs], ['2026-12-07', 1, 10]);
    const late = await a.writer.submit({ kind: 'put-usage', usage: [{ keyId: 'k1', usage, added }] });
    assert.deepEqual([late?.[0]?.usage.day, late?.[0]?.usage.runs_today, late?.[0]?.usage.runs], ['2026-12-07', 1, 13], "a late flush of yesterday does not count toward today");
  });

  test('events are numbered in commit order across nodes, without gaps, and per tenant', async () => {
    const a = node(db);
    const b = node(db);
    const before = Number((await rows<{ value: string }>(db, "SELECT value FROM wess_counters WHERE name = 'events'"))[0]?.value);
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).writer.submit({ kind: 'create-module', id: randomUUID(), tenant: `ev${i % 3}`, name: `e${i}`, content: content('ev') })),
    );
    const logged = await rows<{ seq: string; tenant: string; tenant_seq: string }>(db, 'SELECT seq, tenant, tenant_seq FROM wess_events WHERE seq > $1 ORDER BY seq', [before]);
    assert.deepEqual(logged.map((r) => Number(r.seq)), Array.from({ length: 20 }, (_, i) => before + i + 1));
    for (const tenant of ['ev0', 'ev1', 'ev2']) {
      const seqs = logged.filter((r) => r.tenant === tenant).map((r) => Number(r.tenant_seq));
      assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => i + 1), tenant);
    }
    const announced = [...a.events, ...b.events].filter((e) => e.origin && e.origin.seq > before).map((e) => e.origin?.seq).sort((x = 0, y = 0) => x - y);
    assert.deepEqual(announced, logged.map((r) => Number(r.seq)), 'each node announced its own events with their stored numbers');
  });

  test('two nodes writing the same tenants in opposite orders never fail a write (a deadlock runs the group again)', async () => {
    const a = node(db);
    const b = node(db);
    for (let round = 0; round < 10; round++) {
      // Each node's messages go out as one group: tenants x then y on one node, y then x on the other.
      const writes = [a, b].flatMap((n, side) =>
        (side === 0 ? ['dlx', 'dly'] : ['dly', 'dlx']).map((tenant) => n.writer.submit({ kind: 'create-module', id: randomUUID(), tenant, name: `d${round}`, content: content(`d${round}${tenant}`) })),
      );
      const results = await Promise.allSettled(writes);
      assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled'], JSON.stringify(results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason))));
    }
    const count = await rows<{ n: string }>(db, "SELECT count(*) AS n FROM wess_modules WHERE tenant IN ('dlx', 'dly')");
    assert.equal(Number(count[0]?.n), 40);
  });

  test('a refused message rolls back alone; the rest of its group commits', async () => {
    const a = node(db);
    const m = await a.writer.submit({ kind: 'create-module', id: randomUUID(), tenant: 'grp', name: 'g', content: content('g') });
    const results = await Promise.allSettled([
      a.writer.submit({ kind: 'update-module', id: m.id, content: content('g1') }),
      a.writer.submit({ kind: 'update-module', id: m.id, content: content('g2'), expectVersion: 1 }),
      a.writer.submit({ kind: 'update-module', id: m.id, content: content('g3') }),
    ]);
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
    assert.equal(Number((await rows<{ version: string }>(db, 'SELECT version FROM wess_modules WHERE id = $1', [m.id]))[0]?.version), 3);
  });

  test('put-key ifAbsent (an import) never replaces a stored key, and announces only what it wrote', async () => {
    const a = node(db);
    const key = { id: 'imp1', name: 'k', role: 'runner' as const, tenant: 't', tier: null, modules: null, hash: 'a'.repeat(64), created_at: '2026-12-06T00:00:00.000Z', created_by: null, revoked_at: null };
    assert.deepEqual(await a.writer.submit({ kind: 'put-key', key, ifAbsent: true }), key);
    const other = { ...key, name: 'other', hash: 'b'.repeat(64) };
    assert.deepEqual(await a.writer.submit({ kind: 'put-key', key: other, ifAbsent: true }), key, 'the stored record comes back');
    const stored = await rows<{ record: { hash: string } }>(db, "SELECT record FROM wess_keys WHERE id = 'imp1'");
    assert.equal(stored[0]?.record.hash, 'a'.repeat(64));
    assert.equal(a.events.filter((e) => e.topic === 'key.stored').length, 1);
  });
});
