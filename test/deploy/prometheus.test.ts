/**
 * prometheus.yml and its alert rules pass promtool, and a real Prometheus started from that config
 * scrapes a running Wess: the target is up, wess_* series arrive, and every dashboard expression and
 * alert rule evaluates against them without error.
 */
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { listen, startApp, upload, type TestApp } from '../helper.js';
import { concreteExpr, dashboardExpressions, loadDashboard, prometheusRequired, prometheusTool, repoPath, repoYaml, ruleExpressions, which } from './helpers.js';
import { eventually, startPrometheus, testConfig, type PrometheusServer } from './prometheus-server.js';

interface Target { labels: Record<string, string>; health: string; lastError: string }
interface Sample { metric: Record<string, string>; value: [number, string] }
interface RuleGroup { rules: { name: string; health: string; lastError?: string; lastEvaluation: string }[] }

test('promtool check config prometheus.yml (and the rule files it names)', (t) => {
  const promtool = prometheusTool(t, 'promtool');
  if (!promtool) return;
  const run = spawnSync(promtool, ['check', 'config', 'prometheus.yml'], { cwd: repoPath('.'), encoding: 'utf8' });
  assert.equal(run.status, 0, run.stdout + run.stderr);
  assert.match(run.stdout, /SUCCESS: prometheus\.yml is valid/);
  assert.match(run.stdout, /SUCCESS: 1 rule files found/);
});

test('promtool check config deploy/prometheus-cluster.yml (the compose cluster profile\'s)', (t) => {
  const promtool = prometheusTool(t, 'promtool');
  if (!promtool) return;
  const run = spawnSync(promtool, ['check', 'config', 'deploy/prometheus-cluster.yml'], { cwd: repoPath('.'), encoding: 'utf8' });
  assert.equal(run.status, 0, run.stdout + run.stderr);
  assert.match(run.stdout, /SUCCESS: deploy\/prometheus-cluster\.yml is valid/);
  assert.match(run.stdout, /SUCCESS: 1 rule files found/);
});

test('promtool check rules on every rule file', (t) => {
  const promtool = prometheusTool(t, 'promtool');
  if (!promtool) return;
  const files = repoYaml<{ rule_files?: string[] }>('prometheus.yml').rule_files ?? [];
  assert.ok(files.length > 0, 'prometheus.yml names no rule files');
  for (const file of files) {
    const checked: SpawnSyncReturns<string> = spawnSync(promtool, ['check', 'rules', file], { cwd: repoPath('.'), encoding: 'utf8' });
    assert.equal(checked.status, 0, checked.stdout + checked.stderr);
    assert.match(checked.stdout, /SUCCESS: [1-9]\d* rules found/);
  }
});

const skipServer = !which('prometheus') && !prometheusRequired() ? 'prometheus NOT FOUND: install Debian\'s "prometheus" package. SKIPPED.' : false;
if (skipServer) console.warn(`\n${'!'.repeat(skipServer.length)}\n${skipServer}\n${'!'.repeat(skipServer.length)}\n`);

describe('a real Prometheus scraping a running Wess', { skip: skipServer }, () => {
  let wess: TestApp;
  let prometheus: PrometheusServer | undefined;
  let target: string;

  before(async () => {
    wess = await startApp({ server: { workers: 1 }, log: { level: 'warn' } });
    target = (await listen(wess.app)).replace('http://', '');
    // Traffic, so the labelled series (requests by status, errors by code, calls by outcome) exist.
    const mod = await upload(wess.app, 'add');
    const run = (args: unknown[]) => wess.app.inject({ method: 'POST', url: `/modules/${mod.id}/run`, payload: { function: 'add', args } });
    assert.equal((await run([2, 3])).statusCode, 200);
    assert.equal((await run([1, 2.5])).statusCode, 400);
    const binary = which('prometheus');
    if (!binary) throw new Error('prometheus is required under CI: install Debian\'s "prometheus" package (.ci/run does)');
    prometheus = await startPrometheus(binary, testConfig(target));
  });
  after(async () => {
    await prometheus?.stop();
    await wess?.close();
  });

  test('the wess target is up', async () => {
    const up = await eventually('wess target healthy', async () => {
      const { activeTargets } = await prometheus!.api<{ activeTargets: Target[] }>('/api/v1/targets');
      const wessTarget = activeTargets.find((t) => t.labels.job === 'wess');
      return wessTarget?.health === 'up' ? wessTarget : undefined;
    });
    assert.equal(up.labels.instance, target);
    assert.equal(up.lastError, '');
  });

  test('wess_* series are scraped, with their labels', async () => {
    const names = await eventually('wess_* series', async () => {
      const data = await prometheus!.api<string[]>('/api/v1/label/__name__/values');
      const wessNames = data.filter((name) => name.startsWith('wess_'));
      return wessNames.includes('wess_execution_time_bucket') ? wessNames : undefined;
    });
    for (const name of ['wess_requests_total', 'wess_errors_total', 'wess_execution_time_bucket', 'wess_cache_hits', 'wess_pool_utilization', 'wess_writer_batch_size_bucket']) {
      assert.ok(names.includes(name), `${name} not scraped; got ${names.join(', ')}`);
    }
    const errors = await prometheus!.api<{ result: Sample[] }>('/api/v1/query', { query: 'wess_errors_total{job="wess"}' });
    assert.deepEqual(errors.result.map((s) => [s.metric.code, s.value[1]]), [['INVALID_ARGUMENT', '1']]);
    const runs = await prometheus!.api<{ result: Sample[] }>('/api/v1/query', { query: 'sum by (status) (wess_requests_total{route="/modules/:id/run"})' });
    assert.deepEqual(runs.result.map((s) => [s.metric.status, s.value[1]]).sort(), [['200', '1'], ['400', '1']]);
  });

  test('every dashboard expression evaluates, and the core panels show data', async () => {
    // rate() needs two samples inside its window: wait for the second scrape.
    await eventually('two scrapes', async () => {
      const { result } = await prometheus!.api<{ result: Sample[] }>('/api/v1/query', { query: 'rate(wess_requests_total[1m])' });
      return result.length > 0 ? true : undefined;
    });
    const empty: string[] = [];
    for (const { panel, expr } of dashboardExpressions(loadDashboard())) {
      const data = await prometheus!.api<{ result: Sample[] }>('/api/v1/query', { query: concreteExpr(expr) }).catch((err: Error) => {
        throw new Error(`panel "${panel}": ${err.message}\n  ${expr}`);
      });
      if (data.result.length === 0) empty.push(panel);
    }
    const core = ['Request rate by status', 'Error rate by code', 'Execution time percentiles', 'Cache hit ratio', 'Pool saturation', 'Writer batch size', 'CPU', 'Memory'];
    assert.deepEqual(core.filter((panel) => empty.includes(panel)), [], `panels without data: ${empty.join(', ')}`);
  });

  test('every alert rule is loaded and evaluates without error', async () => {
    const expected = ruleExpressions().map((r) => r.rule).sort();
    const rules = await eventually('every rule evaluated', async () => {
      const { groups } = await prometheus!.api<{ groups: RuleGroup[] }>('/api/v1/rules');
      const all = groups.flatMap((g) => g.rules);
      return all.length === expected.length && all.every((r) => !r.lastEvaluation.startsWith('0001-')) ? all : undefined;
    });
    assert.deepEqual(rules.map((r) => r.name).sort(), expected);
    for (const rule of rules) assert.equal(rule.health, 'ok', `${rule.name}: ${rule.lastError ?? ''}`);
  });
});
