import { readFileSync } from 'node:fs';
import { TomlError, parse as parseToml } from 'smol-toml';
import type { z } from 'zod';
import { crossChecks, fromEnv, type SourceOf } from './checks.js';
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

/** Flags of `wess serve` that set one setting each, over the file and the environment. */
const FLAGS: Record<string, string> = { '--processes': 'server.processes' };

/**
 * The flags of FLAGS in `argv` (`--processes 4` or `--processes=4`): the dotted path each sets, by
 * flag name, and the raw values, by flag name, to be read as environment values are.
 */
export function flagSettings(argv: readonly string[]): { settings: Map<string, string>; values: Env } {
  const settings = new Map<string, string>();
  const values: Env = {};
  for (const [flag, path] of Object.entries(FLAGS)) {
    const at = argv.findIndex((arg) => arg === flag || arg.startsWith(`${flag}=`));
    if (at === -1) continue;
    const arg = argv[at] as string;
    values[flag] = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[at + 1];
    settings.set(path, flag);
  }
  return { settings, values };
}

/** Where the config file is: `--config PATH`, then `WESS_CONFIG`, then `./wess.toml` if present. */
export function configPath(argv: readonly string[], env: Env): string | undefined {
  const flag = argv.findIndex((arg) => arg === '--config' || arg.startsWith('--config='));
  if (flag !== -1) {
    const arg = argv[flag] as string;
    return arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[flag + 1];
  }
  return env.WESS_CONFIG;
}

/** Reads TOML into a plain object; a syntax error becomes a ConfigError naming the file, line and column. */
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
    const reason = ((err as Error).message.split('\n')[0] ?? '').replace(/^Invalid TOML document: /, '');
    // file:line:column, as editors and compilers write it; smol-toml's TomlError carries both (1-based).
    const at = err instanceof TomlError ? `:${err.line}:${err.column}` : '';
    throw new ConfigError([`${path}${at}: TOML syntax error: ${reason}`]);
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
 * Which setting each `WESS_*` variable sets, as dotted path → variable name. Sections and keys may
 * contain underscores (`WESS_RATE_LIMIT_MAX`), so names are matched against the schema's sections.
 */
export function envSettings(env: Env): Map<string, string> {
  const sections = Object.keys(configSchema.shape).filter((s) => !NESTED_SECTIONS.has(s));
  const out = new Map<string, string>();
  for (const [name, raw] of Object.entries(env)) {
    if (raw === undefined || !name.startsWith('WESS_')) continue;
    const alias = ENV_ALIASES[name];
    if (alias) {
      out.set(`${alias[0]}.${alias[1]}`, name);
      continue;
    }
    const rest = name.slice('WESS_'.length).toLowerCase();
    const section = sections.find((s) => rest.startsWith(`${s}_`));
    if (section) out.set(`${section}.${rest.slice(section.length + 1)}`, name);
  }
  return out;
}

/** Applies `WESS_<SECTION>_<KEY>` overrides (`settings`, from envSettings) to a copy of `input`. */
export function applyEnv(input: Record<string, unknown>, env: Env, settings: ReadonlyMap<string, string> = envSettings(env)): Record<string, unknown> {
  const out: Record<string, unknown> = structuredClone(input);
  for (const [path, name] of settings) {
    const [section, key] = path.split('.') as [string, string];
    const target = (out[section] ??= {}) as Record<string, unknown>;
    if (typeof target !== 'object' || target === null) continue;
    target[key] = coerceEnv(env[name] as string, target[key]);
  }
  return out;
}

/** The environment variable that set a path (or the section.key holding it), for messages. */
function sourceIn(settings: ReadonlyMap<string, string>): SourceOf {
  return (path) => settings.get(path.split('.').slice(0, 2).join('.'));
}

/** One line per problem, unknown keys one each, with the dotted path each line is about. */
function describe(issue: z.core.$ZodIssue, source: SourceOf): Reported[] {
  const path = issue.path.map(String).join('.') || '(root)';
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => {
      const full = issue.path.length ? `${path}.${key}` : key;
      return { path: full, text: `${full}${fromEnv(source, full)}: unknown key` };
    });
  }
  return [{ path, text: `${path}${fromEnv(source, path)}: ${issue.message}` }];
}

interface Reported {
  path: string;
  text: string;
}

/** Deletes from `input` what `issue` complains about, so that the rest can still be checked. */
function dropIssue(input: Record<string, unknown>, issue: z.core.$ZodIssue): void {
  const at = issue.path.map(String);
  const paths = issue.code === 'unrecognized_keys' ? issue.keys.map((key) => [...at, key]) : [at];
  for (const path of paths) {
    const last = path.pop();
    let target: unknown = input;
    for (const key of path) target = typeof target === 'object' && target !== null ? (target as Record<string, unknown>)[key] : undefined;
    if (last !== undefined && typeof target === 'object' && target !== null) delete (target as Record<string, unknown>)[last];
  }
}

/** True when dotted paths `a` and `b` name the same setting or one holds the other. */
function overlaps(a: string, b: string): boolean {
  return a === b || a.startsWith(`${b}.`) || b.startsWith(`${a}.`);
}

/**
 * Validates and freezes; throws ConfigError listing every problem at once. A refinement runs only
 * on an otherwise valid table and the checks between settings only on a valid config, so the bad
 * values are taken out (defaults stand in) and the rest checked again, for a few rounds: fixing
 * one problem never reveals another. `settings` (envSettings) names the variable a value came from.
 */
export function validateConfig(input: unknown, settings: ReadonlyMap<string, string> = new Map()): Config {
  const source = sourceIn(settings);
  const first = configSchema.safeParse(input);
  if (first.success) {
    const problems = crossChecks(first.data, source);
    if (problems.length) throw new ConfigError(problems.map((p) => p.message));
    return deepFreeze(first.data);
  }
  const reported: Reported[] = [];
  const report = (found: Reported[]) => reported.push(...found.filter((r) => !reported.some((seen) => seen.text === r.text)));
  let rest: Record<string, unknown> = typeof input === 'object' && input !== null ? structuredClone(input as Record<string, unknown>) : {};
  let issues = first.error.issues;
  report(issues.flatMap((issue) => describe(issue, source)));
  for (let round = 0; round < MAX_ROUNDS; round++) {
    for (const issue of issues) {
      if (issue.path.length === 0 && issue.code !== 'unrecognized_keys') rest = {};
      else dropIssue(rest, issue);
    }
    const again = configSchema.safeParse(rest);
    if (again.success) {
      const more = crossChecks(again.data, source).filter((p) => !p.paths.some((path) => reported.some((r) => overlaps(path, r.path))));
      report(more.map((p) => ({ path: p.paths[0] ?? '', text: p.message })));
      break;
    }
    issues = again.error.issues;
    report(issues.flatMap((issue) => describe(issue, source)));
  }
  throw new ConfigError(reported.map((r) => r.text));
}

/** Rounds of "take the bad values out, check again" before giving up on finding more. */
const MAX_ROUNDS = 5;

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

/** wess.toml → env overrides → flag overrides (`--processes`) → zod validation → frozen config. */
export function loadConfig(options: LoadOptions = {}): Config {
  const env = options.env ?? {};
  const argv = options.argv ?? [];
  const path = configPath(argv, env) ?? options.defaultPath;
  const fromFile = path ? readConfigFile(path) : {};
  const settings = envSettings(env);
  const flags = flagSettings(argv);
  // A flag is read like a variable named after it, so a bad value says "(from --processes)".
  const input = applyEnv(applyEnv(fromFile, env, settings), flags.values, flags.settings);
  return validateConfig(input, new Map([...settings, ...flags.settings]));
}
