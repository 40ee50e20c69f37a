import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { TEST_ADMIN_KEY, TEST_BACKUP_KEY, TEST_STORE, levelOnly, listen, makeKey, startApp, type TestApp } from '../helper.js';
import { dump, seedModules } from '../store/transfer-helper.js';
import { lines, wess } from './helper.js';
import { levelDb } from '../store/level.js';

describe('wess backup, restore, export and import as child processes against a real server', () => {
  let source: TestApp;
  let env: Record<string, string>;
  let scratch: string;

  before(async () => {
    source = await startApp();
    await seedModules(source.app, 40);
    env = { WESS_URL: await listen(source.app), WESS_KEY: TEST_ADMIN_KEY };
    scratch = await mkdtemp(join(tmpdir(), 'wess-cli-data-'));
  });

  after(async () => {
    await source.close();
    await rm(scratch, { recursive: true, force: true });
  });

  test('backup → restore gives a data dir a server starts on with every module byte', levelOnly, async () => {
    const out = join(scratch, 'all.wessbak');
    const backup = await wess(['backup', '--out', out], { env });
    assert.equal(backup.code, 0, backup.stderr);
    assert.equal(backup.stderr, '', 'no progress bar on a non-TTY');
    assert.match(backup.stdout, /^backup: \d+ entries .* written to .*all\.wessbak .*verified, synced\)\n$/);
    assert.deepEqual((await readdir(scratch)).filter((n) => n.includes('tmp')), [], 'no temp file left');

    const dir = join(scratch, 'restored');
    const keyEnv = { WESS_BACKUP_KEY: TEST_BACKUP_KEY };
    const restore = await wess(['restore', out, '--data', dir], { env: keyEnv });
    assert.equal(restore.code, 0, restore.stderr);
    assert.match(restore.stdout, /^restore: \d+ entries verified \(sha256 [0-9a-f]{12}…, signed with backup key [0-9a-f]{16}\) and restored into /);
    const restored = await startApp({}, dir);
    try {
      assert.deepEqual(await dump(levelDb(restored.app)), await dump(levelDb(source.app)));
    } finally {
      await restored.close();
    }

    // Into the same (now full) directory: refused, exit 1, one line, nothing touched.
    const again = await wess(['restore', out, '--data', dir], { env: keyEnv });
    assert.equal(again.code, 1);
    assert.match(lines(again.stderr)[0] ?? '', /^wess: .* is not empty/);

    // A damaged archive: refused, and the target stays absent.
    const damaged = join(scratch, 'damaged.wessbak');
    const bytes = await readFile(out);
    await writeFile(damaged, bytes.subarray(0, bytes.length - 100));
    const bad = await wess(['restore', damaged, '--data', join(scratch, 'never')], { env: keyEnv });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^wess: not a valid Wess backup/);
    assert.equal(existsSync(join(scratch, 'never')), false);
  });

  test('regression (issue 15, item 10): wess restore checks the signature with backup.key, and needs one', levelOnly, async () => {
    const out = join(scratch, 'signed.wessbak');
    assert.equal((await wess(['backup', '--out', out], { env })).code, 0);
    const target = join(scratch, 'never-signed');
    const keyless = await wess(['restore', out, '--data', target]);
    assert.equal(keyless.code, 2);
    assert.match(keyless.stderr, /^wess: a restore .*needs the backup key: set backup\.key in the config or WESS_BACKUP_KEY .*--skip-signature/);
    const wrong = await wess(['restore', out, '--data', target], { env: { WESS_BACKUP_KEY: 'not-the-key-that-signed-it-0123456789ab' } });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /^wess: not a valid Wess backup: it was signed with another backup key/);
    // One value byte changed, the sha256 in the trailer left as it was: the checksum catches it.
    const plain = gunzipSync(await readFile(out));
    const at = plain.lastIndexOf(Buffer.from('"name":"m')) + 9;
    plain[at] = (plain[at] as number) ^ 0x01;
    const tampered = join(scratch, 'tampered.wessbak');
    await writeFile(tampered, gzipSync(plain));
    const refused = await wess(['restore', tampered, '--data', target], { env: { WESS_BACKUP_KEY: TEST_BACKUP_KEY } });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^wess: not a valid Wess backup: checksum mismatch/);
    assert.equal(existsSync(target), false);
    const skipped = await wess(['--json', 'restore', out, '--data', target, '--skip-signature']);
    assert.equal(skipped.code, 0, skipped.stderr);
    assert.equal(JSON.parse(skipped.stdout).signature_checked, false);
  });

  test('regression (issue 15, item 10): an offline backup is signed, and refused without a key', levelOnly, async () => {
    const app = await startApp();
    try {
      await app.app.close();
      const out = join(scratch, 'offline-signed.wessbak');
      const keyless = await wess(['backup', '--data', app.dataDir, '--out', out]);
      assert.equal(keyless.code, 2);
      assert.match(keyless.stderr, /needs the backup key/);
      assert.equal(existsSync(out), false);
      const made = await wess(['backup', '--data', app.dataDir, '--out', out], { env: { WESS_BACKUP_KEY: TEST_BACKUP_KEY } });
      assert.equal(made.code, 0, made.stderr);
      const restored = await wess(['restore', out, '--data', join(scratch, 'offline-restored')], { env: { WESS_BACKUP_KEY: TEST_BACKUP_KEY } });
      assert.equal(restored.code, 0, restored.stderr);
    } finally {
      await app.close();
    }
  });

  test('an offline backup of the dir the server holds says to use --url', levelOnly, async () => {
    const res = await wess(['backup', '--data', source.dataDir, '--out', join(scratch, 'offline.wessbak')], { env: { WESS_BACKUP_KEY: TEST_BACKUP_KEY } });
    assert.equal(res.code, 1);
    assert.match(res.stderr, /in use by a running Wess server.*--url/);
    assert.equal(existsSync(join(scratch, 'offline.wessbak')), false);
  });

  test('export → import into a second server; a re-run skips everything', async () => {
    const out = join(scratch, 'acme.ndjson');
    const exported = await wess(['export', '--out', out, '--tenant', 'acme'], { env });
    assert.equal(exported.code, 0, exported.stderr);
    assert.equal(exported.stdout, `export: 20 modules written to ${out}\n`);

    const target = await startApp();
    try {
      const targetEnv = { WESS_URL: await listen(target.app), WESS_KEY: TEST_ADMIN_KEY };
      const imported = await wess(['import', out], { env: targetEnv });
      assert.equal(imported.code, 0, imported.stderr);
      assert.equal(imported.stdout, 'import: 20 imported, 0 skipped (already there), 0 failed\n');
      assert.equal(target.app.services.store.writer.moduleCount, 20);
      if (TEST_STORE === 'leveldb') {
        const acme = [...(await dump(levelDb(source.app), ['m!', 't!']))].filter(([key, hex]) => key.startsWith('t!acme!') || (key.startsWith('m!') && tenantOf(hex) === 'acme'));
        assert.deepEqual(await dump(levelDb(target.app), ['m!', 't!']), new Map(acme));
      }
      // On any engine: the target's export of the tenant is the file, line for line (the header's time aside).
      const reexported = await target.app.inject({ method: 'GET', url: '/admin/export?tenant=acme' });
      assert.deepEqual(reexported.body.trimEnd().split('\n').slice(1), (await readFile(out, 'utf8')).trimEnd().split('\n').slice(1));

      const again = await wess(['--json', 'import', out], { env: targetEnv });
      assert.equal(again.code, 0);
      assert.deepEqual(JSON.parse(again.stdout), { imported: 0, skipped: 20, failed: [], failed_count: 0 });
    } finally {
      await target.close();
    }
  });

  test('export --all → import moves the keys and the audit log too, and the moved keys work there', async () => {
    const moved = await makeKey(source.app, { name: 'moved', role: 'runner' });
    const out = join(scratch, 'whole.ndjson');
    const exported = await wess(['export', '--all', '--out', out], { env });
    assert.equal(exported.code, 0, exported.stderr);
    const counts = /^export: 40 modules, (\d+) keys and (\d+) audit entries written to .*whole\.ndjson\n$/.exec(exported.stdout);
    assert.ok(counts, exported.stdout);

    // The target has an admin key of its own (another id), and the source's secret.
    const targetAdmin = 'wess_targetadmin_TESTONLYtargetTESTONLYtarget0123';
    const target = await startApp({ auth: { admin_key: targetAdmin } });
    try {
      const targetEnv = { WESS_URL: await listen(target.app), WESS_KEY: targetAdmin };
      const imported = await wess(['import', out], { env: targetEnv });
      assert.equal(imported.code, 0, imported.stderr);
      assert.equal(
        imported.stdout,
        `import: 40 imported, 0 skipped (already there), 0 failed\n  keys: ${counts[1]} imported, 0 skipped (already there)\n  audit entries: ${counts[2]} imported (ids kept: one already there stays as it is)\n`,
      );
      const run = await wess(['modules', 'ls'], { env: { ...targetEnv, WESS_KEY: moved.key } });
      assert.equal(run.code, 0, run.stderr);
    } finally {
      await target.close();
    }
  });

  test('a non-admin key is refused with the server\'s code and writes no file', async () => {
    const { key } = await makeKey(source.app, { name: 'dev', role: 'developer' });
    const res = await wess(['export', '--out', join(scratch, 'x.ndjson')], { env: { ...env, WESS_KEY: key } });
    assert.equal(res.code, 1);
    assert.match(res.stderr, /^wess: FORBIDDEN: a developer key may not do store\.export \(HTTP 403\)\n$/);
    assert.equal(existsSync(join(scratch, 'x.ndjson')), false);
  });
});

function tenantOf(hex: string): string {
  return (JSON.parse(Buffer.from(hex, 'hex').toString()) as { tenant: string }).tenant;
}
