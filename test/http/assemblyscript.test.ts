import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { ROOT, startApp, type TestApp } from '../helper.js';
import { fromWat } from '../wasi/helpers.js';

/** Bytes of a module in test/fixtures/assemblyscript/ (built by scripts/build-as-fixtures.sh from the .ts beside it). */
const asFixture = (name: string): Buffer => readFileSync(new URL(`test/fixtures/assemblyscript/${name}.wasm`, ROOT));

describe('AssemblyScript modules as asc emits them', () => {
  let t: TestApp;
  const ids: Record<string, string> = {};
  const run = (name: string, payload: Record<string, unknown>) => t.app.inject({ method: 'POST', url: `/modules/${ids[name]}/run`, payload });

  before(async () => {
    t = await startApp({ runner: { timeout: 5000, max_output: 4096 } });
    for (const name of ['abort', 'trace']) {
      const res = await t.app.inject({ method: 'POST', url: '/modules', payload: { name, content: asFixture(name).toString('base64') } });
      assert.equal(res.statusCode, 201, res.body);
      ids[name] = res.json().id;
    }
  });
  after(async () => t.close());

  test('the default `asc -O3` output (it imports env.abort) is stored as a module of functions', async () => {
    const res = await t.app.inject({ method: 'GET', url: `/modules/${ids.abort}` });
    assert.equal(res.json().kind, 'functions');
    assert.deepEqual((await run('abort', { function: 'divide', args: [7, 2] })).json().results, [3]);
  });

  test('a thrown error is 422 WASM_TRAP with its message and file:line:column', async () => {
    const res = await run('abort', { function: 'divide', args: [1, 0] });
    assert.equal(res.statusCode, 422, res.body);
    assert.equal(res.json().error.code, 'WASM_TRAP');
    assert.equal(res.json().error.message, 'abort: divide by zero at test/fixtures/assemblyscript/abort.ts:5:15');
  });

  test('a failed assert gives its message; one without a message gives only where', async () => {
    const positive = await run('abort', { function: 'positive', args: [-1] });
    assert.equal(positive.statusCode, 422);
    assert.equal(positive.json().error.message, 'abort: x must be positive at test/fixtures/assemblyscript/abort.ts:11:3');
    const nonzero = await run('abort', { function: 'nonzero', args: [0] });
    assert.equal(nonzero.statusCode, 422);
    assert.match(nonzero.json().error.message, /^abort at test\/fixtures\/assemblyscript\/abort\.ts:17:3$/);
  });

  test('metered (with fuel) the abort reads the same', async () => {
    const res = await run('abort', { function: 'divide', args: [1, 0], fuel: 1_000_000 });
    assert.equal(res.statusCode, 422, res.body);
    assert.equal(res.json().error.message, 'abort: divide by zero at test/fixtures/assemblyscript/abort.ts:5:15');
  });

  test('the same abort in a batch item fails that item alone, with the same message', async () => {
    const res = await run('abort', { function: 'divide', batch: [[6, 3], [1, 0]] });
    assert.equal(res.statusCode, 200, res.body);
    const [ok, failed] = res.json().batch;
    assert.deepEqual(ok.results, [2]);
    assert.deepEqual(failed.error, { code: 'WASM_TRAP', message: 'abort: divide by zero at test/fixtures/assemblyscript/abort.ts:5:15' });
  });

  test('trace lines come back as stderr of the call, and reach the log tagged with the request id', async () => {
    const res = await run('trace', { function: 'traced', args: [1.5] });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json().results, [1.5]);
    assert.equal(res.json().stderr, 'trace: tracing 1.5, 3\ntrace: done\n');
    const entry = t.logs.find((l) => l.msg === 'guest trace' && l.request_id === res.headers['x-request-id']);
    assert.ok(entry, 'a log entry for the trace, with the request id');
    assert.deepEqual(entry.trace, ['trace: tracing 1.5, 3', 'trace: done']);
    assert.equal(entry.function, 'traced');
  });

  test('in a WASI run, trace lines go to its stderr after what it wrote, and abort keeps the output', async () => {
    // A command as AssemblyScript's WASI shim would emit it: prints, traces, then aborts.
    const bytes = fromWat(`(module
      (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
      (import "env" "trace" (func $trace (param i32 i32 f64 f64 f64 f64 f64)))
      (import "env" "abort" (func $abort (param i32 i32 i32 i32)))
      (memory (export "memory") 1)
      (data (i32.const 16) "\\04\\00\\00\\00h\\00i\\00")  ;; the AssemblyScript string "hi": rtSize 4, then UTF-16LE
      (data (i32.const 100) "\\c8\\00\\00\\00\\03\\00\\00\\00")  ;; one iovec: 3 bytes at 200
      (data (i32.const 200) "ok\\n")
      (func (export "_start")
        (drop (call $write (i32.const 1) (i32.const 100) (i32.const 1) (i32.const 300)))
        (call $trace (i32.const 20) (i32.const 1) (f64.const 7) (f64.const 0) (f64.const 0) (f64.const 0) (f64.const 0))
        (call $abort (i32.const 20) (i32.const 0) (i32.const 1) (i32.const 2))))`);
    const created = await t.app.inject({ method: 'POST', url: '/modules', payload: { name: 'as-wasi', content: Buffer.from(bytes).toString('base64') } });
    assert.equal(created.statusCode, 201, created.body);
    assert.equal(created.json().kind, 'wasi');
    const res = await t.app.inject({ method: 'POST', url: `/modules/${created.json().id}/run`, payload: {} });
    assert.equal(res.statusCode, 422, res.body);
    const { error } = res.json();
    assert.equal(error.message, 'abort: hi at <unknown file>:1:2');
    assert.equal(error.details.stdout, 'ok\n');
    assert.equal(error.details.stderr, 'trace: hi 7\n');
  });

  test('an AssemblyScript module with JavaScript bindings is refused with 400 saying what to do', async () => {
    const bytes = fromWat(`(module (import "env" "abort" (func (param i32 i32 i32 i32))) (import "env" "console.log" (func (param i32))))`);
    const res = await t.app.inject({ method: 'POST', url: '/modules', payload: { name: 'as-console', content: Buffer.from(bytes).toString('base64') } });
    assert.equal(res.statusCode, 400);
    const { error } = res.json();
    assert.equal(error.code, 'FORBIDDEN_IMPORT');
    assert.match(error.message, /^module imports function env\.console\.log; .*It looks like it was built with AssemblyScript using JavaScript bindings/);
    assert.equal(error.details.toolchain, 'assemblyscript');
  });

  test('Math.random works: env.seed seeds it, a fresh seed per call', async () => {
    const values = new Set<number>();
    for (let i = 0; i < 3; i++) {
      const res = await run('trace', { function: 'random' });
      assert.equal(res.statusCode, 200, res.body);
      const [value] = res.json().results as [number];
      assert.ok(value >= 0 && value < 1, String(value));
      values.add(value);
    }
    assert.ok(values.size > 1, 'three calls gave the same "random" number');
  });
});
