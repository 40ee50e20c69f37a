import { readFileSync } from 'node:fs';
import { parse as parseToml } from 'smol-toml';
import type { z } from 'zod';
import { PAGE_BYTES } from '../wasm/types.js';
import { configSchema, type Config } from './schema.js';

/** A config that failed validation; `problems` names every bad path at once. */
export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
}

type Env = Record<string, string | undefined>;

/** The seed's short env names, kept for compatibility with the original deployment scripts. */
const ENV_ALIASES: Record<string, [string, string]> = {
  WESS_DB_PATH: ['database', 'path'],
  WESS_LOG_LEVEL: ['log', 'level'],
  WESS_ADMIN_KEY: ['auth', 'admin_key'],
};

/** Sections whose keys are tables of their own (tiers.<name>.<field>): set in the file, not from env. */
const NESTED_SECTIONS = new Set(['tiers']);

/** Where the config file is: `--config PATH`, then `WESS_CONFIG`, then `./wess.toml` if present. */
export function configPath(argv: readonly string[], env: Env): string | undefined {
  const flag = argv.findIndex((arg) => arg === '--config' || arg.startsWith('--config='));
  if (flag !== -1) {
    const arg = argv[flag] as string;
    return arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[flag + 1];
  }
  return env.WESS_CONFIG;
}

/** Reads TOML into a plain object; a syntax error becomes a ConfigError naming the file. */
export function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError([`${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`]);
  }
  try {
    return parseToml(text) as Record<string, unknown>;
  } catch (err) {
    throw new ConfigError([`${path}: ${(err as Error).message.split('\n')[0]}`]);
  }
}

/** Env values are strings; the schema's field type says how to read one. */
function coerceEnv(raw: string, current: unknown): unknown {
  if (typeof current === 'number' || /^-?\d+(\.\d+)?$/.test(raw)) {
    const n = Number(raw);
    return raw.trim() === '' || Number.isNaN(n) ? raw : n;
  }
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  return raw;
}

/**
 * Applies `WESS_<SECTION>_<KEY>` overrides. Sections and keys may contain underscores
 * (`WESS_RATE_LIMIT_MAX`), so names are matched against the schema's known sections.
 */
export function applyEnv(input: Record<string, unknown>, env: Env): Record<string, unknown> {
  const out: Record<string, unknown> = structuredClone(input);
  const sections = Object.keys(configSchema.shape).filter((s) => !NESTED_SECTIONS.has(s));
  const set = (section: string, key: string, raw: string) => {
    const target = (out[section] ??= {}) as Record<string, unknown>;
    if (typeof target !== 'object' || target === null) return;
    target[key] = coerceEnv(raw, target[key]);
  };
  for (const [name, raw] of Object.entries(env)) {
    if (raw === undefined || !name.startsWith('WESS_')) continue;
    const alias = ENV_ALIASES[name];
    if (alias) {
      set(alias[0], alias[1], raw);
      continue;
    }
    const rest = name.slice('WESS_'.length).toLowerCase();
    const section = sections.find((s) => rest.startsWith(`${s}_`));
    if (section) set(section, rest.slice(section.length + 1), raw);
  }
  return out;
}

function describe(issue: z.core.$ZodIssue): string[] {
  const path = issue.path.map(String).join('.') || '(root)';
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => `${issue.path.length ? `${path}.` : ''}${key}: unknown key`);
  }
  return [`${path}: ${issue.message}`];
}

/** Validates and freezes; throws ConfigError listing every problem. */
export function validateConfig(input: unknown): Config {
  const parsed = configSchema.safeParse(input);
  if (!parsed.success) throw new ConfigError(parsed.error.issues.flatMap(describe));
  const config = parsed.data;
  const problems: string[] = [];
  if (config.runner.max_memory < PAGE_BYTES) {
    problems.push(`runner.max_memory: must be at least one 64 KiB page (${PAGE_BYTES})`);
  }
  if ((config.server.tls_cert === undefined) !== (config.server.tls_key === undefined)) {
    problems.push('server.tls_cert, server.tls_key: set both for HTTPS, or neither');
  }
  if (config.auth.default_tier !== undefined && !Object.hasOwn(config.tiers, config.auth.default_tier)) {
    problems.push(`auth.default_tier: no [tiers.${config.auth.default_tier}] table is configured`);
  }
  // A tier above a global limit is not an error: the global limit is the hard one and wins
  // (policy.ts limitsFor), so lowering runner.timeout for one run does not invalidate the tiers.
  for (const [name, tier] of Object.entries(config.tiers)) {
    if (tier.max_memory !== undefined && tier.max_memory < PAGE_BYTES) {
      problems.push(`tiers.${name}.max_memory: must be at least one 64 KiB page (${PAGE_BYTES})`);
    }
  }
  if (problems.length) throw new ConfigError(problems);
  return deepFreeze(config);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

export interface LoadOptions {
  argv?: readonly string[];
  env?: Env;
  /** Used when neither --config nor WESS_CONFIG names a file. */
  defaultPath?: string;
}

/** wess.toml → env overrides → zod validation → frozen config. */
export function loadConfig(options: LoadOptions = {}): Config {
  const env = options.env ?? {};
  const path = configPath(options.argv ?? [], env) ?? options.defaultPath;
  const fromFile = path ? readConfigFile(path) : {};
  return validateConfig(applyEnv(fromFile, env));
}
