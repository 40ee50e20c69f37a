import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inspect } from '../../src/wasm/binary.js';
import { argsForBridge, bridgeModuleBytes, needsBridge } from '../../src/wasm/nan-bridge.js';
import type { ValType } from '../../src/wasm/types.js';
import { encodeResults, parseArgs } from '../../src/wasm/values.js';
import { fixture, throwsCode } from './helpers.js';

type Fn = (...args: (number | bigint)[]) => unknown;

const floatOps = new WebAssembly.Instance(new WebAssembly.Module(fixture('float-ops'))).exports as Record<string, Fn>;
const signatures = new Map(inspect(fixture('float-ops')).exports.map((e) => [e.name, e]));

/** Calls a float-ops export through a bridge with JSON arguments and returns the JSON results. */
function callBridged(name: string, json: unknown[]): (number | string)[] {
  const sig = signatures.get(name);
  const target = floatOps[name];
  assert.ok(sig !== undefined && target !== undefined);
  const args = parseArgs(sig.params, json, { maxArgs: 10 });
  const bridge = new WebAssembly.Instance(new WebAssembly.Module(bridgeModuleBytes(sig.params, sig.results)), { m: { f: target } });
  const raw = (bridge.exports.f as Fn)(...argsForBridge(sig.params, args));
  return encodeResults(sig.results, [raw as number | bigint]);
}

describe('nan bridge', () => {
  it('builds a valid module for any mix of the four types, including no params and several results', () => {
    const all: ValType[] = ['i32', 'i64', 'f32', 'f64'];
    const cases: [ValType[], ValType[]][] = [[[], []], [all, all], [['f32'], ['i32']], [[...all, ...all, 'f64', 'f32'], ['f64']]];
    for (const [params, results] of cases) {
      const bytes = bridgeModuleBytes(params, results);
      assert.ok(WebAssembly.validate(bytes), `${params.join()} -> ${results.join()}`);
      const bitsTypes = params.map((t) => (t === 'f32' ? 'i32' : t === 'f64' ? 'i64' : t));
      assert.deepEqual(inspect(bytes).exports, [{ name: 'f', params: bitsTypes, results }]);
      assert.deepEqual(inspect(bytes).imports, [{ module: 'm', name: 'f', kind: 'function', type: { params, results } }]);
    }
  });

  it('a signalling f32 NaN arrives with its payload: "NaN:0x200000" is 0x7fa00000 inside', () => {
    assert.deepEqual(callBridged('bits32', ['NaN:0x200000']), [0x7fa00000]);
    assert.deepEqual(callBridged('bits32', ['-NaN:0x200000']), [0xffa00000 | 0]);
    assert.deepEqual(callBridged('bits32', ['NaN:0x1']), [0x7f800001]);
  });

  it('the sign of "-NaN" reaches copysign', () => {
    assert.deepEqual(callBridged('copysign32', [1, '-NaN']), [-1]);
    assert.deepEqual(callBridged('copysign64', [2.5, '-NaN']), [-2.5]);
    assert.deepEqual(callBridged('copysign64', [-2.5, 'NaN']), [2.5]);
    assert.deepEqual(callBridged('copysign32', ['-NaN', 1]), ['NaN']);
  });

  it('f64 NaN payloads arrive intact', () => {
    assert.deepEqual(callBridged('bits64', ['-NaN:0x4000000000000']), [String(BigInt.asIntN(64, 0xfff4000000000000n))]);
    assert.deepEqual(callBridged('bits64', ['NaN:0x1']), ['9218868437227405313']);
  });

  it('ordinary numbers, -0 and infinities keep their value and argument order', () => {
    assert.deepEqual(callBridged('add32', [0.1, '-0']), [Math.fround(0.1)]);
    assert.deepEqual(callBridged('add64', ['-0', '-0']), ['-0']);
    assert.deepEqual(callBridged('add64', ['Infinity', 1]), ['Infinity']);
    assert.deepEqual(callBridged('bits32', ['-0']), [0x80000000 | 0]);
    // mixed(i32, f32, i64, f64) = bits(f64) xor i64
    assert.deepEqual(callBridged('mixed', [7, 1.5, '5', 2.5]), [String(0x4004000000000000n ^ 5n)]);
  });

  it('argsForBridge turns floats into bits and leaves integers alone', () => {
    assert.deepEqual(argsForBridge(['i32', 'i64', 'f32', 'f64'], [-1, -1n, 1, -0]), [-1, -1n, 0x3f800000, 0x8000000000000000n]);
    assert.deepEqual(argsForBridge(['f32', 'f64'], [{ type: 'f32', bits: 0x7fa00000 }, { type: 'f64', bits: 1n }]), [0x7fa00000, 1n]);
  });

  it('needsBridge is true only when some argument travels as bits', () => {
    assert.equal(needsBridge([1, 2n, NaN, -0]), false);
    assert.equal(needsBridge([1, { type: 'f32', bits: 0xffc00000 }]), true);
  });

  it('refuses types that cannot be passed from JSON', () => {
    throwsCode(() => bridgeModuleBytes(['v128'], []), 'INVALID_ARGUMENT', /v128/);
  });
});
