import type { FuncType, ValType } from '../wasm/types.js';

/*
 * The core-wasm signature of every wasi_snapshot_preview1 function, as wasi-libc imports them
 * (pointers and sizes are i32, 64-bit values such as timestamps, offsets and rights are i64, and every
 * function but proc_exit returns an errno as i32). test/fixtures/wasi/syscalls.c imports all of them
 * through wasi-libc, and a test compares its import section with this table.
 */

const I: ValType = 'i32';
const L: ValType = 'i64';
const errno = (...params: ValType[]): FuncType => ({ params, results: [I] });

/** The preview-1 signature of every function, by import name. Look names up with `wasiSignature`. */
export const WASI_SIGNATURES: Record<string, FuncType> = {
  args_get: errno(I, I),
  args_sizes_get: errno(I, I),
  environ_get: errno(I, I),
  environ_sizes_get: errno(I, I),
  clock_res_get: errno(I, I),
  clock_time_get: errno(I, L, I),
  fd_advise: errno(I, L, L, I),
  fd_allocate: errno(I, L, L),
  fd_close: errno(I),
  fd_datasync: errno(I),
  fd_fdstat_get: errno(I, I),
  fd_fdstat_set_flags: errno(I, I),
  fd_fdstat_set_rights: errno(I, L, L),
  fd_filestat_get: errno(I, I),
  fd_filestat_set_size: errno(I, L),
  fd_filestat_set_times: errno(I, L, L, I),
  fd_pread: errno(I, I, I, L, I),
  fd_prestat_get: errno(I, I),
  fd_prestat_dir_name: errno(I, I, I),
  fd_pwrite: errno(I, I, I, L, I),
  fd_read: errno(I, I, I, I),
  fd_readdir: errno(I, I, I, L, I),
  fd_renumber: errno(I, I),
  fd_seek: errno(I, L, I, I),
  fd_sync: errno(I),
  fd_tell: errno(I, I),
  fd_write: errno(I, I, I, I),
  path_create_directory: errno(I, I, I),
  path_filestat_get: errno(I, I, I, I, I),
  path_filestat_set_times: errno(I, I, I, I, L, L, I),
  path_link: errno(I, I, I, I, I, I, I),
  path_open: errno(I, I, I, I, I, L, L, I, I),
  path_readlink: errno(I, I, I, I, I, I),
  path_remove_directory: errno(I, I, I),
  path_rename: errno(I, I, I, I, I, I),
  path_symlink: errno(I, I, I, I, I),
  path_unlink_file: errno(I, I, I),
  poll_oneoff: errno(I, I, I, I),
  proc_exit: { params: [I], results: [] },
  proc_raise: errno(I),
  sched_yield: errno(),
  random_get: errno(I, I),
  sock_accept: errno(I, I, I),
  sock_recv: errno(I, I, I, I, I, I),
  sock_send: errno(I, I, I, I, I),
  sock_shutdown: errno(I, I),
};
for (const type of Object.values(WASI_SIGNATURES)) {
  Object.freeze(type.params);
  Object.freeze(type.results);
  Object.freeze(type);
}
Object.freeze(WASI_SIGNATURES);

/** The signature of a preview-1 function, or undefined when `name` is not one (inherited keys never match). */
export function wasiSignature(name: string): FuncType | undefined {
  return Object.hasOwn(WASI_SIGNATURES, name) ? WASI_SIGNATURES[name] : undefined;
}

/** `(i32, i64) -> (i32)`, the way error messages show a signature. */
export function formatSignature(type: FuncType): string {
  return `(${type.params.join(', ')}) -> (${type.results.join(', ')})`;
}
