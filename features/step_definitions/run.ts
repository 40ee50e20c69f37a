import assert from 'node:assert/strict';
import { Given, Then, When } from '@cucumber/cucumber';
import { wasiFixture } from '../../test/helper.js';
import type { WessWorld } from '../support/world.js';

type RunAnswer = {
  exit_code?: number;
  stdout?: string;
  stderr?: string;
  batch?: ({ results: unknown[] } | { error: { code: string } })[];
  stats?: Record<string, unknown>;
};

/** Gherkin strings keep `\n` as two characters; the program's output has real newlines. */
const unescape = (text: string) => text.replace(/\\n/g, '\n');

Given('I have uploaded the WASI program {string} as {string}', async function (this: WessWorld, program: string, name: string) {
  const res = await this.request('POST', '/modules', { name, content: wasiFixture(program).toString('base64') });
  assert.equal(res.status, 201, res.text);
  this.modules.set(name, res.body as { id: string });
});

When('I run {string} with the arguments {string} and the environment {string}', async function (
  this: WessWorld, name: string, args: string, env: string,
) {
  const environment = Object.fromEntries(env ? env.split(' ').map((pair) => pair.split('=') as [string, string]) : []);
  await this.request('POST', `/modules/${this.moduleId(name)}/run`, { args: args ? args.split(' ') : [], env: environment });
});

When('I run {string} with the stdin {string}', async function (this: WessWorld, name: string, stdin: string) {
  await this.request('POST', `/modules/${this.moduleId(name)}/run`, { stdin: unescape(stdin) });
});

When('I send {string} to {string} as the batch {}', async function (this: WessWorld, fn: string, name: string, batch: string) {
  await this.request('POST', `/modules/${this.moduleId(name)}/run`, { function: fn, batch: JSON.parse(batch) as unknown });
});

Then('the program exits with {int}', function (this: WessWorld, code: number) {
  assert.equal(this.answer?.status, 200, this.answer?.text);
  assert.equal((this.answer?.body as RunAnswer).exit_code, code);
});

Then('its stdout is {string}', function (this: WessWorld, text: string) {
  assert.equal((this.answer?.body as RunAnswer).stdout, unescape(text));
});

Then('its stderr is {string}', function (this: WessWorld, text: string) {
  assert.equal((this.answer?.body as RunAnswer).stderr, unescape(text));
});

Then('the batch answers {}', function (this: WessWorld, list: string) {
  assert.equal(this.answer?.status, 200, this.answer?.text);
  const expected = list.split(/,\s*(?![^[]*\])/).map((item) => item.trim());
  const got = (this.answer?.body as RunAnswer).batch ?? [];
  assert.equal(got.length, expected.length);
  expected.forEach((want, i) => {
    const item = got[i];
    if (want.startsWith('[')) assert.deepEqual(item, { results: JSON.parse(want) as unknown[] });
    else assert.equal(item && 'error' in item ? item.error.code : undefined, want);
  });
});

Then('the stats say memory_pages is {int} and version is {int}', function (this: WessWorld, pages: number, version: number) {
  const stats = (this.answer?.body as RunAnswer).stats ?? {};
  assert.equal(stats.memory_pages, pages);
  assert.equal(stats.version, version);
  assert.equal(typeof stats.duration_ms, 'number');
  assert.equal(typeof stats.compile_cached, 'boolean');
});
