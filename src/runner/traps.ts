import { hasErrorCode } from '../errors.js';
import type { WasmArg } from '../wasm/types.js';
import type { Failure } from './protocol.js';

/*
 * Turns what a guest call throws into a coded Failure whose message is the spec's trap text (the
 * text the spec test suite's assert_trap expects), since V8 words most traps its own way.
 */

/** V8's RuntimeError message → the spec's text, where one message means one trap. */
const SPEC_TEXT: Readonly<Record<string, string>> = {
  'unreachable': 'unreachable',
  'divide by zero': 'integer divide by zero',
  'remainder by zero': 'integer divide by zero',
  'divide result unrepresentable': 'integer overflow',
  'memory access out of bounds': 'out of bounds memory access',
  'data segment out of bounds': 'out of bounds memory access',
  'element segment out of bounds': 'out of bounds table access',
  // V8 uses one message for a null entry and a signature mismatch. A mismatch is the common case in
  // the spec suite (11 of 14 cases); "uninitialized element" cannot be told apart without the table.
  'null function or function signature mismatch': 'indirect call type mismatch',
};

/** V8's message for every table bounds failure: call_indirect ("undefined element") or a table instruction. */
const TABLE_OUT_OF_BOUNDS = 'table index is out of bounds';
/** V8's message for both trunc failures: the spec says NaN is "invalid conversion", anything else "integer overflow". */
const FLOAT_UNREPRESENTABLE = 'float unrepresentable in integer range';

const OP_CALL_INDIRECT = 0x11;
const OP_RETURN_CALL_INDIRECT = 0x13;

/** The coded failure for an error thrown while instantiating or calling a guest (runs in the worker). */
export function failureFrom(err: unknown, args: readonly WasmArg[]): Failure {
  if (err instanceof WebAssembly.RuntimeError) return trapFailure(err, args);
  if (err instanceof RangeError) {
    if (err.message.includes('Maximum call stack size exceeded')) return { code: 'WASM_TRAP', message: 'call stack exhausted' };
    // V8 could not reserve the instance's memory (its initial pages plus guard regions): the host is
    // out of (virtual) memory, not the guest misbehaving. MEMORY_LIMIT says "this module's memory is too
    // much for us"; the policy and capMemory keep a single module within the cap, so this means many
    // large memories at once, and the message says so.
    if (/out of memory|cannot allocate wasm memory/i.test(err.message)) {
      return { code: 'MEMORY_LIMIT', message: `could not allocate the module's memory now: ${err.message}` };
    }
  }
  if (err instanceof WebAssembly.LinkError) return { code: 'FORBIDDEN_IMPORT', message: err.message };
  if (hasErrorCode(err)) return { code: err.code, message: err.message };
  const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return { code: 'INTERNAL', message };
}

function trapFailure(err: Error, args: readonly WasmArg[]): Failure {
  const text = SPEC_TEXT[err.message];
  if (text !== undefined) return { code: 'WASM_TRAP', message: text };
  if (err.message === FLOAT_UNREPRESENTABLE) {
    // The operand is gone by now; a NaN argument is by far the likeliest source of a NaN operand
    // (true for every such case in the spec suite).
    return { code: 'WASM_TRAP', message: args.some(isNaNArg) ? 'invalid conversion to integer' : 'integer overflow' };
  }
  if (err.message === TABLE_OUT_OF_BOUNDS) {
    const at = trapOffset(err.stack);
    return at === undefined
      ? { code: 'WASM_TRAP', message: 'undefined element' }
      : { code: 'WASM_TRAP', message: 'undefined element', at };
  }
  return { code: 'WASM_TRAP', message: err.message };
}

/** The module byte offset of the innermost wasm frame, from V8's "wasm-function[3]:0x5e" stack lines. */
function trapOffset(stack: string | undefined): number | undefined {
  const match = stack?.match(/wasm-function\[\d+\]:0x([0-9a-f]+)/);
  return match?.[1] === undefined ? undefined : Number.parseInt(match[1], 16);
}

function isNaNArg(arg: WasmArg): boolean {
  if (typeof arg === 'number') return Number.isNaN(arg);
  if (typeof arg === 'bigint') return false;
  if (arg.type === 'f32') return (arg.bits & 0x7f800000) === 0x7f800000 && (arg.bits & 0x007fffff) !== 0;
  return (arg.bits & 0x7ff0000000000000n) === 0x7ff0000000000000n && (arg.bits & 0x000fffffffffffffn) !== 0n;
}

/**
 * The spec text for a table bounds trap at byte `at` of the (capped) module bytes the guest was compiled
 * from: call_indirect reads "undefined element", table.get/set/init/copy/fill "out of bounds table access".
 */
export function tableTrapText(bytes: Uint8Array, at: number): string {
  const op = bytes[at];
  return op === OP_CALL_INDIRECT || op === OP_RETURN_CALL_INDIRECT ? 'undefined element' : 'out of bounds table access';
}
