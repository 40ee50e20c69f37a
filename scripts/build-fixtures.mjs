#!/usr/bin/env node
// Builds test/fixtures/wasm/<behaviour>.wasm from the .wat beside it with wabt.js.
//   node scripts/build-fixtures.mjs          write every .wasm
//   node scripts/build-fixtures.mjs --check  exit 1 if a committed .wasm is missing or out of date
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import wabt from 'wabt';

const dir = fileURLToPath(new URL('../test/fixtures/wasm/', import.meta.url));
const check = process.argv.includes('--check');

// Every proposal a fixture may use. wabt.js's validate() ignores some of these flags (it refuses shared
// memory even with threads on), so modules are validated by the engine they will run on instead.
const features = {
  multi_value: true, simd: true, threads: true, memory64: true, multi_memory: true,
  bulk_memory: true, reference_types: true, sign_extension: true, sat_float_to_int: true, exceptions: true,
  tail_call: true,
};

// Fixtures the Node 20 engine itself refuses; they exist to be refused by the policy before compiling.
const NOT_COMPILED_BY_NODE = new Set(['two-memories', 'memory64']);

const wabtModule = await wabt();
const names = (await readdir(dir)).filter((f) => f.endsWith('.wat')).map((f) => f.slice(0, -4)).sort();
let stale = 0;

for (const name of names) {
  const source = await readFile(`${dir}${name}.wat`, 'utf8');
  const module = wabtModule.parseWat(`${name}.wat`, source, features);
  let bytes;
  try {
    module.resolveNames();
    bytes = module.toBinary({ log: false, write_debug_names: false }).buffer;
  } finally {
    module.destroy();
  }
  const compiles = WebAssembly.validate(bytes);
  if (compiles === NOT_COMPILED_BY_NODE.has(name)) {
    throw new Error(`${name}.wasm: WebAssembly.validate says ${compiles}, expected ${!compiles}`);
  }
  const path = `${dir}${name}.wasm`;
  if (check) {
    const current = await readFile(path).catch(() => null);
    if (current === null || !Buffer.from(bytes).equals(current)) {
      console.error(`${name}.wasm is missing or out of date`);
      stale++;
    }
  } else {
    await writeFile(path, bytes);
    console.log(`${name}.wasm ${bytes.length} bytes`);
  }
}
if (stale > 0) process.exit(1);
