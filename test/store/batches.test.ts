import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ClassicLevel } from 'classic-level';
import { batches, type BatchIterator } from '../../src/store/level/batches.js';
import type { KeyRange } from '../../src/store/level/db.js';

const KEYS = Array.from({ length: 100 }, (_, i) => `k${String(i).padStart(3, '0')}`);
/** 1 KiB values: classic-level's 16 KiB read-ahead then ends a trip before a large batch is full. */
const VALUE = new Uint8Array(1024).fill(7);

/** The iterator as `batches` sees it, with each call written down: `nextv(asked)=got`, `seek`, `close`. */
function recorded<T>(iterator: BatchIterator<T>): { calls: string[]; iterator: BatchIterator<T> } {
  const calls: string[] = [];
  return {
    calls,
    iterator: {
      async nextv(size) {
        const got = await iterator.nextv(size);
        calls.push(`nextv(${size})=${got.length}`);
        return got;
      },
      seek(target) {
        calls.push('seek');
        iterator.seek(target);
      },
      async close() {
        calls.push('close');
        await iterator.close();
      },
    },
  };
}

describe('batches: a LevelDB range read in batches no larger than it needs, emptied before it closes', () => {
  let dir: string;
  let level: ClassicLevel<string, Uint8Array>;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wess-batches-'));
    level = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
    await level.batch(KEYS.map((key) => ({ type: 'put' as const, key, value: VALUE })));
  });
  after(async () => {
    await level.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** Keys read through `batches` over `range` (stopping after `take` when given), and the calls it made. */
  async function read(range: KeyRange, options: { keysOnly?: boolean; take?: number } = {}): Promise<{ keys: string[]; calls: string[] }> {
    const { limit: _limit, ...bounds } = range;
    const { calls, iterator } = options.keysOnly
      ? recorded<string>(level.keys(bounds))
      : recorded<[string, Uint8Array]>(level.iterator(bounds));
    const keys: string[] = [];
    for await (const item of batches<string | [string, Uint8Array]>(iterator as BatchIterator<string | [string, Uint8Array]>, range)) {
      keys.push(typeof item === 'string' ? item : item[0]);
      if (keys.length === options.take) break;
    }
    return { keys, calls };
  }

  /** What the last three calls must be once something was read: a seek past the end, a read of nothing, the close. */
  const EMPTIED = ['seek', 'nextv(1)=0', 'close'];

  it('with a limit, asks for no more than is left, stops at the limit, and then empties and closes the iterator', async () => {
    const { keys, calls } = await read({ gt: 'k', lt: 'l', limit: 20 });
    assert.deepEqual(keys, KEYS.slice(0, 20));
    const asked = calls.filter((c) => c.startsWith('nextv')).slice(0, -1).map((c) => /^nextv\((\d+)\)=(\d+)$/.exec(c)!.slice(1).map(Number));
    let left = 20;
    for (const [size, got] of asked) {
      assert.equal(size, left, `asked for ${size} with ${left} left (calls: ${calls.join(' ')})`);
      left -= got!;
    }
    assert.equal(left, 0);
    assert.ok(asked.length >= 2, `the 16 KiB read-ahead split the page over trips (calls: ${calls.join(' ')})`);
    assert.deepEqual(calls.slice(-3), EMPTIED);
  });

  it('without a limit, reads everything in growing batches (16, 64, 256, … at most 1,000) and then empties the iterator', async () => {
    const { keys, calls } = await read({}, { keysOnly: true });
    assert.deepEqual(keys, KEYS);
    assert.deepEqual(calls, ['nextv(16)=16', 'nextv(64)=64', 'nextv(256)=20', 'nextv(1000)=0', ...EMPTIED]);
  });

  it('in reverse, with and without a lower bound, the seek that empties the iterator lands past its end', async () => {
    const bounded = await read({ gte: 'k050', reverse: true, limit: 10 }, { keysOnly: true });
    assert.deepEqual(bounded.keys, KEYS.slice(90).reverse());
    assert.deepEqual(bounded.calls, ['nextv(10)=10', ...EMPTIED]);
    const unbounded = await read({ reverse: true }, { keysOnly: true, take: 30 });
    assert.deepEqual(unbounded.keys, KEYS.slice(70).reverse());
    assert.deepEqual(unbounded.calls.slice(-3), EMPTIED);
  });

  it('a reader that stops early still empties and closes the iterator', async () => {
    const { keys, calls } = await read({ gte: 'k010' }, { take: 3 });
    assert.deepEqual(keys, KEYS.slice(10, 13));
    assert.deepEqual(calls, ['nextv(16)=16', ...EMPTIED]);
  });

  it('an empty range is closed without the extra read', async () => {
    const { keys, calls } = await read({ gt: 'x', limit: 5 });
    assert.deepEqual(keys, []);
    assert.deepEqual(calls, ['nextv(5)=0', 'close']);
  });
});
