import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { GuestOutput } from '../../src/observability/guest-output.js';
import { CALLS_PER_WRITE, recordOf } from '../../src/observability/invocation-log.js';
import { runNote, noteAnswer } from '../../src/observability/run-note.js';
import type { InvocationRecord } from '../../src/store/types.js';
import { authHeaders, makeKey, startApp, upload, wasiFixture, type MadeKey, type TestApp } from '../helper.js';

interface Page {
  items: InvocationRecord[];
  next_cursor: string | null;
}

const digest = (value: unknown) => createHash('sha256').update(JSON.stringify(value)).digest('hex');

describe('the invocation log', () => {
  let t: TestApp;
  const ids: Record<string, string> = {};
  let developer: MadeKey;
  let runner: MadeKey;
  let other: MadeKey;

  const run = (name: string, payload: Record<string, unknown>, headers: Record<string, string> = {}) =>
    t.app.inject({ method: 'POST', url: `/modules/${ids[name]}/run`, payload, headers: authHeaders(headers) });
  const invocations = async (name: string, query = '', key?: string): Promise<{ status: number; page: Page }> => {
    const res = await t.app.inject({ method: 'GET', url: `/modules/${ids[name]}/invocations${query}`, headers: key ? authHeaders({}, key) : authHeaders() });
    return { status: res.statusCode, page: res.json() as Page };
  };

  before(async () => {
    t = await startApp({ runner: { timeout: 1000 }, observability: { invocations_kept: 5 } });
    for (const name of ['add', 'trap', 'busy', 'loop-forever', 'grow-memory']) ids[name] = (await upload(t.app, name)).id;
    ids.exit = (await upload(t.app, 'exit', wasiFixture('exit'))).id;
    developer = await makeKey(t.app, { name: 'dev', role: 'developer', tenant: 'default' });
    runner = await makeKey(t.app, { name: 'runner', role: 'runner', tenant: 'default' });
    other = await makeKey(t.app, { name: 'other', role: 'developer', tenant: 'other' });
  });
  after(async () => t.close());

  test('a success: request id, caller trace id, key, version, export, digest of the arguments, status and stats', async () => {
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    const res = await run('add', { function: 'add', args: [2, 3] }, { traceparent: `00-${traceId}-b7ad6b7169203331-01` });
    assert.equal(res.statusCode, 200);
    const { status, page } = await invocations('add');
    assert.equal(status, 200);
    const call = page.items[0] as InvocationRecord;
    assert.equal(call.request_id, res.headers['x-request-id']);
    assert.equal(call.trace_id, traceId, 'recorded with tracing off');
    assert.equal(typeof call.key_id, 'string');
    assert.equal(call.version, 1);
    assert.equal(call.function, 'add');
    assert.equal(call.route, null);
    assert.equal(call.args_digest, digest([2, 3]));
    assert.equal(call.args, undefined, 'arguments are not kept unless the tenant asks');
    assert.equal(call.status, 200);
    assert.equal(call.code, null);
    assert.equal(call.stats.calls, 1);
    for (const field of ['duration_ms', 'queued_ms', 'cpu_ms'] as const) assert.equal(typeof call.stats[field], 'number');
    assert.ok(Date.parse(call.time) <= Date.now());
  });

  test("stats hold the call's memory: its pages at the end (null for a module without memory)", async () => {
    assert.equal((await run('add', { function: 'add', args: [1, 2] })).statusCode, 200);
    assert.equal(((await invocations('add')).page.items[0] as InvocationRecord).stats.memory_pages, null);
    const res = await run('grow-memory', { function: 'grow', args: [2] });
    assert.equal(res.statusCode, 200, res.body);
    const call = (await invocations('grow-memory')).page.items[0] as InvocationRecord;
    assert.equal(call.request_id, res.headers['x-request-id']);
    assert.equal(call.stats.memory_pages, 3, 'one page and two grown');
  });

  test('a trap, a timeout and a fuel exhaustion, each with its code and status', async () => {
    const trap = await run('trap', { function: 'unreachable' });
    const timeout = await run('loop-forever', { function: 'spin', timeout_ms: 200 });
    const fuel = await run('busy', { function: 'busy', args: [1_000_000], fuel: 1000 });
    const cases: Array<[string, typeof trap, string]> = [['trap', trap, 'WASM_TRAP'], ['loop-forever', timeout, 'EXECUTION_TIMEOUT'], ['busy', fuel, 'FUEL_EXHAUSTED']];
    for (const [name, res, code] of cases) {
      assert.equal(res.json().error.code, code);
      const call = (await invocations(name)).page.items[0] as InvocationRecord;
      assert.equal(call.request_id, res.headers['x-request-id']);
      assert.equal(call.code, code, name);
      assert.equal(call.status, res.statusCode, name);
      assert.equal(call.stats.calls, 1, `${name} ran`);
    }
    const exhausted = (await invocations('busy')).page.items[0] as InvocationRecord;
    assert.equal(exhausted.stats.fuel_used, 1000, 'all the fuel it was given');
    const timedOut = (await invocations('loop-forever')).page.items[0] as InvocationRecord;
    assert.ok(timedOut.stats.duration_ms >= 100, `ran until its deadline: ${timedOut.stats.duration_ms} ms`);
  });

  test("a WASI program's stderr is kept with its call", async () => {
    const res = await run('exit', { args: ['3'] });
    assert.equal(res.statusCode, 200, res.body);
    const call = (await invocations('exit')).page.items[0] as InvocationRecord;
    assert.equal(call.function, '_start');
    assert.equal(call.stderr, 'exiting with 3\n');
    assert.equal(call.args_digest, digest(['3']), 'the digest of the program\'s args');
    const logged = t.logs.filter((l) => l.msg === 'guest stderr' && l.request_id === res.headers['x-request-id']);
    assert.deepEqual(logged.map((l) => [l.line, l.module_id, l.version, l.tenant]), [['exiting with 3', ids.exit, 1, 'default']]);
  });

  test('the log keeps the last observability.invocations_kept calls of a module, across writes', async () => {
    const sent: string[] = [];
    for (let i = 0; i < 7; i++) sent.push(String((await run('add', { function: 'add', args: [i, 1] })).headers['x-request-id']));
    // Seven calls before one write: the module's ring went round, and its five newest are kept in order.
    assert.deepEqual((await invocations('add', '?limit=200')).page.items.map((c) => c.request_id), sent.slice(2).reverse());
    for (let i = 7; i < 12; i++) sent.push(String((await run('add', { function: 'add', args: [i, 1] })).headers['x-request-id']));
    const { page } = await invocations('add', '?limit=200');
    assert.deepEqual(page.items.map((c) => c.request_id), sent.slice(-5).reverse(), 'the five newest, newest first');
    const seqs = page.items.map((c) => c.seq);
    assert.deepEqual(seqs, [...seqs].sort((a, b) => b - a));
    assert.equal(page.next_cursor, null);
  });

  test('pages, and filters by outcome and time', async () => {
    const first = await invocations('add', '?limit=2');
    assert.equal(first.page.items.length, 2);
    assert.ok(first.page.next_cursor);
    const second = await invocations('add', `?limit=2&cursor=${first.page.next_cursor}`);
    assert.equal(second.page.items.length, 2);
    assert.ok((second.page.items[0] as InvocationRecord).seq < (first.page.items[1] as InvocationRecord).seq);
    await run('add', { function: 'add', args: [1] });
    const errors = await invocations('add', '?status=error');
    assert.ok(errors.page.items.length >= 1);
    assert.ok(errors.page.items.every((c) => c.code !== null));
    assert.ok((await invocations('add', '?status=ok')).page.items.every((c) => c.code === null));
    const future = new Date(Date.now() + 60_000).toISOString();
    assert.deepEqual((await invocations('add', `?since=${future}`)).page.items, []);
    assert.equal((await invocations('add', '?since=yesterday')).status, 400);
    assert.equal((await invocations('add', '?status=maybe')).status, 400);
  });

  test("another tenant's key cannot read the log: the module does not exist for it", async () => {
    const { status, page } = await invocations('add', '', other.key);
    assert.equal(status, 404);
    assert.equal((page as unknown as { error: { code: string } }).error.code, 'MODULE_NOT_FOUND');
  });

  test('capture_args: a developer turns it on for its tenant, and calls from then on keep their arguments', async () => {
    const refused = await t.app.inject({ method: 'PUT', url: '/settings', payload: { capture_args: true }, headers: authHeaders({}, runner.key) });
    assert.equal(refused.statusCode, 403);
    const before = await t.app.inject({ method: 'GET', url: '/settings', headers: authHeaders({}, runner.key) });
    assert.deepEqual(before.json(), { tenant: 'default', capture_args: false, updated_at: null });
    const set = await t.app.inject({ method: 'PUT', url: '/settings', payload: { capture_args: true }, headers: authHeaders({}, developer.key) });
    assert.equal(set.statusCode, 200, set.body);
    assert.equal(set.json().capture_args, true);
    await run('add', { function: 'add', args: [40, 2] });
    const call = (await invocations('add')).page.items[0] as InvocationRecord;
    assert.deepEqual(call.args, [40, 2]);
    // Another tenant's setting is its own.
    assert.equal((await t.app.inject({ method: 'GET', url: '/settings', headers: authHeaders({}, other.key) })).json().capture_args, false);
    const cross = await t.app.inject({ method: 'PUT', url: '/settings', payload: { capture_args: true, tenant: 'default' }, headers: authHeaders({}, other.key) });
    assert.equal(cross.statusCode, 403);
    const audit = await t.app.inject({ method: 'GET', url: '/audit?limit=100' });
    assert.ok((audit.json().items as Array<{ action: string }>).some((e) => e.action === 'tenant.settings'), 'the change is audited');
    await t.app.inject({ method: 'PUT', url: '/settings', payload: { capture_args: false }, headers: authHeaders({}, developer.key) });
  });

  test("a deleted module's log goes with it", async () => {
    const { id } = await upload(t.app, 'add');
    await t.app.inject({ method: 'POST', url: `/modules/${id}/run`, payload: { function: 'add', args: [1, 1] } });
    await t.app.services.invocations.flush();
    assert.equal((await t.app.services.store.invocations.page(id, { limit: 10 })).items.length, 1);
    assert.equal((await t.app.inject({ method: 'DELETE', url: `/modules/${id}` })).statusCode, 204);
    assert.deepEqual((await t.app.services.store.invocations.page(id, { limit: 10 })).items, []);
  });
});

describe('a flush of many calls', () => {
  test('is written in parts of CALLS_PER_WRITE calls, in order, and calls arriving meanwhile wait for the next flush', async () => {
    const t = await startApp({ observability: { invocations_kept: 1000 } });
    try {
      const { id } = await upload(t.app, 'add');
      const { invocations: log, store } = t.app.services;
      const writes: number[] = [];
      const submit = store.writer.submit.bind(store.writer);
      const calls = 2 * CALLS_PER_WRITE + 50;
      store.writer.submit = ((msg: Parameters<typeof submit>[0]) => {
        if (msg.kind !== 'append-invocations') return submit(msg);
        writes.push(msg.modules.reduce((n, m) => n + m.records.length, 0));
        // Calls made while the flush writes go to fresh slots: none of the flushed ones is overwritten.
        if (writes.length === 1) for (let i = calls; i < calls + 10; i++) call(i);
        return submit(msg);
      }) as typeof store.writer.submit;
      const call = (i: number): void => {
        const note = runNote({ id, tenant: 'default', version: 1 }, 'add', [i, 1]);
        noteAnswer(note, [{ durationMs: 0.1, cpuMs: 0.1, queuedMs: 0 }], true);
        log.record(id, { at: Date.now(), requestId: `call-${i}`, traceId: null, keyId: null, status: 200, code: null, note, capture: false });
      };
      for (let i = 0; i < calls; i++) call(i);
      await log.flush();
      assert.deepEqual(writes, [CALLS_PER_WRITE, CALLS_PER_WRITE, 50]);
      await log.flush();
      assert.deepEqual(writes, [CALLS_PER_WRITE, CALLS_PER_WRITE, 50, 10]);
      const ids: string[] = [];
      const seqs: number[] = [];
      for (let cursor: number | undefined; ; ) {
        const page = await store.invocations.page(id, { limit: 200, before: cursor });
        ids.push(...page.items.map((c) => c.request_id));
        seqs.push(...page.items.map((c) => c.seq));
        if (page.next_cursor === null) break;
        cursor = Number(page.next_cursor);
      }
      assert.deepEqual(ids, Array.from({ length: calls + 10 }, (_, i) => `call-${calls + 9 - i}`), 'every call, newest first');
      assert.deepEqual(seqs, Array.from({ length: calls + 10 }, (_, i) => calls + 10 - i), 'numbered one after another across the writes');
    } finally {
      await t.close();
    }
  });
});

describe('the invocation log turned off', () => {
  test('invocations_kept = 0: calls are not logged and the list is empty', async () => {
    const t = await startApp({ observability: { invocations_kept: 0 } });
    try {
      const { id } = await upload(t.app, 'add');
      await t.app.inject({ method: 'POST', url: `/modules/${id}/run`, payload: { function: 'add', args: [1, 1] } });
      const res = await t.app.inject({ method: 'GET', url: `/modules/${id}/invocations` });
      assert.deepEqual(res.json(), { items: [], next_cursor: null });
    } finally {
      await t.close();
    }
  });
});

test("a record keeps the first 4 KiB of stderr, and a handler's body by its digest", () => {
  const note = runNote({ id: 'm', tenant: 't', version: 2 }, '_start', new Uint8Array([1, 2, 3]), '/echo');
  noteAnswer(note, [{ durationMs: 1.5, cpuMs: 1, queuedMs: 0.25 }], true, new TextEncoder().encode('x'.repeat(10_000)));
  const record = recordOf({ at: 0, requestId: 'r', traceId: null, keyId: null, status: 502, code: 'BAD_GATEWAY', note, capture: false });
  assert.equal(record.stderr?.length, 4096);
  assert.equal(record.args_digest, createHash('sha256').update(new Uint8Array([1, 2, 3])).digest('hex'));
  assert.equal(record.route, '/echo');
  assert.deepEqual(record.stats, { duration_ms: 1.5, queued_ms: 0.25, cpu_ms: 1, calls: 1 });
  assert.equal(recordOf({ at: 0, requestId: 'r', traceId: null, keyId: null, status: 200, code: null, note, capture: true }).args && true, true);
});

test("guest stderr: a record per line, rate-limited per tenant, with what was dropped told", () => {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({ write(chunk: Buffer, _e, done) { for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>); done(); } });
  const logger = pino({ level: 'info' }, sink);
  const guest = new GuestOutput(logger, 3);
  const text = (n: number) => new TextEncoder().encode(Array.from({ length: n }, (_, i) => `line ${i}`).join('\n') + '\n');
  guest.stderr(runNote({ id: 'm1', tenant: 'noisy', version: 1 }, '_start', []), 'req-1', text(10));
  guest.stderr(runNote({ id: 'm2', tenant: 'quiet', version: 4 }, '_start', []), 'req-2', text(2));
  guest.close();
  return new Promise<void>((resolve) => setImmediate(() => {
    const records = lines.filter((l) => l.msg === 'guest stderr');
    assert.deepEqual(records.map((l) => [l.tenant, l.request_id, l.line]), [
      ['noisy', 'req-1', 'line 0'], ['noisy', 'req-1', 'line 1'], ['noisy', 'req-1', 'line 2'],
      ['quiet', 'req-2', 'line 0'], ['quiet', 'req-2', 'line 1'],
    ], "one tenant's flood leaves another's lines alone");
    const dropped = lines.filter((l) => String(l.msg).startsWith('guest stderr lines dropped'));
    assert.deepEqual(dropped.map((l) => [l.tenant, l.dropped]), [['noisy', 7]]);
    resolve();
  }));
});
