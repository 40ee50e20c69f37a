import assert from 'node:assert/strict';
import { Given, Then, When } from '@cucumber/cucumber';
import { authHeaders, fixture } from '../../test/helper.js';
import type { WessWorld } from '../support/world.js';

/** Statuses of requests sent together, for the concurrency scenario. */
type RacingWorld = WessWorld & { racing?: number[] };

const b64 = (name: string): string => fixture(name).toString('base64');

Given('I have replaced {string} with the {string} module', async function (this: WessWorld, name: string, fixtureName: string) {
  await this.request('PUT', `/modules/${this.moduleId(name)}`, { content: b64(fixtureName) });
  assert.equal(this.answer?.status, 200, this.answer?.text);
});

When('I list the versions of {string}', async function (this: WessWorld, name: string) {
  await this.request('GET', `/modules/${this.moduleId(name)}/versions`);
});

When('I fetch version {int} of {string}', async function (this: WessWorld, version: number, name: string) {
  await this.request('GET', `/modules/${this.moduleId(name)}/versions/${version}`);
});

When('I download version {int} of {string}', async function (this: WessWorld, version: number, name: string) {
  await this.request('GET', `/modules/${this.moduleId(name)}/versions/${version}/content`);
});

When('I roll {string} back to version {int}', async function (this: WessWorld, name: string, version: number) {
  await this.request('POST', `/modules/${this.moduleId(name)}/rollback`, { version });
});

When('I replace {string} with the {string} module, expecting version {int}', async function (
  this: WessWorld, name: string, fixtureName: string, expected: number,
) {
  await this.request('PUT', `/modules/${this.moduleId(name)}`, { content: b64(fixtureName) }, { 'if-match': `"${expected}"` });
});

When('I delete {string}, expecting version {int}', async function (this: WessWorld, name: string, expected: number) {
  await this.request('DELETE', `/modules/${this.moduleId(name)}`, undefined, { 'if-match': `"${expected}"` });
});

When('two clients replace {string} at the same time, both expecting version {int}', async function (
  this: RacingWorld, name: string, expected: number,
) {
  const send = (fixtureName: string) =>
    fetch(`${this.base}/modules/${this.moduleId(name)}`, {
      method: 'PUT',
      headers: authHeaders({ 'content-type': 'application/json', 'if-match': `"${expected}"` }),
      body: JSON.stringify({ content: b64(fixtureName) }),
    });
  const answers = await Promise.all([send('add'), send('add-i64')]);
  this.racing = answers.map((res) => res.status);
  await Promise.all(answers.map((res) => res.arrayBuffer()));
});

Then('one of them gets {int} and the other {int}', function (this: RacingWorld, won: number, lost: number) {
  assert.deepEqual([...(this.racing ?? [])].sort(), [won, lost].sort());
});

Then('the history lists versions {}', function (this: WessWorld, list: string) {
  const items = (this.answer?.body as { items: { version: number }[] }).items;
  assert.deepEqual(items.map((v) => v.version), list.split(',').map((n) => Number(n.trim())));
});

Then('the answer carries the ETag {string}', function (this: WessWorld, version: string) {
  assert.equal(this.answer?.headers.get('etag'), `"${version}"`);
});
