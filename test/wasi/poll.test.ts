import assert from 'node:assert/strict';
import { hrtime } from 'node:process';
import { describe, it } from 'node:test';
import { Clock, EVENT_FD_READWRITE_HANGUP, Errno, EventType } from '../../src/wasi/errno.js';
import { fromWat, processFor } from './helpers.js';

/*
 * poll_oneoff called straight from a module that forwards to it: the test lays out the subscriptions
 * in the guest's memory and reads back the events (layouts in src/wasi/poll.ts).
 */

const IN = 1024;
const OUT = 4096;
const NEVENTS = 8192;

const forwarder = new WebAssembly.Module(fromWat(`(module
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "poll") (param i32) (result i32)
    (call $poll (i32.const ${IN}) (i32.const ${OUT}) (local.get 0) (i32.const ${NEVENTS}))))`));

type Sub =
  | { userdata: bigint; clock: number; timeout: bigint; abstime?: boolean }
  | { userdata: bigint; read: number }
  | { userdata: bigint; write: number };

interface Event { userdata: bigint; error: number; type: number; nbytes: bigint; flags: number }

/** Runs poll_oneoff on `subs` with `stdin`; returns its errno and the events it stored. */
function poll(subs: Sub[], stdin = ''): { errno: number; events: Event[] } {
  const proc = processFor('poll', { stdin });
  const instance = new WebAssembly.Instance(forwarder, proc.imports());
  const memory = instance.exports.memory as WebAssembly.Memory;
  proc.bind(memory);
  const view = new DataView(memory.buffer);
  subs.forEach((sub, i) => {
    const at = IN + i * 48;
    view.setBigUint64(at, sub.userdata, true);
    if ('clock' in sub) {
      view.setUint8(at + 8, EventType.CLOCK);
      view.setUint32(at + 16, sub.clock, true);
      view.setBigUint64(at + 24, sub.timeout, true);
      view.setUint16(at + 40, sub.abstime ? 1 : 0, true);
    } else {
      view.setUint8(at + 8, 'read' in sub ? EventType.FD_READ : EventType.FD_WRITE);
      view.setUint32(at + 16, 'read' in sub ? sub.read : sub.write, true);
    }
  });
  const errno = proc.run(() => (instance.exports.poll as (n: number) => number)(subs.length)).value ?? -1;
  const events = Array.from({ length: view.getUint32(NEVENTS, true) }, (_, i) => {
    const at = OUT + i * 32;
    return {
      userdata: view.getBigUint64(at, true),
      error: view.getUint16(at + 8, true),
      type: view.getUint8(at + 10),
      nbytes: view.getBigUint64(at + 16, true),
      flags: view.getUint16(at + 24, true),
    };
  });
  return { errno, events };
}

const SECONDS = 1_000_000_000n;
const monotonicNow = (): bigint => hrtime.bigint();

describe('poll_oneoff', () => {
  it('reports ready fds at once and not a clock that has not expired (the rust/poll_oneoff_stdio case)', () => {
    const started = monotonicNow();
    const { errno, events } = poll([
      { userdata: 1n, write: 1 },
      { userdata: 0x1_2345_6789n, clock: Clock.MONOTONIC, timeout: 60n * SECONDS },
      { userdata: 2n, write: 2 },
      { userdata: 3n, read: 0 },
    ], 'abc');
    assert.equal(errno, Errno.SUCCESS);
    assert.deepEqual(events, [
      { userdata: 1n, error: Errno.SUCCESS, type: EventType.FD_WRITE, nbytes: 1024n * 1024n, flags: 0 },
      { userdata: 2n, error: Errno.SUCCESS, type: EventType.FD_WRITE, nbytes: 1024n * 1024n, flags: 0 },
      { userdata: 3n, error: Errno.SUCCESS, type: EventType.FD_READ, nbytes: 3n, flags: 0 },
    ]);
    assert.ok(monotonicNow() - started < 30n * SECONDS, 'it did not wait for the 60 s clock');
  });

  it('an fd_read at the end of stdin is ready, with the hangup flag and nothing to read', () => {
    const { events } = poll([{ userdata: 5n, read: 0 }, { userdata: 6n, clock: Clock.REALTIME, timeout: 60n * SECONDS }]);
    assert.deepEqual(events, [{ userdata: 5n, error: Errno.SUCCESS, type: EventType.FD_READ, nbytes: 0n, flags: EVENT_FD_READWRITE_HANGUP }]);
  });

  it('a subscription that cannot be served is a ready event carrying its errno', () => {
    const { errno, events } = poll([
      { userdata: 1n, write: 0 }, // stdin is not writable
      { userdata: 2n, read: 7 }, // no such fd
      { userdata: 3n, clock: 9, timeout: 60n * SECONDS }, // no such clock
      { userdata: 4n, clock: Clock.MONOTONIC, timeout: 60n * SECONDS },
    ]);
    assert.equal(errno, Errno.SUCCESS);
    assert.deepEqual(events.map((e) => [e.userdata, e.type, e.error]), [
      [1n, EventType.FD_WRITE, Errno.BADF],
      [2n, EventType.FD_READ, Errno.BADF],
      [3n, EventType.CLOCK, Errno.INVAL],
    ]);
  });

  it('a clock that has expired is reported with the ready fds; an absolute time counts on its clock', () => {
    const realtime = BigInt(Date.now()) * 1_000_000n;
    const { events } = poll([
      { userdata: 1n, clock: Clock.MONOTONIC, timeout: 0n },
      { userdata: 2n, clock: Clock.REALTIME, timeout: realtime - SECONDS, abstime: true },
      { userdata: 3n, clock: Clock.REALTIME, timeout: realtime + 60n * SECONDS, abstime: true },
      { userdata: 4n, write: 1 },
    ]);
    assert.deepEqual(events.map((e) => [e.userdata, e.type, e.error]), [
      [4n, EventType.FD_WRITE, Errno.SUCCESS],
      [1n, EventType.CLOCK, Errno.SUCCESS],
      [2n, EventType.CLOCK, Errno.SUCCESS],
    ]);
  });

  it('with only clocks it waits until the earliest has passed and reports that one', () => {
    const started = monotonicNow();
    const { errno, events } = poll([
      { userdata: 1n, clock: Clock.MONOTONIC, timeout: 60n * SECONDS },
      { userdata: 2n, clock: Clock.MONOTONIC, timeout: 50_000_000n }, // 50 ms
      { userdata: 3n, clock: Clock.REALTIME, timeout: BigInt(Date.now() + 60_000) * 1_000_000n, abstime: true },
    ]);
    assert.equal(errno, Errno.SUCCESS);
    assert.deepEqual(events, [{ userdata: 2n, error: Errno.SUCCESS, type: EventType.CLOCK, nbytes: 0n, flags: 0 }]);
    assert.ok(monotonicNow() - started >= 50_000_000n, 'the 50 ms clock fired only once 50 ms had passed');
  });

  it('no subscriptions is EINVAL', () => {
    assert.equal(poll([]).errno, Errno.INVAL);
  });
});
