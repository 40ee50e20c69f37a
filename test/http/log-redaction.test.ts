import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { redactKeys } from '../../src/logger.js';
import { TEST_ADMIN_KEY, makeKey, noKey, startApp, type MadeKey, type TestApp } from '../helper.js';

/** The secret part of a `wess_<id>_<secret>` key. */
const secretOf = (key: string): string => key.slice(key.indexOf('_', 'wess_'.length) + 1);

describe('keys never reach the logs', () => {
  let t: TestApp;
  let dev: MadeKey;

  before(async () => {
    // trace: every line Wess can write about a request, headers included.
    t = await startApp({ log: { level: 'trace' } });
    dev = await makeKey(t.app, { name: 'dev', role: 'developer', tenant: 'acme' });
  });
  after(() => t.close());

  const logText = () => t.logs.map((line) => JSON.stringify(line)).join('\n');

  test('regression (issue 15, item 7): a key in ?api_key= is redacted from the access line', async () => {
    const res = await t.app.inject({ method: 'GET', url: `/modules?api_key=${TEST_ADMIN_KEY}`, headers: noKey() });
    assert.equal(res.statusCode, 401, 'a key in the query string is not accepted either');
    const line = t.logs.find((l) => l.msg === 'request' && l.request_id === res.headers['x-request-id']);
    assert.ok(line, 'the access line');
    assert.equal(line.url, '/modules?api_key=wess_testadmin_[redacted]');
    // In a path too, and percent-encoded. Each from an address of its own: refusals for want of a
    // key get an access line only for the first of each client and minute.
    const inPath = await t.app.inject({ method: 'GET', url: `/${dev.key}`, headers: noKey(), remoteAddress: '192.0.2.71' });
    const encoded = await t.app.inject({ method: 'GET', url: `/modules?k=${dev.key.replaceAll('_', '%5F')}`, headers: noKey(), remoteAddress: '192.0.2.72' });
    for (const r of [inPath, encoded]) {
      const access = t.logs.find((l) => l.msg === 'request' && l.request_id === r.headers['x-request-id']);
      assert.match(String(access?.url), new RegExp(`wess_${dev.id}_\\[redacted\\]`));
    }
    const text = logText();
    assert.ok(!text.includes(secretOf(TEST_ADMIN_KEY)), 'no admin secret in any log line');
    assert.ok(!text.includes(secretOf(dev.key)), 'no developer secret in any log line');
  });

  test('regression (issue 15, item 7): a key in a header other than the auth ones is redacted where headers are logged', async () => {
    const res = await t.app.inject({ method: 'GET', url: `/modules?token=${dev.key}`, headers: { 'x-upstream-key': dev.key, referer: `https://example.test/?key=${dev.key}` } });
    assert.equal(res.statusCode, 400, 'token is not a query parameter of /modules');
    assert.ok(!res.body.includes(secretOf(dev.key)), 'nor is the key echoed back');
    const line = t.logs.find((l) => l.msg === 'request headers' && l.request_id === res.headers['x-request-id']);
    assert.ok(line, 'trace logs the headers');
    const headers = line.headers as Record<string, string>;
    assert.equal(headers['x-upstream-key'], `wess_${dev.id}_[redacted]`);
    assert.equal(headers.referer, `https://example.test/?key=wess_${dev.id}_[redacted]`);
    assert.equal(headers.authorization, '[redacted]');
    assert.equal((line.req as { url: string }).url, `/modules?token=wess_${dev.id}_[redacted]`, 'the request serializer redacts its URL');
    const text = logText();
    assert.ok(!text.includes(secretOf(TEST_ADMIN_KEY)));
    assert.ok(!text.includes(secretOf(dev.key)));
  });
});

test('redactKeys keeps the public id and leaves text without a key alone', () => {
  assert.equal(redactKeys('/modules?name=calc'), '/modules?name=calc');
  assert.equal(redactKeys('a wess_abcd_0123456789abcdefghij-_XYZ b'), 'a wess_abcd_[redacted] b');
  assert.equal(redactKeys('wess%5Fabcd%5F0123456789abcdefghij%2D'), 'wess_abcd_[redacted]');
  assert.equal(redactKeys('wess_abcd_short'), 'wess_abcd_short', 'too short to be a secret');
});
