import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { capTables, inspect } from '../../src/wasm/binary.js';
import { fixture } from './helpers.js';

type Grow = (n: number) => number;

describe('capTables', () => {
  it('gives a table without a maximum the cap as its maximum: table.grow fails past it', () => {
    const capped = capTables(fixture('table-grow'), 1000);
    assert.deepEqual(inspect(capped).tables, [{ min_elements: 10, max_elements: 1000 }]);
    const grow = () => new WebAssembly.Instance(new WebAssembly.Module(capped)).exports.grow as Grow;
    assert.equal(grow()(990), 10, 'up to the cap: the old size');
    assert.equal(grow()(991), -1, 'past the cap');
    const uncapped = new WebAssembly.Instance(new WebAssembly.Module(fixture('table-grow'))).exports.grow as Grow;
    assert.equal(uncapped(991), 10, 'the module itself would grow');
  });

  it('lowers a larger maximum, keeps a smaller one, and never goes below a table\'s minimum', () => {
    // (table 2 50 funcref) (table 3 funcref): one maximum over the cap of 20, one missing.
    const head = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
    const twoTables = Uint8Array.from([...head, 0x04, 0x08, 0x02, 0x70, 0x01, 0x02, 0x32, 0x70, 0x00, 0x03]);
    assert.deepEqual(inspect(capTables(twoTables, 20)).tables, [{ min_elements: 2, max_elements: 20 }, { min_elements: 3, max_elements: 20 }]);
    assert.deepEqual(inspect(capTables(twoTables, 100)).tables, [{ min_elements: 2, max_elements: 50 }, { min_elements: 3, max_elements: 100 }]);
    assert.deepEqual(inspect(capTables(twoTables, 1)).tables, [{ min_elements: 2, max_elements: 2 }, { min_elements: 3, max_elements: 3 }]);
    for (const cap of [1, 20, 100]) assert.ok(WebAssembly.validate(capTables(twoTables, cap)));
  });

  it('returns the bytes themselves when there is no table or nothing to change', () => {
    const add = fixture('add');
    assert.equal(capTables(add, 10), add);
    const capped = capTables(fixture('table-grow'), 1000);
    assert.equal(capTables(capped, 1000), capped);
  });
});
