import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ValType, WasmArg } from '../../src/wasm/types.js';
import { fixture, startRunner, type TestRunner } from './helper.js';

const floats = fixture('float-ops');
const NEG_NAN_64 = { type: 'f64', bits: 0xfff8000000000000n } as const;
const NEG_NAN_32 = { type: 'f32', bits: 0xffc00000 } as const;

describe('runner: NaN arguments', () => {
  let t: TestRunner;
  before(async () => {
    t = await startRunner({}, [floats]);
  });
  after(() => t.runner.close());

  const run = async (fn: string, params: ValType[], args: WasmArg[], results?: ValType[]) =>
    (await t.runner.run({ sha256: floats.sha256, fn, params, args, ...(results ? { results } : {}) })).results;

  it('lets copysign see the sign of a -NaN argument', async () => {
    assert.deepEqual(await run('copysign64', ['f64', 'f64'], [1.5, NEG_NAN_64], ['f64']), [-1.5]);
    assert.deepEqual(await run('copysign32', ['f32', 'f32'], [2, NEG_NAN_32], ['f32']), [-2]);
  });

  it('reads the result types from the module when the caller leaves them out', async () => {
    assert.deepEqual(await run('copysign64', ['f64', 'f64'], [1.5, NEG_NAN_64]), [-1.5]);
  });

  it('keeps a NaN payload, signalling ones included, and the argument order', async () => {
    assert.deepEqual(await run('bits32', ['f32'], [{ type: 'f32', bits: 0x7fa00001 }]), [0x7fa00001]);
    assert.deepEqual(await run('bits64', ['f64'], [{ type: 'f64', bits: 0x7ff4000000000001n }]), [0x7ff4000000000001n]);
    const nan = 0x7ff8000000000abcn;
    assert.deepEqual(await run('mixed', ['i32', 'f32', 'i64', 'f64'], [7, 1.5, 5n, { type: 'f64', bits: nan }]), [nan ^ 5n]);
  });

  it('batches bridged and plain calls together', async () => {
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        i % 2 === 0 ? run('copysign64', ['f64', 'f64'], [i, NEG_NAN_64], ['f64']) : run('add64', ['f64', 'f64'], [i, 0.5]),
      ),
    );
    answers.forEach((a, i) => assert.deepEqual(a, [i % 2 === 0 ? -i : i + 0.5]));
  });
});
