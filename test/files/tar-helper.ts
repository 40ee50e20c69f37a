import { lutimesSync, mkdtempSync, mkdirSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createGzip } from 'node:zlib';
import { create, Header } from 'tar';

/** One entry of a hand-made archive: what a hostile client can put in a tar header. */
export interface RawEntry {
  path: string;
  type?: 'File' | 'Directory' | 'SymbolicLink' | 'Link' | 'CharacterDevice' | 'FIFO';
  body?: string;
  linkpath?: string;
}

const BLOCK = 512;

function headerBlock(path: string, type: string, size: number, linkpath?: string): Buffer {
  const header = new Header({ path, type: type as Header['type'], size, mode: type === 'Directory' ? 0o755 : 0o644, mtime: new Date(1_700_000_000_000), uid: 0, gid: 0, linkpath });
  header.encode();
  if (!header.block) throw new Error('the header did not encode');
  return header.block;
}

/** A tar archive built header by header, so it can hold what `tar` on a real tree never would. */
export function rawTar(entries: readonly RawEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const entry of entries) {
    const body = Buffer.from(entry.body ?? '', 'utf8');
    blocks.push(headerBlock(entry.path, entry.type ?? 'File', body.length, entry.linkpath), body, Buffer.alloc((BLOCK - (body.length % BLOCK)) % BLOCK));
  }
  blocks.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(blocks);
}

/** A tree on disk: file path → contents, or `{ link }` for a symlink; archived with node-tar as `tar -C dir .` would. */
export type Tree = Record<string, string | { link: string }>;

/** One fixed time for every entry: a files image keeps mtimes, so the same tree archived twice must carry the same ones. */
const TREE_TIME = new Date(1_700_000_000_000);

/** The tree as a tar archive (gzipped when asked), made by node-tar from a temp directory. */
export async function tarOfTree(tree: Tree, gzip = false): Promise<Buffer> {
  const dir = mkdtempSync(join(tmpdir(), 'wess-files-'));
  try {
    for (const [path, value] of Object.entries(tree)) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      if (typeof value === 'string') writeFileSync(join(dir, path), value);
      else symlinkSync(value.link, join(dir, path));
    }
    // Children before their directories: writing into a directory moves its mtime.
    for (const path of Object.keys(tree).sort().reverse()) {
      lutimesSync(join(dir, path), TREE_TIME, TREE_TIME);
      for (let parent = dirname(path); parent !== '.'; parent = dirname(parent)) utimesSync(join(dir, parent), TREE_TIME, TREE_TIME);
    }
    utimesSync(dir, TREE_TIME, TREE_TIME);
    const file = join(dir, '..', `${dir.split('/').pop() ?? 'x'}.tar`);
    await create({ cwd: dir, file, gzip, portable: true }, ['.']);
    const bytes = readFileSync(file);
    rmSync(file);
    return bytes;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A gzipped tar of one file of `size` zero bytes, made without ever holding the file: a gzip bomb. */
export async function zeroBomb(size: number): Promise<Buffer> {
  const gzip = createGzip({ level: 9 });
  const chunks: Buffer[] = [];
  gzip.on('data', (chunk: Buffer) => chunks.push(chunk));
  const done = new Promise<void>((resolve, reject) => {
    gzip.on('end', resolve);
    gzip.on('error', reject);
  });
  gzip.write(headerBlock('zeros', 'File', size));
  const zeros = Buffer.alloc(1024 * 1024);
  for (let left = size; left > 0; left -= zeros.length) {
    if (!gzip.write(left >= zeros.length ? zeros : zeros.subarray(0, left))) await new Promise((resolve) => gzip.once('drain', resolve));
  }
  gzip.end(Buffer.alloc(2 * BLOCK));
  await done;
  return Buffer.concat(chunks);
}
