import { echo, echoValue, clip } from '../echo.js';
import { wessError, type WessError } from '../errors.js';
import type { FunctionExport, NumType, RawResult, ValType, WasmArg } from './types.js';

const INT_RANGE = {
  i32: { min: -(2n ** 31n), max: 2n ** 32n - 1n },
  i64: { min: -(2n ** 63n), max: 2n ** 64n - 1n },
} as const;

const DECIMAL_INT = /^-?[0-9]+$/;
const DECIMAL_FLOAT = /^-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;
// "NaN", "-NaN", "NaN:0x200000", "-NaN:0x4000000000000": the hex is the mantissa (quiet bit included).
const NAN_FORM = /^(-?)NaN(?::0x([0-9a-fA-F]+))?$/;

/** Mantissa width and bit layout of the two float types. */
const FLOAT = {
  f32: { mantissaBits: 23n, canonical: 1n << 22n, exponent: 0x7f800000n, sign: 1n << 31n },
  f64: { mantissaBits: 52n, canonical: 1n << 51n, exponent: 0x7ff0000000000000n, sign: 1n << 63n },
} as const;

export function isNumType(type: ValType): type is NumType {
  return type === 'i32' || type === 'i64' || type === 'f32' || type === 'f64';
}

/** Throws INVALID_ARGUMENT when a parameter or result type cannot cross JSON (v128, references). */
export function assertCallable(fn: FunctionExport): void {
  const check = (types: ValType[], what: string): void => {
    const index = types.findIndex((t) => !isNumType(t));
    const type = types[index];
    if (type === undefined) return;
    throw wessError(
      'INVALID_ARGUMENT',
      `function ${JSON.stringify(clip(fn.name))} cannot be called over HTTP: its ${what} ${index} has type ${type} (only i32, i64, f32 and f64 can)`,
      { function: clip(fn.name), [what]: index, type },
    );
  };
  check(fn.params, 'parameter');
  check(fn.results, 'result');
}

/** Converts JSON call arguments to wasm values by the export's real parameter types (DESIGN.md, "Values"). */
export function parseArgs(params: ValType[], args: unknown, opts: { maxArgs: number }): WasmArg[] {
  const unsupported = params.findIndex((t) => !isNumType(t));
  if (unsupported >= 0) {
    throw wessError(
      'INVALID_ARGUMENT',
      `the function cannot be called over HTTP: parameter ${unsupported} has type ${params[unsupported]} (only i32, i64, f32 and f64 can)`,
      { index: unsupported, type: params[unsupported] },
    );
  }
  if (!Array.isArray(args)) throw wessError('INVALID_ARGUMENT', 'args must be an array of values', { expected: params.length });
  if (args.length > opts.maxArgs) {
    throw wessError('INVALID_ARGUMENT', `${args.length} arguments given; at most ${opts.maxArgs} are allowed`, {
      got: args.length, max: opts.maxArgs,
    });
  }
  if (args.length !== params.length) {
    throw wessError('INVALID_ARGUMENT', `the function takes ${params.length} arguments (${params.join(', ')}), got ${args.length}`, {
      expected: params.length, got: args.length,
    });
  }
  return params.map((type, index) => parseArg(type as NumType, args[index] as unknown, index));
}

function parseArg(type: NumType, value: unknown, index: number): WasmArg {
  if (type === 'i32') return Number(BigInt.asIntN(32, parseInteger(type, value, index)));
  if (type === 'i64') return BigInt.asIntN(64, parseInteger(type, value, index));
  return parseFloatArg(type, value, index);
}

function invalid(index: number, type: NumType, value: unknown, why: string): WessError {
  return wessError('INVALID_ARGUMENT', `args[${index}] (${type}): ${echo(value)} ${why}`, { index, type, value: echoValue(value) });
}

function parseInteger(type: 'i32' | 'i64', value: unknown, index: number): bigint {
  const { min, max } = INT_RANGE[type];
  let n: bigint;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw invalid(index, type, value, 'is not a finite number');
    if (!Number.isInteger(value)) throw invalid(index, type, value, 'is not an integer');
    // JSON.parse has already rounded a number beyond 2^53 (9007199254740993 arrives as ...992):
    // refuse it rather than run the call with a value the client did not send.
    if (type === 'i64' && !Number.isSafeInteger(value)) {
      throw invalid(index, type, value, 'is beyond ±2^53, where JSON numbers lose precision; send it as a decimal string');
    }
    n = BigInt(value);
  } else if (typeof value === 'string') {
    if (!DECIMAL_INT.test(value)) {
      const why = DECIMAL_FLOAT.test(value) ? 'is not an integer' : 'is not a decimal integer (digits with an optional leading -)';
      throw invalid(index, type, value, why);
    }
    // Anything longer than 2^64's 20 digits (leading zeros aside) is out of range; skip the BigInt work.
    const digits = value.replace(/^-?0*/, '');
    n = digits.length > 21 ? (value.startsWith('-') ? min - 1n : max + 1n) : BigInt(value);
  } else {
    throw invalid(index, type, value, 'is not a number or a decimal string');
  }
  if (n < min || n > max) throw invalid(index, type, value, `is out of range [${min}, ${max}]`);
  return n;
}

function parseFloatArg(type: 'f32' | 'f64', value: unknown, index: number): WasmArg {
  let n: number;
  if (typeof value === 'number') {
    n = value;
  } else if (typeof value === 'string') {
    if (value === 'Infinity') return Infinity;
    if (value === '-Infinity') return -Infinity;
    const nan = NAN_FORM.exec(value);
    if (nan !== null) return parseNaN(type, nan[1] === '-', nan[2], value, index);
    if (!DECIMAL_FLOAT.test(value)) {
      throw invalid(index, type, value, 'is not a number, "Infinity", "-Infinity", "-0", "NaN", "-NaN" or "NaN:0x<hex>"');
    }
    n = Number(value);
    if (!Number.isFinite(n)) throw invalid(index, type, value, `is out of range for ${type} (use "Infinity")`);
  } else {
    throw invalid(index, type, value, 'is not a number or a numeric string');
  }
  if (type === 'f32' && Number.isFinite(n) && !Number.isFinite(Math.fround(n))) {
    throw invalid(index, type, value, 'is out of range for f32 (use "Infinity")');
  }
  return n;
}

function parseNaN(type: 'f32' | 'f64', negative: boolean, hex: string | undefined, value: string, index: number): WasmArg {
  const layout = FLOAT[type];
  let payload = layout.canonical;
  if (hex !== undefined) {
    const significant = hex.replace(/^0+/, '');
    if (significant === '') throw invalid(index, type, value, 'has a zero NaN payload (that would be an infinity)');
    payload = significant.length > 16 ? 1n << 64n : BigInt(`0x${significant}`);
    if (payload >> layout.mantissaBits !== 0n) {
      throw invalid(index, type, value, `has a NaN payload wider than ${type}'s ${layout.mantissaBits} mantissa bits`);
    }
  }
  // The canonical positive NaN is the one a JS NaN becomes in wasm, so it needs no bits.
  if (!negative && payload === layout.canonical) return NaN;
  const bits = (negative ? layout.sign : 0n) | layout.exponent | payload;
  return type === 'f32' ? { type, bits: Number(bits) } : { type, bits };
}

/** Encodes raw wasm results for JSON: i64 as signed decimal strings; ±Infinity, -0 and NaN as strings. */
export function encodeResults(types: ValType[], raw: RawResult[]): (number | string)[] {
  if (types.length !== raw.length) {
    throw wessError('INTERNAL', `expected ${types.length} results, got ${raw.length}`);
  }
  return types.map((type, i) => encodeResult(type, raw[i], i));
}

function encodeResult(type: ValType, value: RawResult | undefined, index: number): number | string {
  if (type === 'i32' && typeof value === 'number') return value | 0;
  if (type === 'i64' && typeof value === 'bigint') return BigInt.asIntN(64, value).toString();
  if ((type === 'f32' || type === 'f64') && typeof value === 'number') {
    if (Number.isNaN(value)) return 'NaN';
    if (value === Infinity) return 'Infinity';
    if (value === -Infinity) return '-Infinity';
    if (Object.is(value, -0)) return '-0';
    return value;
  }
  throw wessError('INTERNAL', `result ${index} of type ${type} came back as ${typeof value}`);
}
