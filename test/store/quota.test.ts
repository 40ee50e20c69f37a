import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { encodeSchemaVersion } from '../../src/store/level/codec.js';
import { SCHEMA_KEY, tenantBytesRange } from '../../src/store/level/keys.js';
import { content, keysWithPrefix, openStore } from './helper.js';

test('regression (issue 15, item 4): a store written before byte counts (schema 4) is counted when it is opened', async () => {
  const store = await openStore();
  try {
    const expected = new Map<string, number>();
    const charge = (tenant: string, label: string) => expected.set(tenant, (expected.get(tenant) ?? 0) + content(label).content.byteLength);
    for (const [tenant, labels] of [['default', ['a', 'b', 'a']], ['acme', ['c']], ['acme', ['a', 'dd', 'eee']]] as const) {
      const id = randomUUID();
      await store.writer.submit({ kind: 'create-module', id, tenant, name: 'm', content: content(labels[0]) });
      charge(tenant, labels[0]);
      for (const label of labels.slice(1)) {
        await store.writer.submit({ kind: 'update-module', id, content: content(label) });
        charge(tenant, label);
      }
    }
    const gone = randomUUID();
    await store.writer.submit({ kind: 'create-module', id: gone, tenant: 'acme', name: 'gone', content: content('gone') });
    await store.writer.submit({ kind: 'delete-module', id: gone });
    for (const [tenant, bytes] of expected) assert.equal(await store.reader.tenantBytes(tenant), bytes, `${tenant}, as the writer counts`);

    // As a schema-4 store has it: no counts at all (and one stale count a cut-short migration might leave).
    const counts = await keysWithPrefix(store.db, tenantBytesRange().gt);
    assert.equal(counts.length, 2);
    await store.db.batch(
      [...counts.map((key) => ({ type: 'del' as const, key })), { type: 'put', key: SCHEMA_KEY, value: encodeSchemaVersion(4) }, { type: 'put', key: `${tenantBytesRange().gt}ghost`, value: encodeSchemaVersion(99) }],
      { sync: true },
    );
    await store.reopen();
    assert.equal(new TextDecoder().decode(await store.db.get(SCHEMA_KEY)), '6');
    for (const [tenant, bytes] of expected) assert.equal(await store.reader.tenantBytes(tenant), bytes, `${tenant}, as the migration counts`);
    assert.equal(await store.reader.tenantBytes('ghost'), 0);
  } finally {
    await store.close();
  }
});
