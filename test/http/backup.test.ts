import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { v4 as uuidv4 } from 'uuid';
import { admitModule } from '../../src/modules/admission.js';
import { readArchive } from '../../src/store/level/backup.js';
import { authHeaders, levelOnly, listen, makeKey, noKey, startApp, TEST_BACKUP_KEY, upload, type TestApp } from '../helper.js';
import { constModule, dump, paddedModule, seedModules, STORED_MODULE_PREFIXES } from '../store/transfer-helper.js';
import { levelDb } from '../store/level.js';
import { backupKey } from '../../src/store/backup-key.js';
import { connectPool } from '../../src/store/postgres/connect.js';
import { PgModuleStore } from '../../src/store/postgres/module-store.js';
import type { ModuleStore } from '../../src/store/store.js';

let t: TestApp;

before(async () => {
  t = await startApp();
});

after(() => t.close());

test('the admin routes answer 403 to developer and runner keys, 401 without a key', async () => {
  await upload(t.app, 'add');
  for (const role of ['developer', 'runner']) {
    const { key } = await makeKey(t.app, { name: role, role });
    const headers = { authorization: `Bearer ${key}` };
    for (const [method, url] of [['GET', '/admin/backup'], ['GET', '/admin/export'], ['POST', '/admin/import']] as const) {
      const res = await t.app.inject({ method, url, headers: { ...headers, 'content-type': 'application/x-ndjson' }, payload: method === 'POST' ? '{}' : undefined });
      assert.equal(res.statusCode, 403, `${role} ${method} ${url}`);
      assert.equal(res.json().error.code, 'FORBIDDEN');
    }
  }
  const res = await t.app.inject({ method: 'GET', url: '/admin/backup', headers: noKey() });
  assert.equal(res.statusCode, 401);
});

test('regression (issue 15, item 10): without a backup.key the server makes no backups (409 BACKUP_KEY_REQUIRED), audited', async () => {
  const app = await startApp({ backup: { key: undefined } });
  try {
    const res = await app.app.inject({ method: 'GET', url: '/admin/backup' });
    assert.equal(res.statusCode, 409);
    assert.equal(res.json().error.code, 'BACKUP_KEY_REQUIRED');
    assert.match(res.json().error.message, /set backup\.key \(or WESS_BACKUP_KEY/);
    // The refusal's audit entry is written once the answer is sent.
    let entry: { status: number } | undefined;
    for (const deadline = Date.now() + 10_000; entry === undefined && Date.now() < deadline; await new Promise((resolve) => setImmediate(resolve))) {
      const audit = await app.app.inject({ url: '/audit?limit=5' });
      entry = audit.json().items.find((e: { action: string }) => e.action === 'store.backup');
    }
    assert.equal(entry?.status, 409);
  } finally {
    await app.close();
  }
});

test('a store that cannot make an archive (PostgreSQL) is refused before any header: 409 BACKUP_UNSUPPORTED, as JSON', async () => {
  const app = await startApp();
  // The PostgreSQL store's module store refuses before it queries, so a pool that never connects will do.
  const pool = connectPool({ url: 'postgres://nobody@127.0.0.1:1/none' });
  (app.app.services.store as { modules: ModuleStore }).modules = new PgModuleStore(pool);
  try {
    const res = await app.app.inject({ method: 'GET', url: '/admin/backup' });
    assert.equal(res.statusCode, 409);
    assert.match(String(res.headers['content-type']), /application\/json/);
    assert.equal(res.headers['content-disposition'], undefined);
    assert.equal(res.json().error.code, 'BACKUP_UNSUPPORTED');
    assert.match(res.json().error.message, /pg_dump/);
  } finally {
    await app.close();
    await pool.end();
  }
});

/**
 * Every module in `entries` is whole: its tenant index, each version, each version's reference and
 * blob (pointer and bytes); no blob is orphaned, and no bytes outlive their pointer.
 */
function checkConsistent(entries: Map<string, string>): number {
  let modules = 0;
  for (const [key, hex] of entries) {
    if (!key.startsWith('m!')) continue;
    modules++;
    const record = JSON.parse(Buffer.from(hex, 'hex').toString()) as { id: string; tenant: string; version: number };
    assert.ok(entries.has(`t!${record.tenant}!${record.id}`), `tenant index of ${record.id}`);
    for (let v = 1; v <= record.version; v++) {
      const versionHex = entries.get(`v!${record.id}!${String(v).padStart(10, '0')}`);
      assert.ok(versionHex, `version ${v} of ${record.id}`);
      const { sha256 } = JSON.parse(Buffer.from(versionHex, 'hex').toString()) as { sha256: string };
      assert.ok(entries.has(`r!${sha256}!${record.id}!${String(v).padStart(10, '0')}`), `reference of ${record.id} v${v}`);
      assert.ok(entries.has(`b!${sha256}`), `blob of ${record.id} v${v}`);
    }
  }
  const named = new Set<string>();
  for (const [key, hex] of entries) {
    if (!key.startsWith('b!')) continue;
    const prefix = `r!${key.slice(2)}!`;
    assert.ok([...entries.keys()].some((k) => k.startsWith(prefix)), `blob ${key} has a reference`);
    const { c } = JSON.parse(Buffer.from(hex, 'hex').toString()) as { c: string };
    assert.ok(entries.has(`c!${c}`), `the bytes of blob ${key}`);
    named.add(`c!${c}`);
  }
  assert.deepEqual([...entries.keys()].filter((k) => k.startsWith('c!')).sort(), [...named].sort(), 'every c! key is named by one pointer');
  return modules;
}

/** Admits bytes as an upload would, for writer messages sent straight to the test app's writer. */
function admitter(app: TestApp): (bytes: Uint8Array) => ReturnType<typeof admitModule> {
  return (bytes) => admitModule(bytes, app.app.services.runner, { maxModuleSize: 1 << 20, maxMemoryPages: 16, maxTableElements: 1_000_000 });
}

/**
 * 160 modules with ~10 MB of incompressible blobs in all, so that a backup or export stream stalls
 * on backpressure while a test's writes land. Their ids, in creation order.
 */
async function seedBigModules(app: TestApp): Promise<string[]> {
  const admit = admitter(app);
  const ids: string[] = [];
  for (let i = 0; i < 160; i++) {
    const id = uuidv4();
    ids.push(id);
    await app.app.services.store.writer.submit({ kind: 'create-module', id, tenant: 'default', name: `big${i}`, content: await admit(paddedModule(i, 64 * 1024)) });
  }
  return ids;
}

test('a backup taken while writes land is one consistent snapshot', levelOnly, async () => {
  const app = await startApp();
  try {
    const { writer } = app.app.services.store;
    const admit = admitter(app);
    const big = await seedBigModules(app);
    await seedModules(app.app, 50);
    const before = await dump(levelDb(app.app), STORED_MODULE_PREFIXES, { raw: true });

    const base = await listen(app.app);
    const res = await fetch(`${base}/admin/backup`, { headers: authHeaders() });
    assert.equal(res.status, 200);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const chunks: Uint8Array[] = [];
    const first = await reader.read();
    assert.ok(first.value, 'the archive has started');
    chunks.push(first.value);

    // While the server is mid-archive: delete, update and create modules, each durable before the next step.
    for (const id of big.slice(0, 40)) await writer.submit({ kind: 'delete-module', id });
    for (const id of big.slice(40, 80)) await writer.submit({ kind: 'update-module', id, content: await admit(paddedModule(7, 1024)) });
    for (let i = 0; i < 40; i++) await writer.submit({ kind: 'create-module', id: uuidv4(), tenant: 'acme', name: `new${i}`, content: await admit(constModule(5000 + i)) });
    const finished = app.logs.some((line) => line.msg === 'request' && line.url === '/admin/backup');
    assert.equal(finished, false, 'the backup response was still streaming while the writes landed');

    for (let next = await reader.read(); !next.done; next = await reader.read()) chunks.push(next.value);
    const entries = new Map<string, string>();
    await readArchive(
      chunks,
      {
        onBatch: async (ops) => {
          for (const op of ops) if (op.type === 'put') entries.set(op.key, Buffer.from(op.value).toString('hex'));
        },
      },
      { key: backupKey(TEST_BACKUP_KEY) },
    );
    assert.equal(checkConsistent(entries), 210);
    const archived = new Map([...entries].filter(([key]) => /^[mvbrtc]!/.test(key)));
    assert.deepEqual(archived, before, 'exactly the state when the backup began');
  } finally {
    await app.close();
  }
});

test('an export taken while writes land is the store as it was when the export began', async () => {
  const app = await startApp();
  try {
    const { writer } = app.app.services.store;
    const admit = admitter(app);
    const big = await seedBigModules(app);
    const base = await listen(app.app);
    const res = await fetch(`${base}/admin/export`, { headers: authHeaders() });
    assert.equal(res.status, 200);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const chunks: Uint8Array[] = [];
    const first = await reader.read();
    assert.ok(first.value, 'the export has started');
    chunks.push(first.value);

    const created: string[] = [];
    for (const id of big.slice(0, 40)) await writer.submit({ kind: 'delete-module', id });
    for (const id of big.slice(40, 80)) await writer.submit({ kind: 'update-module', id, content: await admit(paddedModule(7, 1024)) });
    for (let i = 0; i < 40; i++) {
      const id = uuidv4();
      created.push(id);
      await writer.submit({ kind: 'create-module', id, tenant: 'acme', name: `new${i}`, content: await admit(constModule(6000 + i)) });
    }
    const finished = app.logs.some((line) => line.msg === 'request' && line.url === '/admin/export');
    assert.equal(finished, false, 'the export was still streaming while the writes landed');

    for (let next = await reader.read(); !next.done; next = await reader.read()) chunks.push(next.value);
    const lines = Buffer.concat(chunks).toString('utf8').trim().split('\n').map((line) => JSON.parse(line) as { id?: string; version?: number; modules?: number });
    const modules = lines.slice(1, -1);
    assert.deepEqual(modules.map((m) => m.id).sort(), [...big].sort(), 'every module of the moment the export began, deleted ones included, and none created after');
    assert.ok(modules.every((m) => m.version === 1), 'no version written after the export began');
    assert.equal(lines.at(-1)?.modules, 160);
  } finally {
    await app.close();
  }
});
