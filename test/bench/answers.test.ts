import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { difference } from '../../bench/lib/answers.js';

describe('bench baseline answers', () => {
  test('the same bytes have no difference', () => {
    const body = Buffer.from('{"results":[3],"stats":{"duration_ms":0.02}}');
    assert.equal(difference(body, Buffer.from(body)), undefined);
  });

  // What the bare app answered before its bodies were taken from Wess: the shape, not the bytes.
  test('a shorter body with the same start is named with its lengths and where it departs', () => {
    const wess = Buffer.from('{"results":[3],"stats":{"duration_ms":0.02}}');
    const message = difference(wess, Buffer.from('{"results":[3]}'));
    assert.match(message ?? '', /^15 bytes instead of 44, first differing at byte 14:/);
  });

  test('a number written another way is a difference', () => {
    assert.ok(difference(Buffer.from('{"n":1.50}'), Buffer.from('{"n":1.5}')));
  });
});
