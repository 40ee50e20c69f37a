import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KEY_PREFIXES } from '../../src/store/level/keys.js';

test('LevelDB key families never overlap: no prefix equals, or starts, another', () => {
  assert.ok(KEY_PREFIXES.length > 20);
  for (const a of KEY_PREFIXES) {
    assert.ok(a.endsWith('!'), `${a} ends with the separator`);
    for (const b of KEY_PREFIXES) if (a !== b) assert.ok(!b.startsWith(a), `${b} starts with ${a}: a range read of ${a} would return ${b} keys`);
  }
  assert.equal(new Set(KEY_PREFIXES).size, KEY_PREFIXES.length, 'every prefix is its own');
});
