import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TEST_ADMIN_KEY, listen, startApp, type TestApp } from '../helper.js';
import { lines, wess } from './helper.js';

describe('wess keys against a real server', () => {
  let t: TestApp;
  let env: Record<string, string>;
  const cli = (args: string[]) => wess(args, { env });

  before(async () => {
    t = await startApp();
    env = { WESS_URL: await listen(t.app), WESS_KEY: TEST_ADMIN_KEY };
  });
  after(() => t.close());

  test('create prints the key once; the key works until it is revoked, then 401 exits 1', async () => {
    const made = await cli(['keys', 'create', '--name', 'ci', '--role', 'runner', '--tenant', 'acme']);
    assert.equal(made.code, 0, made.stderr);
    const key = /^key:\s+(wess_\S+)$/m.exec(made.stdout)?.[1];
    const id = /^id:\s+(\S+)$/m.exec(made.stdout)?.[1];
    assert.ok(key && id, made.stdout);
    assert.match(made.stdout, /shown only this once/);

    const listed = await cli(['keys', 'ls']);
    assert.match(listed.stdout, new RegExp(`^${id}\\s+ci\\s+runner\\s+acme\\s`, 'm'));

    // The new key, given by flag (it wins over WESS_KEY), sees its own tenant: nothing yet.
    const asRunner = await cli(['--key', key, '--json', 'modules', 'ls']);
    assert.equal(asRunner.code, 0, asRunner.stderr);
    assert.deepEqual(JSON.parse(asRunner.stdout), { items: [], next_cursor: null });

    const revoked = await cli(['keys', 'revoke', id]);
    assert.deepEqual([revoked.code, revoked.stdout], [0, `revoked key ${id}\n`]);
    const refused = await cli(['modules', 'ls', '--key', key]);
    assert.equal(refused.code, 1);
    assert.deepEqual(lines(refused.stderr), ['wess: UNAUTHORIZED: the API key has been revoked (HTTP 401)']);
  });

  test('a usage error exits 2 with one line and sends nothing', async () => {
    const before = t.logs.filter((l) => l.msg === 'request').length;
    const res = await cli(['keys', 'create', '--name', 'x', '--role', 'boss']);
    assert.equal(res.code, 2);
    assert.equal(lines(res.stderr).length, 1);
    assert.match(res.stderr, /^wess: option '--role <role>' argument 'boss' is invalid/);
    assert.equal(t.logs.filter((l) => l.msg === 'request').length, before);
  });
});

describe('wess config check', () => {
  let dir: string;
  const secret = 'hmac-secret-that-must-never-print-0123456789';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wess-cli-config-'));
    await writeFile(
      join(dir, 'good.toml'),
      `[auth]\nsecret = "${secret}"\nadmin_key = "wess_abcd_NeverPrintThisSecretPart0123"\n` +
        `[rate_limit]\nredis_url = "redis://app:hunter2@redis:6379/0"\n[tiers.free]\nruns_per_day = 5\n`,
    );
    await writeFile(join(dir, 'bad.toml'), '[server]\nport = "x"\nbogus = 1\n[runner]\ntimeout = -1\n');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('a valid config prints the effective config with every secret masked', async () => {
    const human = await wess(['config', 'check', '--config', join(dir, 'good.toml')], { cwd: dir });
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /^secret = "\*{8}"$/m);
    assert.match(human.stdout, /^admin_key = "wess_abcd_\*{8}"$/m);
    assert.match(human.stdout, /^redis_url = "redis:\/\/app:\*{8}@redis:6379\/0"$/m);
    assert.match(human.stdout, /^\[tiers\.free\]$/m);
    for (const leak of [secret, 'NeverPrintThisSecretPart', 'hunter2']) assert.ok(!human.stdout.includes(leak), leak);

    // WESS_CONFIG and env overrides apply exactly as in the server; an env secret is masked too.
    const env = { WESS_CONFIG: join(dir, 'good.toml'), WESS_LOG_LEVEL: 'debug', WESS_AUTH_SECRET: `env-${secret}` };
    const json = await wess(['config', 'check', '--json'], { env, cwd: dir });
    assert.equal(json.code, 0, json.stderr);
    const config = JSON.parse(json.stdout) as { log: { level: string }; auth: { secret: string }; server: { port: number } };
    assert.deepEqual([config.log.level, config.auth.secret, config.server.port], ['debug', '********', 8080]);
    assert.ok(!json.stdout.includes(secret));
  });

  test('an invalid config prints every problem, one line each, and exits 2', async () => {
    const res = await wess(['config', 'check', '--config', join(dir, 'bad.toml')], { cwd: dir });
    assert.equal(res.code, 2);
    assert.equal(res.stdout, '');
    const problems = lines(res.stderr);
    assert.equal(problems.length, 3, res.stderr);
    for (const line of problems) assert.match(line, /^wess: invalid config: (server\.port|server\.bogus|runner\.timeout): /);
  });
});
