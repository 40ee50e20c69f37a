import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { ConfigError, applyEnv, loadConfig, validateConfig } from '../../src/config/load.js';
import { ROOT } from '../helper.js';

const repoToml = fileURLToPath(new URL('wess.toml', ROOT));

function tempToml(text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'wess-config-')), 'wess.toml');
  writeFileSync(path, text);
  return path;
}

test('the repository wess.toml is valid and matches the documented defaults', () => {
  const config = loadConfig({ defaultPath: repoToml });
  assert.equal(config.server.port, 8080);
  assert.equal(config.server.workers, 2);
  assert.equal(config.database.path, './data');
  assert.equal(config.reader.cache_size, 100);
  assert.equal(config.reader.ttl, 3600);
  assert.equal(config.runner.timeout, 5000);
  assert.equal(config.runner.max_memory, 268435456);
  assert.equal(config.limits.max_module_size, 2097152);
  assert.equal(config.limits.max_args, 10);
  assert.equal(config.rate_limit.max, 1000);
  assert.equal(config.rate_limit.window, 60000);
  assert.equal(config.log.level, 'info');
});

test('an empty config takes every default', () => {
  const config = validateConfig({});
  assert.equal(config.server.host, '0.0.0.0');
  assert.equal(config.runner.timeout, 5000);
});

test('env overrides: WESS_<SECTION>_<KEY>, sections with underscores, and the seed aliases', () => {
  const config = loadConfig({
    defaultPath: repoToml,
    env: {
      WESS_SERVER_HOST: '127.0.0.1',
      WESS_SERVER_PORT: '9090',
      WESS_DB_PATH: '/tmp/wess-db',
      WESS_LOG_LEVEL: 'debug',
      WESS_RATE_LIMIT_MAX: '5000',
      WESS_RATE_LIMIT_ENABLED: 'false',
      WESS_RUNNER_TIMEOUT: '250',
      UNRELATED: 'x',
    },
  });
  assert.equal(config.server.host, '127.0.0.1');
  assert.equal(config.server.port, 9090);
  assert.equal(config.database.path, '/tmp/wess-db');
  assert.equal(config.log.level, 'debug');
  assert.equal(config.rate_limit.max, 5000);
  assert.equal(config.rate_limit.enabled, false);
  assert.equal(config.runner.timeout, 250);
});

test('env does not mutate the input object', () => {
  const input = { server: { port: 1 } };
  applyEnv(input, { WESS_SERVER_PORT: '2' });
  assert.equal(input.server.port, 1);
});

test('every bad key is reported at once', () => {
  const path = tempToml('[server]\nport = "eighty"\nworkers = -1\n[runner]\ntimeout = 0\n[nope]\nx = 1\n[log]\nlevel = "loud"\n');
  assert.throws(() => loadConfig({ defaultPath: path }), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    const text = err.problems.join('\n');
    for (const needle of ['server.port', 'server.workers', 'runner.timeout', 'nope: unknown key', 'log.level']) {
      assert.match(text, new RegExp(needle.replace('.', '\\.')), `missing ${needle} in:\n${text}`);
    }
    return true;
  });
});

test('a bad env value is reported with its config path', () => {
  assert.throws(() => loadConfig({ env: { WESS_SERVER_PORT: 'abc', WESS_READER_TTL: '-5' } }), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.match(err.message, /server\.port/);
    assert.match(err.message, /reader\.ttl/);
    return true;
  });
});

test('the config is frozen', () => {
  const config = validateConfig({});
  assert.throws(() => {
    (config.server as { port: number }).port = 1;
  }, TypeError);
});

test('--config and WESS_CONFIG pick the file; TOML syntax errors name the file', () => {
  const good = tempToml('[server]\nport = 1234\n');
  assert.equal(loadConfig({ argv: ['--config', good] }).server.port, 1234);
  assert.equal(loadConfig({ argv: [`--config=${good}`] }).server.port, 1234);
  assert.equal(loadConfig({ env: { WESS_CONFIG: good } }).server.port, 1234);
  const broken = tempToml('[server\nport = 1');
  assert.throws(() => loadConfig({ argv: ['--config', broken] }), (err: unknown) => err instanceof ConfigError && err.message.includes(broken));
  assert.throws(() => loadConfig({ argv: ['--config', '/does/not/exist.toml'] }), ConfigError);
});

test('main exits non-zero and names every bad path when the config is invalid', () => {
  const path = tempToml('[server]\nport = -1\n[reader]\ncache_size = "big"\n');
  const main = fileURLToPath(new URL('dist/src/main.js', ROOT));
  const run = spawnSync(process.execPath, [main, '--config', path], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(run.status, 2);
  assert.match(run.stderr, /server\.port/);
  assert.match(run.stderr, /reader\.cache_size/);
});

test('auth and tiers: the repository wess.toml turns auth on and defines the tiers it names', () => {
  const config = loadConfig({ defaultPath: repoToml });
  assert.equal(config.auth.enabled, true);
  assert.equal(config.auth.default_tier, 'free');
  assert.equal(config.tiers.free?.runs_per_day, 10000);
  assert.equal(config.tiers.pro?.max_modules, 1000);
  assert.equal(config.server.headers_timeout, 10000);
  assert.equal(config.rate_limit.redis_failure, 'open');
});

test('WESS_ADMIN_KEY and WESS_AUTH_SECRET reach auth; a malformed admin key is refused without echoing it', () => {
  const key = 'wess_envadmin_abcdefghijklmnopqrstuvwxyz012345';
  const config = loadConfig({ env: { WESS_ADMIN_KEY: key, WESS_AUTH_SECRET: 's'.repeat(40) } });
  assert.equal(config.auth.admin_key, key);
  assert.equal(config.auth.secret, 's'.repeat(40));
  const secret = 'not-a-wess-key-but-a-secret-value';
  assert.throws(() => loadConfig({ env: { WESS_ADMIN_KEY: secret, WESS_AUTH_SECRET: 'short' } }), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.ok(err.problems.some((p) => p.startsWith('auth.admin_key:')), err.message);
    assert.ok(err.problems.some((p) => p.startsWith('auth.secret:')), err.message);
    assert.ok(!err.message.includes(secret), 'the message must not repeat the secret');
    return true;
  });
});

test('tiers are set in the file only: a WESS_TIERS_* variable is not read as a tier', () => {
  const config = loadConfig({ env: { WESS_TIERS_FREE_RUNS_PER_DAY: '5' } });
  assert.deepEqual(config.tiers, {});
});

test('half a TLS pair, a tier memory under one page and a default tier that does not exist are refused', () => {
  assert.throws(
    () => validateConfig({ server: { tls_cert: '/x.pem' }, tiers: { big: { max_timeout: 60_000, max_memory: 1 } }, auth: { default_tier: 'nope' } }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      const text = err.problems.join('\n');
      assert.match(text, /server\.tls_cert, server\.tls_key: set both/);
      assert.doesNotMatch(text, /max_timeout/, 'a tier above a global limit is lowered to it, not refused');
      assert.match(text, /tiers\.big\.max_memory: must be at least one 64 KiB page/);
      assert.match(text, /auth\.default_tier: no \[tiers\.nope\] table/);
      return true;
    },
  );
});
