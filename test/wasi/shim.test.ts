import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { WASI_SIGNATURES, WasiProcess } from '../../src/wasi/index.js';
import { WASI_MODULE } from '../../src/wasi/types.js';
import { inspect } from '../../src/wasm/binary.js';
import { fromWat, processFor, runProgram, wasiFixture, wasiModule } from './helpers.js';

describe('WASI preview 1 functions', () => {
  it('WASI_SIGNATURES matches, name for name, what wasi-libc imports (syscalls.c imports every function)', () => {
    const imports = inspect(wasiFixture('syscalls')).imports;
    assert.deepEqual(imports.map((i) => i.name).sort(), Object.keys(WASI_SIGNATURES).sort());
    for (const imp of imports) {
      assert.equal(imp.module, WASI_MODULE);
      assert.deepEqual(imp.type, WASI_SIGNATURES[imp.name], imp.name);
    }
  });

  it('imports() provides exactly the preview 1 functions', () => {
    const functions = processFor('x').imports()[WASI_MODULE] ?? {};
    assert.deepEqual(Object.keys(functions).sort(), Object.keys(WASI_SIGNATURES).sort());
    for (const fn of Object.values(functions)) assert.equal(typeof fn, 'function');
  });

  it('every function links and answers as documented (syscalls.c prints each errno)', () => {
    const r = runProgram('syscalls', { stdin: 'in' });
    assert.equal(r.exitCode, 3);
    const answers = Object.fromEntries(r.out.trim().split('\n').filter((l) => !l.startsWith('poll_oneoff')).map((l) => l.split(' ')));
    const SUCCESS = ['args_sizes_get', 'args_get', 'environ_sizes_get', 'environ_get', 'clock_res_get', 'clock_time_get',
      'fd_fdstat_get', 'fd_fdstat_set_flags', 'fd_fdstat_set_rights', 'fd_filestat_get', 'fd_read', 'fd_write', 'sched_yield', 'random_get'];
    const expected: Record<string, string> = {
      clock_time_get_bad: '28', // EINVAL: no clock 9
      fd_advise: '70', fd_pread: '70', fd_pwrite: '70', fd_seek: '70', fd_tell: '70', // ESPIPE on stdio
      fd_allocate: '76', fd_datasync: '76', fd_sync: '76', fd_filestat_set_size: '76', fd_filestat_set_times: '76', // ENOTCAPABLE
      fd_readdir: '54', // ENOTDIR: stdin
      fd_fdstat_get_3: '8', fd_prestat_get: '8', fd_prestat_dir_name: '8', fd_renumber: '8', fd_close: '8', // EBADF
      path_create_directory: '8', path_filestat_get: '8', path_filestat_set_times: '8', path_link: '8', path_open: '8',
      path_readlink: '8', path_remove_directory: '8', path_rename: '8', path_symlink: '8', path_unlink_file: '8',
      sock_accept: '8', sock_shutdown: '8', sock_recv: '57', sock_send: '57', // EBADF on fd 3, ENOTSOCK on stdio
      proc_raise: '52', // ENOSYS
      ...Object.fromEntries(SUCCESS.map((name) => [name, '0'])),
    };
    assert.deepEqual(answers, expected);
    // A 1 ms clock and stdin readable with nothing left (fd_read took "in"): only the ready stdin is reported.
    assert.match(r.out, /^poll_oneoff 0 n=1 \[8 type=1 error=0 nbytes=0\]$/m);
    assert.equal(r.err, 'x'); // fd_write(2, "x")
  });

  it('re-reads memory after the guest grows it (the old buffer is detached)', () => {
    const bytes = fromWat(`(module
      (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (data (i32.const 0) "before\\n")
      (func $write (param $at i32) (param $len i32) (result i32)
        (i32.store (i32.const 1024) (local.get $at))
        (i32.store (i32.const 1028) (local.get $len))
        (call $fd_write (i32.const 1) (i32.const 1024) (i32.const 1) (i32.const 1032)))
      (func (export "run") (result i32)
        (drop (call $write (i32.const 0) (i32.const 7)))
        (drop (memory.grow (i32.const 2)))
        (memory.copy (i32.const 131072) (i32.const 0) (i32.const 7))   ;; into the third page
        (i32.store8 (i32.const 131072) (i32.const 0x42))                 ;; "Before"
        (call $write (i32.const 131072) (i32.const 7))))`);
    const proc = new WasiProcess({ args: [], env: [], stdin: new Uint8Array(0), maxOutputBytes: 100 });
    const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), proc.imports());
    proc.bind(instance.exports.memory as WebAssembly.Memory);
    const { value, output } = proc.run(() => (instance.exports.run as () => number)());
    assert.equal(value, 0);
    assert.equal(new TextDecoder().decode(output.stdout), 'before\nBefore\n');
  });

  it('answers EFAULT for pointers outside memory and writes nothing', () => {
    const bytes = fromWat(`(module
      (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
      (memory (export "memory") 1)
      (func (export "iovs_out") (result i32) (call $fd_write (i32.const 1) (i32.const 65532) (i32.const 1) (i32.const 0)))
      (func (export "buf_out") (result i32)
        (i32.store (i32.const 0) (i32.const 65000))
        (i32.store (i32.const 4) (i32.const 1000))
        (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
      (func (export "negative") (result i32) (call $random_get (i32.const -1) (i32.const 2)))
      (func (export "result_out") (result i32) (call $args_sizes_get (i32.const 0) (i32.const 65535))))`);
    const proc = new WasiProcess({ args: ['a'], env: [], stdin: new Uint8Array(0), maxOutputBytes: 100 });
    const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), proc.imports());
    proc.bind(instance.exports.memory as WebAssembly.Memory);
    for (const name of ['iovs_out', 'buf_out', 'negative', 'result_out']) {
      assert.equal(proc.run(() => (instance.exports[name] as () => number)()).value, 21, name);
    }
    assert.equal(proc.output().stdout.length, 0);
  });

  it('a WASI call from a start function, before bind(), is a trap, not a crash', () => {
    const bytes = fromWat(`(module
      (import "wasi_snapshot_preview1" "sched_yield" (func $yield (result i32)))
      (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
      (memory (export "memory") 1)
      (func $start (drop (call $yield)) (drop (call $random_get (i32.const 0) (i32.const 4))))
      (start $start))`);
    const proc = new WasiProcess({ args: [], env: [], stdin: new Uint8Array(0), maxOutputBytes: 100 });
    assert.throws(() => new WebAssembly.Instance(new WebAssembly.Module(bytes), proc.imports()), (e: unknown) => (e as { code?: unknown }).code === 'WASM_TRAP');
  });

  it('rethrows a trap and keeps what was written before it in output()', () => {
    const bytes = fromWat(`(module
      (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (data (i32.const 16) "partial")
      (func (export "_start")
        (i32.store (i32.const 0) (i32.const 16))
        (i32.store (i32.const 4) (i32.const 7))
        (drop (call $fd_write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))
        unreachable))`);
    const proc = new WasiProcess({ args: [], env: [], stdin: new Uint8Array(0), maxOutputBytes: 100 });
    const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), proc.imports());
    proc.bind(instance.exports.memory as WebAssembly.Memory);
    assert.throws(() => proc.run(() => (instance.exports._start as () => void)()), WebAssembly.RuntimeError);
    assert.equal(new TextDecoder().decode(proc.output().stderr), 'partial');
  });
});

describe('WASI reactor and a program that never ends', () => {
  it('lib (a reactor) runs _initialize, then add and a function that prints', () => {
    const proc = processFor('lib');
    const instance = new WebAssembly.Instance(wasiModule('lib'), proc.imports());
    proc.bind(instance.exports.memory as WebAssembly.Memory);
    const exports = instance.exports as Record<string, (...args: number[]) => number>;
    const { value, output } = proc.run(() => {
      exports._initialize?.();
      return [exports.add?.(2, 40), exports.greet?.(2)];
    });
    assert.deepEqual(value, [42, 2]);
    assert.equal(new TextDecoder().decode(output.stdout), 'hello from a reactor 0\nhello from a reactor 1\n');
    assert.equal(output.exitCode, 0);
  });

  it('spin keeps running until its thread is terminated', async () => {
    // The runner stops such a guest by terminating its worker; here a bare worker thread stands in.
    const shim = new URL('../../src/wasi/index.js', import.meta.url).href;
    const fixture = new URL('../../../test/fixtures/wasi/spin.wasm', import.meta.url);
    const worker = new Worker(`
      const { parentPort, workerData } = require('node:worker_threads');
      const { readFileSync } = require('node:fs');
      import(workerData.shim).then(({ WasiProcess }) => {
        const proc = new WasiProcess({ args: ['spin'], env: [], stdin: new Uint8Array(0), maxOutputBytes: 64 });
        const instance = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(workerData.fixture)), proc.imports());
        proc.bind(instance.exports.memory);
        parentPort.postMessage('started');
        proc.run(() => instance.exports._start());
        parentPort.postMessage('finished');
      });`, { eval: true, workerData: { shim, fixture: fixture.pathname } });
    const messages: string[] = [];
    worker.on('message', (m: string) => messages.push(m));
    await new Promise<void>((resolve, reject) => {
      worker.once('error', reject);
      worker.on('message', (m) => m === 'started' && resolve());
    });
    await new Promise((resolve) => setTimeout(resolve, 200)); // long enough for any loop that ends to end
    assert.deepEqual(messages, ['started']);
    assert.equal(await worker.terminate(), 1);
  });
});
