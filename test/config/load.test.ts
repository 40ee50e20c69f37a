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
      // Not below the file's tiers' max_timeout (2000 ms), which the config check would refuse.
      WESS_RUNNER_TIMEOUT: '2500',
      UNRELATED: 'x',
    },
  });
  assert.equal(config.server.host, '127.0.0.1');
  assert.equal(config.server.port, 9090);
  assert.equal(config.database.path, '/tmp/wess-db');
  assert.equal(config.log.level, 'debug');
  assert.equal(config.rate_limit.max, 5000);
  assert.equal(config.rate_limit.enabled, false);
  assert.equal(config.runner.timeout, 2500);
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
    assert.ok(err.problems.some((p) => p.startsWith('auth.admin_key (from WESS_ADMIN_KEY):')), err.message);
    assert.ok(err.problems.some((p) => p.startsWith('auth.secret (from WESS_AUTH_SECRET):')), err.message);
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
      // Changed on purpose (issue 15, item 15): a tier's max_timeout above runner.timeout is refused.
      assert.match(text, /tiers\.big\.max_timeout: 60000 ms is above runner\.timeout \(5000 ms\)/);
      assert.match(text, /tiers\.big\.max_memory: must be at least one 64 KiB page/);
      assert.match(text, /auth\.default_tier: no \[tiers\.nope\] table/);
      return true;
    },
  );
});

test('regression (issue 15, item 15): a TOML syntax error gives the file, line and column', () => {
  const broken = tempToml('[server]\nport = 8080\nhost = "0.0.0.0\n');
  assert.throws(() => loadConfig({ argv: ['--config', broken] }), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.problems.length, 1);
    const problem = err.problems[0] as string;
    assert.ok(problem.startsWith(`${broken}:3:`), problem);
    assert.match(problem, /^[^\n]*:3:\d+: TOML syntax error: \S/);
    return true;
  });
});

test('regression (issue 15, item 15): a bad value from the environment names the variable and the key', () => {
  assert.throws(() => loadConfig({ env: { WESS_SERVER_PORT: 'abc', WESS_DB_PATH: '', WESS_RATE_LIMIT_MAX: '0' } }), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    const text = err.problems.join('\n');
    assert.match(text, /^server\.port \(from WESS_SERVER_PORT\): /m);
    assert.match(text, /^database\.path \(from WESS_DB_PATH\): /m);
    assert.match(text, /^rate_limit\.max \(from WESS_RATE_LIMIT_MAX\): /m);
    return true;
  });
  // The same key set in the file is named without a variable.
  const path = tempToml('[server]\nport = "abc"\n');
  assert.throws(() => loadConfig({ defaultPath: path }), (err: unknown) => err instanceof ConfigError && err.problems.some((p) => p.startsWith('server.port: ')));
});

test('regression (issue 15, item 15): unknown keys, bad values and checks between settings come in one round', () => {
  const path = tempToml(
    [
      '[server]',
      'prot = 8080', // unknown key beside a bad value in the same table
      'port = "eighty"',
      'tls_cert = "/etc/wess/cert.pem"', // half a TLS pair: a check between settings
      '[runner]',
      'timeout = 1000',
      '[tiers.free]',
      'bogus = 1', // unknown key in a tier that also breaks a check between settings
      'max_timeout = 3000',
      'default_fuel = 10', // above max_fuel: the tier's own refinement
      'max_fuel = 5',
      '[auth]',
      'default_tier = "gold"',
    ].join('\n'),
  );
  assert.throws(() => loadConfig({ defaultPath: path }), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    const text = err.problems.join('\n');
    for (const needle of [
      /^server\.prot: unknown key$/m,
      /^server\.port: /m,
      /^tiers\.free\.bogus: unknown key$/m,
      /^server\.tls_cert, server\.tls_key: set both/m,
      /^tiers\.free\.max_timeout: 3000 ms is above runner\.timeout \(1000 ms\)/m,
      /^tiers\.free\.default_fuel: default_fuel must not be above max_fuel$/m,
      /^auth\.default_tier: no \[tiers\.gold\] table/m,
    ]) {
      assert.match(text, needle, `all at once, in:\n${text}`);
    }
    return true;
  });
});

test('regression (issue 15, item 15): a tier max_timeout above runner.timeout names both and the variable that set one', () => {
  const path = tempToml('[tiers.free]\nmax_timeout = 2000\n[tiers.pro]\nmax_timeout = 1000\n');
  assert.throws(() => loadConfig({ defaultPath: path, env: { WESS_RUNNER_TIMEOUT: '1500' } }), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.deepEqual(err.problems, [
      'tiers.free.max_timeout: 2000 ms is above runner.timeout (1500 ms, from WESS_RUNNER_TIMEOUT); a tier can only lower the deadline: lower tiers.free.max_timeout or raise runner.timeout',
    ]);
    return true;
  });
  assert.equal(loadConfig({ defaultPath: path, env: { WESS_RUNNER_TIMEOUT: '2000' } }).tiers.free?.max_timeout, 2000, 'equal is fine');
});

test('regression (issue 15, item 15): server.host with a port, a URL or brackets is refused; host names and addresses pass', () => {
  for (const [host, expected] of [
    ['localhost:8080', /"localhost:8080" includes a port: set server\.host = "localhost" and server\.port = 8080/],
    ['http://0.0.0.0', /is a URL/],
    ['[::1]', /without brackets/],
    ['0.0.0.0:80', /includes a port/],
    ['bad host', /not a host name or an IP address/],
  ] as const) {
    assert.throws(() => loadConfig({ env: { WESS_SERVER_HOST: host } }), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.problems.join('\n'), new RegExp(`^server\\.host \\(from WESS_SERVER_HOST\\): .*${expected.source}`, "m"));
      return true;
    }, host);
  }
  for (const host of ['0.0.0.0', '127.0.0.1', '::', '::1', 'localhost', 'wess_api.internal', 'fe80::1']) {
    assert.equal(loadConfig({ env: { WESS_SERVER_HOST: host } }).server.host, host);
  }
});

test('regression (issue 15, item 15): wess config check refuses a tier max_timeout above runner.timeout and a host with a port', () => {
  const path = tempToml('[server]\nhost = "localhost:8080"\n[runner]\ntimeout = 1000\n[tiers.free]\nmax_timeout = 2000\n');
  const cli = fileURLToPath(new URL('dist/src/cli/wess.js', ROOT));
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('WESS_') && value !== undefined) env[name] = value;
  const run = spawnSync(process.execPath, [cli, 'config', 'check', '--config', path], { encoding: 'utf8', timeout: 20_000, env });
  assert.equal(run.status, 2, run.stderr);
  assert.match(run.stderr, /server\.host: "localhost:8080" includes a port/);
  assert.match(run.stderr, /tiers\.free\.max_timeout: 2000 ms is above runner\.timeout \(1000 ms\)/);
});

test('jobs.callback_allow: empty by default, a comma-separated WESS_JOBS_CALLBACK_ALLOW sets the list', () => {
  assert.deepEqual(validateConfig({}).jobs.callback_allow, []);
  const config = validateConfig(applyEnv({}, { WESS_JOBS_CALLBACK_ALLOW: 'hooks.example.com, 10.0.0.7,' }));
  assert.deepEqual(config.jobs.callback_allow, ['hooks.example.com', '10.0.0.7']);
  assert.deepEqual(config.jobs.retry_codes, ['EXECUTION_TIMEOUT', 'UNAVAILABLE', 'INTERNAL']);
});
