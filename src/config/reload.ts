import type { Services } from '../services.js';
import type { Logger } from '../logger.js';
import { ConfigError, validateConfig } from './load.js';
import type { Config } from './schema.js';

/**
 * Settings a reload applies at once: each is read per request from `services.config`, or pushed to
 * the one component that holds it (logger level, reader caches, usage flush timer). A prefix ending
 * in "." covers everything under it. Every other setting is fixed at start (sockets, the database,
 * the worker pool, TLS, the Redis client) and needs a restart.
 */
const LIVE = ['log.level', 'rate_limit.enabled', 'rate_limit.max', 'rate_limit.anonymous_max', 'rate_limit.window', 'reader.ttl', 'reader.cache_size', 'auth.default_tier', 'auth.usage_flush', 'tiers.'];

/** One setting that differs between two configs. */
export interface Change {
  path: string;
  from: unknown;
  to: unknown;
}

export interface ReloadResult {
  outcome: 'success' | 'rejected';
  /** Live settings now in force with their new values. */
  applied: string[];
  /** Settings that changed in the file but keep their old values until a restart. */
  restartRequired: string[];
  /** Why the new config was refused (outcome "rejected"). */
  problems: string[];
}

/** Whether a setting changes without a restart. */
export function isLive(path: string): boolean {
  return LIVE.some((live) => (live.endsWith('.') ? path.startsWith(live) : path === live));
}

/** Every leaf setting that differs, by dotted path; an added or removed tier shows each of its fields. */
export function diffConfig(before: Config, after: Config): Change[] {
  const a = leaves(before);
  const b = leaves(after);
  const changes: Change[] = [];
  for (const path of new Set([...a.keys(), ...b.keys()])) {
    const from = a.get(path);
    const to = b.get(path);
    if (from !== to) changes.push({ path, from, to });
  }
  return changes.sort((x, y) => x.path.localeCompare(y.path));
}

/** Flattens a config to path → primitive; an empty table (a tier with no limits) is a leaf "{}". */
function leaves(value: unknown, prefix = '', out = new Map<string, unknown>()): Map<string, unknown> {
  if (typeof value !== 'object' || value === null) {
    if (value !== undefined) out.set(prefix, value);
    return out;
  }
  const entries = Object.entries(value);
  if (entries.length === 0 && prefix) out.set(prefix, '{}');
  for (const [key, inner] of entries) leaves(inner, prefix ? `${prefix}.${key}` : key, out);
  return out;
}

/**
 * The config to put in force: the current one with the live settings of `next`; restart-only
 * settings keep their current values. Validated and frozen again, like a config loaded at start.
 */
export function mergeLive(current: Config, next: Config): Config {
  const out = structuredClone(current) as unknown as Record<string, Record<string, unknown>>;
  out.tiers = structuredClone(next.tiers) as Record<string, unknown>;
  const source = next as unknown as Record<string, Record<string, unknown>>;
  for (const path of LIVE) {
    if (path.endsWith('.')) continue;
    const [section, key] = path.split('.') as [string, string];
    const target = out[section];
    if (target) target[key] = source[section]?.[key];
  }
  return validateConfig(out);
}

/**
 * Re-reads the config with `load` (the same loading as at start) and puts its live settings in
 * force, all at once, or none of them: a config that does not load or validate is refused with one
 * error line naming every problem, and the current config stays whole. Never throws.
 */
export function reloadConfig(services: Services, load: () => Config): ReloadResult {
  const { logger, metrics } = services;
  let merged: Config;
  let changes: Change[];
  try {
    const next = load();
    changes = diffConfig(services.config, next);
    merged = mergeLive(services.config, next);
  } catch (err) {
    const problems = err instanceof ConfigError ? err.problems : [(err as Error).message ?? String(err)];
    metrics.configReloads.inc({ outcome: 'rejected' });
    logger.error({ problems }, `config reload rejected, the current config stays in force: ${problems.join('; ')}`);
    return { outcome: 'rejected', applied: [], restartRequired: [], problems };
  }
  const live = changes.filter((c) => isLive(c.path));
  const restart = changes.filter((c) => !isLive(c.path)).map((c) => c.path);
  services.config = merged;
  services.store.reader.configure({ cacheSize: merged.reader.cache_size, ttlSeconds: merged.reader.ttl });
  services.usage.setFlushInterval(merged.auth.usage_flush);
  metrics.configReloads.inc({ outcome: 'success' });
  const announce = () => {
    if (restart.length) {
      logger.warn({ restart_required: restart }, `config reload: ${restart.join(', ')} changed but only take effect after a restart; keeping their current values`);
    }
    const summary = live.length ? live.map(describe).join(', ') : 'no live setting changed';
    logger.info({ changed: Object.fromEntries(live.map((c) => [c.path, { from: c.from ?? null, to: c.to ?? null }])) }, `config reloaded: ${summary}`);
  };
  // Announce at whichever of the old and new levels shows info lines, so the reload is always on record.
  const quieter = !enables(logger, merged.log.level, 'info');
  if (quieter) announce();
  logger.level = merged.log.level;
  if (!quieter) announce();
  return { outcome: 'success', applied: live.map((c) => c.path), restartRequired: restart, problems: [] };
}

/**
 * "rate_limit.max 1000 → 5". Only live settings are shown with their values, and none of them is a
 * secret: auth.secret and auth.admin_key are restart-only, so a reload names them and nothing more.
 */
function describe(change: Change): string {
  const show = (value: unknown) => (value === undefined ? 'unset' : JSON.stringify(value));
  return `${change.path} ${show(change.from)} → ${show(change.to)}`;
}

/** Whether a logger at `level` writes lines of level `line`. */
function enables(logger: Logger, level: string, line: string): boolean {
  const values = logger.levels.values;
  return level !== 'silent' && (values[level] ?? Infinity) <= (values[line] ?? 0);
}
