import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { percentile, rankOf } from '../../bench/lib/stats.js';

describe('bench nearest-rank percentile', () => {
  // The cold path's judgement: 20 samples whose worst two are over the target.
  const twenty = [...Array.from({ length: 18 }, (_, i) => 10 + i / 10), 31, 33.2];

  test('p95 of 20 is the 19th: only the worst sample is left out', () => {
    assert.equal(percentile(twenty, 95), 31);
    assert.equal(rankOf(20, 95), 'the 19th of 20');
  });

  test('p95 of 60 is the 57th and p100 is the max', () => {
    const sixty = Array.from({ length: 60 }, (_, i) => i + 1);
    assert.equal(percentile(sixty, 95), 57);
    assert.equal(rankOf(60, 95), 'the 57th of 60');
    assert.equal(percentile(sixty, 100), 60);
  });

  test('ordinals past the teens', () => {
    assert.equal(rankOf(12, 95), 'the 12th of 12');
    assert.equal(rankOf(22, 95), 'the 21st of 22');
    assert.equal(rankOf(23, 95), 'the 22nd of 23');
  });
});
