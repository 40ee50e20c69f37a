import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { WessApp } from '../../src/app.js';
import { fixture, startApp, TEST_ADMIN_KEY, TEST_AUTH_SECRET, type TestApp } from '../helper.js';
import type { AuditEntry } from '../../src/auth/types.js';
import { makeKey, noKey, type MadeKey } from '../helper.js';

type Entry = AuditEntry;

const ADMIN_ID = TEST_ADMIN_KEY.split('_')[1] as string;
const bearer = (key: string): Record<string, string> => ({ authorization: `Bearer ${key}` });
const addB64 = () => fixture('add').toString('base64');

async function uploadAs(app: WessApp, key: string, name: string): Promise<{ id: string; tenant: string }> {
  const res = await app.inject({ method: 'POST', url: '/modules', headers: bearer(key), payload: { name, content: addB64() } });
  assert.equal(res.statusCode, 201, res.body);
  return res.json() as { id: string; tenant: string };
}

/** The whole audit log (as admin), newest first, walking every page. */
async function allEntries(app: WessApp, query = ''): Promise<Entry[]> {
  const out: Entry[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 100; page++) {
    const url: string = `/audit?limit=100${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const res = await app.inject({ method: 'GET', url });
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json() as { items: Entry[]; next_cursor: string | null };
    out.push(...body.items);
    cursor = body.next_cursor;
    if (!cursor) return out;
  }
  throw new Error('audit log did not end within 100 pages');
}

/** The entry a request wrote, polling briefly: 401/403 entries are written after the response. */
async function entryFor(app: WessApp, requestId: string, ms = 5000): Promise<Entry> {
  const deadline = Date.now() + ms;
  for (;;) {
    const found = (await allEntries(app)).filter((e) => e.request_id === requestId);
    if (found.length > 1) assert.fail(`request ${requestId} wrote ${found.length} audit entries: ${JSON.stringify(found)}`);
    if (found[0]) return found[0];
    if (Date.now() > deadline) assert.fail(`no audit entry with request_id ${requestId} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function requestId(res: { headers: Record<string, unknown> }): string {
  const id = res.headers['x-request-id'];
  assert.equal(typeof id, 'string', 'every response carries x-request-id');
  return id as string;
}

describe('audit log', () => {
  let t: TestApp;
  let devA: MadeKey;
  let devB: MadeKey;
  let runnerA: MadeKey;
  before(async () => {
    t = await startApp();
    devA = await makeKey(t.app, { name: 'dev-a', role: 'developer', tenant: 'a' });
    devB = await makeKey(t.app, { name: 'dev-b', role: 'developer', tenant: 'b' });
    runnerA = await makeKey(t.app, { name: 'runner-a', role: 'runner', tenant: 'a' });
  });
  after(async () => t.close());

  test('key create and revoke are audited with actor, target, request id and outcome', async () => {
    const create = await t.app.inject({ method: 'POST', url: '/keys', payload: { name: 'audited', role: 'runner', tenant: 'a' } });
    assert.equal(create.statusCode, 201);
    const made = create.json() as MadeKey;
    const created = await entryFor(t.app, requestId(create), 0);
    assert.deepEqual(
      { actor: created.actor, action: created.action, target: created.target, tenant: created.tenant, status: created.status, outcome: created.outcome },
      { actor: ADMIN_ID, action: 'key.create', target: made.id, tenant: 'a', status: 201, outcome: 'success' },
    );
    assert.equal(created.details?.role, 'runner');
    assert.ok(Date.parse(created.at) > 0);
    assert.match(created.id, /^[0-9]{15}-[0-9]{6}$/);
    assert.equal(typeof created.ip, 'string');

    const revoke = await t.app.inject({ method: 'DELETE', url: `/keys/${made.id}`, headers: bearer(devA.key) });
    assert.equal(revoke.statusCode, 204);
    const revoked = await entryFor(t.app, requestId(revoke), 0);
    assert.deepEqual(
      { actor: revoked.actor, action: revoked.action, target: revoked.target, tenant: revoked.tenant, status: revoked.status, outcome: revoked.outcome },
      { actor: devA.id, action: 'key.revoke', target: made.id, tenant: 'a', status: 204, outcome: 'success' },
    );
  });

  test('module create, update, rollback and delete are audited', async () => {
    const create = await t.app.inject({ method: 'POST', url: '/modules', headers: bearer(devA.key), payload: { name: 'audited-mod', content: addB64() } });
    assert.equal(create.statusCode, 201);
    const id = (create.json() as { id: string }).id;
    const update = await t.app.inject({ method: 'PUT', url: `/modules/${id}`, headers: bearer(devA.key), payload: { name: 'audited-mod-2' } });
    assert.equal(update.statusCode, 200);
    const rollback = await t.app.inject({ method: 'POST', url: `/modules/${id}/rollback`, headers: bearer(devA.key), payload: { version: 1 } });
    assert.equal(rollback.statusCode, 200);
    const del = await t.app.inject({ method: 'DELETE', url: `/modules/${id}` }); // as the admin
    assert.equal(del.statusCode, 204);
    const expected: [typeof create, string, string, number][] = [
      [create, 'module.create', devA.id, 201],
      [update, 'module.update', devA.id, 200],
      [rollback, 'module.rollback', devA.id, 200],
      [del, 'module.delete', ADMIN_ID, 204],
    ];
    for (const [res, action, actor, status] of expected) {
      const entry = await entryFor(t.app, requestId(res), 0);
      assert.deepEqual(
        { actor: entry.actor, action: entry.action, target: entry.target, tenant: entry.tenant, status: entry.status, outcome: entry.outcome },
        { actor, action, target: id, tenant: 'a', status, outcome: 'success' },
        `${action} entry`,
      );
    }
    const rb = await entryFor(t.app, requestId(rollback), 0);
    assert.equal(rb.details?.to_version, 1);
    // Reads and runs are not audited.
    const read = await t.app.inject({ method: 'GET', url: '/modules', headers: bearer(devA.key) });
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(!(await allEntries(t.app)).some((e) => e.request_id === requestId(read)), 'a read writes no audit entry');
  });

  test('a failed update (If-Match mismatch → 409) writes a failure entry', async () => {
    const mod = await uploadAs(t.app, devA.key, 'conflicted');
    const res = await t.app.inject({ method: 'PUT', url: `/modules/${mod.id}`, headers: { ...bearer(devA.key), 'if-match': '"7"' }, payload: { name: 'never' } });
    assert.equal(res.statusCode, 409);
    assert.equal((res.json() as { error: { code: string } }).error.code, 'VERSION_CONFLICT');
    const entry = await entryFor(t.app, requestId(res));
    assert.deepEqual(
      { actor: entry.actor, action: entry.action, target: entry.target, tenant: entry.tenant, status: entry.status, outcome: entry.outcome },
      { actor: devA.id, action: 'module.update', target: mod.id, tenant: 'a', status: 409, outcome: 'failure' },
    );
    const del = await t.app.inject({ method: 'DELETE', url: `/modules/${mod.id}`, headers: { ...bearer(devA.key), 'if-match': '"3"' } });
    assert.equal(del.statusCode, 409);
    const delEntry = await entryFor(t.app, requestId(del));
    assert.deepEqual([delEntry.action, delEntry.status, delEntry.outcome], ['module.delete', 409, 'failure']);
    const invalid = await t.app.inject({ method: 'POST', url: '/modules', headers: bearer(devA.key), payload: { name: 'junk', content: Buffer.from('not wasm at all').toString('base64') } });
    assert.equal(invalid.statusCode, 400);
    const invalidEntry = await entryFor(t.app, requestId(invalid));
    assert.deepEqual(
      [invalidEntry.action, invalidEntry.actor, invalidEntry.tenant, invalidEntry.status, invalidEntry.outcome],
      ['module.create', devA.id, 'a', 400, 'failure'],
    );
  });

  test('every 401 and 403 writes an auth.denied entry', async () => {
    const missing = await t.app.inject({ method: 'GET', url: '/modules', headers: noKey() });
    assert.equal(missing.statusCode, 401);
    const wrong = await t.app.inject({ method: 'POST', url: '/keys', headers: bearer(`wess_${devA.id}_${'W'.repeat(43)}`), payload: { name: 'x', role: 'runner' } });
    assert.equal(wrong.statusCode, 401);
    const revokedKey = await makeKey(t.app, { name: 'to-revoke', role: 'runner', tenant: 'a' });
    assert.equal((await t.app.inject({ method: 'DELETE', url: `/keys/${revokedKey.id}` })).statusCode, 204);
    const revoked = await t.app.inject({ method: 'GET', url: '/modules', headers: { 'x-api-key': revokedKey.key } });
    assert.equal(revoked.statusCode, 401);
    const forbidden = await t.app.inject({ method: 'POST', url: '/modules', headers: bearer(runnerA.key), payload: { name: 'x', content: addB64() } });
    assert.equal(forbidden.statusCode, 403);
    const crossTenant = await t.app.inject({ method: 'GET', url: '/modules?tenant=b', headers: bearer(devA.key) });
    assert.equal(crossTenant.statusCode, 403);

    // 401s are counted per IP, reason and minute and written when the minute ends: write them now.
    // Each is the first of its reason here, so the entry carries its request id, with a count of 1.
    await t.app.services.denials.flush();
    const cases: [typeof missing, Partial<Entry>, string | undefined][] = [
      [missing, { actor: null, tenant: null, status: 401, target: 'GET /modules' }, 'missing'],
      [wrong, { actor: null, tenant: null, status: 401, target: 'POST /keys' }, 'invalid'],
      [revoked, { actor: null, tenant: null, status: 401, target: 'GET /modules' }, 'revoked'],
      [forbidden, { actor: runnerA.id, tenant: 'a', status: 403, target: 'POST /modules' }, undefined],
      [crossTenant, { actor: devA.id, tenant: 'a', status: 403, target: 'GET /modules' }, undefined],
    ];
    for (const [res, want, reason] of cases) {
      const entry = await entryFor(t.app, requestId(res));
      assert.equal(entry.action, 'auth.denied', `entry for ${String(want.target)} ${String(want.status)}`);
      assert.equal(entry.outcome, 'failure');
      assert.deepEqual({ actor: entry.actor, tenant: entry.tenant, status: entry.status, target: entry.target }, want);
      if (reason) assert.equal(entry.details?.reason, reason);
      assert.equal(entry.count, reason ? 1 : undefined, 'a 401 entry counts its requests; a 403 stands for itself');
    }
  });

  test('non-admins may not read the audit log, and the attempt is itself audited', async () => {
    for (const key of [devA, runnerA]) {
      const res = await t.app.inject({ method: 'GET', url: '/audit', headers: bearer(key.key) });
      assert.equal(res.statusCode, 403, `${key.role} GET /audit`);
      assert.equal((res.json() as { error: { code: string } }).error.code, 'FORBIDDEN');
      assert.ok(!res.body.includes('"items"'), 'no entries leak in the 403');
      const entry = await entryFor(t.app, requestId(res));
      assert.deepEqual([entry.action, entry.actor, entry.target], ['auth.denied', key.id, 'GET /audit']);
    }
    const tenantNarrowed = await t.app.inject({ method: 'GET', url: '/audit?tenant=a', headers: bearer(devA.key) });
    assert.equal(tenantNarrowed.statusCode, 403, 'a developer may not read even its own tenant\'s audit log');
  });

  test('?tenant= filters to one tenant', async () => {
    const ma = await uploadAs(t.app, devA.key, 'tenant-a-mod');
    const mb = await uploadAs(t.app, devB.key, 'tenant-b-mod');
    const onlyA = await allEntries(t.app, '&tenant=a');
    assert.ok(onlyA.length > 0);
    assert.ok(onlyA.every((e) => e.tenant === 'a'), `every entry of ?tenant=a is tenant a's: ${JSON.stringify(onlyA.filter((e) => e.tenant !== 'a'))}`);
    assert.ok(onlyA.some((e) => e.action === 'module.create' && e.target === ma.id), "a's module.create is listed");
    assert.ok(!onlyA.some((e) => e.target === mb.id), "b's module.create is not");
    assert.ok(onlyA.some((e) => e.action === 'key.create' && e.target === devA.id), 'the creation of a key for tenant a is in a\'s log');
    const onlyB = await allEntries(t.app, '&tenant=b');
    assert.ok(onlyB.some((e) => e.target === mb.id) && onlyB.every((e) => e.tenant === 'b'));
    const all = await allEntries(t.app);
    const fromAll = all.filter((e) => e.tenant === 'a').map((e) => e.id);
    assert.deepEqual(onlyA.map((e) => e.id), fromAll, "the tenant log holds exactly the global log's entries of that tenant");
    const none = await allEntries(t.app, '&tenant=nobody');
    assert.deepEqual(none, []);
    const bad = await t.app.inject({ method: 'GET', url: '/audit?tenant=Not%20A%20Tenant' });
    assert.equal(bad.statusCode, 400);
  });
});

describe('audit log pagination', () => {
  let t: TestApp;
  before(async () => {
    t = await startApp();
  });
  after(async () => t.close());

  test('limit and next_cursor walk every entry, newest first, without duplicates', async () => {
    // Entries written with their change (no asynchronous 401/403 ones), so the log is stable while walked.
    const made: string[] = [];
    for (let i = 0; i < 4; i++) made.push((await makeKey(t.app, { name: `page-${i}`, role: 'runner', tenant: 'p' })).id);
    for (let i = 0; i < 3; i++) {
      const res = await t.app.inject({ method: 'POST', url: '/modules', payload: { name: `page-mod-${i}`, content: addB64() } });
      assert.equal(res.statusCode, 201);
    }
    for (const id of made.slice(0, 2)) assert.equal((await t.app.inject({ method: 'DELETE', url: `/keys/${id}` })).statusCode, 204);
    const full = (await t.app.inject({ method: 'GET', url: '/audit?limit=100' })).json() as { items: Entry[]; next_cursor: string | null };
    assert.equal(full.next_cursor, null);
    assert.ok(full.items.length >= 9, `expected at least 9 entries, got ${full.items.length}`);
    // Newest first: the last change (a revoke) heads the log.
    assert.deepEqual([full.items[0]?.action, full.items[0]?.target], ['key.revoke', made[1]]);
    assert.deepEqual([full.items[full.items.length - 1]?.action, full.items[full.items.length - 1]?.target], ['key.create', made[0]]);

    const walked: Entry[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const url: string = `/audit?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const res = await t.app.inject({ method: 'GET', url });
      assert.equal(res.statusCode, 200);
      const page = res.json() as { items: Entry[]; next_cursor: string | null };
      assert.ok(page.items.length <= 2);
      if (page.next_cursor !== null) assert.equal(page.next_cursor, page.items[page.items.length - 1]?.id, 'the cursor is the last id of the page');
      walked.push(...page.items);
      cursor = page.next_cursor;
      pages++;
    } while (cursor && pages < 50);
    assert.equal(pages, Math.ceil(full.items.length / 2));
    assert.deepEqual(walked.map((e) => e.id), full.items.map((e) => e.id), 'the walk sees every entry once, in the same order');
    assert.equal(new Set(walked.map((e) => e.id)).size, walked.length, 'no duplicates');
    for (let i = 1; i < walked.length; i++) {
      assert.ok((walked[i - 1] as Entry).id > (walked[i] as Entry).id, 'ids strictly decrease: newest first');
      assert.ok(Date.parse((walked[i - 1] as Entry).at) >= Date.parse((walked[i] as Entry).at));
    }
    // The tenant log paginates the same way.
    const tenantWalk: string[] = [];
    cursor = null;
    do {
      const url: string = `/audit?tenant=p&limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const page = (await t.app.inject({ method: 'GET', url })).json() as { items: Entry[]; next_cursor: string | null };
      tenantWalk.push(...page.items.map((e) => e.id));
      cursor = page.next_cursor;
    } while (cursor && tenantWalk.length < 100);
    assert.deepEqual(tenantWalk, full.items.filter((e) => e.tenant === 'p').map((e) => e.id));
    assert.equal(tenantWalk.length, 6, '4 creates and 2 revokes of tenant p keys');

    for (const bad of ['limit=0', 'limit=101', 'cursor=nonsense', 'bogus=1']) {
      const res = await t.app.inject({ method: 'GET', url: `/audit?${bad}` });
      assert.equal(res.statusCode, 400, `GET /audit?${bad}`);
    }
  });
});

describe('no secret in any log line or audit entry', () => {
  test('keys used, mistyped and revoked at debug level leave no secret behind', async () => {
    const t = await startApp({ log: { level: 'debug' } });
    const secrets = new Set<string>([TEST_ADMIN_KEY, TEST_ADMIN_KEY.slice(`wess_${ADMIN_ID}_`.length), TEST_AUTH_SECRET]);
    try {
      const keys: MadeKey[] = [];
      for (const [role, tenant] of [['admin', 'default'], ['developer', 'sx'], ['runner', 'sx'], ['developer', 'sy']] as const) {
        const k = await makeKey(t.app, { name: `secret-${role}-${tenant}`, role, tenant });
        keys.push(k);
        secrets.add(k.key);
        secrets.add(k.key.slice(`wess_${k.id}_`.length));
      }
      const [admin, dev, runner, otherDev] = keys as [MadeKey, MadeKey, MadeKey, MadeKey];
      const mod = await uploadAs(t.app, dev.key, 'secret-mod');
      for (const k of keys) {
        for (const headers of [bearer(k.key), { 'x-api-key': k.key }]) {
          assert.equal((await t.app.inject({ method: 'GET', url: '/modules', headers })).statusCode, 200);
          await t.app.inject({ method: 'POST', url: `/modules/${mod.id}/run`, headers, payload: { function: 'add', args: [1, 2] } });
          await t.app.inject({ method: 'GET', url: `/keys/${k.id}/usage`, headers });
          await t.app.inject({ method: 'GET', url: '/audit', headers }); // 403 for all but the admin
        }
      }
      assert.equal((await t.app.inject({ method: 'PUT', url: `/modules/${mod.id}`, headers: { 'x-api-key': dev.key }, payload: { name: 'renamed' } })).statusCode, 200);
      // Wrong secrets, mistyped keys, a key without its scheme; each is refused.
      for (const k of keys) {
        const wrongSecret = `wess_${k.id}_${'Z'.repeat(43)}`;
        secrets.add(wrongSecret);
        const attempts: Record<string, string>[] = [
          bearer(wrongSecret),
          { 'x-api-key': wrongSecret },
          bearer(`${k.key}x`),
          { 'x-api-key': `${k.key}x` },
          { authorization: k.key },
          { authorization: `Token ${k.key}` },
          bearer(`${k.key.slice(0, -1)}`),
        ];
        for (const headers of attempts) {
          const res = await t.app.inject({ method: 'GET', url: '/modules', headers });
          assert.equal(res.statusCode, 401, `${JSON.stringify(Object.keys(headers))} with a bad key`);
          assert.ok(![...secrets].some((s) => res.body.includes(s)), 'the 401 body echoes no key');
        }
      }
      // The admin key is refused on its own wrong secrets as well.
      await t.app.inject({ method: 'GET', url: '/modules', headers: bearer(`${TEST_ADMIN_KEY}0`) });
      await t.app.inject({ method: 'GET', url: '/modules', headers: { 'x-api-key': `${TEST_ADMIN_KEY}0` } });
      // Revocations (one by a developer), then use of the revoked keys.
      assert.equal((await t.app.inject({ method: 'DELETE', url: `/keys/${runner.id}`, headers: { 'x-api-key': dev.key } })).statusCode, 204);
      assert.equal((await t.app.inject({ method: 'DELETE', url: `/keys/${otherDev.id}`, headers: bearer(admin.key) })).statusCode, 204);
      for (const k of [runner, otherDev]) {
        assert.equal((await t.app.inject({ method: 'GET', url: '/modules', headers: bearer(k.key) })).statusCode, 401);
        assert.equal((await t.app.inject({ method: 'GET', url: '/modules', headers: { 'x-api-key': k.key } })).statusCode, 401);
      }
      // Let the asynchronous 403 audit writes and their logging finish; the 401s are counted per IP,
      // reason and minute, written when the minute ends: write them now.
      await t.app.services.denials.flush();
      const denied = (list: Entry[]) => list.filter((e) => e.action === 'auth.denied').reduce((sum, e) => sum + (e.count ?? 1), 0);
      const settle = Date.now() + 5000;
      let entries = await allEntries(t.app);
      while (denied(entries) < 40 && Date.now() < settle) {
        await new Promise((r) => setTimeout(r, 20));
        entries = await allEntries(t.app);
      }
      // 3 non-admin keys × 2 headers on GET /audit (6), 4 keys × 7 bad attempts (28), 2 admin typos, 2 revoked keys × 2 headers (4).
      assert.equal(denied(entries), 40, 'every denial was audited (the 401s in counts)');

      // The capture really is at debug level, and the requests were logged with their key ids.
      assert.ok(t.logs.some((line) => line.level === 20), 'debug lines were captured');
      for (const k of keys) assert.ok(t.logs.some((line) => line.key_id === k.id), `requests by ${k.id} were logged`);

      for (const [index, line] of t.logs.entries()) {
        const text = JSON.stringify(line);
        for (const secret of secrets) {
          assert.ok(!text.includes(secret), `log line ${index} contains a secret (${secret.slice(0, 12)}…): ${text.slice(0, 300)}`);
        }
      }
      const auditText = JSON.stringify(entries);
      for (const secret of secrets) assert.ok(!auditText.includes(secret), `an audit entry contains a secret (${secret.slice(0, 12)}…)`);
      const keysText = (await t.app.inject({ method: 'GET', url: '/keys?limit=100' })).body;
      for (const secret of secrets) assert.ok(!keysText.includes(secret), `GET /keys contains a secret (${secret.slice(0, 12)}…)`);
    } finally {
      await t.close();
    }
    // Nothing leaked while closing either (usage flush, shutdown lines).
    const text = JSON.stringify(t.logs);
    for (const secret of secrets) assert.ok(!text.includes(secret), `a shutdown log line contains a secret (${secret.slice(0, 12)}…)`);
  });
});
