import { readdir, stat } from 'node:fs/promises';
import { create } from 'tar';
import { CliError, EXIT, cliError } from './errors.js';

/**
 * A directory as the `files` of an upload: a gzipped tar of what is inside it (not the directory
 * itself, so its entries become the module's `/`). Symlinks go as symlinks; the server refuses any
 * that leads out of the tree, and anything that is not a file, a directory or a symlink.
 */
export async function packFilesDir(dir: string): Promise<Buffer> {
  let names: string[];
  try {
    if (!(await stat(dir)).isDirectory()) throw cliError('USAGE', `--files wants a directory; ${dir} is not one`, EXIT.USAGE);
    names = (await readdir(dir)).sort();
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw cliError('IO', `cannot read ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, EXIT.USAGE);
  }
  // portable: no uid, gid, user or group names, which mean nothing to the server and would leak the packer's.
  const stream = create({ gzip: true, cwd: dir, portable: true }, names);
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of stream) chunks.push(chunk as Buffer);
  } catch (err) {
    throw cliError('IO', `cannot pack ${dir}: ${(err as Error).message}`, EXIT.USAGE);
  }
  return Buffer.concat(chunks);
}
