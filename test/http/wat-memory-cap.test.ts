/**
 * WebAssembly text under a runner.max_memory too small for the text compiler: wabt is itself wasm,
 * and the runner's memory cap is process-wide (a V8 flag). Its own file: the compiler thread is
 * started once per process, and here it must start under the small cap.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { ROOT, fixture, startApp, type TestApp } from '../helper.js';

describe('regression (issue 15, item 17): text uploads where the text compiler cannot run', () => {
  let t: TestApp;
  before(async () => {
    // 16 pages (1 MiB): wabt needs more than 256 to start.
    t = await startApp({ runner: { max_memory: 16 * 65536 } });
  });
  after(async () => t.close());

  test('are 415 with what to do instead, and binaries still upload', async () => {
    const text = readFileSync(new URL('test/fixtures/wasm/add.wat', ROOT), 'utf8');
    for (let i = 0; i < 2; i++) {
      const res = await t.app.inject({ method: 'POST', url: '/modules?name=text', headers: { 'content-type': 'text/wat' }, payload: text });
      assert.equal(res.statusCode, 415, res.body);
      assert.equal(res.json().error.code, 'UNSUPPORTED_MEDIA_TYPE');
      assert.match(res.json().error.message, /^WebAssembly text cannot be compiled on this server \(.+\); compile it to a binary \(e\.g\. wat2wasm\) and upload that as application\/wasm$/);
    }
    const binary = await t.app.inject({ method: 'POST', url: '/modules?name=binary', headers: { 'content-type': 'application/wasm' }, payload: fixture('add') });
    assert.equal(binary.statusCode, 201, binary.body);
  });
});
