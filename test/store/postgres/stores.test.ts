import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { auditId } from '../../../src/auth/audit.js';
import type { AuditEntry, KeyRecord, KeyUsage } from '../../../src/auth/types.js';
import { PgAuditStore } from '../../../src/store/postgres/audit-store.js';
import { PgKeyStore } from '../../../src/store/postgres/keys-store.js';
import { migrate } from '../../../src/store/postgres/migrate.js';
import { PgSettingsStore } from '../../../src/store/postgres/settings-store.js';
import { PgUsageStore } from '../../../src/store/postgres/usage-store.js';
import { pgOptions, testDatabase, type TestDatabase } from './pg-helper.js';

function keyRecord(id: string, tenant: string, revoked: boolean): KeyRecord {
  return {
    id,
    name: `key ${id}`,
    role: 'developer',
    tenant,
    tier: null,
    modules: null,
    hash: 'f'.repeat(64),
    created_at: '2026-12-06T21:00:00.000Z',
    created_by: null,
    revoked_at: revoked ? '2026-12-06T22:00:00.000Z' : null,
  };
}

function auditEntry(tenant: string | null, n: number): AuditEntry {
  return {
    id: auditId(),
    at: new Date().toISOString(),
    actor: null,
    tenant,
    action: 'module.create',
    target: `m${n}`,
    request_id: `req-${n}`,
    ip: '127.0.0.1',
    status: 201,
    outcome: 'success',
    details: { n },
  };
}

describe('PostgreSQL stores: keys, usage, audit, settings', pgOptions, () => {
  let db: TestDatabase;
  before(async () => {
    db = await testDatabase();
    await migrate(db.pool());
  });
  after(() => db?.close());

  test('keys: every record, revoked ones too, in id order and as the JSON written (key order included)', async () => {
    const pool = db.pool();
    const keys = [keyRecord('kb', 'b', true), keyRecord('ka', 'a', false)];
    for (const key of keys) await pool.query('INSERT INTO wess_keys (id, record) VALUES ($1, $2)', [key.id, JSON.stringify(key)]);
    const all = await new PgKeyStore(pool).all();
    assert.deepEqual(all, [keys[1], keys[0]]);
    assert.equal(JSON.stringify(all[0]), JSON.stringify(keys[1]), 'same bytes: json keeps key order');
  });

  test('usage: absent for an unknown key; the KeyUsage shape back, fuel only when metered', async () => {
    const pool = db.pool();
    const store = new PgUsageStore(pool);
    assert.equal(await store.get('nobody'), undefined);
    await pool.query(
      "INSERT INTO wess_key_usage (key_id, runs, errors, cpu_ms, fuel, bytes_in, bytes_out, day, runs_today, updated_at) VALUES ('k1', 5, 1, 12.5, NULL, 100, 200, '2026-12-06', 3, '2026-12-06T21:00:00.000Z'), ('k2', 1, 0, 1, 4000, 0, 0, '2026-12-06', 1, NULL)",
    );
    const k1: KeyUsage = { runs: 5, errors: 1, cpu_ms: 12.5, bytes_in: 100, bytes_out: 200, day: '2026-12-06', runs_today: 3, updated_at: '2026-12-06T21:00:00.000Z' };
    assert.deepEqual(await store.get('k1'), k1);
    assert.deepEqual(await store.get('k2'), { runs: 1, errors: 0, cpu_ms: 1, fuel: 4000, bytes_in: 0, bytes_out: 0, day: '2026-12-06', runs_today: 1, updated_at: null });
  });

  test('audit: pages newest first, before an id, next_cursor the last id only when there are more; all tenants or one', async () => {
    const pool = db.pool();
    const store = new PgAuditStore(pool);
    assert.deepEqual(await store.page({ limit: 10 }), { items: [], next_cursor: null });
    const tenants = ['p', 'q', null, 'p', 'p', 'q', 'p', null, 'p'];
    const entries = tenants.map((tenant, n) => auditEntry(tenant, n));
    for (const entry of entries) await pool.query('INSERT INTO wess_audit (id, entry) VALUES ($1, $2)', [entry.id, JSON.stringify(entry)]);
    const newest = [...entries].reverse();

    const full = await store.page({ limit: 100 });
    assert.deepEqual(full, { items: newest, next_cursor: null });
    assert.deepEqual(await store.page({ limit: entries.length }), { items: newest, next_cursor: null }, 'exactly a page: no next');

    const walked: AuditEntry[] = [];
    let before: string | undefined;
    for (let pages = 0; pages < 20; pages++) {
      const page = await store.page({ limit: 2, before });
      walked.push(...page.items);
      if (page.next_cursor === null) break;
      assert.equal(page.next_cursor, page.items[page.items.length - 1]?.id, 'the cursor is the last id of the page');
      before = page.next_cursor;
    }
    assert.deepEqual(walked, newest, 'pages walk every entry once, newest first');

    const onlyP = newest.filter((e) => e.tenant === 'p');
    const tenantWalk: AuditEntry[] = [];
    before = undefined;
    do {
      const page = await store.page({ limit: 3, before, tenant: 'p' });
      tenantWalk.push(...page.items);
      before = page.next_cursor ?? undefined;
    } while (before !== undefined);
    assert.deepEqual(tenantWalk, onlyP);
    assert.deepEqual(await store.page({ limit: 5, tenant: 'nobody' }), { items: [], next_cursor: null });
    const middle = newest[4];
    assert.ok(middle);
    assert.deepEqual((await store.page({ limit: 100, before: middle.id })).items, newest.slice(5), 'strictly older than before');
  });

  test('settings: no secret at first; two nodes storing different secrets at once both end with the same one', async () => {
    const [a, b] = [new PgSettingsStore(db.pool()), new PgSettingsStore(db.pool())];
    assert.equal(await a.serverSecret(), undefined);
    const [fromA, fromB] = await Promise.all([a.putServerSecret('secret-a'), b.putServerSecret('secret-b')]);
    assert.equal(fromA, fromB, 'both nodes go on with one secret');
    assert.ok(fromA === 'secret-a' || fromA === 'secret-b');
    assert.equal(await a.serverSecret(), fromA);
    assert.equal(await b.serverSecret(), fromA);
    assert.equal(await a.putServerSecret('later'), fromA, 'a stored secret is never replaced');
  });
});
