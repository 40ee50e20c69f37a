import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openDb } from '../../src/store/level/db.js';
import { legacyRefKey, prefixRange, refKey, refPrefix, versionKey, versionOfKey } from '../../src/store/level/keys.js';

const bytes = (s: string) => new TextEncoder().encode(s);

describe('db facade', () => {
  it('creates its directory, stores bytes, iterates ranges and reports status', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wess-db-'));
    try {
      const db = await openDb(join(dir, 'nested', 'db'), { maxOpenFiles: 50 });
      assert.equal(db.status, 'open');
      assert.equal(await db.get('missing'), undefined);
      await db.batch(
        ['m!a', 'm!b', 'm!c', 'n!x'].map((key) => ({ type: 'put' as const, key, value: bytes(key) })),
        { sync: true },
      );
      await db.batch([{ type: 'del', key: 'm!b' }], { sync: false });
      const value = await db.get('m!a');
      assert.deepEqual(value, bytes('m!a'));
      assert.equal(Object.getPrototypeOf(value), Uint8Array.prototype, 'plain Uint8Array, not Buffer');
      assert.equal(await db.has('m!b'), false);

      const all: string[] = [];
      for await (const [key, v] of db.entries(prefixRange('m!'))) all.push(`${key}=${new TextDecoder().decode(v)}`);
      assert.deepEqual(all, ['m!a=m!a', 'm!c=m!c']);
      const limited: string[] = [];
      for await (const key of db.keys({ gt: 'm!a', lt: 'z', limit: 1 })) limited.push(key);
      assert.deepEqual(limited, ['m!c']);

      await db.close();
      assert.equal(db.status, 'closed');
      await assert.rejects(db.get('m!a'), { code: 'UNAVAILABLE' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('says why it cannot open a database another handle holds', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wess-db-'));
    try {
      const db = await openDb(dir, { maxOpenFiles: 50 });
      // The message changed on purpose (issue 15, item 14): one sentence, with a code to branch on.
      await assert.rejects(openDb(dir, { maxOpenFiles: 50 }), { code: 'DB_LOCKED', message: `the data directory ${dir} is locked by another process (a Wess server, or a wess command given --data)` });
      await db.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('regression (issue 15, item 14): a holder that wrote its pid file is named with its pid; the file goes at close', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wess-db-'));
    try {
      const db = await openDb(dir, { maxOpenFiles: 50, pidFile: true });
      assert.equal(await readFile(join(dir, 'wess.pid'), 'utf8'), `${process.pid}\n`);
      await assert.rejects(openDb(dir, { maxOpenFiles: 50, pidFile: true }), { code: 'DB_LOCKED', pid: process.pid, message: `the data directory ${dir} is locked by another Wess (pid ${process.pid})` });
      assert.equal(await readFile(join(dir, 'wess.pid'), 'utf8'), `${process.pid}\n`, 'the refused open left it alone');
      await db.close();
      await assert.rejects(readFile(join(dir, 'wess.pid')), { code: 'ENOENT' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('regression (issue 15, item 14): a data directory that is a file is named as such', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wess-db-'));
    try {
      await writeFile(join(dir, 'data'), 'not a directory');
      await assert.rejects(openDb(join(dir, 'data'), { maxOpenFiles: 50 }), { code: 'DB_ACCESS', message: `cannot use the data directory ${join(dir, 'data')}: it (or a parent) is a file, not a directory` });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('key layout', () => {
  it('keeps every reference to a blob, of any module and version, under one prefix', () => {
    const sha = 'a'.repeat(64);
    assert.equal(refKey(sha, 'id-1', 2), `r!${sha}!id-1!0000000002`);
    assert.ok(refKey(sha, 'id-1', 2).startsWith(refPrefix(sha)));
    assert.ok(legacyRefKey(sha, 'id-1').startsWith(refPrefix(sha)), 'schema 1 references too, until migrated');
    assert.equal(versionOfKey(refKey(sha, 'id-1', 12)), 12);
    assert.equal(versionOfKey(versionKey('id-1', 345)), 345);
    assert.equal(versionKey('id-1', 2), 'v!id-1!0000000002');
    assert.ok(versionKey('id', 9) < versionKey('id', 10), 'versions sort numerically');
    assert.deepEqual(prefixRange('m!'), { gt: 'm!', lt: 'm"' });
  });
});
