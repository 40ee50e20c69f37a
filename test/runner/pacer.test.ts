import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { Pacer } from '../../src/runner/pacer.js';

/** Keeps this thread's event loop busy for `ms` (the main thread saturated by another tenant's work). */
function busy(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

describe('pacer: bulk lanes while the main thread is busy', () => {
  it('holds bulk batches back while a light lane is active and the loop is busy, and lets them go once it has room', async () => {
    const pacer = new Pacer();
    pacer.dispatched(false, Date.now()); // a light tenant is active
    for (let i = 0; i < 4; i++) {
      busy(30);
      pacer.mayDispatchBulk(Date.now());
    }
    assert.ok(pacer.intervalMs >= 4, `interval ${pacer.intervalMs} ms after four busy windows`);
    const now = Date.now();
    pacer.dispatched(true, now);
    assert.equal(pacer.mayDispatchBulk(now), false, 'a bulk batch right after another waits');
    assert.equal(pacer.mayDispatchBulk(now + pacer.intervalMs), true, 'and goes once the interval has passed');
    // Idle windows: the interval shrinks back to nothing.
    for (let i = 0; i < 40 && pacer.pacing; i++) {
      await sleep(30);
      pacer.dispatched(false, Date.now());
      pacer.mayDispatchBulk(Date.now());
    }
    assert.equal(pacer.pacing, false, `still pacing at ${pacer.intervalMs} ms`);
  });

  it('never holds a bulk lane back when no light lane is active: a tenant alone gets the whole thread', () => {
    const pacer = new Pacer();
    for (let i = 0; i < 4; i++) {
      busy(30);
      pacer.mayDispatchBulk(Date.now());
    }
    assert.ok(pacer.pacing, 'the loop was busy');
    const now = Date.now();
    pacer.dispatched(true, now);
    assert.equal(pacer.mayDispatchBulk(now), true);
  });
});
