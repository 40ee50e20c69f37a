import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { EntryKind } from '../../src/files/image.js';
import { Errno } from '../../src/wasi/errno.js';
import { Guest, OFLAGS, RIGHTS } from './guest.js';
import { filesOf } from './helpers.js';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** A small tree: a.txt, sub/b.txt, sub/link -> ../a.txt, and a 4 KiB big.bin. */
const files = filesOf([
  { path: 'a.txt', kind: EntryKind.FILE, mtimeMs: 1_700_000_000_000, content: text('hello') },
  { path: 'sub', kind: EntryKind.DIR, mtimeMs: 0 },
  { path: 'sub/b.txt', kind: EntryKind.FILE, mtimeMs: 0, content: text('bee') },
  { path: 'sub/link', kind: EntryKind.SYMLINK, mtimeMs: 0, target: '../a.txt' },
  { path: 'big.bin', kind: EntryKind.FILE, mtimeMs: 0, content: new Uint8Array(4096).fill(7) },
]);

describe('WASI filesystem: the preopen', () => {
  it('a process without files has no preopen and no fd 3', () => {
    const g = new Guest();
    assert.equal(g.call('fd_prestat_get', 3, 0), Errno.BADF);
    assert.equal(g.open('a.txt')[0], Errno.BADF);
  });

  it('with files, fd 3 is the directory "/"', () => {
    const g = new Guest(files);
    assert.equal(g.call('fd_prestat_get', 3, 0), Errno.SUCCESS);
    assert.equal(g.u8[0], 0); // a directory
    assert.equal(g.u32(4), 1);
    assert.equal(g.call('fd_prestat_dir_name', 3, 16, 1), Errno.SUCCESS);
    assert.equal(String.fromCharCode(g.u8[16] as number), '/');
    assert.equal(g.call('fd_prestat_get', 4, 0), Errno.BADF);
    assert.equal(g.call('sock_shutdown', 3, 0), Errno.NOTSOCK); // an open fd, just not a socket
    assert.equal(g.readFile('a.txt'), 'hello');
    assert.equal(g.readFile('sub/link'), 'hello');
    assert.equal(g.sizeOf('big.bin'), 4096n);
  });

  it('reads an image on a SharedArrayBuffer, as a worker gets it', () => {
    const shared = new Uint8Array(new SharedArrayBuffer(files.image.byteLength + 16), 16);
    shared.set(files.image);
    const g = new Guest({ sha256: `${files.sha256}-shared`, image: shared });
    assert.equal(g.readFile('sub/b.txt'), 'bee');
    const [, fd] = g.open('sub/b.txt', 0);
    assert.deepEqual(g.write(fd, text('B')), [Errno.SUCCESS, 1]);
    assert.equal(g.readFile('sub/b.txt'), 'Bee');
    assert.deepEqual(shared, files.image);
  });

  it('a pointer outside memory is EFAULT, before anything changes', () => {
    const g = new Guest(files);
    assert.equal(g.call('path_open', 3, 0, 200_000, 5, OFLAGS.CREAT, RIGHTS.ALL, RIGHTS.ALL, 0, 64), Errno.FAULT);
    assert.equal(g.call('path_create_directory', 3, 1024, 1 << 20), Errno.FAULT);
    assert.equal(g.call('path_filestat_get', 3, 0, ...g.string('a.txt'), 2 ** 17 - 8), Errno.FAULT);
  });
});

describe('WASI filesystem: copy-on-write', () => {
  it('writes change the process\'s view only: the image keeps its bytes and the next process sees the original', () => {
    const before = sha256(files.image);
    const g = new Guest(files);
    const [, fd] = g.open('a.txt', 0, RIGHTS.FD_READ | RIGHTS.FD_WRITE);
    assert.deepEqual(g.write(fd, text('J')), [Errno.SUCCESS, 1]);
    assert.equal(new TextDecoder().decode(g.pread(fd, 10)), 'Jello');
    assert.equal(g.call('path_unlink_file', 3, ...g.string('sub/b.txt')), Errno.SUCCESS);
    assert.equal(g.call('path_create_directory', 3, ...g.string('new')), Errno.SUCCESS);
    assert.equal(g.call('path_rename', 3, ...g.string('big.bin'), 3, ...g.string('new/big.bin', 2048)), Errno.SUCCESS);
    assert.equal(g.readFile('sub/link'), 'Jello');
    assert.equal(g.sizeOf('big.bin'), -Errno.NOENT);

    assert.equal(sha256(files.image), before);
    const next = new Guest(files);
    assert.equal(next.readFile('a.txt'), 'hello');
    assert.equal(next.readFile('sub/b.txt'), 'bee');
    assert.equal(next.sizeOf('new'), -Errno.NOENT);
    assert.equal(next.sizeOf('big.bin'), 4096n);
  });

  it('truncating and growing a file of the image reads back zeros past the kept bytes', () => {
    const g = new Guest(files);
    const [, fd] = g.open('a.txt', 0);
    assert.equal(g.call('fd_filestat_set_size', fd, 2n), Errno.SUCCESS);
    assert.equal(g.call('fd_filestat_set_size', fd, 4n), Errno.SUCCESS);
    assert.deepEqual([...g.pread(fd, 10)], [104, 101, 0, 0]);
  });
});

describe('WASI filesystem: the scratch bound', () => {
  const LIMIT = 64 * 1024;

  it('a write past maxScratchBytes is ENOSPC and changes nothing; smaller ones still fit', () => {
    const g = new Guest(files, LIMIT);
    const [errno, fd] = g.open('out', OFLAGS.CREAT);
    assert.equal(errno, Errno.SUCCESS);
    assert.equal(g.write(fd, new Uint8Array(LIMIT + 1))[0], Errno.NOSPC);
    assert.equal(g.sizeOf('out'), 0n);
    assert.deepEqual(g.write(fd, new Uint8Array(1000)), [Errno.SUCCESS, 1000]);
    assert.equal(g.sizeOf('out'), 1000n);
  });

  it('pwrite at a huge offset, set_size and allocate to huge sizes fail without allocating', () => {
    const g = new Guest(files, LIMIT);
    const [, fd] = g.open('out', OFLAGS.CREAT);
    assert.equal(g.write(fd, text('x'), 1n << 40n)[0], Errno.NOSPC);
    assert.equal(g.write(fd, text('x'), (1n << 64n) - 1n)[0], Errno.FBIG);
    assert.equal(g.call('fd_filestat_set_size', fd, 1n << 63n), Errno.FBIG);
    assert.equal(g.call('fd_filestat_set_size', fd, 1n << 30n), Errno.NOSPC);
    assert.equal(g.call('fd_allocate', fd, 1n << 20n, 1n << 20n), Errno.NOSPC);
    assert.equal(g.sizeOf('out'), 0n);
  });

  it('the first change to a file of the image counts its copy', () => {
    const g = new Guest(files, 4000); // less than big.bin's 4096 bytes
    const [, fd] = g.open('big.bin', 0);
    assert.equal(g.write(fd, text('x'))[0], Errno.NOSPC);
    assert.equal(g.pread(fd, 1)[0], 7);
  });

  it('creating names costs scratch too: endless empty files and directories stop at ENOSPC', () => {
    const g = new Guest(files, LIMIT);
    let created = 0;
    let errno: number = Errno.SUCCESS;
    while (errno === Errno.SUCCESS && created < 100_000) {
      if (created % 2 === 0) {
        const [opened, fd] = g.open(`f${created}`, OFLAGS.CREAT);
        errno = opened;
        if (opened === Errno.SUCCESS) g.call('fd_close', fd);
      } else {
        errno = g.call('path_create_directory', 3, ...g.string(`d${created}`));
      }
      created++;
    }
    assert.equal(errno, Errno.NOSPC);
    assert.ok(created < LIMIT / 100, `${created} names in ${LIMIT} bytes`);
    // Removing frees what the names held.
    assert.equal(g.call('path_unlink_file', 3, ...g.string('f0')), Errno.SUCCESS);
    assert.equal(g.open('again', OFLAGS.CREAT)[0], Errno.SUCCESS);
  });

  it('an unlinked file still open keeps its bytes counted until it is closed', () => {
    const g = new Guest(files, LIMIT);
    const [, fd] = g.open('held', OFLAGS.CREAT);
    assert.equal(g.write(fd, new Uint8Array(40_000))[0], Errno.SUCCESS);
    assert.equal(g.call('path_unlink_file', 3, ...g.string('held')), Errno.SUCCESS);
    const [, other] = g.open('other', OFLAGS.CREAT);
    assert.equal(g.write(other, new Uint8Array(40_000))[0], Errno.NOSPC);
    assert.equal(g.call('fd_close', fd), Errno.SUCCESS);
    assert.equal(g.write(other, new Uint8Array(40_000))[0], Errno.SUCCESS);
  });
});

describe('WASI filesystem: paths never leave the tree', () => {
  it('".." past the directory fd and absolute paths are ENOTCAPABLE', () => {
    const g = new Guest(files);
    assert.equal(g.open('..')[0], Errno.NOTCAPABLE);
    assert.equal(g.open('../a.txt')[0], Errno.NOTCAPABLE);
    assert.equal(g.open('sub/../../a.txt')[0], Errno.NOTCAPABLE);
    assert.equal(g.open('/a.txt')[0], Errno.NOTCAPABLE);
    assert.equal(g.open('sub/../a.txt')[0], Errno.SUCCESS);
  });

  it('a symlink out is refused when made absolute, and when followed past the root', () => {
    const g = new Guest(files);
    assert.equal(g.call('path_symlink', ...g.string('/etc/passwd', 2048), 3, ...g.string('abs')), Errno.NOTCAPABLE);
    assert.equal(g.call('path_symlink', ...g.string('../../etc/passwd', 2048), 3, ...g.string('sub/out')), Errno.SUCCESS);
    assert.equal(g.open('sub/out')[0], Errno.NOTCAPABLE);
    assert.equal(g.sizeOf('sub/out'), -Errno.NOTCAPABLE);
    assert.equal(g.call('path_readlink', 3, ...g.string('sub/out'), 2048, 64, 64), Errno.SUCCESS);
    assert.equal(g.u32(64), '../../etc/passwd'.length); // kept as written
  });

  it('from a subdirectory fd, even a link inside the tree may not climb above that fd', () => {
    const g = new Guest(files);
    const [errno, sub] = g.open('sub', OFLAGS.DIRECTORY, RIGHTS.ALL & ~RIGHTS.FD_WRITE);
    assert.equal(errno, Errno.SUCCESS);
    assert.equal(g.open('b.txt', 0, RIGHTS.FD_READ, sub)[0], Errno.SUCCESS);
    assert.equal(g.open('link', 0, RIGHTS.FD_READ, sub)[0], Errno.NOTCAPABLE);
    assert.equal(g.open('..', 0, RIGHTS.FD_READ, sub)[0], Errno.NOTCAPABLE);
  });

  it('symlink loops are ELOOP', () => {
    const g = new Guest(files);
    assert.equal(g.call('path_symlink', ...g.string('b', 2048), 3, ...g.string('a')), Errno.SUCCESS);
    assert.equal(g.call('path_symlink', ...g.string('a', 2048), 3, ...g.string('b')), Errno.SUCCESS);
    assert.equal(g.open('a')[0], Errno.LOOP);
    assert.equal(g.open('a/x')[0], Errno.LOOP);
  });
});

describe('WASI filesystem: directories and fds', () => {
  /** fd_readdir from `cookie` into a buffer of `size` bytes: the whole entries' names, d_next and d_ino, and bufused. */
  function readdir(g: Guest, fd: number, cookie: bigint, size: number): { names: string[]; next: bigint[]; inos: bigint[]; used: number } {
    const buf = 8192;
    assert.equal(g.call('fd_readdir', fd, buf, size, cookie, 64), Errno.SUCCESS);
    const used = g.u32(64);
    const out = { names: [] as string[], next: [] as bigint[], inos: [] as bigint[], used };
    for (let at = buf; at + 24 <= buf + used;) {
      const len = g.u32(at + 16);
      if (at + 24 + len > buf + used) break;
      out.next.push(g.u64(at));
      out.inos.push(g.u64(at + 8));
      out.names.push(new TextDecoder().decode(g.u8.slice(at + 24, at + 24 + len)));
      at += 24 + len;
    }
    return out;
  }

  it('fd_readdir lists ".", "..", then the entries; cookies resume, a short buffer cuts the last entry', () => {
    const g = new Guest(files);
    const all = readdir(g, 3, 0n, 4096);
    assert.deepEqual(all.names, ['.', '..', 'a.txt', 'big.bin', 'sub']);
    assert.ok(all.used < 4096);
    assert.equal(g.call('path_filestat_get', 3, 0, ...g.string('sub'), 512), Errno.SUCCESS);
    assert.equal(all.inos[4], g.u64(512 + 8)); // d_ino is the inode fstat gives
    const cut = readdir(g, 3, 0n, 24 * 2 + 1 + 2 + 10); // '.', '..' and part of 'a.txt'
    assert.deepEqual(cut.names, ['.', '..']);
    assert.equal(cut.used, 24 * 2 + 1 + 2 + 10);
    assert.deepEqual(readdir(g, 3, cut.next[1] as bigint, 4096).names, ['a.txt', 'big.bin', 'sub']);
    assert.equal(g.open('zzz', OFLAGS.CREAT)[0], Errno.SUCCESS);
    assert.deepEqual(readdir(g, 3, 2n, 4096).names, ['a.txt', 'big.bin', 'sub', 'zzz']);
  });

  it('inode numbers are stable within a run and distinct, whichever way a file is reached', () => {
    const g = new Guest(files);
    const ino = (path: string): bigint => {
      assert.equal(g.call('path_filestat_get', 3, 1, ...g.string(path), 512), Errno.SUCCESS);
      return g.u64(512 + 8);
    };
    assert.equal(ino('a.txt'), ino('sub/link'));
    assert.notEqual(ino('a.txt'), ino('sub/b.txt'));
    assert.equal(g.call('path_link', 3, 0, ...g.string('sub/b.txt'), 3, ...g.string('hard', 2048)), Errno.SUCCESS);
    assert.equal(ino('hard'), ino('sub/b.txt'));
  });

  it('an fd opened without FD_WRITE cannot write, and rights only narrow', () => {
    const g = new Guest(files);
    const [, fd] = g.open('a.txt', 0, RIGHTS.FD_READ);
    assert.equal(g.write(fd, text('x'))[0], Errno.NOTCAPABLE);
    assert.equal(g.call('fd_fdstat_set_rights', fd, RIGHTS.FD_READ | RIGHTS.FD_WRITE, 0n), Errno.NOTCAPABLE);
    assert.equal(g.call('fd_fdstat_set_rights', fd, 0n, 0n), Errno.SUCCESS);
    assert.equal(g.call('fd_read', fd, 64, 0, 64), Errno.NOTCAPABLE);
  });

  it('the fd table is bounded: EMFILE, and closing makes room', () => {
    const g = new Guest(files);
    let errno: number = Errno.SUCCESS;
    let opened = 0;
    for (; errno === Errno.SUCCESS && opened < 10_000; opened++) errno = g.open('a.txt', 0, RIGHTS.FD_READ)[0];
    assert.equal(errno, Errno.MFILE);
    assert.ok(opened < 10_000);
    assert.equal(g.call('fd_close', 10), Errno.SUCCESS);
    assert.deepEqual(g.open('a.txt', 0, RIGHTS.FD_READ), [Errno.SUCCESS, 10]);
  });

  it('poll_oneoff finds a file always ready: to read, the bytes after its position', () => {
    const g = new Guest(files);
    const [, fd] = g.open('a.txt', 0, RIGHTS.FD_READ);
    g.pread(fd, 1);
    const view = new DataView(g.memory.buffer);
    const sub = 4096;
    const event = 4096 + 48;
    g.u8.fill(0, sub, sub + 48);
    view.setBigUint64(sub, 7n, true); // userdata
    g.u8[sub + 8] = 1; // fd_read
    view.setUint32(sub + 16, fd, true);
    assert.equal(g.call('poll_oneoff', sub, event, 1, 64), Errno.SUCCESS);
    assert.equal(g.u32(64), 1);
    assert.equal(g.u64(event), 7n);
    assert.equal(view.getUint16(event + 8, true), Errno.SUCCESS);
    assert.equal(g.u64(event + 16), 5n); // pread leaves the position at 0
  });
});
