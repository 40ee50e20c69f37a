import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Keyring } from '../../src/auth/keyring.js';
import { hashSecret, parseKey } from '../../src/auth/secrets.js';
import type { KeyRecord } from '../../src/auth/types.js';
import { EventBus } from '../../src/events.js';
import type { KeyStore } from '../../src/store/store.js';

const SECRET = 'keyring-test-secret-0123456789abcdef';

function record(id: string, presented: string): KeyRecord {
  const parsed = parseKey(presented);
  assert.ok(parsed);
  return { id, name: id, role: 'runner', tenant: 'acme', tier: null, modules: null, hash: hashSecret(SECRET, parsed), created_at: '2026-12-06T00:00:00.000Z', created_by: null, revoked_at: null };
}

/** A key store that counts its reads, holding what another node wrote. */
class CountingStore implements KeyStore {
  readonly records = new Map<string, KeyRecord>();
  reads = 0;
  async all(): Promise<KeyRecord[]> {
    return [];
  }
  async get(id: string): Promise<KeyRecord | undefined> {
    this.reads++;
    return this.records.get(id);
  }
}

const KEY = 'wess_abcdefabcdef_0123456789abcdefghijklmnopqrstuv';

describe('a keyring on a shared store', () => {
  let store: CountingStore;
  let keyring: Keyring;
  before(async () => {
    store = new CountingStore();
    keyring = await Keyring.load(store, new EventBus(), SECRET, true);
  });
  after(() => keyring.close());

  test('accepts a key another node stored before its event arrived, reading it once', async () => {
    const id = parseKey(KEY)?.id as string;
    store.records.set(id, record(id, KEY));
    assert.equal(keyring.authenticate(KEY).ok, false, 'not held yet');
    assert.equal(keyring.mayBeNew(KEY), true);
    const [a, b] = await Promise.all([keyring.authenticateFresh(KEY), keyring.authenticateFresh(KEY)]);
    assert.equal(a.ok && b.ok, true);
    assert.equal(store.reads, 1, 'one read for both requests');
    assert.equal(keyring.mayBeNew(KEY), false, 'held from now on');
  });

  test('a storm of made-up keys costs the store at most its lookup burst', async () => {
    const before = store.reads;
    for (let i = 0; i < 500; i++) {
      const fake = `wess_${String(i).padStart(12, '0')}_0123456789abcdefghijklmnopqrstuv`;
      assert.equal((await keyring.authenticateFresh(fake)).ok, false);
    }
    const reads = store.reads - before;
    assert.ok(reads <= 60, `${reads} reads for 500 made-up keys`);
    assert.ok(reads >= 1);
  });

  test('on a store of its own (LevelDB) nothing is ever looked up', async () => {
    const own = new CountingStore();
    const local = await Keyring.load(own, new EventBus(), SECRET, false);
    assert.equal(local.mayBeNew(KEY), false);
    assert.equal((await local.authenticateFresh(KEY)).ok, false);
    assert.equal(own.reads, 0);
    local.close();
  });
});
