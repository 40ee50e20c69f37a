import { EVENT_FD_READWRITE_HANGUP, Errno, EventType } from './errno.js';
import { isClock, now, sleep } from './clock.js';
import { Stream, handleOf, streamOf, type WasiFunctions, type WasiState } from './state.js';

/*
 * poll_oneoff(in, out, nsubscriptions, nevents_ptr) as preview 1 defines it: it stores one event for
 * each subscription that is ready and returns at once when any is; it waits only while none is.
 * - An fd subscription is always ready here: stdin is all in memory (at its end an fd_read event has
 *   the hangup flag), stdout and stderr take any write, and so does a file (a read reports the bytes
 *   left after its position).
 * - A subscription that cannot be served is ready too, as an event carrying the errno: an fd that is
 *   not stdio or the wrong direction (EBADF), an unknown clock or tag (EINVAL).
 * - A clock is ready once its timeout has passed: relative to this call, or with
 *   subscription_clock_abstime a time on the clock itself. So with a clock beside a ready fd only
 *   the fd is reported, and with only clocks the thread sleeps until the earliest. Sleeping holds the
 *   worker as guest code would; the call's deadline still bounds it (terminating the worker ends the
 *   wait).
 *
 *   subscription (48 bytes): userdata u64 @0, tag u8 @8, then at @16: clock { id u32, timeout u64 @24,
 *                            precision u64 @32, flags u16 @40 } or fd_readwrite { fd u32 }
 *   event (32 bytes):        userdata u64 @0, error u16 @8, type u8 @10, nbytes u64 @16, flags u16 @24
 */

const SUBSCRIPTION_BYTES = 48;
const EVENT_BYTES = 32;
const SUBSCRIPTION_CLOCK_ABSTIME = 1;

/** A subscription as read from the guest, before any event is written (`in` and `out` may overlap). */
interface Subscription {
  userdata: bigint;
  tag: number;
  /** The fd, or the clock id. */
  target: number;
  timeout: bigint;
  flags: number;
}

/** A valid clock subscription and the time on its clock when it fires. */
interface PendingClock {
  userdata: bigint;
  clock: number;
  firesAt: bigint;
}

/** poll_oneoff. */
export function pollFunctions(s: WasiState): WasiFunctions {
  const memory = s.memory;

  function read(at: number): Subscription {
    const view = memory.view;
    return {
      userdata: view.getBigUint64(at, true),
      tag: memory.u8[at + 8] ?? 0,
      target: memory.u32(at + 16),
      timeout: view.getBigUint64(at + 24, true),
      flags: view.getUint16(at + 40, true),
    };
  }

  /** Writes the event at `ev`: error and type, and for fd events the bytes ready and the flags. */
  function write(ev: number, userdata: bigint, type: number, error: number, nbytes = 0, flags = 0): void {
    memory.u8.fill(0, ev, ev + EVENT_BYTES);
    const view = memory.view;
    view.setBigUint64(ev, userdata, true);
    view.setUint16(ev + 8, error, true);
    memory.u8[ev + 10] = type;
    memory.setU64(ev + 16, nbytes);
    view.setUint16(ev + 24, flags, true);
  }

  /** The event of an fd or failed subscription, all of which are ready at once. */
  function answerNow(ev: number, sub: Subscription): void {
    const { userdata, tag } = sub;
    if (tag > EventType.FD_WRITE) return write(ev, userdata, tag, Errno.INVAL);
    if (tag === EventType.CLOCK) return write(ev, userdata, tag, Errno.INVAL); // a clock id that is not one
    const file = handleOf(s, sub.target);
    if (file !== undefined && !file.dir && s.fs !== null) {
      const left = tag === EventType.FD_READ ? Math.max(0, s.fs.tree.node(file.ino).size - file.pos) : 0;
      return write(ev, userdata, tag, Errno.SUCCESS, left);
    }
    const stream = streamOf(s, sub.target);
    if (tag === EventType.FD_READ && stream === Stream.STDIN) {
      const left = s.stdin.length - s.stdinAt;
      return write(ev, userdata, tag, Errno.SUCCESS, left, left === 0 ? EVENT_FD_READWRITE_HANGUP : 0);
    }
    if (tag === EventType.FD_WRITE && (stream === Stream.STDOUT || stream === Stream.STDERR)) {
      return write(ev, userdata, tag, Errno.SUCCESS, (stream === Stream.STDOUT ? s.stdout : s.stderr).room);
    }
    return write(ev, userdata, tag, Errno.BADF);
  }

  return {
    poll_oneoff(inPtr: number, outPtr: number, count: number, neventsPtr: number): number {
      memory.refresh();
      inPtr >>>= 0;
      outPtr >>>= 0;
      count >>>= 0;
      neventsPtr >>>= 0;
      if (count === 0) return Errno.INVAL;
      const fits = memory.fits(inPtr, count * SUBSCRIPTION_BYTES) && memory.fits(outPtr, count * EVENT_BYTES);
      if (!fits || !memory.fits(neventsPtr, 4)) return Errno.FAULT;
      const subs = Array.from({ length: count }, (_, i) => read(inPtr + i * SUBSCRIPTION_BYTES));

      let nevents = 0;
      const clocks: PendingClock[] = [];
      for (const sub of subs) {
        if (sub.tag === EventType.CLOCK && isClock(sub.target)) {
          const absolute = (sub.flags & SUBSCRIPTION_CLOCK_ABSTIME) !== 0;
          clocks.push({ userdata: sub.userdata, clock: sub.target, firesAt: absolute ? sub.timeout : now(sub.target) + sub.timeout });
        } else {
          answerNow(outPtr + nevents++ * EVENT_BYTES, sub);
        }
      }
      for (;;) {
        let soonest: bigint | undefined;
        for (const c of clocks) {
          const left = c.firesAt - now(c.clock);
          if (left <= 0n) write(outPtr + nevents++ * EVENT_BYTES, c.userdata, EventType.CLOCK, Errno.SUCCESS);
          else if (soonest === undefined || left < soonest) soonest = left;
        }
        if (nevents > 0 || soonest === undefined) break;
        sleep(soonest);
      }
      memory.setU32(neventsPtr, nevents);
      return Errno.SUCCESS;
    },
  };
}
