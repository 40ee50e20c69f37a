import assert from 'node:assert/strict';
import { Given, Then, When } from '@cucumber/cucumber';
import { authHeaders, fixture } from '../../test/helper.js';
import { within } from '../../test/within.js';
import type { WessWorld } from '../support/world.js';

type Body = { error?: { code: string; message: string }; results?: unknown[] } & Record<string, unknown>;

Given('Wess runs with a call deadline of {int} ms', async function (this: WessWorld, ms: number) {
  await this.start({ runner: { timeout: ms } });
});

Given('Wess runs with a memory cap of {int} pages', async function (this: WessWorld, pages: number) {
  await this.start({ runner: { max_memory: pages * 65536 } });
});

Given('Wess allows {int} requests per minute', async function (this: WessWorld, max: number) {
  await this.start({ rate_limit: { max, window: 60_000 } });
});

async function uploadFixture(world: WessWorld, fixtureName: string, name: string): Promise<void> {
  const res = await world.request('POST', '/modules', { name, content: fixture(fixtureName).toString('base64') });
  if (res.status === 201) {
    world.modules.set(name, res.body as { id: string });
    world.current = name;
  }
}

Given('I have uploaded the {string} module as {string}', async function (this: WessWorld, fixtureName: string, name: string) {
  await uploadFixture(this, fixtureName, name);
  assert.equal(this.answer?.status, 201, this.answer?.text);
});

When('I upload the {string} module as {string}', async function (this: WessWorld, fixtureName: string, name: string) {
  await uploadFixture(this, fixtureName, name);
});

When('I upload the raw {string} module with name {string}', async function (this: WessWorld, fixtureName: string, name: string) {
  const res = await this.request('POST', `/modules?name=${encodeURIComponent(name)}`, fixture(fixtureName), { 'content-type': 'application/wasm' });
  if (res.status === 201) {
    this.modules.set(name, res.body as { id: string });
    this.current = name;
  }
});

When('I upload the bytes {string} as {string}', async function (this: WessWorld, text: string, name: string) {
  await this.request('POST', '/modules', { name, content: Buffer.from(text).toString('base64') });
});

When('I upload {int} bytes of zeros as {string}', async function (this: WessWorld, size: number, name: string) {
  await this.request('POST', `/modules?name=${encodeURIComponent(name)}`, new Uint8Array(size), { 'content-type': 'application/wasm' });
});

When('I replace {string} with the {string} module', async function (this: WessWorld, name: string, fixtureName: string) {
  await this.request('PUT', `/modules/${this.moduleId(name)}`, { content: fixture(fixtureName).toString('base64') });
});

When('I replace {string} with the bytes {string}', async function (this: WessWorld, name: string, text: string) {
  await this.request('PUT', `/modules/${this.moduleId(name)}`, { content: Buffer.from(text).toString('base64') });
});

When('I rename {string} to {string}', async function (this: WessWorld, name: string, newName: string) {
  await this.request('PUT', `/modules/${this.moduleId(name)}`, { name: newName });
});

When('I delete {string}', async function (this: WessWorld, name: string) {
  await this.request('DELETE', `/modules/${this.moduleId(name)}`);
});

When('I fetch {string}', async function (this: WessWorld, name: string) {
  await this.request('GET', `/modules/${this.moduleId(name)}`);
});

When('I download the content of {string}', async function (this: WessWorld, name: string) {
  await this.request('GET', `/modules/${this.moduleId(name)}/content`);
});

When('I list the modules', async function (this: WessWorld) {
  await this.request('GET', '/modules');
});

When('I call {string} on {string} with {}', async function (this: WessWorld, fn: string, name: string, args: string) {
  await this.request('POST', `/modules/${this.moduleId(name)}/run`, { function: fn, args: JSON.parse(args) as unknown });
});

When('I call {string} with {}', async function (this: WessWorld, name: string, args: string) {
  await this.request('POST', `/modules/${this.moduleId(name)}/run`, { args: JSON.parse(args) as unknown });
});

When('I call {string} on {string} while {int} other calls to {string} on {string} run', async function (
  this: WessWorld, fn: string, name: string, count: number, otherFn: string, other: string,
) {
  // Raced against 10 s: a deadline that never fires would otherwise hang the scenario, not fail it.
  const slow = within(this.request('POST', `/modules/${this.moduleId(name)}/run`, { function: fn, args: [] }), 10_000, `the call to "${fn}"`);
  const others = await Promise.all(Array.from({ length: count }, async (_, i) => {
    const res = await fetch(`${this.base}/modules/${this.moduleId(other)}/run`, {
      method: 'POST', headers: authHeaders({ 'content-type': 'application/json' }), body: JSON.stringify({ function: otherFn, args: [i, 1] }),
    });
    return { status: res.status, body: (await res.json()) as Body, i };
  }));
  for (const o of others) {
    assert.equal(o.status, 200);
    assert.deepEqual(o.body.results, [o.i + 1]);
  }
  await slow;
});

When('I scrape the metrics', async function (this: WessWorld) {
  await this.request('GET', '/metrics');
});

When('I ask whether Wess is ready', async function (this: WessWorld) {
  await this.request('GET', '/health/ready');
});

When('I send {int} requests to list the modules', async function (this: WessWorld, n: number) {
  for (let i = 0; i < n; i++) await this.request('GET', '/modules');
});

Then('the answer is {int}', function (this: WessWorld, status: number) {
  assert.equal(this.answer?.status, status, this.answer?.text);
});

Then('the error code is {string}', function (this: WessWorld, code: string) {
  const body = this.answer?.body as Body;
  assert.equal(body.error?.code, code, this.answer?.text);
  assert.ok((body.error?.message ?? '').length > 0);
});

Then('the error message mentions {string}', function (this: WessWorld, text: string) {
  const body = this.answer?.body as Body;
  assert.ok(body.error?.message.includes(text), `"${body.error?.message}" does not mention "${text}"`);
});

Then('the results are {}', function (this: WessWorld, json: string) {
  assert.equal(this.answer?.status, 200, this.answer?.text);
  assert.deepEqual((this.answer?.body as Body).results, JSON.parse(json));
});

Then('the module exports {string} taking {string} and returning {string}', function (this: WessWorld, fn: string, params: string, results: string) {
  const split = (s: string) => (s ? s.split(',').map((x) => x.trim()) : []);
  const exports = (this.answer?.body as { exports: { name: string; params: string[]; results: string[] }[] }).exports;
  assert.deepEqual(exports.find((e) => e.name === fn), { name: fn, params: split(params), results: split(results) });
});

Then('the module is at version {int}', function (this: WessWorld, version: number) {
  assert.equal((this.answer?.body as { version: number }).version, version);
});

Then('the module is named {string}', function (this: WessWorld, name: string) {
  assert.equal((this.answer?.body as { name: string }).name, name);
});

Then('the content is byte for byte the {string} module', function (this: WessWorld, fixtureName: string) {
  assert.equal(this.answer?.headers.get('content-type'), 'application/wasm');
  assert.deepEqual(this.answer?.bytes, fixture(fixtureName));
});

Then('the list holds {int} module(s)', function (this: WessWorld, count: number) {
  assert.equal((this.answer?.body as { items: unknown[] }).items.length, count);
});

Then('{int} worker(s) was/were replaced after a timeout and the pool is whole', async function (this: WessWorld, count: number) {
  const metrics = await (await fetch(`${this.base}/metrics`, { headers: authHeaders() })).text();
  assert.match(metrics, new RegExp(`^wess_worker_restarts_total\\{reason="timeout"\\} ${count}$`, 'm'));
  const health = (await (await fetch(`${this.base}/health`, { headers: authHeaders() })).json()) as { runner: { workers: number } };
  assert.equal(health.runner.workers, this.service?.app.services.config.server.workers);
});

Then('the metrics include {string}', function (this: WessWorld, series: string) {
  assert.ok(this.answer?.text.includes(series), `metrics lack ${series}`);
});

Then('the answer says to retry later', function (this: WessWorld) {
  assert.ok(Number(this.answer?.headers.get('retry-after')) > 0);
});
