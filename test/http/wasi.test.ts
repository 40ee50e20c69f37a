import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startApp, upload, wasiFixture, type TestApp } from '../helper.js';
import { fromWat } from '../wasi/helpers.js';
import { within } from '../within.js';

describe('WASI programs over HTTP', () => {
  let t: TestApp;
  const ids: Record<string, string> = {};
  const run = (name: string, payload: Record<string, unknown> = {}) =>
    t.app.inject({ method: 'POST', url: `/modules/${ids[name]}/run`, payload });

  before(async () => {
    t = await startApp({ runner: { timeout: 1000, max_output: 4096 } });
    for (const name of ['hello', 'echo', 'exit', 'binary-out', 'noisy', 'spin', 'fs-denied', 'lib', 'clock-random']) {
      ids[name] = (await upload(t.app, name, wasiFixture(name))).id;
    }
  });
  after(async () => t.close());

  test('a WASI program is stored as kind "wasi"', async () => {
    const res = await t.app.inject({ method: 'GET', url: `/modules/${ids.hello}` });
    assert.equal(res.json().kind, 'wasi');
  });

  test('stdout, argv (argv[0] is the module name) and only the env given', async () => {
    process.env.WESS_SECRET_PROBE = 'must-not-leak';
    const res = await run('hello', { args: ['--flag', 'two words'], env: { GREETING: 'hi' } });
    delete process.env.WESS_SECRET_PROBE;
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json();
    assert.equal(body.exit_code, 0);
    assert.equal(body.stdout, 'hello, world\nargv[0]=hello\nargv[1]=--flag\nargv[2]=two words\nenv GREETING=hi\n');
    assert.equal(body.stderr, '');
    assert.equal(typeof body.stats.duration_ms, 'number');
    assert.equal(body.stats.version, 1);
    assert.ok(body.stats.memory_pages >= 1);
  });

  test('stdin as text or base64', async () => {
    assert.equal((await run('echo', { stdin: 'shout this\n' })).json().stdout, 'SHOUT THIS\n');
    const b64 = await run('echo', { stdin_base64: Buffer.from('abc').toString('base64') });
    assert.equal(b64.json().stdout, 'ABC');
  });

  test('proc_exit ends the call normally with its code and what was written', async () => {
    const res = await run('exit', { args: ['3'] });
    assert.equal(res.statusCode, 200);
    assert.equal(res.json().exit_code, 3);
    assert.equal(res.json().stderr, 'exiting with 3\n');
    assert.equal(res.json().stdout, 'this line is on stdout\n');
  });

  test('output that is not UTF-8 comes back as base64; output over the cap is truncated', async () => {
    const binary = (await run('binary-out')).json();
    assert.equal(binary.stdout, undefined);
    assert.ok(Buffer.from(binary.stdout_base64, 'base64').length > 0);
    const noisy = (await run('noisy')).json();
    assert.equal(noisy.stdout_truncated, true);
    assert.equal(Buffer.byteLength(noisy.stdout ?? Buffer.from(noisy.stdout_base64, 'base64')), 4096);
  });

  test('no filesystem: opening a host file fails inside the program', async () => {
    const res = await run('fs-denied');
    assert.equal(res.statusCode, 200);
    assert.doesNotMatch(res.json().stdout, /root:/);
  });

  test('clocks and random work', async () => {
    const res = await run('clock-random');
    assert.equal(res.statusCode, 200);
    assert.equal(res.json().exit_code, 0);
  });

  test('a spinning program is stopped at the deadline with 408', { timeout: 30_000 }, async () => {
    // Raced against 10 s: a deadline that never fires would otherwise hang the test, not fail it.
    const res = await within(run('spin'), 10_000, 'the spinning program');
    assert.equal(res.statusCode, 408);
    assert.equal(res.json().error.code, 'EXECUTION_TIMEOUT');
    assert.equal(res.json().error.message, 'call to "_start" did not finish within 1000 ms; the guest was stopped');
    assert.equal((await run('hello')).json().exit_code, 0, 'the next program runs');
  });

  test('a program sleeping past its deadline (poll_oneoff on a 60 s clock) is stopped with 408', { timeout: 30_000 }, async () => {
    const sleeper = fromWat(`(module
      (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (func (export "_start")
        (i32.store (i32.const 16) (i32.const 1))               ;; clock id: monotonic (tag 0 = clock at 8)
        (i64.store (i32.const 24) (i64.const 60000000000))     ;; relative timeout: 60 s
        (drop (call $poll (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128)))))`);
    const { id } = await upload(t.app, 'sleeper', sleeper);
    const res = await within(t.app.inject({ method: 'POST', url: `/modules/${id}/run`, payload: {} }), 10_000, 'the sleeping program');
    assert.equal(res.statusCode, 408, res.body);
    assert.equal(res.json().error.code, 'EXECUTION_TIMEOUT');
    assert.equal((await run('hello')).json().exit_code, 0, 'the next program runs');
  });

  test('a reactor module that imports WASI is called like any module; what it prints comes back', async () => {
    assert.deepEqual((await run('lib', { function: 'add', args: [2, 3] })).json().results, [5]);
    const greet = (await run('lib', { function: 'greet', args: [2] })).json();
    assert.deepEqual(greet.results, [2]);
    assert.equal(greet.stdout, 'hello from a reactor 0\nhello from a reactor 1\n');
  });

  test('bad WASI input is a 400', async () => {
    for (const payload of [{ args: [1, 2] }, { env: { A: 1 } }, { stdin: 'a', stdin_base64: 'YQ==' }, { env: { 'A=B': 'x' } }]) {
      const res = await run('hello', payload);
      assert.equal(res.statusCode, 400, JSON.stringify(payload));
      assert.equal(res.json().error.code, 'VALIDATION');
    }
  });

  test('a module importing anything other than WASI is still refused', async () => {
    const res = await upload(t.app, 'imports-fn').catch((err: Error) => err);
    assert.ok(res instanceof Error);
    assert.match(res.message, /400.*FORBIDDEN_IMPORT/);
  });
});
