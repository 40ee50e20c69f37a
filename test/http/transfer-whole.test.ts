import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fixture, makeKey, startApp, TEST_ADMIN_KEY, type MadeKey, type TestApp } from '../helper.js';
import { tarOfTree } from '../files/tar-helper.js';
import { pgOptions, testDatabase } from '../store/postgres/pg-helper.js';

/*
 * A whole deployment (modules with history and files, keys with one revoked, the audit log) moved
 * with GET /admin/export?all=true and POST /admin/import, then exported again from where it landed.
 */

const NDJSON = { 'content-type': 'application/x-ndjson' };
/** The target's own admin: another id than the source's, so that the source's admin key moves too. */
const TARGET_ADMIN_KEY = 'wess_targetadmin_TESTONLYtargetTESTONLYtarget0123';
const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');
const asTarget = { authorization: `Bearer ${TARGET_ADMIN_KEY}` };

interface Lines {
  header: Record<string, unknown>;
  end: Record<string, unknown>;
  modules: string[];
  keys: string[];
  audit: string[];
}

/** An export split by line kind, each line kept as the exact text it was sent as. */
function split(body: string): Lines {
  const all = body.trimEnd().split('\n');
  const header = JSON.parse(all[0] as string) as Record<string, unknown>;
  const end = JSON.parse(all[all.length - 1] as string) as Record<string, unknown>;
  const lines: Lines = { header, end, modules: [], keys: [], audit: [] };
  for (const line of all.slice(1, -1)) {
    if (line.startsWith('{"key":')) lines.keys.push(line);
    else if (line.startsWith('{"audit":')) lines.audit.push(line);
    else lines.modules.push(line);
  }
  return lines;
}

const idOf = (line: string): string => (Object.values(JSON.parse(line) as Record<string, { id: string }>)[0] as { id: string }).id;

describe('whole-deployment export and import', () => {
  let source: TestApp;
  let exported: string;
  let developer: MadeKey;
  let revoked: MadeKey;
  let moduleIds: string[];

  before(async () => {
    source = await startApp();
    // A module with three versions, the second with files, and one in another tenant.
    const files = b64(await tarOfTree({ 'hello.txt': 'hello\n', 'data/n.csv': '1,2\n' }));
    const first = await source.app.inject({ method: 'POST', url: '/modules', payload: { name: 'calc', content: b64(fixture('add')), files } });
    assert.equal(first.statusCode, 201, first.body);
    const id = (first.json() as { id: string }).id;
    assert.equal((await source.app.inject({ method: 'PUT', url: `/modules/${id}`, payload: { content: b64(fixture('single-export')) } })).statusCode, 200);
    assert.equal((await source.app.inject({ method: 'PUT', url: `/modules/${id}`, payload: { name: 'calc-3', content: b64(fixture('add')), files } })).statusCode, 200);
    const other = await source.app.inject({ method: 'POST', url: '/modules?tenant=acme', payload: { name: 'acme-one', content: b64(fixture('add')) } });
    assert.equal(other.statusCode, 201, other.body);
    moduleIds = [id, (other.json() as { id: string }).id].sort();
    developer = await makeKey(source.app, { name: 'dev', role: 'developer', tenant: 'acme' });
    revoked = await makeKey(source.app, { name: 'gone', role: 'runner' });
    assert.equal((await source.app.inject({ method: 'DELETE', url: `/keys/${revoked.id}` })).statusCode, 204);

    const res = await source.app.inject({ url: '/admin/export?all=true' });
    assert.equal(res.statusCode, 200, res.body);
    exported = res.body;
  });
  after(() => source.close());

  test('the export holds the modules, every key (hashes, the revoked one) and the audit log; never the secret', () => {
    const lines = split(exported);
    assert.equal(lines.header.version, 2);
    assert.equal(lines.header.tenant, null);
    assert.match(String(lines.header.secret_check), /^[0-9a-f]{16}$/);
    assert.deepEqual(lines.modules.map((l) => (JSON.parse(l) as { id: string }).id), moduleIds);
    assert.deepEqual(lines.keys.map(idOf).sort(), ['testadmin', developer.id, revoked.id].sort());
    const gone = JSON.parse(lines.keys.find((l) => idOf(l) === revoked.id) as string) as { key: { revoked_at: string | null; hash: string } };
    assert.notEqual(gone.key.revoked_at, null);
    assert.match(gone.key.hash, /^[0-9a-f]{64}$/);
    const actions = lines.audit.map((l) => (JSON.parse(l) as { audit: { action: string } }).audit.action);
    for (const action of ['module.create', 'module.update', 'key.create', 'key.revoke']) assert.ok(actions.includes(action), `${action} in ${actions.join(',')}`);
    assert.deepEqual(lines.end, { format: 'wess-export-end', modules: 2, keys: 3, audit: lines.audit.length });
    assert.equal(lines.header.keys, 3);
    assert.ok(!exported.includes('test-only-hmac-secret'), 'the server secret never travels');
  });

  /**
   * Imports the export into `target` (same secret), exports it again from there and compares line by
   * line; then uses the moved keys there, and imports again.
   */
  async function moveAndCompare(target: TestApp): Promise<void> {
    const imported = await target.app.inject({ method: 'POST', url: '/admin/import', headers: { ...NDJSON, ...asTarget }, payload: exported });
    assert.equal(imported.statusCode, 200, imported.body);
    const audit = split(exported).audit.length;
    assert.deepEqual(imported.json(), { imported: 2, skipped: 0, failed: [], failed_count: 0, keys: { imported: 3, skipped: 0 }, audit: { imported: audit } });

    const again = await target.app.inject({ url: '/admin/export?all=true', headers: asTarget });
    const [a, b] = [split(exported), split(again.body)];
    assert.deepEqual(b.modules, a.modules, 'module lines, byte for byte');
    // The target's own admin key and its own audit entries (the import itself) come on top.
    assert.deepEqual(b.keys.filter((l) => idOf(l) !== 'targetadmin'), a.keys, 'key lines, byte for byte');
    assert.deepEqual(b.audit.filter((l) => a.audit.includes(l)), a.audit, 'audit lines, byte for byte and in the same order');
    const extra = b.audit.filter((l) => !a.audit.includes(l)).map((l) => (JSON.parse(l) as { audit: { action: string; actor: string } }).audit);
    assert.ok(extra.every((e) => e.actor === 'targetadmin'), JSON.stringify(extra));
    assert.deepEqual({ ...b.header, exported_at: null }, { ...a.header, exported_at: null, keys: 4 });

    // Same secret: the moved keys authenticate there, and the revoked one stays revoked.
    assert.equal((await target.app.inject({ url: '/modules', headers: { authorization: `Bearer ${developer.key}` } })).statusCode, 200);
    assert.equal((await target.app.inject({ url: '/modules', headers: { authorization: `Bearer ${TEST_ADMIN_KEY}` } })).statusCode, 200);
    assert.equal((await target.app.inject({ url: '/modules', headers: { authorization: `Bearer ${revoked.key}` } })).statusCode, 401);

    // A second run writes nothing twice.
    const rerun = await target.app.inject({ method: 'POST', url: '/admin/import', headers: { ...NDJSON, ...asTarget }, payload: exported });
    assert.deepEqual(rerun.json(), { imported: 0, skipped: 2, failed: [], failed_count: 0, keys: { imported: 0, skipped: 3 }, audit: { imported: audit } });
  }

  test('imported where the secret is the same and exported again, every line is the same bytes; the keys work there', async () => {
    const target = await startApp({ auth: { admin_key: TARGET_ADMIN_KEY } });
    try {
      await moveAndCompare(target);
    } finally {
      await target.close();
    }
  });

  test('moved from LevelDB into PostgreSQL and exported again, every line is the same bytes; the keys work there', pgOptions, async () => {
    const db = await testDatabase();
    try {
      const target = await startApp({ database: { url: db.url }, auth: { admin_key: TARGET_ADMIN_KEY } });
      try {
        assert.equal(target.app.services.store.engine, 'postgres');
        await moveAndCompare(target);
      } finally {
        await target.close();
      }
    } finally {
      await db.close();
    }
  });

  test('under another secret the key lines are refused, saying why; modules and audit still move', async () => {
    const target = await startApp({ auth: { admin_key: TARGET_ADMIN_KEY, secret: 'another-test-only-hmac-secret-0123456789' } });
    try {
      const res = await target.app.inject({ method: 'POST', url: '/admin/import', headers: { ...NDJSON, ...asTarget }, payload: exported });
      assert.equal(res.statusCode, 200, res.body);
      const summary = res.json() as { imported: number; failed: Array<{ id: string; code: string; error: string }>; failed_count: number; keys: unknown; audit: { imported: number } };
      assert.equal(summary.imported, 2);
      assert.deepEqual(summary.keys, { imported: 0, skipped: 0 });
      assert.equal(summary.audit.imported, split(exported).audit.length);
      assert.equal(summary.failed_count, 3);
      for (const failure of summary.failed) {
        assert.equal(failure.code, 'VALIDATION');
        assert.match(failure.error, /another server secret.*auth\.secret/);
      }
      assert.deepEqual(summary.failed.map((f) => f.id).sort(), ['testadmin', developer.id, revoked.id].sort());
      assert.equal((await target.app.inject({ url: '/modules', headers: { authorization: `Bearer ${developer.key}` } })).statusCode, 401);
    } finally {
      await target.close();
    }
  });

  test("a tenant's export stays modules only (format 1); all=true with a tenant is refused", async () => {
    const tenant = await source.app.inject({ url: '/admin/export?tenant=acme' });
    const lines = split(tenant.body);
    assert.equal(lines.header.version, 1);
    assert.deepEqual([lines.keys.length, lines.audit.length, lines.modules.length], [0, 0, 1]);
    assert.deepEqual(lines.end, { format: 'wess-export-end', modules: 1 });
    const both = await source.app.inject({ url: '/admin/export?all=true&tenant=acme' });
    assert.equal(both.statusCode, 400);
    assert.equal((both.json() as { error: { code: string } }).error.code, 'VALIDATION');
  });

  test('key lines in an export without a secret check are refused; a bad audit line costs only itself', async () => {
    const target = await startApp({ auth: { admin_key: TARGET_ADMIN_KEY } });
    try {
      const a = split(exported);
      const header = JSON.stringify({ format: 'wess-export', version: 1, exported_at: new Date().toISOString(), tenant: null, modules_estimate: 0 });
      const body = [header, a.keys[0], a.audit[0], '{"audit":{"id":"nope"}}', JSON.stringify({ format: 'wess-export-end', modules: 0 })].join('\n');
      const res = await target.app.inject({ method: 'POST', url: '/admin/import', headers: { ...NDJSON, ...asTarget }, payload: body });
      const summary = res.json() as { failed: Array<{ line: number; code: string; error: string }>; audit?: unknown };
      assert.deepEqual(summary.failed.map((f) => [f.line, f.code]), [[2, 'VALIDATION'], [4, 'VALIDATION']]);
      assert.match(summary.failed[0]?.error ?? '', /secret_check/);
      assert.equal(summary.audit, undefined, 'a version 1 summary keeps its shape');
      const page = await target.app.services.store.audit.page({ limit: 1000 });
      assert.ok(page.items.some((e) => e.id === idOf(a.audit[0] as string)), 'the good audit line was imported');
    } finally {
      await target.close();
    }
  });
});
