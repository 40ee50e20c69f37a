import { Errno } from '../errno.js';
import { EntryKind } from '../../files/image.js';
import type { Inode, Tree } from './tree.js';

/*
 * Path resolution, relative to a directory fd and never above it (the capability model of
 * preview 1, as cap-std enforces it for wasmtime): an absolute path, a '..' past the starting
 * directory or a symlink leading out (absolute, or climbing past it) is ENOTCAPABLE. Symlinks are
 * followed in the middle of a path always, at its end when asked or when the path ends with '/';
 * more than MAX_SYMLINKS in one resolution is ELOOP.
 */

const MAX_SYMLINKS = 40;

/** Where a path leads: the directory its last component is in, that name, and what it names. */
export interface Place {
  parent: Inode;
  /** The last component; '' when the path names `parent` itself ('.', 'a/..'). */
  name: string;
  /** What the name is; undefined when there is nothing by that name. */
  node: Inode | undefined;
  /** The path ends with '/' (or '/.'): what it names must be a directory. */
  slash: boolean;
}

/** Components to resolve, last first (so pop() takes the next); '' and '.' are dropped. */
function pending(path: string): string[] {
  const parts = path.split('/');
  const out: string[] = [];
  for (let i = parts.length - 1; i >= 0; i--) {
    const part = parts[i] as string;
    if (part !== '' && part !== '.') out.push(part);
  }
  return out;
}

function endsAsDirectory(path: string): boolean {
  return path.endsWith('/') || path === '.' || path.endsWith('/.');
}

/** Resolves `path` from `start`; an Errno number when it cannot be (ENOENT for a missing directory on the way). */
export function walk(tree: Tree, start: Inode, path: string, followLast: boolean): Place | number {
  if (path === '') return Errno.NOENT;
  if (path.startsWith('/')) return Errno.NOTCAPABLE;
  if (start.nlink === 0) return Errno.NOENT; // a removed directory an fd still holds
  const stack: Inode[] = [start];
  const todo = pending(path);
  let slash = endsAsDirectory(path);
  let follows = 0;
  while (todo.length > 0) {
    const part = todo.pop() as string;
    const dir = stack[stack.length - 1] as Inode;
    if (part === '..') {
      if (stack.length === 1) return Errno.NOTCAPABLE;
      stack.pop();
      continue;
    }
    const last = todo.length === 0;
    const ino = tree.lookup(dir, part);
    if (ino === undefined) return last ? { parent: dir, name: part, node: undefined, slash } : Errno.NOENT;
    const node = tree.node(ino);
    if (node.kind === EntryKind.SYMLINK && (!last || followLast || slash)) {
      if (++follows > MAX_SYMLINKS) return Errno.LOOP;
      if (node.target.startsWith('/')) return Errno.NOTCAPABLE;
      if (last && endsAsDirectory(node.target)) slash = true;
      todo.push(...pending(node.target));
      continue;
    }
    if (last) return { parent: dir, name: part, node, slash };
    if (node.kind !== EntryKind.DIR) return Errno.NOTDIR;
    stack.push(node);
  }
  const top = stack[stack.length - 1] as Inode;
  return { parent: top, name: '', node: top, slash };
}
