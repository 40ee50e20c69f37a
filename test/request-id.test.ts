import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validate, version } from 'uuid';
import { randomRequestId, requestId } from '../src/http/plugins/request-id.js';

test('request ids Wess makes are distinct UUID v4s of the RFC variant, across refills of the random pool', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 5000; i++) {
    const id = randomRequestId();
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.ok(validate(id) && version(id) === 4, id);
    seen.add(id);
  }
  assert.equal(seen.size, 5000);
  // Every hex digit shows up in every free position: nothing is stuck (the template's zeros, a bad offset).
  const ids = [...seen];
  for (const at of [0, 7, 9, 12, 15, 17, 19, 20, 22, 24, 35]) {
    assert.equal(new Set(ids.map((id) => id[at])).size, at === 19 ? 4 : 16, `position ${at}`);
  }
});

test('a sane incoming x-request-id is kept, anything else replaced by a fresh id', () => {
  const req = (id?: string) => ({ headers: id === undefined ? {} : { 'x-request-id': id } }) as never;
  assert.equal(requestId(req('edge-7f3a:01')), 'edge-7f3a:01');
  for (const bad of [undefined, '', 'has space', 'x'.repeat(129), 'semi;colon']) {
    const id = requestId(req(bad));
    assert.notEqual(id, bad);
    assert.ok(validate(id) && version(id) === 4, id);
  }
});
