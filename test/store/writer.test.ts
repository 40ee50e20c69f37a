import { randomUUID } from 'node:crypto';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger } from '../../src/logger.js';
import type { AuditEntry } from '../../src/auth/types.js';
import type { Db } from '../../src/store/level/db.js';
import { sha256Hex } from '../../src/hash.js';
import { AUDIT_LOG_PREFIX, auditKey, blobKey, refKey, SCHEMA_KEY } from '../../src/store/level/keys.js';
import type { ModuleRecord } from '../../src/store/types.js';
import { Writer } from '../../src/store/level/writer.js';
import { content, createModule, histogram, keysWithPrefix, openStore } from './helper.js';

describe('Writer', () => {
  it('group-commits concurrent writes into fewer batches than messages', async () => {
    const store = await openStore();
    try {
      const records = await Promise.all(Array.from({ length: 50 }, (_, i) => createModule(store, `m${i}`)));
      assert.equal(records.length, 50);
      const batches = await histogram(store.metrics.writerBatchSize);
      assert.equal(batches.sum, 50, 'every message was committed');
      assert.ok(batches.count < 50, `expected fewer than 50 batches, got ${batches.count}`);
      assert.deepEqual(store.writer.stats(), {
        accepting: true,
        queued: 0,
        queue_limit: 1000,
        batches: batches.count,
        modules: 50,
      });
    } finally {
      await store.close();
    }
  });

  it('splits a backlog of large modules into batches of at most 32 MiB of content', async () => {
    const store = await openStore();
    try {
      const big = (i: number) => {
        const bytes = new Uint8Array(4 * 1024 * 1024).fill(i);
        return { sha256: sha256Hex(bytes), content: bytes, exports: [], memory: null };
      };
      const writes = Array.from({ length: 12 }, (_, i) =>
        store.writer.submit({ kind: 'create-module', id: randomUUID(), tenant: 'default', name: `big${i}`, content: big(i) }),
      );
      assert.equal((await Promise.all(writes)).length, 12);
      assert.deepEqual(await histogram(store.metrics.writerBatchSize), { count: 2, sum: 12 }, '8 × 4 MiB, then 4');
    } finally {
      await store.close();
    }
  });

  it('keeps every acknowledged write after the database is closed and reopened', async () => {
    const store = await openStore();
    try {
      const created = await Promise.all(Array.from({ length: 20 }, (_, i) => createModule(store, `m${i}`)));
      const first = created[0]!;
      const updated = await store.writer.submit({ kind: 'update-module', id: first.id, name: 'renamed', content: content('v2') });
      const deleted = created[1]!;
      await store.writer.submit({ kind: 'delete-module', id: deleted.id });
      await store.reopen();
      assert.deepEqual(await store.reader.getModule(first.id), updated);
      assert.equal(await store.reader.getModule(deleted.id), undefined);
      for (const record of created.slice(2)) assert.deepEqual(await store.reader.getModule(record.id), record);
      assert.equal(store.writer.moduleCount, 19, 'the module count is rebuilt from the keys at open');
      assert.deepEqual(await store.reader.getContent(updated.sha256), content('v2').content);
    } finally {
      await store.close();
    }
  });

  it('writes schema version 5 at first open', async () => {
    const store = await openStore();
    try {
      assert.equal(new TextDecoder().decode(await store.db.get(SCHEMA_KEY)), '6');
    } finally {
      await store.close();
    }
  });

  it('stores shared content once and removes it with its last reference', async () => {
    const store = await openStore();
    try {
      const a = await createModule(store, 'a', 'same');
      const b = await createModule(store, 'b', 'same');
      assert.equal(a.sha256, b.sha256);
      assert.deepEqual(await keysWithPrefix(store.db, 'b!'), [blobKey(a.sha256)]);
      assert.equal((await keysWithPrefix(store.db, 'c!')).length, 1, 'one copy of the bytes');
      await store.writer.submit({ kind: 'delete-module', id: a.id });
      assert.ok(await store.db.has(blobKey(a.sha256)), 'b still references the blob');
      assert.deepEqual(await store.reader.getContent(a.sha256), content('same').content);
      await store.writer.submit({ kind: 'delete-module', id: b.id });
      assert.deepEqual(await keysWithPrefix(store.db, 'b!'), []);
      assert.deepEqual(await keysWithPrefix(store.db, 'c!'), [], 'the bytes go with their pointer');
      assert.deepEqual(await keysWithPrefix(store.db, 'r!'), []);
    } finally {
      await store.close();
    }
  });

  it('keeps the old blob while an old version still uses it', async () => {
    const store = await openStore();
    try {
      const a = await createModule(store, 'a', 'old');
      const b = await store.writer.submit({ kind: 'update-module', id: a.id, content: content('new') });
      assert.deepEqual(await keysWithPrefix(store.db, 'b!'), [blobKey(a.sha256), blobKey(b.sha256)].sort());
      assert.deepEqual(await keysWithPrefix(store.db, 'r!'), [refKey(a.sha256, a.id, 1), refKey(b.sha256, a.id, 2)].sort());
    } finally {
      await store.close();
    }
  });

  it('increments versions, keeps created_at and keeps the name when none is given', async () => {
    const store = await openStore();
    try {
      const v1 = await createModule(store, 'calc', 'one');
      assert.equal(v1.version, 1);
      assert.equal(v1.created_at, v1.updated_at);
      const v2 = await store.writer.submit({ kind: 'update-module', id: v1.id, content: content('two') });
      assert.equal(v2.version, 2);
      assert.equal(v2.name, 'calc');
      assert.equal(v2.created_at, v1.created_at);
      assert.ok(v2.updated_at >= v1.updated_at);
      const v3 = await store.writer.submit({ kind: 'update-module', id: v1.id, name: 'calc2', content: content('two') });
      assert.deepEqual([v3.version, v3.name], [3, 'calc2']);
    } finally {
      await store.close();
    }
  });

  it('applies messages of one batch in order on each other', async () => {
    const store = await openStore();
    try {
      const id = randomUUID();
      const [created, u1, u2, deleted] = await Promise.all([
        store.writer.submit({ kind: 'create-module', id, tenant: 'default', name: 'x', content: content('1') }),
        store.writer.submit({ kind: 'update-module', id, content: content('2') }),
        store.writer.submit({ kind: 'update-module', id, content: content('3') }),
        store.writer.submit({ kind: 'delete-module', id }),
      ]);
      assert.deepEqual([created.version, u1.version, u2.version, deleted.version], [1, 2, 3, 3]);
      assert.equal((await histogram(store.metrics.writerBatchSize)).count, 1, 'all four went in one batch');
      assert.equal(await store.reader.getModule(id), undefined);
      assert.deepEqual(await keysWithPrefix(store.db, 'b!'), [], 'no blob outlives the deleted module');
      assert.deepEqual(await keysWithPrefix(store.db, 'c!'), [], 'nor any bytes staged in the same batch');
      assert.deepEqual(await keysWithPrefix(store.db, 'v!'), [], 'nor any version staged in the same batch');
      assert.deepEqual(await keysWithPrefix(store.db, 'r!'), []);
      assert.equal(store.writer.moduleCount, 0);
    } finally {
      await store.close();
    }
  });

  it('rejects only the caller whose message fails; the rest of the batch commits', async () => {
    const store = await openStore();
    try {
      const missing = randomUUID();
      const results = await Promise.allSettled([
        createModule(store, 'ok1'),
        store.writer.submit({ kind: 'update-module', id: missing, content: content('x') }),
        store.writer.submit({ kind: 'delete-module', id: missing }),
        createModule(store, 'ok2'),
      ]);
      assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'rejected', 'fulfilled']);
      for (const r of results.filter((r) => r.status === 'rejected')) {
        assert.equal((r as PromiseRejectedResult).reason.code, 'MODULE_NOT_FOUND');
      }
      assert.deepEqual(await keysWithPrefix(store.db, 'b!'), [blobKey(content('ok1').sha256), blobKey(content('ok2').sha256)].sort());
      assert.equal((await keysWithPrefix(store.db, 'c!')).length, 2);
    } finally {
      await store.close();
    }
  });

  it('refuses content whose bytes do not match its sha256', async () => {
    const store = await openStore();
    try {
      const bad = { ...content('a'), sha256: content('b').sha256 };
      await assert.rejects(store.writer.submit({ kind: 'create-module', id: randomUUID(), tenant: 'default', name: 'bad', content: bad }), {
        code: 'INTERNAL',
      });
      assert.deepEqual(await keysWithPrefix(store.db, 'b!'), []);
      assert.deepEqual(await keysWithPrefix(store.db, 'c!'), []);
    } finally {
      await store.close();
    }
  });

  it('answers UNAVAILABLE at once when the queue is full', async () => {
    const store = await openStore({ queueLimit: 2 });
    try {
      // Submitted in one tick: the drain has not started, so the first two fill the queue.
      const results = await Promise.allSettled([1, 2, 3, 4].map((i) => createModule(store, `m${i}`)));
      assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'fulfilled', 'rejected', 'rejected']);
      const reason = (results[2] as PromiseRejectedResult).reason;
      assert.equal(reason.code, 'UNAVAILABLE');
      assert.equal(reason.message, 'write queue is full; retry shortly');
    } finally {
      await store.close();
    }
  });

  it('regression (issue 15, item 3): audit and usage writes fill at most half the queue, so a change still finds room', async () => {
    const store = await openStore({ queueLimit: 4 });
    const entry = (i: number): AuditEntry => ({
      id: `${String(i).padStart(15, '0')}-000000`, at: new Date().toISOString(), actor: null, tenant: null, action: 'auth.denied',
      target: 'GET /modules', request_id: `r${i}`, ip: '192.0.2.1', status: 403, outcome: 'failure',
    });
    try {
      // Submitted in one tick: the drain has not started, so all of these wait in the queue together.
      const housekeeping = [
        store.writer.submit({ kind: 'append-audit', entry: entry(1) }),
        store.writer.submit({ kind: 'put-usage', usage: [] }),
        store.writer.submit({ kind: 'append-audit', entry: entry(2) }),
        store.writer.submit({ kind: 'append-audit-batch', entries: [entry(3)] }),
      ];
      const changes = [createModule(store, 'a'), createModule(store, 'b'), createModule(store, 'c')];
      const [kept, made] = await Promise.all([Promise.allSettled(housekeeping), Promise.allSettled(changes)]);
      assert.deepEqual(kept.map((r) => r.status), ['fulfilled', 'fulfilled', 'rejected', 'rejected'], 'two housekeeping writes, half of 4');
      assert.equal((kept[2] as PromiseRejectedResult).reason.code, 'UNAVAILABLE');
      assert.deepEqual(made.map((r) => r.status), ['fulfilled', 'fulfilled', 'rejected'], 'the other half is the changes\'; then the queue is full');
      // Once drained, housekeeping has its room again.
      await store.writer.submit({ kind: 'append-audit', entry: entry(4) });
      assert.deepEqual(await keysWithPrefix(store.db, AUDIT_LOG_PREFIX), [auditKey(entry(1).id), auditKey(entry(4).id)]);
    } finally {
      await store.close();
    }
  });

  it('flushes queued writes on close and refuses new ones', async () => {
    const store = await openStore();
    try {
      const pending = Array.from({ length: 10 }, (_, i) => createModule(store, `m${i}`));
      await store.writer.close();
      const records = await Promise.all(pending);
      assert.equal(records.length, 10);
      await assert.rejects(createModule(store, 'late'), { code: 'UNAVAILABLE' });
      await store.reopen();
      for (const record of records) assert.deepEqual(await store.reader.getModule(record.id), record);
    } finally {
      await store.close();
    }
  });

  it('emits events after the batch is durable and before callers are answered', async () => {
    const store = await openStore();
    try {
      const seen: string[] = [];
      store.bus.on('module.created', (e) => seen.push(`created v${e.version}`));
      store.bus.on('module.updated', (e) => seen.push(`updated v${e.version} from ${e.previous_sha256.slice(0, 4)}`));
      store.bus.on('module.deleted', () => seen.push('deleted'));
      const created = await createModule(store, 'e', 'one');
      assert.deepEqual(seen, ['created v1'], 'the event came before the answer');
      await store.writer.submit({ kind: 'update-module', id: created.id, content: content('two') });
      await store.writer.submit({ kind: 'delete-module', id: created.id });
      assert.deepEqual(seen, ['created v1', `updated v2 from ${created.sha256.slice(0, 4)}`, 'deleted']);
    } finally {
      await store.close();
    }
  });

  it('still answers a durable write when an event listener throws', async () => {
    const store = await openStore();
    try {
      store.bus.on('module.created', () => {
        throw new Error('listener bug');
      });
      const record: ModuleRecord = await createModule(store, 'x');
      assert.equal(record.version, 1);
    } finally {
      await store.close();
    }
  });

  it('rejects every caller of a batch whose write fails, as INTERNAL, and announces nothing', async () => {
    const store = await openStore();
    try {
      // Fault injection over the real database: reads work, the batch write fails.
      const db = store.db;
      const failing: Db = {
        get status() {
          return db.status;
        },
        get: (key) => db.get(key),
        has: (key) => db.has(key),
        entries: (range) => db.entries(range),
        keys: (range) => db.keys(range),
        snapshot: () => db.snapshot(),
        close: () => db.close(),
        batch: async () => Promise.reject(new Error('disk full')),
      };
      const writer = await Writer.start({
        db: failing,
        queueLimit: 10,
        bus: store.bus,
        metrics: store.metrics,
        logger: createLogger('silent'),
      });
      let announced = 0;
      store.bus.on('module.created', () => announced++);
      const results = await Promise.allSettled([
        writer.submit({ kind: 'create-module', id: randomUUID(), tenant: 'default', name: 'a', content: content('a') }),
        writer.submit({ kind: 'create-module', id: randomUUID(), tenant: 'default', name: 'b', content: content('b') }),
      ]);
      for (const r of results) {
        assert.equal(r.status, 'rejected');
        assert.equal((r as PromiseRejectedResult).reason.code, 'INTERNAL');
      }
      assert.equal(announced, 0);
      assert.deepEqual(await keysWithPrefix(store.db, 'm!'), []);
      await writer.close();
    } finally {
      await store.close();
    }
  });

  it('answers UNAVAILABLE when the database was closed under it', async () => {
    const store = await openStore();
    try {
      await store.db.close();
      await assert.rejects(createModule(store, 'a'), { code: 'UNAVAILABLE' });
    } finally {
      await store.close();
    }
  });
});
