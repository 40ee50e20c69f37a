import { Errno } from './errno.js';
import { entryOf, type WasiFunctions, type WasiState } from './state.js';

/*
 * Everything that needs a file, a directory or a socket, as answered for stdio and closed fds: the
 * way a real host would for a character device, and EBADF for an fd that is not open. A process
 * without files has no other fds; with files, fs/ answers for its file and directory fds and falls
 * back on these for the rest. Sockets are never available.
 */

/** Calls that take an fd: `onOpen` when the fd is open (stdio; or, for sockets, any fd), EBADF otherwise. */
function onFd(s: WasiState, onOpen: number): (fd: number) => number {
  return (fd) => (entryOf(s, fd) === undefined ? Errno.BADF : onOpen);
}

/** fd_advise ... fd_readdir, path_*, sock_*, proc_raise. */
export function unsupportedFunctions(s: WasiState): WasiFunctions {
  const seekless = onFd(s, Errno.SPIPE); // positioned I/O on a character device
  const notGranted = onFd(s, Errno.NOTCAPABLE); // outside the rights fd_fdstat_get reports for stdio
  const notDir = onFd(s, Errno.NOTDIR); // a path call relative to stdio
  const notSocket = onFd(s, Errno.NOTSOCK);

  return {
    fd_advise: seekless,
    fd_allocate: notGranted,
    fd_datasync: notGranted,
    fd_sync: notGranted,
    fd_filestat_set_size: notGranted,
    fd_filestat_set_times: notGranted,
    fd_pread: seekless,
    fd_pwrite: seekless,
    fd_readdir: notDir,

    path_create_directory: notDir,
    path_filestat_get: notDir,
    path_filestat_set_times: notDir,
    path_link: notDir,
    path_open: notDir,
    path_readlink: notDir,
    path_remove_directory: notDir,
    path_rename: notDir,
    // path_symlink(old_path, old_path_len, fd, new_path, new_path_len): the directory fd comes third.
    path_symlink: (_oldPath: number, _oldLen: number, fd: number): number => notDir(fd),
    path_unlink_file: notDir,

    sock_accept: notSocket,
    sock_recv: notSocket,
    sock_send: notSocket,
    sock_shutdown: notSocket,

    proc_raise: (): number => Errno.NOSYS,
  };
}
