import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isFlat, trend } from '../../bench/lib/trend.js';

// A GC sawtooth between 217 and 263 MiB, like the RSS samples of bench/RESULTS.md.
const sawtooth = (n: number, lift = 0): number[] => Array.from({ length: n }, (_, i) => 217 + ((i * 7) % 47) + (lift * i) / (n - 1));

describe('bench trend judgement', () => {
  test('a sawtooth whose last sample happens to sit on a peak is flat', () => {
    const samples = [...sawtooth(59), 263];
    assert.ok(samples.at(-1)! / samples[0]! > 1.1, 'the ends alone would call this growth');
    assert.ok(isFlat(trend(samples), 0.1), JSON.stringify(trend(samples)));
  });

  test('a steady leak of 20% under the same sawtooth is not flat', () => {
    const t = trend(sawtooth(60, 50));
    assert.ok(!isFlat(t, 0.1), JSON.stringify(t));
    assert.ok(t.slopeGrowth > 0.15 && t.slopeGrowth < 0.3, `slope growth ${t.slopeGrowth}`);
  });

  test('a leak that only starts in the second half is caught by the quarters', () => {
    const samples = sawtooth(60).map((v, i) => (i < 30 ? v : v + (i - 30) * 3));
    assert.ok(!isFlat(trend(samples), 0.1), JSON.stringify(trend(samples)));
  });

  test('too few samples is an error, not a pass', () => {
    assert.throws(() => trend([1, 2, 3]), /at least 4 samples/);
  });
});
