import { wessError } from '../errors.js';
import { encodeULeb128 } from './byte-reader.js';
import type { ValType, WasmArg } from './types.js';

/*
 * Why a bridge: a float argument passed from JS is a JS number, and JS → wasm conversion may change a NaN
 * (f64 → f32 demotion quiets a signalling NaN; engines may canonicalise). An integer of the same width passes
 * bit for bit. So the bridge takes every float as its integer bits, reinterprets them in wasm, and calls the
 * real export, which is imported: a wasm → wasm call, where values keep every bit.
 *
 *   (module
 *     (type 0 (func (param <params>) (result <results>)))        the target's type
 *     (type 1 (func (param <params, f32→i32, f64→i64>) (result <results>)))
 *     (import "m" "f" (func 0 (type 0)))
 *     (func 1 (type 1) local.get 0 [f32.reinterpret_i32 | f64.reinterpret_i64] ... call 0)
 *     (export "f" (func 1)))
 */

const TYPE_CODE: Partial<Record<ValType, number>> = { i32: 0x7f, i64: 0x7e, f32: 0x7d, f64: 0x7c };
const BITS_TYPE: Partial<Record<ValType, ValType>> = { f32: 'i32', f64: 'i64' };
const REINTERPRET: Partial<Record<ValType, number>> = { f32: 0xbe, f64: 0xbf }; // f32.reinterpret_i32, f64.reinterpret_i64

const OP_LOCAL_GET = 0x20;
const OP_CALL = 0x10;
const OP_END = 0x0b;

function typeCode(type: ValType): number {
  const code = TYPE_CODE[type];
  if (code === undefined) throw wessError('INVALID_ARGUMENT', `a ${type} value cannot be passed over HTTP`, { type });
  return code;
}

function funcType(params: ValType[], results: ValType[]): number[] {
  return [0x60, ...vec(params.map(typeCode)), ...vec(results.map(typeCode))];
}

function vec(items: number[], count = items.length): number[] {
  return [...encodeULeb128(count), ...items];
}

function name(text: string): number[] {
  return vec([...Buffer.from(text, 'utf8')]);
}

function section(id: number, content: number[]): number[] {
  return [id, ...encodeULeb128(content.length), ...content];
}

/** A module importing ("m","f") of type (params)->(results) and exporting "f" that takes floats as their bits. */
export function bridgeModuleBytes(params: ValType[], results: ValType[]): Uint8Array {
  const bridged = params.map((t) => BITS_TYPE[t] ?? t);
  const body: number[] = [0x00]; // no locals beyond the params
  params.forEach((type, i) => {
    body.push(OP_LOCAL_GET, ...encodeULeb128(i));
    const op = REINTERPRET[type];
    if (op !== undefined) body.push(op);
  });
  body.push(OP_CALL, 0x00, OP_END);

  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([...funcType(params, results), ...funcType(bridged, results)], 2)),
    ...section(2, vec([...name('m'), ...name('f'), 0x00, 0x00], 1)), // func import, type 0
    ...section(3, vec([0x01], 1)), // function 1 has type 1
    ...section(7, vec([...name('f'), 0x00, 0x01], 1)), // export "f" = func 1
    ...section(10, vec([...encodeULeb128(body.length), ...body], 1)),
  ]);
}

/** True when some argument carries NaN bits a JS number would lose, so the call needs the bridge. */
export function needsBridge(args: WasmArg[]): boolean {
  return args.some((a) => typeof a === 'object');
}

const f32 = new Float32Array(1);
const f32Bits = new Uint32Array(f32.buffer);
const f64 = new Float64Array(1);
const f64Bits = new BigUint64Array(f64.buffer);

/** The arguments for a bridge's "f": every float as its integer bits (uint32 number / uint64 bigint). */
export function argsForBridge(params: ValType[], args: WasmArg[]): (number | bigint)[] {
  return params.map((type, i) => {
    const arg = args[i];
    if (arg === undefined) throw wessError('INTERNAL', `bridge argument ${i} is missing`);
    if (typeof arg === 'object') return arg.bits;
    if (type === 'f32' && typeof arg === 'number') {
      f32[0] = arg;
      return f32Bits[0] ?? 0;
    }
    if (type === 'f64' && typeof arg === 'number') {
      f64[0] = arg;
      return f64Bits[0] ?? 0n;
    }
    return arg;
  });
}
