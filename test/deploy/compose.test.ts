/**
 * docker-compose.yml without a Docker engine: its services, mounts, volumes, dependencies and wiring
 * agree with the repository (files exist, Prometheus scrapes the wess service's port, the health
 * check is the Dockerfile's), and the environment it gives Wess makes a valid config.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { posix } from 'node:path';
import { describe, test } from 'node:test';
import { applyEnv, readConfigFile, validateConfig } from '../../src/config/load.js';
import { env, healthcheck, instructions, parseDockerfile, type Stage } from './dockerfile.js';
import { postgresStoreMissing, repoPath, repoText, repoYaml } from './helpers.js';
import { upstreamServers } from './nginx.js';

interface Service {
  build?: unknown;
  image?: string;
  profiles?: string[];
  ports?: string[];
  volumes?: string[];
  environment?: Record<string, string | null>;
  command?: string[];
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string; required?: boolean }>;
}
interface Compose { services: Record<string, Service>; volumes?: Record<string, unknown> }

const compose = repoYaml<Compose>('docker-compose.yml');
const runtime = parseDockerfile(repoText('Dockerfile')).stages.at(-1) as Stage;
const service = (name: string): Service => {
  const found = compose.services[name];
  assert.ok(found, `no ${name} service`);
  return found;
};
/** `${NAME:-default}` → default; anything else as is. */
const defaultOf = (value: string | null | undefined): string | undefined => /^\$\{\w+:-(.*)\}$/.exec(value ?? '')?.[1] ?? value ?? undefined;
/** Every `${NAME:-default}` in a compose value replaced by its default, as an empty shell would have it. */
const interpolate = (value: string | null | undefined): string => (value ?? '').replace(/\$\{\w+:-([^}]*)\}/g, '$1');
/** A compose port spec's container port ("127.0.0.1:${X:-8080}:8080" → 8080). */
const containerPort = (spec: string): string => spec.split(':').at(-1) ?? '';

/** The services `docker compose up` starts: those without a profile. */
const always = () => Object.keys(compose.services).filter((name) => service(name).profiles === undefined);
const CLUSTER_NODES = ['wess-1', 'wess-2', 'wess-3'];

test('wess, prometheus and grafana always; redis only in its profile (and the cluster\'s)', () => {
  assert.deepEqual(always().sort(), ['grafana', 'prometheus', 'wess']);
  assert.deepEqual(service('redis').profiles, ['redis', 'cluster']);
  for (const name of ['wess', 'prometheus', 'grafana']) assert.equal(service(name).profiles, undefined, `${name} must start without a profile`);
  assert.ok(service('wess').build, 'wess is built from the Dockerfile');
  for (const [name, s] of Object.entries(compose.services)) {
    for (const port of s.ports ?? []) assert.match(port, /^127\.0\.0\.1:/, `${name} publishes ${port} beyond localhost`);
  }
});

test('every mounted file exists, and every named volume is declared', () => {
  for (const [name, s] of Object.entries(compose.services)) {
    for (const spec of s.volumes ?? []) {
      const [source = ''] = spec.split(':');
      if (source.startsWith('./')) assert.ok(existsSync(repoPath(source.slice(2))), `${name} mounts ${source}, which is not in the repository`);
      else assert.ok(compose.volumes && source in compose.volumes, `${name} uses volume ${source}, not declared`);
    }
  }
});

test('depends_on names existing services; a service requires only services active whenever it is', () => {
  for (const [name, s] of Object.entries(compose.services)) {
    for (const [dependency, spec] of Object.entries(s.depends_on ?? {})) {
      assert.ok(compose.services[dependency], `${name} depends on unknown service ${dependency}`);
      const needs = compose.services[dependency]?.profiles;
      // Active whenever `name` is: no profile, or one of the profiles that start `name`.
      const sharesProfile = needs === undefined || (s.profiles !== undefined && s.profiles.every((p) => needs.includes(p)));
      if (!sharesProfile) assert.equal(spec.required, false, `${name} must not require ${dependency}, which its profiles do not start`);
    }
  }
});

test('wess keeps its data in a named volume at the Dockerfile VOLUME, with the Dockerfile health check', () => {
  const wess = service('wess');
  const [volume] = instructions(runtime, 'VOLUME').flatMap((i) => JSON.parse(i.args) as string[]);
  const mount = wess.volumes?.map((spec) => spec.split(':')).find(([, target]) => target === volume);
  assert.ok(mount, `nothing mounted at ${volume}`);
  assert.ok(compose.volumes && (mount[0] ?? '') in compose.volumes, 'a named volume, not a bind mount');
  assert.deepEqual(wess.healthcheck?.test, ['CMD', ...healthcheck(runtime).command]);
  assert.deepEqual(wess.ports?.map(containerPort), [env(runtime).WESS_SERVER_PORT]);
});

test('prometheus loads the repo config and scrapes the wess service on its container port', () => {
  const prometheus = service('prometheus');
  const configFlag = prometheus.command?.find((c) => c.startsWith('--config.file='))?.slice('--config.file='.length);
  const mounts = new Map((prometheus.volumes ?? []).map((spec) => spec.split(':')).map(([source = '', target = '']) => [target, source]));
  assert.equal(mounts.get(configFlag ?? ''), './prometheus.yml');
  const config = repoYaml<{ rule_files?: string[]; scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[] }>('prometheus.yml');
  for (const rules of config.rule_files ?? []) {
    // Rule files are relative to the config file, in the repository and in the container alike.
    assert.equal(mounts.get(posix.join(posix.dirname(configFlag ?? ''), rules)), `./${rules}`);
  }
  const targets = config.scrape_configs.find((job) => job.job_name === 'wess')?.static_configs.flatMap((c) => c.targets);
  const port = containerPort(service('wess').ports?.[0] ?? '');
  assert.deepEqual(targets, [`wess:${port}`]);
});

test('the environment compose gives wess, over wess.toml, is a valid config (with and without redis)', () => {
  const environment = service('wess').environment ?? {};
  const adminKey = defaultOf(environment.WESS_ADMIN_KEY);
  // Pass-through entries (null) stay unset unless the shell sets them: an empty URL would be invalid.
  assert.equal(environment.WESS_RATE_LIMIT_REDIS_URL, null);
  const containerEnv: Record<string, string | undefined> = { ...env(runtime), WESS_ADMIN_KEY: adminKey, WESS_LOG_LEVEL: defaultOf(environment.WESS_LOG_LEVEL) };
  const file = readConfigFile(repoPath('wess.toml'));
  const local = validateConfig(applyEnv(file, containerEnv));
  assert.equal(local.auth.admin_key, adminKey);
  assert.equal(local.database.path, '/data');
  assert.equal(local.server.port, 8080);
  assert.equal(local.rate_limit.redis_url, undefined);
  const withRedis = validateConfig(applyEnv(file, { ...containerEnv, WESS_RATE_LIMIT_REDIS_URL: 'redis://redis:6379' }));
  assert.equal(withRedis.rate_limit.redis_url, 'redis://redis:6379');
  assert.ok(compose.services.redis, 'the URL names the redis service');
  assert.ok(repoText('README.md').includes('WESS_RATE_LIMIT_REDIS_URL=redis://redis:6379'), 'README shows how to wire the redis profile');
});

describe('the cluster profile', () => {
  const nodes = CLUSTER_NODES.map(service);

  test('three Wess nodes of the one image, PostgreSQL, Redis, nginx and a Prometheus, all in the profile', () => {
    for (const name of [...CLUSTER_NODES, 'postgres', 'nginx', 'prometheus-cluster']) assert.deepEqual(service(name).profiles, ['cluster'], name);
    assert.ok(service('redis').profiles?.includes('cluster'));
    for (const node of nodes) {
      assert.equal(node.image, service('wess').image, 'the same image as the single node');
      assert.deepEqual(node.healthcheck?.test, ['CMD', ...healthcheck(runtime).command]);
      assert.equal(node.ports, undefined, 'nodes are reached through nginx, not published');
      assert.deepEqual(node.environment, nodes[0]?.environment, 'every node is configured alike');
      assert.deepEqual(Object.keys(node.depends_on ?? {}).sort(), ['postgres', 'redis']);
    }
  });

  test('the nodes use the postgres service as their store and the redis service for rate limits', () => {
    const environment = nodes[0]?.environment ?? {};
    const url = new URL(interpolate(environment.WESS_DATABASE_URL));
    assert.equal(url.protocol, 'postgres:');
    assert.equal(url.hostname, 'postgres');
    const postgres = service('postgres').environment ?? {};
    assert.equal(decodeURIComponent(url.username), postgres.POSTGRES_USER);
    assert.equal(url.pathname, `/${postgres.POSTGRES_DB}`);
    // One variable sets the server's password and the nodes' URL alike.
    assert.match(environment.WESS_DATABASE_URL ?? '', /:\$\{POSTGRES_PASSWORD:-[^}]*\}@/);
    assert.match(postgres.POSTGRES_PASSWORD ?? '', /^\$\{POSTGRES_PASSWORD:-[^}]*\}$/);
    assert.equal(url.password, interpolate(postgres.POSTGRES_PASSWORD));
    assert.equal(environment.WESS_RATE_LIMIT_REDIS_URL, 'redis://redis:6379');
  });

  test('the environment compose gives a node, over wess.toml, is a valid config on the PostgreSQL store', (t) => {
    if (postgresStoreMissing) return t.skip(postgresStoreMissing);
    const environment = nodes[0]?.environment ?? {};
    const containerEnv: Record<string, string | undefined> = { ...env(runtime) };
    for (const [name, value] of Object.entries(environment)) if (value !== null) containerEnv[name] = interpolate(value);
    const config = validateConfig(applyEnv(readConfigFile(repoPath('wess.toml')), containerEnv));
    assert.match(config.database.url ?? '', /^postgres:\/\/wess:/);
    assert.equal(config.server.trust_proxy, true, 'behind nginx, the client address comes from X-Forwarded-For');
    assert.equal(config.server.processes, 1);
  });

  test('nginx loads the repo config, whose upstream is the three nodes on their container port', () => {
    const nginx = service('nginx');
    const mounts = new Map((nginx.volumes ?? []).map((spec) => spec.split(':')).map(([source = '', target = '']) => [source, target]));
    assert.equal(mounts.get('./deploy/nginx/wess.conf'), '/etc/nginx/conf.d/default.conf');
    const port = env(runtime).WESS_SERVER_PORT;
    assert.deepEqual(upstreamServers(repoText('deploy/nginx/wess.conf')), CLUSTER_NODES.map((name) => `${name}:${port}`));
    assert.deepEqual(Object.keys(nginx.depends_on ?? {}).sort(), CLUSTER_NODES);
    assert.deepEqual(nginx.ports?.map(containerPort), ['80']);
  });

  test('its Prometheus scrapes every node directly, with the alert rules of the single node', () => {
    const prometheus = service('prometheus-cluster');
    const configFlag = prometheus.command?.find((c) => c.startsWith('--config.file='))?.slice('--config.file='.length) ?? '';
    const mounts = new Map((prometheus.volumes ?? []).map((spec) => spec.split(':')).map(([source = '', target = '']) => [target, source]));
    assert.equal(mounts.get(configFlag), './deploy/prometheus-cluster.yml');
    const config = repoYaml<{ rule_files?: string[]; scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[] }>('deploy/prometheus-cluster.yml');
    assert.deepEqual(config.rule_files, repoYaml<{ rule_files?: string[] }>('prometheus.yml').rule_files?.map((file) => `../${file}`));
    for (const rules of config.rule_files ?? []) {
      assert.equal(mounts.get(posix.join(posix.dirname(configFlag), rules)), `./${posix.normalize(posix.join('deploy', rules))}`);
    }
    const targets = config.scrape_configs.find((job) => job.job_name === 'wess')?.static_configs.flatMap((c) => c.targets);
    assert.deepEqual(targets, CLUSTER_NODES.map((name) => `${name}:${env(runtime).WESS_SERVER_PORT}`));
  });
});
