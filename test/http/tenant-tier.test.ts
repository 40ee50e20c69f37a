/**
 * An admin acting in a tenant (an import, an upload with ?tenant=, a change to its module) is held
 * to that tenant's tier, unless it forces, which the audit log records.
 */
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { fixture, makeKey, startApp, type MadeKey, type TestApp } from '../helper.js';
import { constModule, paddedModule } from '../store/transfer-helper.js';

const NDJSON = { 'content-type': 'application/x-ndjson' };
const HEADER = JSON.stringify({ format: 'wess-export', version: 1, exported_at: new Date().toISOString(), tenant: null, modules_estimate: 0 });
const END = JSON.stringify({ format: 'wess-export-end', modules: 0 });
const WASM = { 'content-type': 'application/wasm' };

/** A module line as an export writes it: `bytes` as its only version, in `tenant`. */
function moduleLine(tenant: string, bytes: Uint8Array, id = randomUUID()): string {
  const now = new Date().toISOString();
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const version = { version: 1, name: 'n', sha256, size: bytes.length, created_at: now, content: Buffer.from(bytes).toString('base64') };
  return JSON.stringify({ id, tenant, name: 'n', version: 1, created_at: now, updated_at: now, versions: [version] });
}

interface Summary {
  imported: number;
  failed: Array<{ line: number; id: string; code: string; error: string }>;
  failed_count: number;
}

describe("an admin acting in a tenant gets the tenant's tier", () => {
  let t: TestApp;
  let dev: MadeKey;

  before(async () => {
    t = await startApp({
      runner: { max_memory: 64 * 65536 },
      tiers: { free: { max_module_size: 1024, max_memory: 2 * 65536, max_modules: 2, max_storage: 4096 } },
    });
    // The keys of tenant "small" are free-tier: that is what "small" may hold.
    dev = await makeKey(t.app, { name: 'small dev', role: 'developer', tenant: 'small', tier: 'free' });
  });
  after(() => t.close());

  type Entry = { action: string; target: string | null; details?: Record<string, unknown> };

  /** The audit entries of `action`, newest first, once there are `count` (a request's own entry lands just after its answer). */
  async function auditEntries(action: string, count: number): Promise<Entry[]> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const page = await t.app.inject({ url: '/audit?limit=100' });
      const entries = (page.json().items as Entry[]).filter((e) => e.action === action);
      if (entries.length >= count || Date.now() > deadline) return entries;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  test("regression (issue 15, item 9): an admin import into a free tenant of over-limit modules is refused with the tier's codes; forced, it is accepted and audited as forced", async () => {
    const big = paddedModule(1, 2000); // over free's 1024 bytes
    const wide = constModuleWithMemory(8); // 8 pages: over free's 2
    const lines = [moduleLine('small', big), moduleLine('small', wide), moduleLine('small', constModule(1)), moduleLine('small', constModule(2)), moduleLine('small', constModule(3))];
    const body = `${[HEADER, ...lines, END].join('\n')}\n`;
    const res = await t.app.inject({ method: 'POST', url: '/admin/import', headers: NDJSON, payload: body });
    assert.equal(res.statusCode, 200, res.body);
    const summary = res.json() as Summary;
    assert.equal(summary.imported, 2, 'two of the three small modules: the free tier allows 2');
    const byLine = new Map(summary.failed.map((f) => [f.line, f]));
    assert.equal(byLine.get(2)?.code, 'PAYLOAD_TOO_LARGE');
    assert.match(byLine.get(2)?.error ?? '', /the limit is 1024 bytes \(tier free\)/);
    assert.equal(byLine.get(3)?.code, 'MEMORY_LIMIT');
    assert.match(byLine.get(3)?.error ?? '', /tier free/);
    // Lines are admitted concurrently: whichever small module came third to the writer is the one refused.
    const third = summary.failed.filter((f) => f.line >= 4);
    assert.equal(third.length, 1);
    assert.equal(third[0]?.code, 'TIER_LIMIT');
    assert.match(third[0]?.error ?? '', /already has 2 modules; tier free allows 2/);
    for (const failure of summary.failed) assert.equal((await t.app.inject({ url: `/modules/${failure.id}` })).statusCode, 404, `line ${failure.line} stored nothing`);

    const forced = await t.app.inject({ method: 'POST', url: '/admin/import?force=true', headers: NDJSON, payload: body });
    assert.equal(forced.statusCode, 200, forced.body);
    assert.deepEqual(forced.json(), { imported: 3, skipped: 2, failed: [], failed_count: 0 });
    const imports = await auditEntries('store.import', 2);
    assert.equal(imports[0]?.details?.forced, true, 'the newest import says forced');
    assert.equal(imports[1]?.details?.forced, undefined, 'the first did not force');
    assert.equal((await t.app.inject({ url: '/modules?tenant=small&limit=100' })).json().items.length, 5);
  });

  test('regression (issue 15, item 9): an admin upload with ?tenant=free-tenant is held to the free tier; forced, it is accepted and audited', async () => {
    const big = paddedModule(2, 2000);
    const keyless = await t.app.inject({ method: 'POST', url: '/modules?name=big&tenant=small2', headers: WASM, payload: Buffer.from(big) });
    // small2 has no keys yet: it gets auth.default_tier, here none, so the global limits: accepted.
    assert.equal(keyless.statusCode, 201, keyless.body);
    await makeKey(t.app, { name: 'small2 runner', role: 'runner', tenant: 'small3', tier: 'free' });
    const tooBig = await t.app.inject({ method: 'POST', url: '/modules?name=big&tenant=small3', headers: WASM, payload: Buffer.from(big) });
    assert.equal(tooBig.statusCode, 413, tooBig.body);
    assert.equal(tooBig.json().error.code, 'PAYLOAD_TOO_LARGE');
    assert.match(tooBig.json().error.message, /the limit is 1024 bytes \(tier free\)/);
    const tooWide = await t.app.inject({ method: 'POST', url: '/modules?name=wide&tenant=small3', headers: WASM, payload: Buffer.from(constModuleWithMemory(8)) });
    assert.equal(tooWide.statusCode, 400);
    assert.equal(tooWide.json().error.code, 'MEMORY_LIMIT');

    const forced = await t.app.inject({ method: 'POST', url: '/modules?name=big&tenant=small3&force=true', headers: WASM, payload: Buffer.from(big) });
    assert.equal(forced.statusCode, 201, forced.body);
    const id = forced.json().id as string;
    const created = (await auditEntries('module.create', 1)).find((e) => e.target === id);
    assert.equal(created?.details?.forced, true);

    // A change to that tenant's module is held to its tier too.
    const update = await t.app.inject({ method: 'PUT', url: `/modules/${id}`, headers: WASM, payload: Buffer.from(paddedModule(3, 2000)) });
    assert.equal(update.statusCode, 413, update.body);
    const forcedUpdate = await t.app.inject({ method: 'PUT', url: `/modules/${id}?force=true`, headers: WASM, payload: Buffer.from(paddedModule(3, 2000)) });
    assert.equal(forcedUpdate.statusCode, 200, forcedUpdate.body);

    // Only admins force.
    const devForce = await t.app.inject({ method: 'POST', url: '/modules?name=x&force=true', headers: { ...WASM, authorization: `Bearer ${dev.key}` }, payload: Buffer.from(fixture('add')) });
    assert.equal(devForce.statusCode, 403);
    assert.equal(devForce.json().error.code, 'FORBIDDEN');
  });
});

/** constModule(0) with a memory section of `pages` initial pages. */
function constModuleWithMemory(pages: number): Uint8Array {
  const bytes = constModule(0);
  // The memory section (id 5) goes between the function (3) and export (7) sections.
  const at = bytes.indexOf(0x07, 8 + 7 + 4);
  return Uint8Array.from([...bytes.subarray(0, at), 0x05, 0x03, 0x01, 0x00, pages, ...bytes.subarray(at)]);
}
