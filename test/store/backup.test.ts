import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { after, before, test } from 'node:test';
import { admitStoredModule } from '../../src/modules/admission.js';
import { backupStream, readArchive } from '../../src/store/level/backup.js';
import { backupDataDir, restoreArchive, withAtomicFile, type RestoreOptions } from '../../src/store/level/backup-files.js';
import { SCHEMA_VERSION } from '../../src/store/level/keys.js';
import { startApp, TEST_BACKUP_KEY, type TestApp } from '../helper.js';
import { dump, seedModules, STORED_MODULE_PREFIXES } from './transfer-helper.js';
import { levelDb } from './level.js';
import { backupKey } from '../../src/store/backup-key.js';

let source: TestApp;
let scratch: string;
let archive: Buffer;

const KEY = backupKey(TEST_BACKUP_KEY);
/** What `wess restore` does with the test config: the test key, and admission under the test limits. */
const RESTORE: RestoreOptions = { key: KEY, admit: (bytes) => admitStoredModule(bytes, { maxModuleSize: 1 << 20, maxMemoryPages: 16, maxTableElements: 1_000_000 }) };

before(async () => {
  source = await startApp();
  await seedModules(source.app, 30);
  scratch = await mkdtemp(join(tmpdir(), 'wess-backup-'));
  const path = join(scratch, 'good.wessbak');
  await withAtomicFile(path, async (write) => {
    for await (const chunk of backupStream(levelDb(source.app), KEY)) await write(chunk as Buffer);
  });
  archive = await readFile(path);
});

after(async () => {
  await source.close();
  await rm(scratch, { recursive: true, force: true });
});

/** Restores `bytes` into a fresh path and expects a refusal matching `message`; nothing may be left behind. */
async function refused(name: string, bytes: Uint8Array, message: RegExp): Promise<void> {
  const parent = join(scratch, name);
  await mkdir(parent);
  const file = join(parent, 'archive');
  await writeFile(file, bytes);
  await assert.rejects(restoreArchive(file, join(parent, 'data'), RESTORE), message);
  assert.deepEqual(await readdir(parent), ['archive'], 'no data dir and no temp dir left behind');
}

test('the archive holds every entry and verifies', async () => {
  const summary = await readArchive([archive], {}, { key: KEY });
  assert.equal(summary.entries, (await dump(levelDb(source.app), [''], { raw: true })).size);
  assert.equal(summary.header.schema, SCHEMA_VERSION);
  assert.equal(summary.header.format, 'wess-backup');
});

test('a flipped byte in the compressed archive is refused and leaves nothing', async () => {
  const bad = Buffer.from(archive);
  const at = Math.floor(bad.length / 2);
  bad[at] = (bad[at] as number) ^ 0xff;
  await refused('flipped', bad, /not a valid Wess backup/);
});

test('a changed byte inside the content fails the checksum', async () => {
  const plain = gunzipSync(archive);
  const at = plain.lastIndexOf(Buffer.from('"name":"m'));
  assert.ok(at > 0);
  plain[at + 9] = 0x5a; // one letter of a module name
  await refused('altered', gzipSync(plain), /checksum mismatch/);
});

test('a truncated archive is refused and leaves nothing', async () => {
  await refused('truncated-gzip', archive.subarray(0, archive.length - 40), /not a valid Wess backup/);
  // Cut cleanly before the trailer and re-compressed: only the missing trailer gives it away.
  const plain = gunzipSync(archive);
  await refused('truncated-records', gzipSync(plain.subarray(0, plain.lastIndexOf(0x54))), /truncated/);
});

test('something that is not an archive is refused', async () => {
  await refused('not-gzip', Buffer.from('hello'), /not a valid Wess backup/);
  await refused('wrong-header', gzipSync(Buffer.from('{"format":"tarball"}\n')), /format "tarball"/);
  await refused('newer-schema', gzipSync(Buffer.from('{"format":"wess-backup","version":2,"schema":99}\n')), /schema 99.*newer/);
});

test('restore refuses a data dir that is not empty, and fills an empty one', async () => {
  const file = join(scratch, 'good.wessbak');
  const full = join(scratch, 'full');
  await mkdir(full);
  await writeFile(join(full, 'keep-me'), 'x');
  await assert.rejects(restoreArchive(file, full, RESTORE), /is not empty/);
  assert.deepEqual(await readdir(full), ['keep-me']);

  const empty = join(scratch, 'empty');
  await mkdir(empty);
  await restoreArchive(file, empty, RESTORE);
  assert.ok(existsSync(join(empty, 'CURRENT')));
});

test('an offline backup of a dir a server holds is refused with a pointer to --url; once closed it works', async () => {
  const app = await startApp();
  const out = join(scratch, 'offline.wessbak');
  try {
    await seedModules(app.app, 5);
    await assert.rejects(backupDataDir(app.dataDir, out, KEY), /in use by a running Wess server.*--url/);
    assert.equal(existsSync(out), false);
    const before = await dump(levelDb(app.app), [''], { raw: true });
    await app.app.close();
    const totals = await backupDataDir(app.dataDir, out, KEY);
    assert.equal(totals.entries, before.size);
    const restored = join(scratch, 'offline-restored');
    await restoreArchive(out, restored, RESTORE);
    const again = await startApp({}, restored);
    try {
      assert.deepEqual(await dump(levelDb(again.app), STORED_MODULE_PREFIXES, { raw: true }), new Map([...before].filter(([k]) => /^[mvbrtc]!/.test(k))));
    } finally {
      await again.close();
    }
  } finally {
    await app.close();
    await rm(app.dataDir, { recursive: true, force: true });
  }
});
