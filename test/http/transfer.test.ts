import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { fixture, startApp, upload, type TestApp } from '../helper.js';
import { constModule } from '../store/transfer-helper.js';

const NDJSON = { 'content-type': 'application/x-ndjson' };
const HEADER = JSON.stringify({ format: 'wess-export', version: 1, exported_at: new Date().toISOString(), tenant: null, modules_estimate: 0 });
const END = JSON.stringify({ format: 'wess-export-end', modules: 0 });

let t: TestApp;

before(async () => {
  // A node with a stricter module size than the 178-byte float-ops fixture.
  t = await startApp({ limits: { max_module_size: 150 } });
});

after(() => t.close());

/** A module line as an export writes it, for `bytes` (its sha256 and size are right unless overridden). */
function moduleLine(bytes: Uint8Array, overrides: Record<string, unknown> = {}): string {
  const now = new Date().toISOString();
  const version = { version: 1, name: 'n', sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length, created_at: now, content: Buffer.from(bytes).toString('base64'), ...overrides };
  return JSON.stringify({ id: randomUUID(), tenant: 'imported', name: 'n', version: 1, created_at: now, updated_at: now, versions: [version] });
}

test('bad lines are reported by line number; every good line is imported', async () => {
  const good = [moduleLine(constModule(1)), moduleLine(constModule(2)), moduleLine(constModule(3))];
  const lines = [
    HEADER,
    good[0],
    '{"id": oops',
    moduleLine(constModule(4), { sha256: 'a'.repeat(64) }),
    good[1],
    moduleLine(Buffer.from('definitely not wasm')),
    moduleLine(fixture('float-ops')),
    moduleLine(constModule(5), { size: 3 }),
    good[2],
    END,
  ];
  const res = await t.app.inject({ method: 'POST', url: '/admin/import', headers: NDJSON, payload: `${lines.join('\n')}\n` });
  assert.equal(res.statusCode, 200, res.body);
  const summary = res.json() as { imported: number; skipped: number; failed: Array<{ line: number; code: string; error: string }>; failed_count: number };
  assert.equal(summary.imported, 3);
  assert.equal(summary.skipped, 0);
  assert.equal(summary.failed_count, 5);
  const byLine = new Map(summary.failed.map((f) => [f.line, f]));
  assert.deepEqual([...byLine.keys()].sort((a, b) => a - b), [3, 4, 6, 7, 8]);
  assert.match(byLine.get(3)?.error ?? '', /not valid JSON/);
  assert.equal(byLine.get(4)?.code, 'VALIDATION');
  assert.match(byLine.get(4)?.error ?? '', /version 1: content hashes to sha256 [0-9a-f]{64}, not a{64}/);
  assert.equal(byLine.get(6)?.code, 'INVALID_WASM');
  assert.equal(byLine.get(7)?.code, 'PAYLOAD_TOO_LARGE');
  assert.match(byLine.get(7)?.error ?? '', /178 bytes; the limit is 150/);
  assert.match(byLine.get(8)?.error ?? '', /not 3 as the export says/);
  for (const line of good) {
    const { id } = JSON.parse(line) as { id: string };
    const got = await t.app.inject({ url: `/modules/${id}` });
    assert.equal(got.statusCode, 200);
    assert.equal(got.json().tenant, 'imported');
  }
});

test('an export cut off before its end line says so, and keeps what came before', async () => {
  const line = moduleLine(constModule(10));
  const res = await t.app.inject({ method: 'POST', url: '/admin/import', headers: NDJSON, payload: `${HEADER}\n${line}\n${line.slice(0, 40)}` });
  const summary = res.json() as { imported: number; failed: Array<{ line: number; error: string }> };
  assert.equal(summary.imported, 1);
  assert.deepEqual(summary.failed.map((f) => f.line), [3, 4]);
  assert.match(summary.failed[1]?.error ?? '', /cut off/);
});

test('an imported module keeps its history and runs; caches see it at once', async () => {
  const { id } = await upload(t.app, 'add');
  const exported = await t.app.inject({ url: '/admin/export?tenant=default' });
  const line = exported.body.split('\n').find((l) => l.includes(id)) as string;
  const moved = line.replaceAll(id, randomUUID());
  const newId = (JSON.parse(moved) as { id: string }).id;
  // Looked up first: whatever the reader keeps of that miss, the import's module.created event must clear.
  assert.equal((await t.app.inject({ url: `/modules/${newId}` })).statusCode, 404);
  const res = await t.app.inject({ method: 'POST', url: '/admin/import', headers: NDJSON, payload: `${HEADER}\n${moved}\n${END}\n` });
  assert.equal(res.json().imported, 1);
  const run = await t.app.inject({ method: 'POST', url: `/modules/${newId}/run`, payload: { function: 'add', args: [2, 3] } });
  assert.deepEqual(run.json().results, [5]);
});

test('bad requests to the admin routes are 4xx, never 5xx', async () => {
  const cases = [
    { method: 'POST', url: '/admin/import', headers: { 'content-type': 'application/json' }, payload: '{}', status: 415 },
    { method: 'POST', url: '/admin/import', headers: NDJSON, payload: '', status: 400 },
    { method: 'POST', url: '/admin/import', headers: NDJSON, payload: '{"format":"tar"}\n', status: 400 },
    { method: 'POST', url: '/admin/import', headers: NDJSON, payload: 'garbage\n', status: 400 },
    { method: 'POST', url: '/admin/import', headers: NDJSON, payload: '{"format":"wess-export","version":9}\n', status: 400 },
    { method: 'GET', url: '/admin/export?tenant=NO!', status: 400 },
    { method: 'GET', url: '/admin/export?bogus=1', status: 400 },
  ] as const;
  for (const c of cases) {
    const res = await t.app.inject({ method: c.method, url: c.url, headers: 'headers' in c ? c.headers : {}, payload: 'payload' in c ? c.payload : undefined });
    assert.equal(res.statusCode, c.status, `${c.method} ${c.url} ${'payload' in c ? c.payload : ''}: ${res.body}`);
  }
});
