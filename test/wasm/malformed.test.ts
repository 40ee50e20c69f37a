import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { describe, it } from 'node:test';
import { capMemory, inspect } from '../../src/wasm/binary.js';
import { FIXTURES_DIR, fixture, throwsCode } from './helpers.js';

const PREAMBLE = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
const bytes = (...parts: number[][]): Uint8Array => Uint8Array.from(parts.flat());
const invalid = (input: Uint8Array, message?: RegExp): void => {
  const err = throwsCode(() => inspect(input), 'INVALID_WASM', message);
  assert.match(err.message, /at byte offset \d+$/);
};

/** Either inspect returns, or it throws INVALID_WASM; nothing else may escape. */
function inspectOrInvalid(input: Uint8Array): boolean {
  try {
    inspect(input);
    return true;
  } catch (err) {
    assert.equal((err as { code?: unknown }).code, 'INVALID_WASM', `not INVALID_WASM: ${String(err)}`);
    return false;
  }
}

/** Where each section of a well-formed module ends: a walk of its own, so the check does not lean on src/wasm/sections.ts. */
function sectionEnds(module: Uint8Array): { id: number; end: number }[] {
  const ends: { id: number; end: number }[] = [];
  let pos = 8;
  while (pos < module.length) {
    const id = module[pos++] ?? 0;
    let size = 0;
    for (let shift = 0, more = true; more; shift += 7) {
      const byte = module[pos++] ?? 0;
      size |= (byte & 0x7f) << shift;
      more = (byte & 0x80) !== 0;
    }
    pos += size;
    ends.push({ id, end: pos });
  }
  return ends;
}

// Fixtures Node 20 compiles; the others use proposals it does not support.
const COMPILED = readdirSync(FIXTURES_DIR)
  .filter((f) => f.endsWith('.wasm'))
  .map((f) => f.slice(0, -5))
  .filter((name) => name !== 'two-memories' && name !== 'memory64');

describe('inspect: malformed input', () => {
  it('a module truncated at every length is refused with INVALID_WASM unless the prefix is itself valid', () => {
    for (const name of COMPILED) {
      const full = fixture(name);
      for (let length = 0; length < full.length; length++) {
        const prefix = full.slice(0, length);
        assert.equal(inspectOrInvalid(prefix), WebAssembly.validate(prefix), `${name} cut at ${length}`);
      }
    }
  });

  it('capMemory refuses a module cut inside its preamble or a section with INVALID_WASM, and caps one cut between sections', () => {
    // capMemory reads section headers and the memory section, nothing else: a cut between two sections
    // leaves it a well-formed list of sections to rewrite (V8 refuses what is missing, later).
    const full = fixture('memory-max');
    const ends = sectionEnds(full);
    const boundaries = [8, ...ends.map((s) => s.end)];
    // (memory 1 10) is the section 05 04 01 01 01 0a; capped to 4 pages its last byte becomes 04.
    const memoryEnd = ends.find((s) => s.id === 5)?.end ?? assert.fail('memory-max has no memory section');
    assert.deepEqual([...full.subarray(memoryEnd - 6, memoryEnd)], [5, 4, 1, 1, 1, 10]);
    let refused = 0;
    for (let length = 0; length <= full.length; length++) {
      const prefix = full.slice(0, length);
      if (!boundaries.includes(length)) {
        throwsCode(() => capMemory(prefix, 4), 'INVALID_WASM');
        refused++;
        continue;
      }
      const expected = prefix.slice();
      if (length >= memoryEnd) expected[memoryEnd - 1] = 4;
      assert.deepEqual(capMemory(prefix, 4), expected, `cut at ${length}`);
    }
    assert.equal(refused, full.length + 1 - boundaries.length);
  });

  it('refuses empty input, a bad magic number and other versions', () => {
    invalid(new Uint8Array(0), /shorter than the 8-byte preamble/);
    invalid(bytes([0x00, 0x61, 0x73, 0x6e, 1, 0, 0, 0]), /bad magic.*offset 3$/);
    invalid(bytes([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]), /bad magic/);
    invalid(bytes([0x00, 0x61, 0x73, 0x6d, 2, 0, 0, 0]), /unsupported binary version 0x2/);
    invalid(bytes([0x00, 0x61, 0x73, 0x6d, 0x0d, 0, 1, 0]), /component/);
  });

  it('refuses a section whose size runs past the end of the buffer', () => {
    invalid(bytes(PREAMBLE, [1, 10, 1, 0x60, 0, 0]), /section 1 content \(10 bytes\) runs past the end at byte offset 10$/);
    invalid(bytes(PREAMBLE, [0, 0xff, 0xff, 0xff, 0xff, 0x0f]), /runs past the end/);
  });

  it('refuses over-long and overflowing LEB128 without looping', () => {
    invalid(bytes(PREAMBLE, [1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]), /section size: LEB128 integer too large or too long at byte offset 9$/);
    invalid(bytes(PREAMBLE, [1, 0x84, 0x80, 0x80, 0x80, 0x10]), /too large/);
    invalid(bytes(PREAMBLE, Array(100_000).fill(0xff)), /section id|too/);
    // 64-bit limits: ten bytes at most, and only one bit in the tenth.
    invalid(bytes(PREAMBLE, [5, 12, 1, 0x04, ...Array(9).fill(0x80), 0x02]), /memory minimum: LEB128 integer too large/);
    // A padded (but not over-long) LEB is allowed by the spec.
    assert.deepEqual(inspect(bytes(PREAMBLE, [1, 0x81, 0x80, 0x80, 0x80, 0x00, 0])).exports, []);
  });

  it('refuses unknown, duplicated and out-of-order sections', () => {
    invalid(bytes(PREAMBLE, [14, 0]), /unknown section id 14 at byte offset 8$/);
    invalid(bytes(PREAMBLE, [1, 1, 0, 1, 1, 0]), /section 1 is duplicated or out of order at byte offset 11$/);
    invalid(bytes(PREAMBLE, [3, 1, 0, 1, 1, 0]), /out of order/);
  });

  it('refuses a section whose content is shorter than its declared size', () => {
    invalid(bytes(PREAMBLE, [1, 2, 0, 0]), /section 1 size mismatch/);
  });

  it('refuses content that does not fit its section', () => {
    invalid(bytes(PREAMBLE, [1, 4, 1, 0x60, 5, 0x7f]), /param count 5 exceeds/);
    invalid(bytes(PREAMBLE, [5, 2, 1, 0x08]), /memory limits flags 0x8 are not in 0x00..0x07 at byte offset 11$/);
    invalid(bytes(PREAMBLE, [5, 2, 1, 0x01]), /unexpected end while reading memory minimum/);
    invalid(bytes(PREAMBLE, [1, 4, 1, 0x5f, 0, 0]), /unsupported type form 0x5f/);
    invalid(bytes(PREAMBLE, [1, 5, 1, 0x60, 1, 0x40, 0]), /unknown value type 0x40/);
    invalid(bytes(PREAMBLE, [0, 3, 2, 0xc3, 0x28]), /custom section name is not valid UTF-8/);
    invalid(bytes(PREAMBLE, [2, 5, 1, 0, 0, 0x05, 0]), /unknown import kind 0x5/);
    invalid(bytes(PREAMBLE, [2, 5, 1, 0, 0, 0x00, 0]), /unknown type 0/);
  });

  it('refuses exports that name no function, twice-used names, and inconsistent code', () => {
    const types = [1, 4, 1, 0x60, 0, 0];
    invalid(bytes(PREAMBLE, types, [3, 2, 1, 0], [7, 4, 1, 0, 0, 1], [10, 4, 1, 2, 0, 0x0b]), /refers to unknown function 1/);
    invalid(bytes(PREAMBLE, types, [3, 2, 1, 0], [7, 7, 2, 0, 0, 0, 0, 0, 0], [10, 4, 1, 2, 0, 0x0b]), /duplicate export name ""/);
    invalid(bytes(PREAMBLE, types, [3, 2, 1, 0]), /declares 1 functions but code section has 0/);
    invalid(bytes(PREAMBLE, types, [3, 2, 1, 0], [8, 1, 1], [10, 4, 1, 2, 0, 0x0b]), /start function 1 does not exist/);
    invalid(bytes(PREAMBLE, [12, 1, 1]), /data count section says 1 segments but data section has 0/);
  });

  it('never throws anything but INVALID_WASM on corrupted fixtures (seeded random byte flips)', () => {
    let seed = 0x2545f491;
    const random = (): number => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) / 2 ** 32;
    };
    for (const name of COMPILED) {
      const original = fixture(name);
      for (let round = 0; round < 300; round++) {
        const copy = original.slice();
        const flips = 1 + Math.floor(random() * 3);
        for (let i = 0; i < flips; i++) copy[Math.floor(random() * copy.length)] = Math.floor(random() * 256);
        inspectOrInvalid(copy);
      }
    }
  });
});
