import { EVENT_FD_READWRITE_HANGUP, Errno, EventType } from './errno.js';
import { isClock } from './clock.js';
import { Stream, streamOf, type WasiFunctions, type WasiState } from './state.js';

/*
 * poll_oneoff(in, out, nsubscriptions, nevents_ptr) answers every subscription at once, one event each:
 * a clock subscription fires immediately (sleeping would only hold a worker thread; the call's deadline
 * bounds a program that sleeps in a loop), stdin is always readable (it is all in memory), stdout and
 * stderr always writable.
 *
 *   subscription (48 bytes): userdata u64 @0, tag u8 @8, then at @16: clock { id u32, timeout u64 @24,
 *                            precision u64 @32, flags u16 @40 } or fd_readwrite { fd u32 }
 *   event (32 bytes):        userdata u64 @0, error u16 @8, type u8 @10, nbytes u64 @16, flags u16 @24
 */

const SUBSCRIPTION_BYTES = 48;
const EVENT_BYTES = 32;

/** poll_oneoff. */
export function pollFunctions(s: WasiState): WasiFunctions {
  const memory = s.memory;

  /** Writes error, nbytes and flags of the event at `ev` for a subscription with `tag` on `target` (an fd or clock id). */
  function answer(ev: number, tag: number, target: number): void {
    const view = memory.view;
    if (tag === EventType.CLOCK) {
      if (!isClock(target)) view.setUint16(ev + 8, Errno.INVAL, true);
      return;
    }
    const stream = streamOf(s, target);
    if (tag === EventType.FD_READ && stream === Stream.STDIN) {
      const left = s.stdin.length - s.stdinAt;
      memory.setU64(ev + 16, left);
      if (left === 0) view.setUint16(ev + 24, EVENT_FD_READWRITE_HANGUP, true);
    } else if (tag === EventType.FD_WRITE && (stream === Stream.STDOUT || stream === Stream.STDERR)) {
      memory.setU64(ev + 16, (stream === Stream.STDOUT ? s.stdout : s.stderr).room);
    } else {
      view.setUint16(ev + 8, Errno.BADF, true);
    }
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
      const u8 = memory.u8;
      for (let i = 0; i < count; i++) {
        const sub = inPtr + i * SUBSCRIPTION_BYTES;
        const ev = outPtr + i * EVENT_BYTES;
        const tag = u8[sub + 8] ?? 0;
        const target = memory.u32(sub + 16);
        u8.copyWithin(ev, sub, sub + 8); // userdata
        u8.fill(0, ev + 8, ev + EVENT_BYTES);
        u8[ev + 10] = tag;
        if (tag > EventType.FD_WRITE) memory.view.setUint16(ev + 8, Errno.INVAL, true);
        else answer(ev, tag, target);
      }
      memory.setU32(neventsPtr, count);
      return Errno.SUCCESS;
    },
  };
}
