import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkPolicy, inspect } from '../../src/wasm/binary.js';
import { fromWat } from '../wasi/helpers.js';
import { throwsCode } from './helpers.js';

/** The FORBIDDEN_IMPORT a module with these WAT import lines (and an exported memory) gets. */
function refusalOf(imports: string): { message: string; details: Record<string, unknown> } {
  const bytes = fromWat(`(module ${imports} (memory (export "memory") 1))`);
  return throwsCode(() => checkPolicy(inspect(bytes), { maxMemoryPages: 4096 }), 'FORBIDDEN_IMPORT', /./) as unknown as { message: string; details: Record<string, unknown> };
}

describe('a refused import names its toolchain and how to build for Wess', () => {
  it('wasm-bindgen', () => {
    const err = refusalOf(`(import "__wbindgen_placeholder__" "__wbindgen_describe" (func (param i32)))
      (import "wbg" "__wbg_log_1d3ae0d1" (func (param i32 i32)))`);
    assert.equal(err.details.toolchain, 'wasm-bindgen');
    assert.match(err.message, /It looks like it was built with wasm-bindgen, .*cargo build --target wasm32-unknown-unknown without wasm-bindgen, or --target wasm32-wasip1$/);
  });

  it('Emscripten for its JavaScript runtime, beside WASI imports', () => {
    const err = refusalOf(`(import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
      (import "env" "emscripten_memcpy_js" (func (param i32 i32 i32)))
      (import "env" "__syscall_openat" (func (param i32 i32 i32 i32) (result i32)))`);
    assert.equal(err.details.toolchain, 'emscripten');
    assert.match(err.message, /^module imports function env\.emscripten_memcpy_js, function env\.__syscall_openat; .*-sSTANDALONE_WASM/);
    // What emcc -O2 hello.c -o hello.js (3.1.6, for its JS runtime) imports besides fd_write.
    assert.equal(refusalOf('(import "env" "setTempRet0" (func (param i32)))').details.toolchain, 'emscripten');
  });

  it('Go (GOOS=js) under gojs or go', () => {
    for (const module of ['gojs', 'go']) {
      const err = refusalOf(`(import "${module}" "runtime.wasmExit" (func (param i32)))`);
      assert.equal(err.details.toolchain, 'go', module);
      assert.match(err.message, /GOOS=wasip1 GOARCH=wasm go build/);
    }
  });

  it('AssemblyScript with JavaScript bindings beside the env.abort it provides', () => {
    const err = refusalOf(`(import "env" "abort" (func (param i32 i32 i32 i32)))
      (import "env" "console.log" (func (param i32)))
      (import "env" "Date.now" (func (result f64)))`);
    assert.equal(err.details.toolchain, 'assemblyscript');
    assert.match(err.message, /^module imports function env\.console\.log, function env\.Date\.now; .*Wess provides only env\.abort, env\.trace and env\.seed/);
  });

  it('the old wasi_unstable snapshot', () => {
    assert.equal(refusalOf('(import "wasi_unstable" "fd_write" (func (param i32 i32 i32 i32) (result i32)))').details.toolchain, 'wasi-unstable');
  });

  it('nothing recognisable: no hint, and the message stays bounded however many imports there are', () => {
    const err = refusalOf('(import "env" "log" (func (param i32)))');
    assert.equal(err.details.toolchain, undefined);
    assert.doesNotMatch(err.message, /It looks like/);
    const many = Array.from({ length: 500 }, (_, i) => `(import "__wbindgen_placeholder__" "__wbindgen_${'x'.repeat(200)}${i}" (func))`).join('\n');
    const big = refusalOf(many);
    assert.equal(big.details.toolchain, 'wasm-bindgen');
    assert.ok(big.message.length < 1200, `${big.message.length} characters`);
  });
});
