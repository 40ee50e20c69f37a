import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { wasiOutputOf, type RunCall } from '../../src/runner/pool.js';
import type { WasiInput } from '../../src/wasi/index.js';
import { fixture, fromWat, rejection, startRunner, wasiFixture, type TestRunner } from './helper.js';

const TIMEOUT_MS = 300;
const SPIN_TIMEOUT_MS = 1000;
const add = fixture('add');
const hello = wasiFixture('hello');
const echo = wasiFixture('echo');
const exit = wasiFixture('exit');
const noisy = wasiFixture('noisy');
const spin = wasiFixture('spin');
const binaryOut = wasiFixture('binary-out');
const lib = wasiFixture('lib');
// Writes a line to stdout, then traps.
const printThenTrap = fromWat(`(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "before the trap\\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 16))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (unreachable)))`);

const text = (bytes: Uint8Array | undefined) => new TextDecoder().decode(bytes);
const input = (over: Partial<WasiInput> = {}): WasiInput => ({ args: ['prog'], env: [], stdin: new Uint8Array(0), maxOutputBytes: 4096, ...over });
const start = (sha256: string, wasi: WasiInput): RunCall => ({ sha256, fn: '_start', params: [], args: [], wasi });
const addCall = (i: number): RunCall => ({ sha256: add.sha256, fn: 'add', params: ['i32', 'i32'], args: [i, 1] });

describe('runner: WASI programs', () => {
  let t: TestRunner;
  before(async () => {
    const modules = [add, hello, echo, exit, noisy, spin, binaryOut, lib, printThenTrap];
    t = await startRunner({ size: 2, timeoutMs: TIMEOUT_MS, maxWasiOutputBytes: 1024 }, modules);
    // Compiled up front, so every call below is queued in the turn it is made, in the order it is made.
    await Promise.all(modules.map((m) => t.runner.compile(m.sha256, m.bytes)));
  });
  after(() => t.runner.close());

  it('runs _start with the given args and env and returns stdout', async () => {
    const answer = await t.runner.run(start(hello.sha256, input({ args: ['hello', '--flag'], env: [['K', 'V']] })));
    assert.deepEqual(answer.results, []);
    assert.equal(answer.wasi?.exitCode, 0);
    assert.equal(text(answer.wasi?.stdout), 'hello, world\nargv[0]=hello\nargv[1]=--flag\nenv K=V\n');
    assert.equal(answer.wasi?.stderr.length, 0);
    assert.equal(answer.wasi?.stdoutTruncated, false);
    assert.ok((answer.memoryPages ?? 0) >= 1);
  });

  it('feeds stdin, whatever buffer holds it', async () => {
    const fromPool = Buffer.from('echo me, please\n'); // a view into Node's shared 8 KiB pool
    const answer = await t.runner.run(start(echo.sha256, input({ stdin: fromPool })));
    assert.equal(text(answer.wasi?.stdout), 'ECHO ME, PLEASE\n');
  });

  it('ends normally on proc_exit with its code, keeping both streams', async () => {
    const answer = await t.runner.run(start(exit.sha256, input({ args: ['exit', '7'] })));
    assert.equal(answer.wasi?.exitCode, 7);
    assert.equal(text(answer.wasi?.stderr), 'exiting with 7\n');
    assert.equal(text(answer.wasi?.stdout), 'this line is on stdout\n');
  });

  it('keeps output bytes as they are (not UTF-8)', async () => {
    const answer = await t.runner.run(start(binaryOut.sha256, input()));
    assert.deepEqual(answer.wasi?.stdout, Uint8Array.from({ length: 256 }, (_, i) => i));
  });

  it('truncates output at its cap and says so', async () => {
    const answer = await t.runner.run(start(noisy.sha256, input({ maxOutputBytes: 1000 })));
    assert.equal(answer.wasi?.stdout.length, 1000);
    assert.equal(answer.wasi?.stdoutTruncated, true);
    assert.ok(text(answer.wasi?.stdout).startsWith('line 000000\nline 000001\n'));
    assert.equal(text(answer.wasi?.stderr), 'noisy done\n');
    assert.equal(answer.wasi?.stderrTruncated, false);
  });

  it('keeps what a program wrote before it trapped', async () => {
    const err = await rejection(t.runner.run(start(printThenTrap.sha256, input())));
    assert.equal(err.code, 'WASM_TRAP');
    assert.equal(err.message, 'unreachable');
    assert.equal(text(wasiOutputOf(err)?.stdout), 'before the trap\n');
  });

  it('refuses env a C program cannot be given before queuing it', async () => {
    const err = await rejection(t.runner.run(start(hello.sha256, input({ env: [['A=B', 'x']] }))));
    assert.equal(err.code, 'VALIDATION');
  });

  it('calls a reactor export like a function, with an empty process when given no input', async () => {
    const sum = await t.runner.run({ sha256: lib.sha256, fn: 'add', params: ['i32', 'i32'], args: [2, 3] });
    assert.deepEqual(sum.results, [5]);
    assert.equal(sum.wasi?.exitCode, 0);
    assert.equal(sum.wasi?.stdout.length, 0);
    const greet = await t.runner.run({ sha256: lib.sha256, fn: 'greet', params: ['i32'], args: [2] });
    assert.deepEqual(greet.results, [2]);
    assert.equal(text(greet.wasi?.stdout), 'hello from a reactor 0\nhello from a reactor 1\n');
  });

  it('caps the output of a process made without input (maxWasiOutputBytes)', async () => {
    const greet = await t.runner.run({ sha256: lib.sha256, fn: 'greet', params: ['i32'], args: [100] });
    assert.equal(greet.wasi?.stdout.length, 1024);
    assert.equal(greet.wasi?.stdoutTruncated, true);
  });

  it('gives each batch item its own process and output', async () => {
    const { items } = await t.runner.runBatch({ sha256: lib.sha256, fn: 'greet', params: ['i32'], argsList: [[1], [0], [2]] });
    assert.deepEqual(items.map((i) => (i.ok ? text(i.wasi?.stdout).split('\n').length - 1 : i.code)), [1, 0, 2]);
  });

  it('stops a program that spins (408) while calls beside it answer', async () => {
    // First in the queue, so the healthy calls are taken back from behind it rather than run before it
    // in its batch (those would be re-run after the kill). A longer deadline: they must win the race
    // even on a loaded machine.
    const spinning = rejection(t.runner.run({ ...start(spin.sha256, input()), timeoutMs: SPIN_TIMEOUT_MS }));
    const healthy = Promise.all(Array.from({ length: 100 }, (_, i) => t.runner.run(addCall(i))));
    const greeting = t.runner.run(start(hello.sha256, input()));
    assert.equal(await Promise.race([healthy.then(() => 'healthy'), spinning.then(() => 'spin')]), 'healthy');
    (await healthy).forEach((a, i) => assert.deepEqual(a.results, [i + 1]));
    assert.match(text((await greeting).wasi?.stdout), /^hello, world\n/);
    const err = await spinning;
    assert.equal(err.code, 'EXECUTION_TIMEOUT');
    assert.match(err.message, new RegExp(`"_start" did not finish within ${SPIN_TIMEOUT_MS} ms`));
    assert.equal(t.runner.stats().workers, 2);
  });
});
