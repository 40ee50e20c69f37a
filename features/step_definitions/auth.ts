import assert from 'node:assert/strict';
import { Given, Then, When } from '@cucumber/cucumber';
import { fixture, TEST_ADMIN_KEY } from '../../test/helper.js';
import type { WessWorld } from '../support/world.js';

type CreatedKey = { id: string; key: string; tenant: string } & Record<string, unknown>;
type KeyList = { items: Record<string, unknown>[] };
type ModuleList = { items: { name: string }[] };

function keyNamed(world: WessWorld, name: string): { id: string; key: string; tenant: string } {
  const key = world.keys.get(name);
  if (!key) throw new Error(`no key "${name}" created in this scenario`);
  return key;
}

/** Creates a key as the test admin, whatever key the scenario is using now. */
async function createKey(world: WessWorld, role: string, name: string, tenant?: string): Promise<void> {
  const using = world.key;
  world.key = TEST_ADMIN_KEY;
  try {
    const res = await world.request('POST', '/keys', { name, role, ...(tenant ? { tenant } : {}) });
    if (res.status === 201) {
      const created = res.body as CreatedKey;
      world.keys.set(name, { id: created.id, key: created.key, tenant: created.tenant });
    }
  } finally {
    world.key = using;
  }
}

When('the admin creates a {word} key {string}', async function (this: WessWorld, role: string, name: string) {
  await createKey(this, role, name);
});

Given('the admin has created a {word} key {string}', async function (this: WessWorld, role: string, name: string) {
  await createKey(this, role, name);
  assert.equal(this.answer?.status, 201, this.answer?.text);
});

Given('the admin has created a {word} key {string} for tenant {string}', async function (this: WessWorld, role: string, name: string, tenant: string) {
  await createKey(this, role, name, tenant);
  assert.equal(this.answer?.status, 201, this.answer?.text);
  assert.equal((this.answer?.body as CreatedKey).tenant, tenant);
});

Given('{string} has uploaded the {string} module as {string}', async function (this: WessWorld, keyName: string, fixtureName: string, name: string) {
  const using = this.key;
  this.key = keyNamed(this, keyName).key;
  try {
    await this.request('POST', '/modules', { name, content: fixture(fixtureName).toString('base64') });
  } finally {
    this.key = using;
  }
  assert.equal(this.answer?.status, 201, this.answer?.text);
  this.modules.set(name, this.answer?.body as { id: string });
  this.current = name;
});

When('I use the key {string}', function (this: WessWorld, name: string) {
  this.key = keyNamed(this, name).key;
});

When('I use the admin key', function (this: WessWorld) {
  this.key = TEST_ADMIN_KEY;
});

When('I send no key', function (this: WessWorld) {
  this.key = undefined;
});

When('I list the keys', async function (this: WessWorld) {
  await this.request('GET', '/keys');
});

When('I revoke the key {string}', async function (this: WessWorld, name: string) {
  await this.request('DELETE', `/keys/${keyNamed(this, name).id}`);
});

When('I list the modules of tenant {string}', async function (this: WessWorld, tenant: string) {
  await this.request('GET', `/modules?tenant=${encodeURIComponent(tenant)}`);
});

Then('the answer holds the secret of {string}', function (this: WessWorld, name: string) {
  const body = this.answer?.body as CreatedKey;
  const key = keyNamed(this, name);
  assert.match(body.key, new RegExp(`^wess_${key.id}_`), 'the new key is wess_<id>_<secret>');
  assert.equal(this.answer?.headers.get('cache-control'), 'no-store');
  assert.equal(body.hash, undefined, 'the answer never carries the stored hash');
});

Then('the key {string} is listed without its secret', function (this: WessWorld, name: string) {
  const key = keyNamed(this, name);
  const listed = (this.answer?.body as KeyList).items.find((item) => item.id === key.id);
  assert.ok(listed, `key ${key.id} is not listed: ${this.answer?.text}`);
  assert.equal(listed.name, name);
  assert.equal(listed.key, undefined, 'a listed key has no secret');
  assert.equal(listed.hash, undefined, 'a listed key has no hash');
  const secret = key.key.slice(`wess_${key.id}_`.length);
  assert.ok(!this.answer?.text.includes(secret), 'the secret appears nowhere in the list');
});

Then('the listed modules are {string}', function (this: WessWorld, names: string) {
  assert.equal(this.answer?.status, 200, this.answer?.text);
  const listed = (this.answer?.body as ModuleList).items.map((item) => item.name).sort();
  assert.deepEqual(listed, names.split(',').map((n) => n.trim()).sort());
});
