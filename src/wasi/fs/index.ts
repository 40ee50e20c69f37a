import type { WasiFunctions, WasiState } from '../state.js';
import { fdCalls } from './calls-fd.js';
import { dirCalls } from './calls-dir.js';
import { pathCalls } from './calls-path.js';
import type { FileSystem } from './filesystem.js';

export { FileSystem, DEFAULT_SCRATCH_BYTES } from './filesystem.js';

/**
 * The preview-1 file calls of a process with files, to lay over the stdio-only functions in
 * `stdio`: file and directory fds are answered here, stdio fds by `stdio` as before.
 */
export function fsFunctions(s: WasiState, fs: FileSystem, stdio: WasiFunctions): WasiFunctions {
  return { ...fdCalls(s, fs, stdio), ...dirCalls(s, fs), ...pathCalls(s, fs) };
}
