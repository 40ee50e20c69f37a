/**
 * Two nodes on one PostgreSQL store: a route created, changed or deleted through one node is served
 * accordingly by the other, which hears of it through the shared event log (no store read per request).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { listen, startApp, TEST_STORE, wasiFixture, type TestApp } from '../helper.js';

const onPostgres = { skip: TEST_STORE === 'postgres' ? false : 'needs a store shared by two nodes: run with WESS_TEST_STORE=postgres' };

let dir: string;
let one: TestApp;
let two: TestApp;
let twoUrl: string;

/** Asks until the other node answers `status` (its event arrived); fails after 5 s. */
async function until(url: string, status: number): Promise<Response> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const res = await fetch(url, { redirect: 'manual' }).catch((err: Error) => assert.fail(`${url}: ${err.message} (${String((err as { cause?: unknown }).cause)})`));
    if (res.status === status) return res;
    await res.arrayBuffer();
    if (Date.now() > deadline) assert.fail(`${url} still answers ${res.status}, not ${status}, after 5 s`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

before(async () => {
  if (TEST_STORE !== 'postgres') return;
  dir = await mkdtemp(join(tmpdir(), 'wess-handlers-nodes-'));
  // The same data directory names the same test database: two nodes on one store.
  one = await startApp({}, dir);
  two = await startApp({}, dir);
  twoUrl = await listen(two.app);
});

after(async () => {
  await two?.close();
  await one?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('a route made on one node is served by another; its change and deletion follow', onPostgres, async () => {
  const upload = async (name: string) =>
    (await one.app.inject({ method: 'POST', url: '/modules', payload: { name, content: wasiFixture(name).toString('base64') } })).json<{ id: string }>().id;
  const hello = await upload('http-hello');
  const redirect = await upload('http-redirect');
  const made = await one.app.inject({ method: 'POST', url: '/routes', payload: { path: '/shared', module: hello, public: true } });
  assert.equal(made.statusCode, 201, made.body);
  const { id } = made.json<{ id: string }>();

  assert.equal(await (await until(`${twoUrl}/h/default/shared`, 200)).text(), 'hello, world\n');
  const listed = await two.app.inject({ method: 'GET', url: '/routes' });
  assert.ok(listed.json<{ items: Array<{ id: string }> }>().items.some((r) => r.id === id));

  const put = await one.app.inject({ method: 'PUT', url: `/routes/${id}`, payload: { path: '/shared', module: redirect, public: true } });
  assert.equal(put.statusCode, 200, put.body);
  await until(`${twoUrl}/h/default/shared`, 302);

  assert.equal((await one.app.inject({ method: 'DELETE', url: `/routes/${id}` })).statusCode, 204);
  await until(`${twoUrl}/h/default/shared`, 404);
});
