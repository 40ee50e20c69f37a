/**
 * The Grafana side of the compose stack: provisioning files parse and agree with the dashboard and
 * with docker-compose.yml, and every PromQL expression (dashboard and alert rules) names only
 * series that a real Wess /metrics exports.
 */
import assert from 'node:assert/strict';
import { posix } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { noKey, startApp, type TestApp } from '../helper.js';
import { allPanels, dashboardExpressions, exportedSeriesNames, loadDashboard, metricNames, repoYaml, ruleExpressions } from './helpers.js';

interface Datasources { apiVersion: number; datasources: { name: string; uid: string; type: string; url: string; isDefault?: boolean }[] }
interface Providers { apiVersion: number; providers: { name: string; type: string; options: { path: string } }[] }
interface Compose { services: Record<string, { volumes?: string[]; environment?: Record<string, string | null> }> }

const PANELS = [
  'Request rate by status',
  'Error rate by code',
  'Execution time percentiles',
  'Cache hit ratio',
  'Compile time',
  'Pool saturation',
  'Writer batch size',
  'CPU',
  'Memory',
  'Jobs ended by outcome',
  'Job queue depth and age',
  'Webhook deliveries',
];

/** Bind mounts of a compose service as [source, target]. */
function mounts(compose: Compose, service: string): [string, string][] {
  return (compose.services[service]?.volumes ?? []).map((spec) => {
    const [source = '', target = ''] = spec.split(':');
    return [source, target];
  });
}

describe('grafana provisioning', () => {
  const datasources = repoYaml<Datasources>('grafana/provisioning/datasources/prometheus.yml');
  const providers = repoYaml<Providers>('grafana/provisioning/dashboards/wess.yml');
  const compose = repoYaml<Compose>('docker-compose.yml');
  const dashboard = loadDashboard();

  test('the data source is the compose Prometheus, under the uid every panel uses', () => {
    assert.equal(datasources.apiVersion, 1);
    const [prometheus, ...others] = datasources.datasources;
    assert.equal(others.length, 0);
    assert.equal(prometheus?.type, 'prometheus');
    assert.equal(prometheus?.url, 'http://prometheus:9090');
    assert.ok(compose.services.prometheus, 'no prometheus service in docker-compose.yml');
    const refs = allPanels(dashboard).flatMap((panel) => [panel.datasource, ...(panel.targets ?? []).map((t) => t.datasource)]);
    const variables = dashboard.templating?.list.map((v) => v.datasource) ?? [];
    for (const ref of [...refs, ...variables].filter((r) => r !== undefined)) {
      assert.equal(ref.uid, prometheus?.uid, `a panel refers to data source ${JSON.stringify(ref)}`);
    }
    assert.ok(refs.length > 0);
  });

  test('the dashboard provider reads the folder compose mounts the dashboards at', () => {
    const grafana = mounts(compose, 'grafana');
    const [provider] = providers.providers;
    assert.equal(provider?.type, 'file');
    const mount = grafana.find(([, target]) => target === provider?.options.path);
    assert.equal(mount?.[0], './grafana/dashboards', `no ./grafana/dashboards mount at ${provider?.options.path}`);
    // Grafana reads provisioning from /etc/grafana/provisioning/<kind>/.
    assert.ok(grafana.some(([source, target]) => source === './grafana/provisioning/datasources' && target === '/etc/grafana/provisioning/datasources'));
    assert.ok(grafana.some(([source, target]) => source === './grafana/provisioning/dashboards' && target === '/etc/grafana/provisioning/dashboards'));
    const home = compose.services.grafana?.environment?.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH;
    assert.equal(home, posix.join(provider?.options.path ?? '', 'wess.json'));
  });

  test('panel ids are unique, and the issue\'s panels are all there', () => {
    const panels = allPanels(dashboard);
    const ids = panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, `duplicate panel ids: ${ids.join(',')}`);
    assert.ok(ids.every((id) => Number.isInteger(id)));
    const titles = panels.map((p) => p.title);
    for (const title of PANELS) assert.ok(titles.includes(title), `no "${title}" panel`);
    assert.ok(dashboard.uid, 'the dashboard needs a fixed uid for stable links');
  });
});

describe('metric names in PromQL', () => {
  let app: TestApp;
  let exported: Set<string>;
  before(async () => {
    app = await startApp({ server: { workers: 1 }, log: { level: 'warn' } });
    const res = await app.app.inject({ method: 'GET', url: '/metrics', headers: noKey() });
    assert.equal(res.statusCode, 200, 'Prometheus scrapes /metrics without a key');
    exported = exportedSeriesNames(res.body);
  });
  after(() => app.close());

  test('the name extractor sees metrics, not functions, labels, numbers or durations', () => {
    assert.deepEqual(
      metricNames('histogram_quantile(0.99, sum by (le) (rate(a_bucket{instance=~"$x",code="b c"}[5m]))) / clamp_min(sum(b_total) + c, 1e-9) > bool 2'),
      ['a_bucket', 'b_total', 'c'],
    );
    assert.deepEqual(metricNames('up{job="wess"} == 0 and on (instance) d'), ['up', 'd']);
  });

  test('every dashboard expression names only series /metrics exports', () => {
    const exprs = dashboardExpressions(loadDashboard());
    assert.ok(exprs.length >= PANELS.length);
    for (const { panel, expr } of exprs) {
      const names = metricNames(expr);
      assert.ok(names.length > 0, `panel "${panel}" selects no metric: ${expr}`);
      for (const name of names) assert.ok(exported.has(name), `panel "${panel}" uses ${name}, which /metrics does not export`);
    }
  });

  test('every alert rule names only series /metrics exports (or Prometheus\' own up)', () => {
    for (const { rule, expr } of ruleExpressions()) {
      for (const name of metricNames(expr)) assert.ok(exported.has(name) || name === 'up', `rule ${rule} uses ${name}, which /metrics does not export`);
    }
  });
});
