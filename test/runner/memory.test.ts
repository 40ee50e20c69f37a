import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { after, before, describe, it } from 'node:test';
import { fixture, rejection, startRunner, type TestRunner } from './helper.js';

const CAP_PAGES = 4;
const memoryMax = fixture('memory-max'); // memory 1..10
const growLoop = fixture('grow-loop'); // memory 1, no maximum
const growMemory = fixture('grow-memory'); // memory 1, no maximum
const bigMemory = fixture('big-memory'); // memory 5000

describe('runner: memory cap', () => {
  let t: TestRunner;
  before(async () => {
    t = await startRunner({ maxMemoryBytes: CAP_PAGES * 65536 }, [memoryMax, growLoop, growMemory]);
  });
  after(() => t.runner.close());

  const run = (sha256: string, fn: string, args: number[] = []) =>
    t.runner.run({ sha256, fn, params: args.map(() => 'i32' as const), args }).then((r) => r.results[0]);

  it('lowers a declared maximum to the cap', async () => {
    assert.equal(await run(memoryMax.sha256, 'grow20'), -1);
    assert.equal(await run(memoryMax.sha256, 'grow', [CAP_PAGES - 1]), 1);
    assert.equal(await run(memoryMax.sha256, 'grow', [CAP_PAGES]), -1);
  });

  it('gives a module with no maximum the cap', async () => {
    assert.equal(await run(growMemory.sha256, 'grow', [CAP_PAGES]), -1);
    assert.equal(await run(growLoop.sha256, 'grow_all'), CAP_PAGES);
  });

  it('refuses a module whose initial memory is above the cap', async () => {
    const err = await rejection(t.runner.compile(bigMemory.sha256, bigMemory.bytes));
    assert.equal(err.code, 'MEMORY_LIMIT');
  });

  it('backs the cap with a V8 flag that holds in worker threads too', async () => {
    // Compiled here without capMemory: only --wasm-max-mem-pages stops the grow loop.
    const uncapped = new WebAssembly.Module(growLoop.bytes);
    const worker = new Worker(
      `const { parentPort } = require('node:worker_threads');
       parentPort.once('message', (m) => parentPort.postMessage(new WebAssembly.Instance(m).exports.grow_all()));`,
      { eval: true },
    );
    worker.postMessage(uncapped);
    const [pages] = (await once(worker, 'message')) as [number];
    await worker.terminate();
    assert.equal(pages, CAP_PAGES);
  });
});
