import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { test } from 'node:test';
import { admitImage, packArchive, type FilesLimits } from '../../src/files/archive.js';
import { EntryKind, readImage } from '../../src/files/image.js';
import { sha256Hex } from '../../src/hash.js';
import { rawTar, tarOfTree, zeroBomb } from './tar-helper.js';

const LIMITS: FilesLimits = { maxFilesBytes: 16 * 1024 * 1024, maxFiles: 10_000 };
const TREE = { 'hello.txt': 'hello\n', 'data/numbers.csv': '1,2,3\n', 'data/link': { link: '../hello.txt' } };

/** The coded error `packArchive` refuses with. */
async function refusal(archive: Buffer, limits = LIMITS): Promise<{ code: string; message: string; details?: Record<string, unknown> }> {
  try {
    await packArchive(archive, limits);
  } catch (err) {
    return err as { code: string; message: string };
  }
  throw new Error('the archive was accepted');
}

test('a plain and a gzipped tar of the same tree pack to the same image, with its totals and sha256', async () => {
  const plain = await packArchive(await tarOfTree(TREE), LIMITS);
  const gzipped = await packArchive(await tarOfTree(TREE, true), LIMITS);
  assert.equal(plain.summary.sha256, gzipped.summary.sha256);
  assert.equal(plain.summary.sha256, sha256Hex(plain.image));
  assert.deepEqual(plain.summary, { sha256: plain.summary.sha256, count: 3, bytes: 12, size: plain.image.byteLength });
  const entries = readImage(plain.image);
  assert.deepEqual(entries.map((e) => [e.path, e.kind]), [['data', EntryKind.DIR], ['data/link', EntryKind.SYMLINK], ['data/numbers.csv', EntryKind.FILE], ['hello.txt', EntryKind.FILE]]);
  assert.equal(entries.find((e) => e.path === 'data/link')?.target, '../hello.txt');
  const hello = entries.find((e) => e.path === 'hello.txt');
  assert.ok(hello);
  assert.equal(Buffer.from(plain.image.subarray(hello.offset, hello.offset + hello.size)).toString(), 'hello\n');
});

test('long names (pax headers) are read whole; an archive of nothing is refused as such', async () => {
  const long = `${'deep/'.repeat(30)}name-longer-than-a-ustar-header-holds.txt`;
  const packed = await packArchive(await tarOfTree({ [long]: 'far down' }, true), LIMITS);
  assert.ok(readImage(packed.image).some((e) => e.path === long));
  assert.match((await refusal(rawTar([]))).message, /holds no entries; leave "files" out for a version without files/);
});

test('a hand-made tar without ./ prefixes or directory entries reads the same way', async () => {
  const packed = await packArchive(rawTar([{ path: 'a/b/c.txt', body: 'x' }]), LIMITS);
  assert.deepEqual(readImage(packed.image).map((e) => e.path), ['a', 'a/b', 'a/b/c.txt']);
});

test('hostile archives are refused with VALIDATION naming the entry', async () => {
  const cases: Array<[string, Buffer, RegExp]> = [
    ['..', rawTar([{ path: '../escape.txt', body: 'x' }]), /climbs out with '\.\.' \(\.\.\/escape\.txt\)/],
    ['.. inside', rawTar([{ path: 'a/../../x', body: 'x' }]), /climbs out/],
    ['absolute', rawTar([{ path: '/etc/passwd', body: 'x' }]), /absolute path \(\/etc\/passwd\)/],
    ['symlink out', rawTar([{ path: 'out', type: 'SymbolicLink', linkpath: '../../etc/passwd' }]), /symlink that leads out of the tree/],
    ['absolute symlink', rawTar([{ path: 'out', type: 'SymbolicLink', linkpath: '/etc/passwd' }]), /symlink to an absolute path/],
    ['hard link', rawTar([{ path: 'a', body: 'x' }, { path: 'b', type: 'Link', linkpath: 'a' }]), /hard link \(b\)/],
    ['device', rawTar([{ path: 'tty', type: 'CharacterDevice' }]), /tty of type CharacterDevice/],
    ['fifo', rawTar([{ path: 'pipe', type: 'FIFO' }]), /pipe of type FIFO/],
    ['twice', rawTar([{ path: 'a', body: 'x' }, { path: 'a', body: 'y' }]), /a twice/],
    ['not a tar', Buffer.from('this is not an archive at all '.repeat(40)), /it is not a tar archive \(plain or gzipped\)$/],
    ['gzip of junk', gzipSync(Buffer.from('junk '.repeat(200))), /it is not a tar archive \(plain or gzipped\)$/],
    ['truncated', rawTar([{ path: 'a', body: 'x'.repeat(2000) }]).subarray(0, 1024), /not a readable tar archive \(Truncated input/],
    ['empty', Buffer.alloc(0), /empty/],
  ];
  for (const [name, archive, message] of cases) {
    const err = await refusal(archive);
    assert.equal(err.code, 'VALIDATION', `${name}: ${err.message}`);
    assert.match(err.message, /^body\.files: /, name);
    assert.match(err.message, message, name);
  }
});

test('over max_files_bytes or max_files is PAYLOAD_TOO_LARGE naming the limit', async () => {
  const bytes = await refusal(await tarOfTree({ a: 'x'.repeat(600), b: 'y'.repeat(600) }), { maxFilesBytes: 1000, maxFiles: 100, tier: 'free' });
  assert.equal(bytes.code, 'PAYLOAD_TOO_LARGE');
  assert.match(bytes.message, /the limit is 1000 bytes \(limits\.max_files_bytes\) \(tier free\)$/);
  assert.equal(bytes.details?.limit, 1000);
  const many = rawTar(Array.from({ length: 20 }, (_, i) => ({ path: `f${i}`, body: 'x' })));
  const count = await refusal(many, { maxFilesBytes: 1000, maxFiles: 10 });
  assert.equal(count.code, 'PAYLOAD_TOO_LARGE');
  assert.match(count.message, /more than 10 entries; the limit is 10 entries \(limits\.max_files\)/);
  // Directories the archive leaves implicit count too: one file three levels down is four entries.
  const deep = await refusal(rawTar([{ path: 'a/b/c/d', body: 'x' }]), { maxFilesBytes: 1000, maxFiles: 3 });
  assert.match(deep.message, /4 entries \(directories included\)/);
});

test('a gzip bomb (100 MiB of zeros in ~100 KiB) is refused without being inflated in full', async () => {
  const bomb = await zeroBomb(100 * 1024 * 1024);
  assert.ok(bomb.length < 1024 * 1024, `the bomb is ${bomb.length} bytes`);
  const err = await refusal(bomb);
  assert.equal(err.code, 'PAYLOAD_TOO_LARGE');
  assert.match(err.message, /unpacks to more than \d+ bytes of tar; the limit is 16777216 bytes \(limits\.max_files_bytes\)/);
});

test('admitImage takes a stored image back under the limits, and refuses bytes that are not one', async () => {
  const packed = await packArchive(await tarOfTree(TREE), LIMITS);
  assert.deepEqual(admitImage(packed.image, LIMITS).summary, packed.summary);
  assert.equal((() => { try { admitImage(packed.image, { maxFilesBytes: 5, maxFiles: 100 }); } catch (err) { return (err as { code: string }).code; } return 'accepted'; })(), 'PAYLOAD_TOO_LARGE');
  assert.throws(() => admitImage(Buffer.from('\0asm not an image'), LIMITS), /files: not a Wess files image/);
});
