import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { v4 as uuidv4 } from 'uuid';
import { admitStoredModule } from '../../src/modules/admission.js';
import { backupStream, readArchive } from '../../src/store/level/backup.js';
import { restoreArchive, withAtomicFile, type RestoreOptions } from '../../src/store/level/backup-files.js';
import { sha256Hex } from '../../src/hash.js';
import type { Db } from '../../src/store/level/db.js';
import { fixture, startApp, TEST_BACKUP_KEY, type TestApp } from '../helper.js';
import { dump, seedModules } from './transfer-helper.js';
import { levelDb } from './level.js';
import { backupKey, type BackupKey } from '../../src/store/backup-key.js';

const KEY = backupKey(TEST_BACKUP_KEY);
const OTHER_KEY = backupKey('someone-elses-backup-key-0123456789abcdef');
const LIMITS = { maxModuleSize: 1 << 20, maxMemoryPages: 16, maxTableElements: 1_000_000 };
const RESTORE: RestoreOptions = { key: KEY, admit: (bytes) => admitStoredModule(bytes, LIMITS) };

let source: TestApp;
let scratch: string;
/** The uncompressed archive of `source`, signed with KEY. */
let plain: Buffer;
let count = 0;

async function archiveOf(db: Db, key: BackupKey): Promise<Buffer> {
  const path = join(scratch, `made-${count++}.wessbak`);
  await withAtomicFile(path, async (write) => {
    for await (const chunk of backupStream(db, key)) await write(chunk as Buffer);
  });
  return gunzipSync(await readFile(path));
}

before(async () => {
  source = await startApp();
  await seedModules(source.app, 12);
  scratch = await mkdtemp(join(tmpdir(), 'wess-signing-'));
  plain = await archiveOf(levelDb(source.app), KEY);
});

after(async () => {
  await source.close();
  await rm(scratch, { recursive: true, force: true });
});

/** An archive's bytes before its trailer, and the trailer's JSON. */
function split(bytes: Buffer): { body: Buffer; trailer: Record<string, unknown> } {
  const at = bytes.lastIndexOf(Buffer.from('{"entries"'));
  assert.equal(bytes[at - 5], 0x54, 'the trailer marker');
  return { body: bytes.subarray(0, at - 5), trailer: JSON.parse(bytes.subarray(at).toString()) as Record<string, unknown> };
}

/** A compressed archive of `body` whose trailer's count and sha256 match it (so only the signature can tell). */
function rechecksummed(body: Buffer, trailer: Record<string, unknown>): Buffer {
  const json = Buffer.from(JSON.stringify({ ...trailer, sha256: sha256Hex(body) }));
  const length = Buffer.alloc(4);
  length.writeUInt32BE(json.length);
  return gzipSync(Buffer.concat([body, Buffer.of(0x54), length, json]));
}

/**
 * Restores `bytes` into `<scratch>/<name>/data` and expects a refusal matching `message`. The parent
 * directory does not exist before; a restore creates it only once the archive is verified, so its
 * absence afterwards shows that nothing at all was written, not even a temp dir later removed.
 */
async function refusedUntouched(name: string, bytes: Uint8Array, message: RegExp, options: RestoreOptions = RESTORE): Promise<void> {
  const file = join(scratch, `${name}.wessbak`);
  await writeFile(file, bytes);
  const parent = join(scratch, name);
  await assert.rejects(restoreArchive(file, join(parent, 'data'), options), message, name);
  assert.equal(existsSync(parent), false, `${name}: nothing was written`);
}

describe('signed backups', () => {
  test('regression (issue 15, item 10): a byte flipped anywhere in an archive is refused and nothing is written', async () => {
    const positions = Array.from({ length: 48 }, (_, i) => Math.floor((i * (plain.length - 1)) / 47));
    for (const at of positions) {
      const bad = Buffer.from(plain);
      bad[at] = (bad[at] as number) ^ 0x01;
      await refusedUntouched(`flip-${at}`, gzipSync(bad), /not a valid Wess backup/);
    }
    // The same flips with the checksum made to match again: an attacker can recompute a sha256, not the HMAC.
    const { body, trailer } = split(plain);
    const inside = [body.indexOf(Buffer.from('"name":"m')) + 9, body.indexOf(Buffer.from('asm')) + 20, body.length - 3];
    for (const at of inside) {
      const bad = Buffer.from(body);
      bad[at] = (bad[at] as number) ^ 0x01;
      await refusedUntouched(`resummed-${at}`, rechecksummed(bad, trailer), /signature does not verify under the backup key/);
    }
  });

  test('regression (issue 15, item 10): an archive signed with another key is refused, and so is one claiming our key id', async () => {
    const foreign = await archiveOf(levelDb(source.app), OTHER_KEY);
    await refusedUntouched('other-key', gzipSync(foreign), new RegExp(`signed with another backup key \\(key id ${OTHER_KEY.id}; the configured backup.key has id ${KEY.id}\\)`));
    // Its header edited to name our key, and its checksum redone: the HMAC is still the other key's.
    const { body, trailer } = split(foreign);
    const relabelled = Buffer.from(body.toString('latin1').replace(OTHER_KEY.id, KEY.id), 'latin1');
    await refusedUntouched('relabelled', rechecksummed(relabelled, trailer), /signature does not verify/);
    // And the good archive restores.
    const good = join(scratch, 'good.wessbak');
    await writeFile(good, gzipSync(plain));
    const summary = await restoreArchive(good, join(scratch, 'good-data'), RESTORE);
    assert.equal(summary.header.key_id, KEY.id);
  });

  test('an unsigned (format 1) archive is refused unless the signature is skipped; no key at all is refused up front', async () => {
    const { body, trailer } = split(plain);
    const header = body.subarray(0, body.indexOf(0x0a));
    const old = JSON.parse(header.toString()) as Record<string, unknown>;
    delete old.key_id;
    const v1 = Buffer.concat([Buffer.from(JSON.stringify({ ...old, version: 1 })), body.subarray(header.length)]);
    const { hmac: _hmac, ...unsignedTrailer } = trailer;
    const unsigned = rechecksummed(v1, unsignedTrailer);
    await refusedUntouched('unsigned', unsigned, /it is not signed .*--skip-signature/);
    const file = join(scratch, 'unsigned.wessbak');
    await restoreArchive(file, join(scratch, 'unsigned-data'), { ...RESTORE, key: undefined, skipSignature: true });
    assert.ok(existsSync(join(scratch, 'unsigned-data', 'CURRENT')));
    await assert.rejects(readArchive([gzipSync(plain)]), /no backup key to verify its signature with/);
  });

  test('regression (issue 15, item 10): a module that fails admission, in a correctly signed archive, refuses the whole restore', async () => {
    const app = await startApp();
    try {
      await seedModules(app.app, 4);
      // Stored straight through the writer, as a forger holding the key could put it in an archive:
      // this module imports env.f, which no upload would have been allowed.
      const bytes = fixture('imports-fn');
      const id = uuidv4();
      await app.app.services.store.writer.submit({
        kind: 'create-module',
        id,
        tenant: 'acme',
        name: 'smuggled',
        content: { sha256: createHash('sha256').update(bytes).digest('hex'), content: bytes, exports: [], memory: null },
      });
      const forged = gzipSync(await archiveOf(levelDb(app.app), KEY));
      await refusedUntouched('smuggled', forged, new RegExp(`does not admit .*nothing was restored: module ${id} version 1 \\(sha256 [0-9a-f]{12}…\\): FORBIDDEN_IMPORT`));
      // Skipping the signature never skips admission.
      await refusedUntouched('smuggled-unsigned', forged, /FORBIDDEN_IMPORT/, { ...RESTORE, key: undefined, skipSignature: true });
      // Without it, the same store restores whole.
      await app.app.services.store.writer.submit({ kind: 'delete-module', id });
      const clean = join(scratch, 'clean.wessbak');
      await writeFile(clean, gzipSync(await archiveOf(levelDb(app.app), KEY)));
      await restoreArchive(clean, join(scratch, 'clean-data'), RESTORE);
      const restored = await startApp({}, join(scratch, 'clean-data'));
      try {
        assert.deepEqual(await dump(levelDb(restored.app)), await dump(levelDb(app.app)));
      } finally {
        await restored.close();
      }
    } finally {
      await app.close();
    }
  });
});
