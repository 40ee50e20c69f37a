import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startApp, upload, type TestApp } from '../helper.js';
import { within } from '../within.js';

/** The runner's deadline here: a second, so healthy calls (milliseconds) never meet it, nor twice it waiting. */
const TIMEOUT_MS = 1000;

describe('POST /modules/:id/run', () => {
  let t: TestApp;
  const ids: Record<string, string> = {};
  const run = (name: string, payload: unknown) =>
    t.app.inject({ method: 'POST', url: `/modules/${ids[name]}/run`, payload: payload as Record<string, unknown> });

  before(async () => {
    t = await startApp({ runner: { timeout: TIMEOUT_MS, max_memory: 16 * 65536 } });
    for (const name of ['add', 'add-i64', 'float-ops', 'multi-value', 'loop-forever', 'start-loop', 'trap', 'stack-overflow', 'grow-loop', 'memory-max', 'single-export', 'no-exports', 'v128-param']) {
      ids[name] = (await upload(t.app, name)).id;
    }
  });
  after(async () => t.close());

  /** Workers killed for a guest past its deadline, from /metrics. */
  const restarts = async () => {
    const metrics = (await t.app.inject({ method: 'GET', url: '/metrics' })).body;
    return Number(/^wess_worker_restarts_total\{reason="timeout"\} (\d+)$/m.exec(metrics)?.[1] ?? 0);
  };

  test('add(2, 3) is 5, with stats', async () => {
    const res = await run('add', { function: 'add', args: [2, 3] });
    assert.equal(res.statusCode, 200);
    const body = res.json();
    assert.deepEqual(body.results, [5]);
    assert.equal(body.stats.version, 1);
    assert.equal(typeof body.stats.duration_ms, 'number');
    assert.equal(body.stats.compile_cached, true);
  });

  test('i32 arguments as numbers or decimal strings, wrapping at 32 bits', async () => {
    assert.deepEqual((await run('add', { function: 'add', args: ['2', 3] })).json().results, [5]);
    assert.deepEqual((await run('add', { function: 'add', args: [4294967295, 1] })).json().results, [0]);
    assert.deepEqual((await run('add', { function: 'add', args: [2147483647, 1] })).json().results, [-2147483648]);
    assert.deepEqual((await run('add', { function: 'add', args: [-2147483648, 0] })).json().results, [-2147483648]);
  });

  test('i64 beyond 2^53 both ways, as decimal strings', async () => {
    const res = await run('add-i64', { function: 'add', args: ['9007199254740993', '1'] });
    assert.deepEqual(res.json().results, ['9007199254740994']);
    assert.deepEqual((await run('add-i64', { function: 'add', args: ['18446744073709551615', 1] })).json().results, ['0']);
    assert.deepEqual((await run('add-i64', { function: 'add', args: ['-9223372036854775808', -1] })).json().results, ['9223372036854775807']);
  });

  test('floats: -0, infinities, NaN, and NaN sign and payload reach the guest', async () => {
    assert.deepEqual((await run('float-ops', { function: 'add64', args: ['-0', '-0'] })).json().results, ['-0']);
    assert.deepEqual((await run('float-ops', { function: 'add64', args: ['Infinity', 1] })).json().results, ['Infinity']);
    assert.deepEqual((await run('float-ops', { function: 'add32', args: ['-Infinity', 1.5] })).json().results, ['-Infinity']);
    assert.deepEqual((await run('float-ops', { function: 'add64', args: ['Infinity', '-Infinity'] })).json().results, ['NaN']);
    assert.deepEqual((await run('float-ops', { function: 'add32', args: [0.1, 0.2] })).json().results, [Math.fround(Math.fround(0.1) + Math.fround(0.2))]);
    assert.deepEqual((await run('float-ops', { function: 'copysign64', args: [1, '-NaN'] })).json().results, [-1]);
    assert.deepEqual((await run('float-ops', { function: 'copysign32', args: ['-0', 'NaN'] })).json().results, [0]);
    assert.deepEqual((await run('float-ops', { function: 'bits32', args: ['NaN:0x200000'] })).json().results, [0x7fa00000]);
    assert.deepEqual((await run('float-ops', { function: 'bits64', args: ['-NaN:0x4000000000000'] })).json().results, [String(BigInt.asIntN(64, 0xfff4000000000000n))]);
  });

  test('multi-value results keep their types', async () => {
    const res = await run('multi-value', { function: 'triple' });
    assert.deepEqual(res.json().results, [-1, '9007199254740993', 1.5]);
  });

  test('function may be left out when the module exports exactly one', async () => {
    assert.deepEqual((await run('single-export', { args: [21] })).json().results, [42]);
    const res = await run('float-ops', { args: [1, 2] });
    assert.equal(res.statusCode, 400);
    assert.match(res.json().error.message, /function is required/);
  });

  test('unknown functions and functions that cannot be called over HTTP', async () => {
    const unknown = await run('add', { function: 'sub', args: [1, 2] });
    assert.equal(unknown.statusCode, 400);
    assert.equal(unknown.json().error.code, 'UNKNOWN_FUNCTION');
    assert.match(unknown.json().error.message, /"add"/);
    const none = await run('no-exports', {});
    assert.equal(none.statusCode, 400);
    const v128 = await run('v128-param', { args: [1] });
    assert.equal(v128.statusCode, 400);
    assert.equal(v128.json().error.code, 'INVALID_ARGUMENT');
  });

  test('argument errors name the argument and the reason', async () => {
    const cases: [unknown, RegExp][] = [
      [[1], /2/],
      [[1, 2, 3], /2/],
      [[1.5, 2], /args\[0\]/],
      [[1, 'abc'], /args\[1\]/],
      [[4294967296, 1], /args\[0\]/],
      [[-2147483649, 1], /args\[0\]/],
      [[true, 1], /args\[0\]/],
      [[null, 1], /args\[0\]/],
      [[{}, 1], /args\[0\]/],
      [['0x10', 1], /args\[0\]/],
    ];
    for (const [args, pattern] of cases) {
      const res = await run('add', { function: 'add', args });
      assert.equal(res.statusCode, 400, JSON.stringify(args));
      assert.equal(res.json().error.code, 'INVALID_ARGUMENT', JSON.stringify(args));
      assert.match(res.json().error.message, pattern, JSON.stringify(args));
    }
    const tooMany = await run('add', { function: 'add', args: Array.from({ length: 11 }, () => 1) });
    assert.equal(tooMany.statusCode, 400);
    const i64 = await run('add-i64', { function: 'add', args: ['18446744073709551616', 1] });
    assert.equal(i64.statusCode, 400);
    assert.match(i64.json().error.message, /args\[0\]/);
    const notArray = await run('add', { function: 'add', args: 'nope' });
    assert.equal(notArray.statusCode, 400);
    const extra = await run('add', { function: 'add', args: [1, 2], bogus: true });
    assert.equal(extra.statusCode, 400);
  });

  test('traps are 422 WASM_TRAP with the spec text', async () => {
    const cases: [string, unknown[], string][] = [
      ['div', [1, 0], 'integer divide by zero'],
      ['div', [-2147483648, -1], 'integer overflow'],
      ['unreachable', [], 'unreachable'],
      ['oob', [], 'out of bounds memory access'],
    ];
    for (const [fn, args, message] of cases) {
      const res = await run('trap', { function: fn, args });
      assert.equal(res.statusCode, 422, fn);
      assert.equal(res.json().error.code, 'WASM_TRAP');
      assert.equal(res.json().error.message, message);
    }
    const overflow = await run('stack-overflow', { function: 'recurse', args: [0] });
    assert.equal(overflow.statusCode, 422);
    assert.equal(overflow.json().error.code, 'WASM_TRAP');
    assert.match(overflow.json().error.message, /stack/);
  });

  test('memory growth stops at the cap', async () => {
    assert.deepEqual((await run('grow-loop', { function: 'grow_all' })).json().results, [16]);
    assert.deepEqual((await run('memory-max', { function: 'grow20' })).json().results, [-1]);
    assert.deepEqual((await run('memory-max', { function: 'grow', args: [9] })).json().results, [1]);
  });

  test('an infinite loop answers 408 at its deadline while concurrent calls succeed', { timeout: 30_000 }, async () => {
    const restartsBefore = await restarts();
    // Raced against 10 s: a deadline that never fires would otherwise hang the test, not fail it.
    const spinning = within(run('loop-forever', { function: 'spin' }), 10_000, 'the looping call');
    const healthy = Array.from({ length: 200 }, (_, i) => run('add', { function: 'add', args: [i, 1] }));
    const answers = await Promise.all(healthy);
    answers.forEach((res, i) => assert.deepEqual(res.json().results, [i + 1]));
    const res = await spinning;
    assert.equal(res.statusCode, 408);
    assert.equal(res.json().error.code, 'EXECUTION_TIMEOUT');
    assert.equal(res.json().error.message, `call to "spin" did not finish within ${TIMEOUT_MS} ms; the guest was stopped`);
    const start = await within(run('start-loop', {}), 10_000, 'the looping start function');
    assert.equal(start.statusCode, 408, start.body);
    assert.equal(start.json().error.code, 'EXECUTION_TIMEOUT');
    // Both guests were stopped by killing their workers, and the pool is whole again.
    assert.equal(await restarts(), restartsBefore + 2);
    const after = await run('add', { function: 'add', args: [2, 3] });
    assert.deepEqual(after.json().results, [5]);
  });
});
