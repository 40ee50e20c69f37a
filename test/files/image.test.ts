import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EntryKind, entryPathProblem, imageTotals, packImage, readImage, symlinkProblem } from '../../src/files/image.js';

const text = (s: string): Uint8Array => Buffer.from(s, 'utf8');

test('an image round-trips its entries, adds missing parents and sorts by path', () => {
  const image = packImage([
    { path: 'b/c.txt', kind: EntryKind.FILE, mtimeMs: 2000, content: text('hello') },
    { path: 'a.txt', kind: EntryKind.FILE, mtimeMs: 1000, content: text('xy') },
    { path: 'b/link', kind: EntryKind.SYMLINK, mtimeMs: 0, target: '../a.txt' },
    { path: 'empty', kind: EntryKind.DIR, mtimeMs: 5 },
  ]);
  const entries = readImage(image);
  assert.deepEqual(entries.map((e) => [e.path, e.kind, e.size]), [
    ['a.txt', EntryKind.FILE, 2], ['b', EntryKind.DIR, 0], ['b/c.txt', EntryKind.FILE, 5], ['b/link', EntryKind.SYMLINK, 0], ['empty', EntryKind.DIR, 0],
  ]);
  const c = entries.find((e) => e.path === 'b/c.txt');
  assert.ok(c);
  assert.equal(Buffer.from(image.subarray(c.offset, c.offset + c.size)).toString(), 'hello');
  assert.equal(entries.find((e) => e.path === 'b/link')?.target, '../a.txt');
  assert.deepEqual(imageTotals(entries), { count: 3, bytes: 7 });
});

test('the same tree in any order packs to the same bytes', () => {
  const one = packImage([
    { path: 'x/1', kind: EntryKind.FILE, mtimeMs: 1, content: text('1') },
    { path: 'x/2', kind: EntryKind.FILE, mtimeMs: 1, content: text('2') },
  ]);
  const two = packImage([
    { path: 'x/2', kind: EntryKind.FILE, mtimeMs: 1, content: text('2') },
    { path: 'x/1', kind: EntryKind.FILE, mtimeMs: 1, content: text('1') },
  ]);
  assert.deepEqual(one, two);
});

test('bad paths, links out, duplicates and files under files are refused', () => {
  assert.match(entryPathProblem('/etc/passwd') ?? '', /absolute/);
  assert.match(entryPathProblem('a/../../x') ?? '', /climbs out/);
  assert.match(entryPathProblem('a//b') ?? '', /empty/);
  assert.equal(entryPathProblem('a/b.txt'), null);
  assert.match(symlinkProblem('a/l', '../../etc') ?? '', /out of the tree/);
  assert.match(symlinkProblem('l', '/etc') ?? '', /absolute/);
  assert.equal(symlinkProblem('a/b/l', '../c'), null);
  const file = (path: string) => ({ path, kind: EntryKind.FILE, mtimeMs: 0, content: text('.') });
  assert.throws(() => packImage([file('a'), file('a')]), /a twice/);
  assert.throws(() => packImage([file('a'), file('a/b')]), /not a directory/);
  assert.throws(() => packImage([{ path: 'l', kind: EntryKind.SYMLINK, mtimeMs: 0, target: '..' }]), /out of the tree/);
});

test('bytes that are not an image, or whose index does not add up, are refused', () => {
  assert.throws(() => readImage(text('not an image at all')), /not a Wess files image/);
  const image = packImage([{ path: 'f', kind: EntryKind.FILE, mtimeMs: 0, content: text('abc') }]);
  assert.throws(() => readImage(image.subarray(0, image.byteLength - 1)), /accounts for/);
});
