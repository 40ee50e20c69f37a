import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Keyring } from '../../src/auth/keyring.js';
import { principalOf } from '../../src/auth/policy.js';
import { hashSecret, parseKey } from '../../src/auth/secrets.js';
import type { KeyRecord } from '../../src/auth/types.js';
import { EventBus } from '../../src/events.js';
import type { KeyStore } from '../../src/store/store.js';

const SECRET = 'keyring-test-secret-0123456789abcdef';
const KEY = 'wess_abcdefabcdef_0123456789abcdefghijklmnopqrstuv';
const OTHER_SECRET = 'wess_abcdefabcdef_ZZZZZZZZZZabcdefghijklmnopqrstuv';

function record(presented: string, changes: Partial<KeyRecord> = {}): KeyRecord {
  const parsed = parseKey(presented);
  assert.ok(parsed);
  return { id: parsed.id, name: 'k', role: 'runner', tenant: 'acme', tier: null, modules: ['m1'], hash: hashSecret(SECRET, parsed), created_at: '2026-12-06T00:00:00.000Z', created_by: null, revoked_at: null, ...changes };
}

const store = (keys: KeyRecord[]): KeyStore => ({ all: async () => keys, get: async () => undefined });

test('a key verified once is still checked against its current record on every request', async () => {
  const bus = new EventBus();
  const keyring = await Keyring.load(store([record(KEY)]), bus, SECRET);
  const first = keyring.authenticate(KEY);
  assert.ok(first.ok);
  assert.equal(keyring.authenticate(KEY), first, 'the same answer for the same record (no allocation per request)');
  assert.equal(principalOf(first.key), principalOf(first.key), 'one principal per record');
  assert.deepEqual([...(principalOf(first.key).modules ?? [])], ['m1']);
  assert.deepEqual(keyring.authenticate(OTHER_SECRET), { ok: false, reason: 'invalid' }, 'the right id with a wrong secret');
  // Revoked: the very next request is refused, though the presented key was verified before.
  bus.emit('key.revoked', { id: 'abcdefabcdef', tenant: 'acme', key: record(KEY, { revoked_at: '2026-12-07T00:00:00.000Z' }) });
  assert.deepEqual(keyring.authenticate(KEY), { ok: false, reason: 'revoked' });
  // A record with another hash (the same id made again): the remembered verification no longer applies.
  bus.emit('key.stored', { id: 'abcdefabcdef', tenant: 'acme', key: { ...record(OTHER_SECRET), tier: 'gold' } });
  assert.deepEqual(keyring.authenticate(KEY), { ok: false, reason: 'invalid' });
  const other = keyring.authenticate(OTHER_SECRET);
  assert.ok(other.ok);
  assert.equal(principalOf(other.key).tier, 'gold', 'a changed record gets its own principal');
  keyring.close();
});

test("a tenant's tiers follow its keys: added, revoked, changed", async () => {
  const bus = new EventBus();
  const SECOND = 'wess_bcdefabcdefa_0123456789abcdefghijklmnopqrstuv';
  const keyring = await Keyring.load(store([record(KEY, { tier: 'free' }), record(SECOND, { tier: 'free', tenant: 'other' })]), bus, SECRET);
  assert.deepEqual(keyring.tiersOf('acme'), ['free']);
  assert.equal(keyring.tiersOf('acme'), keyring.tiersOf('acme'), 'worked out once, not per request');
  assert.deepEqual(keyring.tiersOf('nobody'), []);
  const THIRD = 'wess_cdefabcdefab_0123456789abcdefghijklmnopqrstuv';
  bus.emit('key.stored', { id: 'cdefabcdefab', tenant: 'acme', key: record(THIRD, { tier: 'pro' }) });
  assert.deepEqual([...keyring.tiersOf('acme')].sort(), ['free', 'pro']);
  bus.emit('key.revoked', { id: 'abcdefabcdef', tenant: 'acme', key: record(KEY, { tier: 'free', revoked_at: '2026-12-07T00:00:00.000Z' }) });
  assert.deepEqual(keyring.tiersOf('acme'), ['pro'], 'a revoked key no longer counts');
  assert.deepEqual(keyring.tiersOf('other'), ['free']);
  keyring.close();
});
