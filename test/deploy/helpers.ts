import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { once } from 'node:events';
import type { TestContext } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { validateConfig } from '../../src/config/load.js';
import { ROOT } from '../helper.js';

/** Text of a file in the repository (relative to its root). */
export function repoText(path: string): string {
  return readFileSync(new URL(path, ROOT), 'utf8');
}

/** A YAML file of the repository, parsed. */
export function repoYaml<T = Record<string, unknown>>(path: string): T {
  return parseYaml(repoText(path)) as T;
}

/** Absolute path of a repository file. */
export function repoPath(path: string): string {
  return new URL(path, ROOT).pathname;
}

/**
 * Under CI (.ci/run sets CI=true) or with WESS_REQUIRE_PROMETHEUS=1 (the GitHub workflow) a missing
 * promtool/prometheus fails the test; elsewhere the test is skipped with a loud warning.
 */
export function prometheusRequired(env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(env.CI) || env.WESS_REQUIRE_PROMETHEUS === '1';
}

/** The absolute path of `name` on PATH, or undefined. */
export function which(name: string): string | undefined {
  const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  const path = found.stdout.trim();
  return found.status === 0 && path ? path : undefined;
}

/** The path of a Prometheus tool; skips (loudly) or fails the test when it is missing. */
export function prometheusTool(t: TestContext, name: 'promtool' | 'prometheus'): string | undefined {
  return deployTool(t, name, 'prometheus', 'Prometheus');
}

/** The path of Debian's nginx; skips (loudly) or fails the test when it is missing, as prometheusTool does. */
export function nginxTool(t: TestContext): string | undefined {
  return deployTool(t, 'nginx', 'nginx', 'nginx');
}

function deployTool(t: TestContext, name: string, debianPackage: string, what: string): string | undefined {
  const path = which(name);
  if (path) return path;
  const install = `install Debian's "${debianPackage}" package (.ci/run does)`;
  if (prometheusRequired()) throw new Error(`${name} NOT FOUND and required under CI: ${install}`);
  warnLoudly(`${name} NOT FOUND: ${install}. ${what} deploy tests are SKIPPED.`);
  t.skip(`${name} NOT FOUND: ${install}`);
  return undefined;
}

/** A message framed in exclamation marks, so a skip is seen in a long test log. */
export function warnLoudly(message: string): void {
  console.warn(`\n${'!'.repeat(message.length)}\n${message}\n${'!'.repeat(message.length)}\n`);
}

/**
 * Why the tests that need the PostgreSQL store cannot run in this tree (database.url is not a
 * config key yet), or false when they can.
 */
export const postgresStoreMissing: string | false = (() => {
  try {
    validateConfig({ database: { url: 'postgres://postgres@127.0.0.1:5432/postgres' } });
    return false;
  } catch {
    return 'database.url IS NOT A CONFIG KEY: this tree has no PostgreSQL store, so the tests of several processes and nodes on it are SKIPPED';
  }
})();
if (postgresStoreMissing) warnLoudly(postgresStoreMissing);

/** A TCP port nothing listens on right now, on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

/**
 * Every series name a Prometheus text exposition can produce, from its `# TYPE` lines: a histogram
 * `h` gives h_bucket, h_sum and h_count; a summary `s` gives s, s_sum and s_count.
 */
export function exportedSeriesNames(exposition: string): Set<string> {
  const names = new Set<string>();
  for (const match of exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const [, name = '', type] = match;
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(name + suffix);
    else if (type === 'summary') for (const n of [name, `${name}_sum`, `${name}_count`]) names.add(n);
    else names.add(name);
  }
  return names;
}

const PROMQL_KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);

/**
 * The metric names a PromQL expression selects. Lexical, which is enough for dashboards: label
 * matchers, strings, grouping clauses, ranges and numbers are removed; an identifier followed by
 * `(` is a function or aggregation; what is left names metrics.
 */
export function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/(^|[^A-Za-z0-9_:.])\d+(\.\d+)?(e[+-]?\d+)?/gi, '$1 ');
  const names = new Set<string>();
  for (const match of stripped.matchAll(/([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?/g)) {
    const [, name = '', call] = match;
    if (!call && !PROMQL_KEYWORDS.has(name.toLowerCase())) names.add(name);
  }
  return [...names];
}

/** Grafana's variables replaced by concrete values, so Prometheus can evaluate the expression. */
export function concreteExpr(expr: string): string {
  return expr
    .replace(/\$\{?__rate_interval\}?/g, '1m')
    .replace(/\$\{?__interval\}?/g, '15s')
    .replace(/\$\{?__range\}?/g, '5m')
    .replace(/\$\{?instance\}?/g, '.*');
}

interface Panel {
  id?: number;
  type?: string;
  title?: string;
  datasource?: { type?: string; uid?: string };
  targets?: { expr?: string; datasource?: { type?: string; uid?: string } }[];
  panels?: Panel[];
}

/** The provisioned dashboard, parsed. */
export interface Dashboard {
  uid: string;
  panels: Panel[];
  templating?: { list: { name: string; datasource?: { uid?: string }; query?: unknown }[] };
}

/** The dashboard in grafana/dashboards/wess.json. */
export function loadDashboard(): Dashboard {
  return JSON.parse(repoText('grafana/dashboards/wess.json')) as Dashboard;
}

/** Every panel, rows' nested panels included. */
export function allPanels(dashboard: Dashboard): Panel[] {
  return dashboard.panels.flatMap((panel) => [panel, ...(panel.panels ?? [])]);
}

/** Every PromQL expression of the dashboard's panels, with the panel it belongs to. */
export function dashboardExpressions(dashboard: Dashboard): { panel: string; expr: string }[] {
  return allPanels(dashboard).flatMap((panel) =>
    (panel.targets ?? []).flatMap((target) => (target.expr ? [{ panel: panel.title ?? `#${panel.id}`, expr: target.expr }] : [])),
  );
}

/** Every alert or recording rule expression in prometheus/alerts.yml. */
export function ruleExpressions(): { rule: string; expr: string }[] {
  const rules = repoYaml<{ groups: { rules: { alert?: string; record?: string; expr: string }[] }[] }>('prometheus/alerts.yml');
  return rules.groups.flatMap((group) => group.rules.map((rule) => ({ rule: rule.alert ?? rule.record ?? '?', expr: rule.expr })));
}
