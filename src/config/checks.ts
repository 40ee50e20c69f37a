import { isIP } from 'node:net';
import { PAGE_BYTES } from '../wasm/types.js';
import type { Config } from './schema.js';

/** A problem that involves several settings; `paths` are the dotted keys it names. */
export interface CrossProblem {
  paths: string[];
  message: string;
}

/** The environment variable that set `path`, if one did. */
export type SourceOf = (path: string) => string | undefined;

/** " (from WESS_X)" when an environment variable set `path`, else "". */
export function fromEnv(source: SourceOf, path: string): string {
  const name = source(path);
  return name === undefined ? '' : ` (from ${name})`;
}

/**
 * Checks between settings, each of which is valid on its own. They run on every load (start,
 * `wess config check`, reload), so nothing a start would trip over later passes the check.
 */
export function crossChecks(config: Config, source: SourceOf): CrossProblem[] {
  const problems: CrossProblem[] = [];
  const add = (paths: string[], message: string) => problems.push({ paths, message });
  if (config.runner.max_memory < PAGE_BYTES) {
    add(['runner.max_memory'], `runner.max_memory${fromEnv(source, 'runner.max_memory')}: must be at least one 64 KiB page (${PAGE_BYTES})`);
  }
  // LevelDB allows one process to open its directory: a second process would fail to start (or,
  // worse, be a node whose data nobody else sees), so the cluster is refused before it forks.
  if (config.server.processes !== 1 && config.database.url === undefined) {
    add(
      ['server.processes'],
      `server.processes = ${config.server.processes}${fromEnv(source, 'server.processes')} needs the PostgreSQL store (database.url / WESS_DATABASE_URL): ` +
        'LevelDB can be opened by one process; set server.processes = 1 or give a database.url',
    );
  }
  if ((config.server.tls_cert === undefined) !== (config.server.tls_key === undefined)) {
    add(['server.tls_cert', 'server.tls_key'], 'server.tls_cert, server.tls_key: set both for HTTPS, or neither');
  }
  if (config.auth.default_tier !== undefined && !Object.hasOwn(config.tiers, config.auth.default_tier)) {
    add(['auth.default_tier'], `auth.default_tier${fromEnv(source, 'auth.default_tier')}: no [tiers.${config.auth.default_tier}] table is configured`);
  }
  for (const [name, tier] of Object.entries(config.tiers)) {
    if (tier.max_memory !== undefined && tier.max_memory < PAGE_BYTES) {
      add([`tiers.${name}.max_memory`], `tiers.${name}.max_memory: must be at least one 64 KiB page (${PAGE_BYTES})`);
    }
    // The tier's max_timeout is also its runs' default deadline: above runner.timeout it would
    // promise a deadline the runner never grants, so it is refused rather than quietly lowered.
    if (tier.max_timeout !== undefined && tier.max_timeout > config.runner.timeout) {
      const env = source('runner.timeout');
      add(
        [`tiers.${name}.max_timeout`, 'runner.timeout'],
        `tiers.${name}.max_timeout: ${tier.max_timeout} ms is above runner.timeout (${config.runner.timeout} ms${env === undefined ? '' : `, from ${env}`}); ` +
          `a tier can only lower the deadline: lower tiers.${name}.max_timeout or raise runner.timeout`,
      );
    }
  }
  return problems;
}

/** Characters of a host name (RFC 1123 labels; `_` too, which container DNS names may carry). */
const HOST_NAME = /^[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*\.?$/;

/**
 * Why `host` cannot be listened on as written, or undefined when it is a host name or an IP
 * address. Caught here so that `wess config check` refuses it, not the first start.
 */
export function hostProblem(host: string): string | undefined {
  if (isIP(host) !== 0 || HOST_NAME.test(host)) return undefined;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(host)) return `"${host}" is a URL: give only the host name or IP address (the port goes in server.port)`;
  const bracketed = /^\[(.*)\](?::\d+)?$/.exec(host);
  if (bracketed && isIP(bracketed[1] as string) === 6) return `"${host}": write an IPv6 address without brackets or port, e.g. "${bracketed[1]}" (the port goes in server.port)`;
  const withPort = /^(.*):(\d+)$/.exec(host);
  if (withPort && (isIP(withPort[1] as string) === 4 || HOST_NAME.test(withPort[1] as string))) {
    return `"${host}" includes a port: set server.host = "${withPort[1]}" and server.port = ${withPort[2]} (or WESS_SERVER_PORT)`;
  }
  return `"${host}" is not a host name or an IP address`;
}
