import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import wabt from 'wabt';
import { holdsNoState } from '../../src/wasm/state.js';
import { fixture } from './helpers.js';

const wat = await wabt();

function fromWat(text: string): Uint8Array {
  const parsed = wat.parseWat('state.wat', text, { bulk_memory: true, reference_types: true, exceptions: true, simd: true });
  try {
    return parsed.toBinary({}).buffer.slice();
  } finally {
    parsed.destroy();
  }
}

describe('holdsNoState: whether a module\'s instances can carry anything between calls', () => {
  it('holds for modules of pure functions and immutable globals', () => {
    assert.equal(holdsNoState(fixture('add')), true);
    assert.equal(holdsNoState(fromWat('(module (global i32 (i32.const 11)) (global $k i64 (i64.const -1)) (global v128 (v128.const i32x4 1 2 3 4)) (func (export "k") (result i64) (global.get $k)))')), true);
    // A passive element segment dropped by a call: nothing can read it back without a table.
    assert.equal(holdsNoState(fromWat('(module (func $f) (elem $e func $f) (func (export "drop") (elem.drop $e)))')), true);
  });

  it('does not hold for a mutable global, memory, a table, an import, a start function or a tag', () => {
    const stateful = {
      'mutable global': '(module (global $n (mut i32) (i32.const 0)) (func (export "next") (result i32) (global.set $n (i32.add (global.get $n) (i32.const 1))) (global.get $n)))',
      // The first global's initialiser holds the byte 0x0b (end) inside its LEB: the walk must step over it.
      'mutable global after one whose initialiser holds 0x0b': '(module (global i32 (i32.const 11)) (global (mut i32) (i32.const 0)))',
      memory: '(module (memory 1) (func (export "f")))',
      table: '(module (table 1 funcref) (func (export "f")))',
      import: '(module (import "env" "f" (func)) (func (export "g") (call 0)))',
      'start function': '(module (func $s) (start $s) (func (export "f")))',
      tag: '(module (tag $t) (func (export "f")))',
    };
    for (const [what, text] of Object.entries(stateful)) assert.equal(holdsNoState(fromWat(text)), false, what);
  });
});
