import assert from 'node:assert/strict';
import { request, type IncomingMessage } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { TEST_ADMIN_KEY, fixture, listen, startApp, type TestApp } from '../helper.js';

const MODULE_LIMIT = 2 * 1024 * 1024;
const BODY_LIMIT = 3 * 1024 * 1024;
/** A module upload's JSON: server.body_limit plus the base64 of the largest files archive the default limits allow. */
const UPLOAD_JSON_LIMIT = BODY_LIMIT + Math.ceil((16 * 1024 * 1024 + 10_000 * 1024 + 1024 * 1024) / 3) * 4;
const UPLOAD_JSON_KEY = 'server.body_limit, plus the base64 of a files archive of limits.max_files_bytes';

interface Sent {
  status: number;
  body: { error?: { code: string; message: string; details?: Record<string, unknown> } } & Record<string, unknown>;
  /** Whether the server said 100 Continue (the body was sent only then). */
  continued: boolean;
}

/** POSTs `body` with `Expect: 100-continue`, sending the body only if the server says continue. */
function expectContinue(base: string, path: string, contentType: string, body: Buffer): Promise<Sent> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_ADMIN_KEY}`, 'content-type': contentType, 'content-length': String(body.length), expect: '100-continue' },
    });
    let continued = false;
    req.on('continue', () => {
      continued = true;
      req.end(body);
    });
    req.on('response', (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Sent['body'], continued });
        if (!continued) req.destroy();
      });
    });
    req.on('error', reject);
    req.flushHeaders();
  });
}

/** POSTs `body` chunked (no content-length): the limit is found while reading. */
function chunked(base: string, path: string, body: Buffer): Promise<Sent> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method: 'POST', headers: { authorization: `Bearer ${TEST_ADMIN_KEY}`, 'content-type': 'application/wasm' } });
    req.on('response', (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Sent['body'], continued: true }));
    });
    // The server may close once it has answered: what the client then fails to write does not matter.
    req.on('error', (err: NodeJS.ErrnoException) => (err.code === 'EPIPE' || err.code === 'ECONNRESET' ? undefined : reject(err)));
    for (let at = 0; at < body.length; at += 64 * 1024) req.write(body.subarray(at, at + 64 * 1024));
    req.end();
  });
}

describe('body size limits', () => {
  let t: TestApp;
  let base: string;
  before(async () => {
    t = await startApp();
    base = await listen(t.app);
  });
  after(() => t.close());

  test('regression (issue 15, item 12): every 413 names the limit, a raw module\'s and a JSON body\'s', async () => {
    const raw = await t.app.inject({ method: 'POST', url: '/modules?name=big', headers: { 'content-type': 'application/wasm' }, payload: Buffer.alloc(MODULE_LIMIT + 1) });
    assert.equal(raw.statusCode, 413);
    assert.deepEqual(raw.json().error, {
      code: 'PAYLOAD_TOO_LARGE',
      message: `module is ${MODULE_LIMIT + 1} bytes; the limit is ${MODULE_LIMIT} bytes`,
      request_id: raw.headers['x-request-id'],
      details: { size: MODULE_LIMIT + 1, limit: MODULE_LIMIT, tier: null },
    });

    const json = await t.app.inject({ method: 'POST', url: '/keys', payload: { name: 'A'.repeat(BODY_LIMIT) } });
    assert.equal(json.statusCode, 413);
    const size = Buffer.byteLength(JSON.stringify({ name: 'A'.repeat(BODY_LIMIT) }));
    assert.equal(json.json().error.message, `request body is ${size} bytes; the limit is ${BODY_LIMIT} bytes (server.body_limit)`);
    assert.deepEqual(json.json().error.details, { size, limit: BODY_LIMIT });

    // A module upload's JSON may carry a files archive: it has room for one, and says so past it.
    const upload = { name: 'big', content: 'A'.repeat(UPLOAD_JSON_LIMIT) };
    const uploaded = await t.app.inject({ method: 'POST', url: '/modules', payload: upload });
    assert.equal(uploaded.statusCode, 413);
    const uploadSize = Buffer.byteLength(JSON.stringify(upload));
    assert.equal(uploaded.json().error.message, `request body is ${uploadSize} bytes; the limit is ${UPLOAD_JSON_LIMIT} bytes (${UPLOAD_JSON_KEY})`);

    const streamed = await chunked(base, '/modules?name=big', Buffer.alloc(MODULE_LIMIT + 100_000));
    assert.equal(streamed.status, 413);
    assert.equal(streamed.body.error?.message, `module is over the limit of ${MODULE_LIMIT} bytes`);
  });

  test('regression (issue 15, item 12): Expect: 100-continue gets the 413 before the body is sent, and a 100 when it fits', async () => {
    const refused = await expectContinue(base, '/modules?name=big', 'application/wasm', Buffer.alloc(MODULE_LIMIT + 200_000));
    assert.equal(refused.continued, false, 'the server did not ask for the body');
    assert.equal(refused.status, 413);
    assert.equal(refused.body.error?.message, `module is ${MODULE_LIMIT + 200_000} bytes; the limit is ${MODULE_LIMIT} bytes`);

    const tooMuchJson = await expectContinue(base, '/keys', 'application/json', Buffer.alloc(BODY_LIMIT + 1, 0x20));
    assert.deepEqual([tooMuchJson.continued, tooMuchJson.status], [false, 413]);

    const fits = await expectContinue(base, '/modules?name=add', 'application/wasm', fixture('add'));
    assert.deepEqual([fits.continued, fits.status, fits.body.name], [true, 201, 'add']);
  });
});
