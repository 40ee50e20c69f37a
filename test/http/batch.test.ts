import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fixture, startApp, upload, type TestApp } from '../helper.js';

describe('batch runs and run stats', () => {
  let t: TestApp;
  const ids: Record<string, string> = {};
  const run = (name: string, payload: Record<string, unknown>, query = '') =>
    t.app.inject({ method: 'POST', url: `/modules/${ids[name]}/run${query}`, payload });

  before(async () => {
    // A second: the item taken back from behind a looping one has twice that to start on the other worker.
    t = await startApp({ runner: { timeout: 1000 }, limits: { max_batch: 50 } });
    for (const name of ['add', 'trap', 'grow-memory', 'loop-forever']) ids[name] = (await upload(t.app, name)).id;
  });
  after(async () => t.close());

  test('a batch answers every tuple in order', async () => {
    const batch = Array.from({ length: 50 }, (_, i) => [i, i * 2]);
    const res = await run('add', { function: 'add', batch });
    assert.equal(res.statusCode, 200);
    const body = res.json();
    assert.deepEqual(body.batch, batch.map(([a, b]) => ({ results: [a! + b!] })));
    assert.equal(body.stats.ok, 50);
    assert.equal(body.stats.failed, 0);
    assert.equal(body.stats.version, 1);
  });

  test('a failing item fails alone: traps and bad arguments', async () => {
    const res = await run('trap', { function: 'div', batch: [[6, 3], [1, 0], [7, 'x'], [9, 3]] });
    assert.equal(res.statusCode, 200);
    const items = res.json().batch;
    assert.deepEqual(items[0], { results: [2] });
    assert.equal(items[1].error.code, 'WASM_TRAP');
    assert.equal(items[1].error.message, 'integer divide by zero');
    assert.equal(items[2].error.code, 'INVALID_ARGUMENT');
    assert.match(items[2].error.message, /args\[1\]/);
    assert.deepEqual(items[3], { results: [3] });
    assert.equal(res.json().stats.failed, 2);
  });

  test('a looping item times out alone', async () => {
    const res = await run('loop-forever', { function: 'spin', batch: [[], []] });
    assert.equal(res.statusCode, 200);
    for (const item of res.json().batch) assert.equal(item.error.code, 'EXECUTION_TIMEOUT');
  });

  test('batch limits and shape are checked', async () => {
    const tooMany = await run('add', { function: 'add', batch: Array.from({ length: 51 }, () => [1, 1]) });
    assert.equal(tooMany.statusCode, 400);
    assert.match(tooMany.json().error.message, /at most 50/);
    assert.equal((await run('add', { function: 'add', batch: [1, 2] })).statusCode, 400);
    assert.equal((await run('add', { function: 'add', batch: [] })).statusCode, 400);
    assert.equal((await run('add', { function: 'add', args: [1, 2], batch: [[1, 2]] })).statusCode, 400);
  });

  test('stats report memory pages at the end of the call', async () => {
    const res = await run('grow-memory', { function: 'grow', args: [3] });
    assert.deepEqual(res.json().results, [1]);
    assert.equal(res.json().stats.memory_pages, 4);
    assert.equal(res.json().stats.compile_cached, true);
    const none = await run('add', { function: 'add', args: [1, 1] });
    assert.equal(none.json().stats.memory_pages, null);
  });

  test('?version= runs a pinned version', async () => {
    const mod = await upload(t.app, 'add');
    await t.app.inject({ method: 'PUT', url: `/modules/${mod.id}`, payload: { content: fixture('single-export').toString('base64') } });
    const pinned = await t.app.inject({ method: 'POST', url: `/modules/${mod.id}/run?version=1`, payload: { function: 'add', args: [2, 3] } });
    assert.deepEqual(pinned.json().results, [5]);
    assert.equal(pinned.json().stats.version, 1);
    const current = await t.app.inject({ method: 'POST', url: `/modules/${mod.id}/run`, payload: { args: [4] } });
    assert.deepEqual(current.json().results, [8]);
    assert.equal(current.json().stats.version, 2);
    const missing = await t.app.inject({ method: 'POST', url: `/modules/${mod.id}/run?version=9`, payload: { function: 'add', args: [1, 1] } });
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.json().error.code, 'VERSION_NOT_FOUND');
    const bad = await t.app.inject({ method: 'POST', url: `/modules/${mod.id}/run?version=abc`, payload: {} });
    assert.equal(bad.statusCode, 400);
  });
});
