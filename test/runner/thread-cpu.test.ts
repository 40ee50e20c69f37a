import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CallCpu, threadCpuReader, TICK_MS } from '../../src/runner/thread-cpu.js';

/** A kernel figure the test moves by hand, counting how often it is read. */
function kernel(): { read: () => number; advance: (ms: number) => void; reads: () => number } {
  let now = 1000;
  let reads = 0;
  return { read: () => (reads++, now), advance: (ms) => (now += ms), reads: () => reads };
}

test('a call shorter than a tick is charged its wall time, with no reading of the kernel figure', () => {
  const k = kernel();
  const cpu = new CallCpu(k.read);
  for (let i = 0; i < 50; i++) {
    k.advance(0.2);
    assert.equal(cpu.charge(0.3), 0.3);
  }
  assert.equal(k.reads(), 1, 'only the bundle start is read');
});

test('a long call is charged the kernel figure since the last reading, less what short calls were charged, plus a tick, at most its wall', () => {
  const k = kernel();
  const cpu = new CallCpu(k.read);
  // Five short calls that used their wall time, then a 100 ms call that got 40 ms of CPU (its core was shared).
  for (let i = 0; i < 5; i++) {
    k.advance(1);
    cpu.charge(1);
  }
  k.advance(40);
  assert.equal(cpu.charge(100), 40 + TICK_MS);
  // A long call that had its core: its wall time (the kernel figure plus a tick is more).
  k.advance(30);
  assert.equal(cpu.charge(30), 30);
  // Short calls preempted (charged their wall, used less) make the next long call's figure smaller, never negative.
  for (let i = 0; i < 3; i++) cpu.charge(9);
  k.advance(5);
  assert.equal(cpu.charge(20), TICK_MS);
  assert.equal(k.reads(), 4);
});

test('where /proc has no figure, every call is charged its wall time', () => {
  const cpu = new CallCpu(() => Number.NaN);
  assert.equal(cpu.charge(0.5), 0.5);
  assert.equal(cpu.charge(250), 250);
});

test('this thread: a 60 ms busy loop is charged what the kernel counted for it (to a tick), at most its wall time', () => {
  const read = threadCpuReader();
  if (Number.isNaN(read())) return void assert.notEqual(process.platform, 'linux', 'Linux has /proc/thread-self/schedstat');
  const before = read();
  const started = performance.now();
  const cpu = new CallCpu(read);
  while (performance.now() - started < 60);
  const wall = performance.now() - started;
  const charged = cpu.charge(wall);
  const counted = read() - before;
  assert.ok(charged <= wall, `${charged} <= ${wall}`);
  // On a busy machine the loop may lose its core for a while; the kernel then counts less, and so is it charged.
  assert.ok(Math.abs(charged - Math.min(wall, counted + TICK_MS)) <= TICK_MS, `charged ${charged}, wall ${wall}, kernel ${counted}`);
});
