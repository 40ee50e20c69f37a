import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RunCall } from '../../src/runner/pool.js';
import { fixture, fromWat, rejection, startRunner, type TestRunner } from './helper.js';

const trap = fixture('trap');
const stack = fixture('stack-overflow');
const more = fromWat(`(module
  (type $t (func (result i32)))
  (type $u (func (param i32) (result i32)))
  (table 3 funcref)
  (elem (i32.const 0) $one)
  (func $one (result i32) (i32.const 1))
  (func (export "div_s") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
  (func (export "rem_u") (param i32 i32) (result i32) (i32.rem_u (local.get 0) (local.get 1)))
  (func (export "trunc") (param f64) (result i32) (i32.trunc_f64_s (local.get 0)))
  (func (export "call_at") (param i32) (result i32) (call_indirect (type $t) (local.get 0)))
  (func (export "call_as_u") (param i32) (result i32) (call_indirect (type $u) (i32.const 5) (local.get 0)))
  (func (export "table_get") (param i32) (result i32) (ref.is_null (table.get 0 (local.get 0))))
  (func (export "table_copy") (param i32) (table.copy (local.get 0) (i32.const 0) (i32.const 2))))`);
const startTrap = fromWat(`(module
  (func $boom (unreachable))
  (func (export "noop"))
  (start $boom))`);

describe('runner: traps', () => {
  let t: TestRunner;
  before(async () => {
    t = await startRunner({}, [trap, stack, more, startTrap]);
  });
  after(() => t.runner.close());

  const trapOf = async (call: Omit<RunCall, 'params'> & { params?: RunCall['params'] }) => {
    const err = await rejection(t.runner.run({ params: [], ...call }));
    assert.equal(err.code, 'WASM_TRAP', err.message);
    return err.message;
  };

  it('reports the fixture traps in the spec words', async () => {
    assert.equal(await trapOf({ sha256: trap.sha256, fn: 'div', args: [1, 0] }), 'integer divide by zero');
    assert.equal(await trapOf({ sha256: trap.sha256, fn: 'unreachable', args: [] }), 'unreachable');
    assert.equal(await trapOf({ sha256: trap.sha256, fn: 'oob', args: [] }), 'out of bounds memory access');
  });

  it('reports integer traps in the spec words', async () => {
    assert.equal(await trapOf({ sha256: more.sha256, fn: 'rem_u', args: [1, 0] }), 'integer divide by zero');
    assert.equal(await trapOf({ sha256: more.sha256, fn: 'div_s', args: [-2147483648, -1] }), 'integer overflow');
    assert.equal(await trapOf({ sha256: more.sha256, fn: 'trunc', args: [NaN] }), 'invalid conversion to integer');
    assert.equal(await trapOf({ sha256: more.sha256, fn: 'trunc', args: [1e20] }), 'integer overflow');
    assert.equal(await trapOf({ sha256: more.sha256, fn: 'trunc', params: ['f64'], args: [{ type: 'f64', bits: 0xfff8000000000001n }] }), 'invalid conversion to integer');
  });

  it('tells call_indirect traps from table instruction traps', async () => {
    assert.equal(await trapOf({ sha256: more.sha256, fn: 'call_at', args: [7] }), 'undefined element');
    assert.equal(await trapOf({ sha256: more.sha256, fn: 'call_as_u', args: [0] }), 'indirect call type mismatch');
    assert.equal(await trapOf({ sha256: more.sha256, fn: 'table_get', args: [7] }), 'out of bounds table access');
    assert.equal(await trapOf({ sha256: more.sha256, fn: 'table_copy', args: [2] }), 'out of bounds table access');
  });

  it('reports unbounded recursion as call stack exhausted', async () => {
    assert.equal(await trapOf({ sha256: stack.sha256, fn: 'recurse', args: [0] }), 'call stack exhausted');
  });

  it('reports a start function that traps as a trap', async () => {
    assert.equal(await trapOf({ sha256: startTrap.sha256, fn: 'noop', args: [] }), 'unreachable');
  });

  it('fails only the trapping call of a batch', async () => {
    const calls = Array.from({ length: 50 }, (_, i) =>
      t.runner.run({ sha256: trap.sha256, fn: 'div', params: ['i32', 'i32'], args: [100, i % 5] }).then(
        (r) => r.results[0],
        (e: { code: string }) => e.code,
      ),
    );
    const answers = await Promise.all(calls);
    answers.forEach((a, i) => assert.equal(a, i % 5 === 0 ? 'WASM_TRAP' : Math.trunc(100 / (i % 5))));
  });
});
