/**
 * Reliability suite 2 (issue 7), corruption: bytes of a stored blob are flipped in LevelDB's table
 * file on disk. Reading or running that module answers a clear CONTENT_CORRUPT (never the wrong bytes,
 * never a crash) while the others stay whole; /health reports it; GET /admin/verify and `wess doctor`
 * (online and --data offline) list exactly the damaged module; uploading the same bytes again repairs it.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ClassicLevel } from 'classic-level';
import { wess } from '../cli/helper.js';
import { authHeaders, listen, startApp, TEST_ADMIN_KEY, upload, type TestApp } from '../helper.js';
import { paddedModule } from '../store/transfer-helper.js';
import { record } from './results.js';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** Moves everything into table files (so the bytes sit in an .ldb, not the log) and closes. */
async function compactAll(dir: string): Promise<void> {
  const db = new ClassicLevel(dir);
  await db.open();
  await db.compactRange('!', '~');
  await db.close();
}

/** Flips one byte in the middle of `needle`'s first occurrence in the database's files; returns the file. */
async function flipInFiles(dir: string, bytes: Uint8Array): Promise<string> {
  const marker = Buffer.from(bytes.subarray(bytes.length - 4096, bytes.length - 4064));
  for (const name of await readdir(dir)) {
    if (!/\.(ldb|log)$/.test(name)) continue;
    const file = join(dir, name);
    const data = await readFile(file);
    const at = data.indexOf(marker);
    if (at === -1) continue;
    data[at + 16] = (data[at + 16] ?? 0) ^ 0xff;
    await writeFile(file, data);
    return name;
  }
  throw new Error('the blob bytes were not found in any database file');
}

describe('reliability: corruption on disk', { timeout: 120_000 }, () => {
  const dirs: string[] = [];
  let t: TestApp | undefined;
  after(async () => {
    await t?.close();
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  test('a flipped byte in a stored blob: clear errors, /health and doctor name the module, re-upload repairs', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wess-corrupt-'));
    dirs.push(dir);
    const modules = [paddedModule(1, 64 * 1024), paddedModule(2, 64 * 1024), paddedModule(3, 64 * 1024)];
    t = await startApp({}, dir);
    const ids: string[] = [];
    for (const bytes of modules) ids.push((await upload(t.app, 'blob', bytes)).id);
    await t.close();
    await compactAll(dir);
    const file = await flipInFiles(dir, modules[1] as Uint8Array);
    const [whole, damaged] = [ids[0] as string, ids[1] as string];

    t = await startApp({}, dir);
    const base = await listen(t.app);
    const get = (path: string) => fetch(`${base}${path}`, { headers: authHeaders() });

    const content = await get(`/modules/${damaged}/content`);
    assert.equal(content.status, 500);
    assert.equal(((await content.json()) as { error: { code: string } }).error.code, 'CONTENT_CORRUPT');
    const ran = await fetch(`${base}/modules/${damaged}/run`, { method: 'POST', headers: authHeaders({ 'content-type': 'application/json' }), body: '{"function":"f"}' });
    assert.equal(ran.status, 500);
    assert.equal(((await ran.json()) as { error: { code: string } }).error.code, 'CONTENT_CORRUPT');
    const good = await get(`/modules/${whole}/content`);
    assert.equal(sha256(new Uint8Array(await good.arrayBuffer())), sha256(modules[0] as Uint8Array), 'the others are whole');
    const okRun = await fetch(`${base}/modules/${whole}/run`, { method: 'POST', headers: authHeaders({ 'content-type': 'application/json' }), body: '{"function":"f"}' });
    assert.deepEqual(((await okRun.json()) as { results: number[] }).results, [1]);

    const health = (await (await fetch(`${base}/health`, { headers: authHeaders() })).json()) as { status: string; store: { status: string; damaged_modules: string[] } };
    assert.equal(health.status, 'ready', 'the node still serves');
    assert.equal(health.store.status, 'damaged');
    assert.deepEqual(health.store.damaged_modules, [damaged]);

    const online = await wess(['doctor', '--json'], { env: { WESS_URL: base, WESS_KEY: TEST_ADMIN_KEY } });
    assert.equal(online.code, 5, online.stderr);
    const report = JSON.parse(online.stdout) as { versions: number; damaged: { module_id: string; problem: string }[] };
    assert.deepEqual(report.damaged.map((d) => [d.module_id, d.problem]), [[damaged, 'damaged']]);
    assert.equal(report.versions, 3);

    // The same bytes again repair the blob (they would otherwise dedup onto the damaged ones).
    const repaired = await fetch(`${base}/modules/${damaged}`, { method: 'PUT', headers: authHeaders({ 'content-type': 'application/wasm' }), body: modules[1] });
    assert.equal(repaired.status, 200);
    const fixed = await get(`/modules/${damaged}/versions/1/content`);
    assert.equal(sha256(new Uint8Array(await fixed.arrayBuffer())), sha256(modules[1] as Uint8Array), 'version 1 reads whole again');
    const clean = await wess(['doctor'], { env: { WESS_URL: base, WESS_KEY: TEST_ADMIN_KEY } });
    assert.equal(clean.code, 0, clean.stdout + clean.stderr);
    assert.match(clean.stdout, /0 damaged/);
    const after = (await (await fetch(`${base}/health`, { headers: authHeaders() })).json()) as { store: { status: string } };
    assert.equal(after.store.status, 'ok', 'a clean verification clears /health');
    await t.close();
    t = undefined;

    // Offline: damage another module and check the stopped directory.
    await compactAll(dir);
    await flipInFiles(dir, modules[2] as Uint8Array);
    const offline = await wess(['doctor', '--data', dir]);
    assert.equal(offline.code, 5, offline.stderr);
    assert.match(offline.stdout, new RegExp(`module ${ids[2]} version 1: damaged`));
    record('corruption', { modules: 3, flipped_in: file.replace(/^\d+/, 'N'), content_status: 500, run_status: 500, doctor_online_exit: 5, doctor_offline_exit: 5, repaired_by_reupload: 'yes' });
  });
});
