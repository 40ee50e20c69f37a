import type { Config } from './config/schema.js';
import { DbOpenError } from './store/index.js';

/** How a failed start is reported: one sentence for people, and whether the stack is worth logging. */
export interface StartFailure {
  sentence: string;
  /** False for causes the sentence says all about (a port in use, a locked directory). */
  unexpected: boolean;
}

/** Node's errors from listen() and its host name lookup carry these. */
interface SocketError {
  code?: string;
  syscall?: string;
}

/**
 * Turns why a start failed into one sentence that names the setting to change (its config key and
 * environment variable), e.g. "the data directory ./data is locked by another Wess (pid 1234)".
 */
export function describeStartFailure(err: unknown, config: Config): StartFailure {
  const known = (sentence: string): StartFailure => ({ sentence, unexpected: false });
  if (err instanceof DbOpenError) {
    if (err.code === 'DB_LOCKED') {
      return known(`${err.message}: stop it first, or give this server another data directory (database.path / WESS_DB_PATH)`);
    }
    return known(`${err.message}: make it writable for this user, or set database.path / WESS_DB_PATH to a directory it may use`);
  }
  const { host, port } = config.server;
  const at = `cannot listen on ${host.includes(':') ? `[${host}]` : host}:${port}`;
  const { code, syscall } = (err ?? {}) as SocketError;
  if (syscall === 'listen' || syscall === 'bind') {
    if (code === 'EADDRINUSE') return known(`${at}: the port is already in use by another process; stop it, or set server.port / WESS_SERVER_PORT to a free port`);
    if (code === 'EACCES') return known(`${at}: permission denied (ports below 1024 need privileges); set server.port / WESS_SERVER_PORT to 1024 or above`);
    if (code === 'EADDRNOTAVAIL') return known(`${at}: ${host} is not an address of this machine; set server.host / WESS_SERVER_HOST to one of its addresses, or 0.0.0.0 for all`);
  }
  if (syscall === 'getaddrinfo') {
    return known(`${at}: the host name ${host} does not resolve (${code ?? 'lookup failed'}); set server.host / WESS_SERVER_HOST to a host name or address of this machine`);
  }
  // Anything else (e.g. "server.tls_cert: cannot read …", which names its setting itself).
  const message = err instanceof Error ? err.message : String(err);
  return { sentence: `failed to start: ${message}`, unexpected: true };
}
