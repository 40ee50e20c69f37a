import { executionAsyncResource } from 'node:async_hooks';

/** One of node's nextTick objects, kept for the life of the process. */
let pinned: object | undefined;

/**
 * Keeps one of node's process.nextTick objects alive for good, so that V8 never drops the maps
 * (hidden classes) all of them share.
 *
 * nextTick builds each of its objects with a literal that starts with two computed symbol keys. V8
 * reaches the maps of such a literal only through weak transitions, so a full GC that finds no tick
 * object alive frees them; the next ticks get new maps, and V8 marks the literal's property
 * definitions megamorphic for good. From then on every nextTick defines its four properties through
 * V8's runtime, ~5,000 instructions instead of ~100. node's HTTP and stream code calls nextTick ~10
 * times per request: that was ~38,000 of Wess's ~194,000 instructions per cached GET once the first
 * full GC had run (bench/budget.js --instructions), and none of the bare app's, whose heap never
 * grows enough for one. test/tick-maps.test.ts shows the effect on a plain node process.
 *
 * Resolves once the object is kept: inside a nextTick callback, the current async resource is the
 * tick object itself.
 */
export function pinTickObjectMaps(): Promise<void> {
  return new Promise((resolve) => {
    process.nextTick(() => {
      pinned ??= executionAsyncResource();
      resolve();
    });
  });
}
