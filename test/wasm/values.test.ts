import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NumType, ValType, WasmArg } from '../../src/wasm/types.js';
import { assertCallable, encodeResults, parseArgs } from '../../src/wasm/values.js';
import { echoValue } from '../../src/echo.js';
import { throwsCode } from './helpers.js';

const opts = { maxArgs: 10 };
const one = (type: NumType, value: unknown): WasmArg => parseArgs([type], [value], opts)[0] as WasmArg;
const refuse = (type: NumType, value: unknown, why: RegExp): void => {
  const err = throwsCode(() => one(type, value), 'INVALID_ARGUMENT', why);
  assert.match(err.message, new RegExp(`^args\\[0\\] \\(${type}\\): `));
  // A long value is quoted clipped (src/echo.ts), in the details as in the message.
  assert.deepEqual(err.details, { index: 0, type, value: echoValue(value) });
};

describe('parseArgs: shape', () => {
  it('converts each argument by its parameter type', () => {
    assert.deepEqual(parseArgs(['i32', 'i64', 'f32', 'f64'], [1, '2', 1.5, '-0'], opts), [1, 2n, 1.5, -0]);
    assert.deepEqual(parseArgs([], [], opts), []);
  });

  it('requires an array', () => {
    for (const args of [{}, null, undefined, '1', 1]) throwsCode(() => parseArgs(['i32'], args, opts), 'INVALID_ARGUMENT', /args must be an array/);
  });

  it('requires exactly as many arguments as parameters, saying expected and got', () => {
    throwsCode(() => parseArgs(['i32', 'i32'], [1], opts), 'INVALID_ARGUMENT', /takes 2 arguments \(i32, i32\), got 1/);
    throwsCode(() => parseArgs(['i32'], [1, 2], opts), 'INVALID_ARGUMENT', /takes 1 arguments \(i32\), got 2/);
  });

  it('refuses more than maxArgs arguments', () => {
    const params: ValType[] = Array(11).fill('i32');
    throwsCode(() => parseArgs(params, Array(11).fill(0), opts), 'INVALID_ARGUMENT', /11 arguments given; at most 10 are allowed/);
    assert.equal(parseArgs(params.slice(1), Array(10).fill(0), opts).length, 10);
  });

  it('refuses a function with a parameter type other than the four', () => {
    for (const type of ['v128', 'funcref', 'externref'] as const) {
      throwsCode(() => parseArgs(['i32', type], [1, 2], opts), 'INVALID_ARGUMENT', new RegExp(`cannot be called over HTTP: parameter 1 has type ${type}`));
    }
  });

  it('names the failing argument by its 0-based index', () => {
    const err = throwsCode(() => parseArgs(['i32', 'i32'], [1, 1.5], opts), 'INVALID_ARGUMENT');
    assert.equal(err.message, 'args[1] (i32): 1.5 is not an integer');
    assert.deepEqual(err.details, { index: 1, type: 'i32', value: 1.5 });
  });
});

describe('parseArgs: i32', () => {
  it('accepts integers and decimal strings in [-2^31, 2^32-1], wrapped to signed', () => {
    const cases: [unknown, number][] = [
      [0, 0], [-0, 0], [1, 1], [-1, -1], ['42', 42], ['-42', -42], ['007', 7], ['-0', 0],
      [2147483647, 2147483647], [-2147483648, -2147483648], ['-2147483648', -2147483648],
      [2147483648, -2147483648], [4294967295, -1], ['4294967295', -1], [3e9, -1294967296],
    ];
    for (const [input, expected] of cases) assert.equal(one('i32', input), expected, String(input));
  });

  it('refuses fractions, out-of-range values and everything that is not a decimal integer', () => {
    refuse('i32', 1.5, /1\.5 is not an integer$/);
    refuse('i32', '1.5', /"1\.5" is not an integer$/);
    refuse('i32', '1e3', /is not an integer$/);
    refuse('i32', 4294967296, /4294967296 is out of range \[-2147483648, 4294967295\]$/);
    refuse('i32', -2147483649, /out of range/);
    refuse('i32', '4294967296', /out of range/);
    refuse('i32', '-2147483649', /out of range/);
    refuse('i32', '1'.repeat(1000), /out of range/);
    refuse('i32', NaN, /is not a finite number/);
    refuse('i32', Infinity, /is not a finite number/);
    for (const text of ['', ' ', ' 1', '1 ', '0x10', '+1', '--1', '1_000', 'abc', '１']) {
      refuse('i32', text, /is not a decimal integer/);
    }
    for (const value of [true, false, null, {}, [], [1], undefined]) refuse('i32', value, /is not a number or a decimal string$/);
  });
});

describe('parseArgs: i64', () => {
  it('accepts decimal strings in [-2^63, 2^64-1] beyond 2^53, wrapped to signed', () => {
    const cases: [unknown, bigint][] = [
      ['9007199254740993', 9007199254740993n],
      ['-9007199254740993', -9007199254740993n],
      ['9223372036854775807', 9223372036854775807n],
      ['-9223372036854775808', -9223372036854775808n],
      ['9223372036854775808', -9223372036854775808n],
      ['18446744073709551615', -1n],
      ['0', 0n], ['-0', 0n], [0, 0n], [-7, -7n],
    ];
    for (const [input, expected] of cases) assert.equal(one('i64', input), expected, String(input));
  });

  it('accepts JSON numbers up to ±(2^53 - 1), and refuses larger ones JSON may have rounded', () => {
    assert.equal(one('i64', 2 ** 53 - 1), 9007199254740991n);
    assert.equal(one('i64', -(2 ** 53 - 1)), -9007199254740991n);
    refuse('i64', 2 ** 53, /send it as a decimal string/);
    refuse('i64', 2 ** 60, /send it as a decimal string/);
    refuse('i64', -(2 ** 63), /send it as a decimal string/);
  });

  it('refuses out-of-range values, fractions and non-decimal forms', () => {
    refuse('i64', 2 ** 64, /send it as a decimal string/);
    refuse('i64', '18446744073709551616', /out of range/);
    refuse('i64', '-9223372036854775809', /out of range/);
    refuse('i64', '9'.repeat(400), /out of range/);
    refuse('i64', 0.5, /is not an integer/);
    refuse('i64', '12.0', /is not an integer/);
    refuse('i64', '0x7fffffffffffffff', /is not a decimal integer/);
    refuse('i64', '', /is not a decimal integer/);
    refuse('i64', true, /is not a number or a decimal string/);
  });
});

describe('parseArgs: f32 and f64', () => {
  it('accepts numbers, decimal strings and the special strings', () => {
    for (const type of ['f32', 'f64'] as const) {
      const cases: [unknown, number][] = [
        [1.5, 1.5], [-2, -2], [0, 0], [-0, -0], ['1.5', 1.5], ['-1.5', -1.5], ['1e10', 1e10], ['1E-3', 1e-3],
        ['.5', 0.5], ['5.', 5], ['-0', -0], ['-0.0', -0], ['0', 0], ['Infinity', Infinity], ['-Infinity', -Infinity],
      ];
      for (const [input, expected] of cases) assert.ok(Object.is(one(type, input), expected), `${type} ${String(input)}`);
      assert.ok(Number.isNaN(one(type, 'NaN')), `${type} NaN`);
    }
    assert.equal(one('f32', 3.4028234663852886e38), 3.4028234663852886e38);
    assert.equal(one('f32', 0.1), 0.1, 'passed as the JS number; the engine rounds it to f32');
  });

  it('keeps the sign and payload of a NaN as bits; the canonical positive NaN stays a number', () => {
    assert.deepEqual(one('f32', '-NaN'), { type: 'f32', bits: 0xffc00000 });
    assert.deepEqual(one('f32', 'NaN:0x200000'), { type: 'f32', bits: 0x7fa00000 });
    assert.deepEqual(one('f32', '-NaN:0x200000'), { type: 'f32', bits: 0xffa00000 });
    assert.deepEqual(one('f32', 'NaN:0x1'), { type: 'f32', bits: 0x7f800001 });
    assert.deepEqual(one('f32', '-NaN:0x7fffff'), { type: 'f32', bits: 0xffffffff });
    assert.ok(Number.isNaN(one('f32', 'NaN:0x400000')));
    assert.ok(Number.isNaN(one('f32', 'NaN:0x0400000')));
    assert.deepEqual(one('f64', '-NaN'), { type: 'f64', bits: 0xfff8000000000000n });
    assert.deepEqual(one('f64', 'NaN:0x4000000000000'), { type: 'f64', bits: 0x7ff4000000000000n });
    assert.deepEqual(one('f64', '-NaN:0x4000000000000'), { type: 'f64', bits: 0xfff4000000000000n });
    assert.deepEqual(one('f64', '-NaN:0xfffffffffffff'), { type: 'f64', bits: 0xffffffffffffffffn });
    assert.deepEqual(one('f64', 'NaN:0xF1E27A6B'), { type: 'f64', bits: 0x7ff00000f1e27a6bn });
    assert.ok(Number.isNaN(one('f64', 'NaN:0x8000000000000')));
  });

  it('refuses NaN payloads that are zero or wider than the mantissa', () => {
    refuse('f32', 'NaN:0x0', /zero NaN payload/);
    refuse('f32', 'NaN:0x800000', /wider than f32's 23 mantissa bits/);
    refuse('f64', '-NaN:0x10000000000000', /wider than f64's 52 mantissa bits/);
    refuse('f64', `NaN:0x${'f'.repeat(100)}`, /wider/);
    for (const text of ['NaN:0x', 'NaN:200000', 'NaN:0xg', 'nan', '+NaN', 'NaN ']) refuse('f32', text, /is not a number, "Infinity"/);
  });

  it('refuses other strings, other JSON types and values out of range', () => {
    for (const text of ['', ' ', ' 1', '1 ', 'abc', 'inf', '+1', '1e', '.', '-', '0x1p3', 'infinity', '+Infinity', '1,5']) {
      refuse('f64', text, /is not a number, "Infinity", "-Infinity", "-0", "NaN", "-NaN" or "NaN:0x<hex>"$/);
    }
    for (const value of [true, null, {}, [], undefined]) refuse('f32', value, /is not a number or a numeric string$/);
    refuse('f64', '1e400', /out of range for f64/);
    refuse('f32', '1e39', /out of range for f32/);
    refuse('f32', 1e39, /out of range for f32/);
  });
});

describe('encodeResults', () => {
  it('encodes i32 as signed numbers and i64 as signed decimal strings', () => {
    assert.deepEqual(encodeResults(['i32', 'i32', 'i64', 'i64', 'i64'], [-1, 2147483647, 9007199254740993n, -5n, 2n ** 64n - 1n]), [
      -1, 2147483647, '9007199254740993', '-5', '-1',
    ]);
  });

  it('encodes floats as numbers except Infinity, -Infinity, -0 and NaN', () => {
    assert.deepEqual(encodeResults(['f32', 'f64', 'f64', 'f32', 'f64', 'f32', 'f64'], [1.5, 0, Infinity, -Infinity, -0, NaN, -1e300]), [
      1.5, 0, 'Infinity', '-Infinity', '-0', 'NaN', -1e300,
    ]);
  });

  it('treats a mismatch between types and raw values as a bug (INTERNAL)', () => {
    throwsCode(() => encodeResults(['i32'], []), 'INTERNAL', /expected 1 results, got 0/);
    throwsCode(() => encodeResults(['i64'], [1]), 'INTERNAL', /result 0 of type i64 came back as number/);
    throwsCode(() => encodeResults(['v128'], [1]), 'INTERNAL');
  });
});

describe('assertCallable', () => {
  it('accepts the four number types and refuses v128 and references in params or results', () => {
    assertCallable({ name: 'f', params: ['i32', 'i64', 'f32', 'f64'], results: ['i32', 'i64', 'f32', 'f64'] });
    throwsCode(() => assertCallable({ name: 'f', params: ['v128'], results: [] }), 'INVALID_ARGUMENT', /"f" cannot be called over HTTP: its parameter 0 has type v128/);
    throwsCode(() => assertCallable({ name: 'g', params: [], results: ['i32', 'externref'] }), 'INVALID_ARGUMENT', /its result 1 has type externref/);
  });
});
