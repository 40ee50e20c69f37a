/** A tiny WebAssembly binary writer for generated modules (bombs at the limits), section by section. */

export function uleb(value: number): number[] {
  const out: number[] = [];
  do {
    const byte = value & 0x7f;
    value = Math.floor(value / 128);
    out.push(value === 0 ? byte : byte | 0x80);
  } while (value !== 0);
  return out;
}

/** A vector: its length, then the items. */
function vec(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

function name(text: string): number[] {
  const bytes = [...Buffer.from(text, 'utf8')];
  return [...uleb(bytes.length), ...bytes];
}

function section(id: number, body: number[] | Buffer): Buffer {
  return Buffer.concat([Buffer.from([id, ...uleb(body.length)]), Buffer.from(body)]);
}

export const I32 = 0x7f;

export interface Func {
  params: number[];
  results: number[];
  /** The body's instructions, without locals or the final `end`. */
  code: number[] | Buffer;
  export?: string;
}

export interface ModuleSpec {
  funcs: Func[];
  /** Initial (and optional maximum) pages of one memory. */
  memory?: { min: number; max?: number };
  /** One funcref table. */
  table?: { min: number; max?: number };
  /** Mutable i32 globals, each initialised to 0. */
  globals?: number;
  /** Index of the start function. */
  start?: number;
}

/** Encodes `spec`; every function gets its own type (types are not deduplicated). */
export function buildModule(spec: ModuleSpec): Buffer {
  const parts: Buffer[] = [Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00])];
  parts.push(section(1, vec(spec.funcs.map((f) => [0x60, ...vec(f.params.map((p) => [p])), ...vec(f.results.map((r) => [r]))]))));
  parts.push(section(3, vec(spec.funcs.map((_, i) => uleb(i)))));
  if (spec.table) parts.push(section(4, vec([[0x70, ...limits(spec.table)]])));
  if (spec.memory) parts.push(section(5, vec([limits(spec.memory)])));
  if (spec.globals) parts.push(section(6, vec(Array.from({ length: spec.globals }, () => [I32, 0x01, 0x41, 0x00, 0x0b]))));
  const exports = spec.funcs.flatMap((f, i) => (f.export === undefined ? [] : [[...name(f.export), 0x00, ...uleb(i)]]));
  parts.push(section(7, vec(exports)));
  if (spec.start !== undefined) parts.push(section(8, uleb(spec.start)));
  const bodies = spec.funcs.map((f) => {
    const body = Buffer.concat([Buffer.from([0x00]), Buffer.from(f.code), Buffer.from([0x0b])]);
    return Buffer.concat([Buffer.from(uleb(body.length)), body]);
  });
  parts.push(section(10, Buffer.concat([Buffer.from(uleb(bodies.length)), ...bodies])));
  return Buffer.concat(parts);
}

function limits(l: { min: number; max?: number }): number[] {
  return l.max === undefined ? [0x00, ...uleb(l.min)] : [0x01, ...uleb(l.min), ...uleb(l.max)];
}

/** `n` repetitions of `instruction` as one body. */
export function repeat(instruction: number[], n: number): Buffer {
  const one = Buffer.from(instruction);
  const out = Buffer.alloc(one.length * n);
  for (let i = 0; i < n; i++) one.copy(out, i * one.length);
  return out;
}

export const LOOP_FOREVER = [0x03, 0x40, 0x0c, 0x00, 0x0b]; // loop (br 0) end
export const CALL_SELF = (index: number) => [0x10, ...uleb(index)]; // call $index
