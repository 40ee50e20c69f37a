import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StoreHealth } from '../../src/store/store-health.js';
import type { Damage, VerifyReport } from '../../src/store/types.js';

const report = (startedAt: string, damaged: Damage[] = []): VerifyReport => ({
  started_at: startedAt, finished_at: new Date().toISOString(), modules: 3, versions: 4, blobs: 3, bytes: 100, damaged,
});
const damage = (module_id: string, sha256: string): Damage => ({ module_id, version: 1, sha256, problem: 'damaged', message: 'x' });

describe('StoreHealth (/health store section)', () => {
  it('reports damage a read found until a verification that started later finds the store whole', () => {
    const health = new StoreHealth();
    assert.deepEqual(health.summary(), { status: 'ok', damaged_blobs: 0, damaged_modules: [], last_verify: null });
    health.noteDamaged('a'.repeat(64), 'm1');
    health.noteDamaged('a'.repeat(64), 'm1');
    assert.deepEqual(health.summary().damaged_modules, ['m1']);
    assert.equal(health.summary().damaged_blobs, 1);
    health.verified(report('1970-01-01T00:00:00.000Z'));
    assert.equal(health.summary().status, 'damaged', 'a verification that began before the read does not clear it');
    health.verified(report(new Date(Date.now() + 1000).toISOString()));
    const after = health.summary();
    assert.equal(after.status, 'ok');
    assert.equal(after.last_verify?.damaged, 0);
    assert.equal(after.last_verify?.versions, 4);
  });

  it("keeps a verification's findings, an unreadable version record included, and lists at most 20 modules", () => {
    const health = new StoreHealth();
    const found = Array.from({ length: 25 }, (_, i) => damage(`m${i}`, i.toString(16).padStart(64, '0')));
    found.push({ module_id: 'broken', version: 2, sha256: '', problem: 'unreadable', message: 'its version record cannot be read' });
    health.verified(report(new Date().toISOString(), found));
    const summary = health.summary();
    assert.equal(summary.status, 'damaged');
    assert.equal(summary.damaged_blobs, 26);
    assert.equal(summary.damaged_modules.length, 20);
    assert.equal(summary.last_verify?.damaged, 26);
  });
});
