/**
 * Reliability suite 6 (issue 7), overload: when the runner's queue or the writer's queue is full, Wess
 * answers 503 with Retry-After at once, instead of queueing without bound, and recovers by itself once
 * the backlog clears. Over real HTTP, with a real pool and a real LevelDB.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { authHeaders, listen, startApp, upload, type TestApp } from '../helper.js';
import { paddedModule } from '../store/transfer-helper.js';
import { record } from './results.js';

interface Answer {
  status: number;
  retryAfter: string | null;
  code?: string;
}

/** Sends every request at once and returns their answers. */
async function burst(requests: Array<() => Promise<Response>>): Promise<Answer[]> {
  return Promise.all(
    requests.map(async (send) => {
      const res = await send();
      const body = (await res.json()) as { error?: { code: string } };
      return { status: res.status, retryAfter: res.headers.get('retry-after'), code: body.error?.code };
    }),
  );
}

/** Every refusal is a 503 UNAVAILABLE with a Retry-After; nothing else but 2xx. */
function assertShed(answers: Answer[], accepted: number): void {
  const ok = answers.filter((a) => a.status === 200 || a.status === 201);
  const shed = answers.filter((a) => a.status === 503);
  assert.equal(ok.length + shed.length, answers.length, `only 2xx and 503: ${JSON.stringify(answers.filter((a) => a.status !== 503 && a.status >= 300))}`);
  assert.ok(shed.length > 0, 'the burst was larger than the queue: some must be refused');
  assert.ok(ok.length >= accepted, `at least the queue's worth is served (${ok.length} < ${accepted})`);
  for (const answer of shed) {
    assert.equal(answer.code, 'UNAVAILABLE');
    assert.ok(Number(answer.retryAfter) >= 1, `Retry-After on every 503, got ${answer.retryAfter}`);
  }
}

describe('reliability: overload', () => {
  let t: TestApp;
  let base: string;
  let busy: string;
  let add: string;
  before(async () => {
    t = await startApp({ server: { workers: 1 }, runner: { queue_limit: 8, timeout: 5000 }, database: { queue_limit: 4 } });
    base = await listen(t.app);
    busy = (await upload(t.app, 'busy')).id;
    add = (await upload(t.app, 'add')).id;
  });
  after(() => t.close());

  const run = (id: string, fn: string, args: number[]) => () =>
    fetch(`${base}/modules/${id}/run`, { method: 'POST', headers: authHeaders({ 'content-type': 'application/json' }), body: JSON.stringify({ function: fn, args }) });

  test('a full runner queue answers 503 + Retry-After at once, and serves again when it drains', async () => {
    // 60 calls of ~100 ms each on one worker with room for 8 waiting: most are refused.
    const from = t.logs.length;
    const answers = await burst(Array.from({ length: 60 }, () => run(busy, 'busy', [100_000_000])));
    assertShed(answers, 8);
    // Refused at admission, not after waiting in line: no 503 took the server as long as one call runs.
    const served = t.logs.slice(from).filter((l) => l.msg === 'request' && l.status === 200).map((l) => Number(l.ms));
    const shedMs = t.logs.slice(from).filter((l) => l.msg === 'request' && l.status === 503).map((l) => Number(l.ms));
    assert.equal(shedMs.length, answers.filter((a) => a.status === 503).length);
    assert.ok(Math.max(...shedMs) < Math.min(...served), `a 503 took ${Math.max(...shedMs)} ms, the quickest call served ${Math.min(...served)} ms`);
    const again = await run(add, 'add', [2, 3])();
    assert.equal(again.status, 200, 'recovered by itself');
    assert.deepEqual(((await again.json()) as { results: number[] }).results, [5]);
    record('overload-runner', {
      burst: 60, queue_limit: 8, served: answers.filter((a) => a.status === 200).length, shed_503: answers.filter((a) => a.status === 503).length, other: 0,
      slowest_refusal_ms: Math.max(...shedMs), quickest_served_ms: Math.min(...served),
    });
  });

  test('a full writer queue answers 503 + Retry-After at once, loses no acknowledged upload, and recovers', async () => {
    const modules = Array.from({ length: 80 }, (_, i) => paddedModule(10_000 + i, 64 * 1024));
    const answers = await burst(
      modules.map((bytes) => () => fetch(`${base}/modules?name=overload`, { method: 'POST', headers: authHeaders({ 'content-type': 'application/wasm' }), body: bytes })),
    );
    assertShed(answers, 4);
    const names: string[] = [];
    for (let cursor: string | null = ''; cursor !== null; ) {
      const page = (await (await fetch(`${base}/modules?limit=100${cursor ? `&cursor=${cursor}` : ''}`, { headers: authHeaders() })).json()) as { items: { name: string }[]; next_cursor: string | null };
      names.push(...page.items.filter((m) => m.name === 'overload').map((m) => m.name));
      cursor = page.next_cursor;
    }
    assert.equal(names.length, answers.filter((a) => a.status === 201).length, 'every 201 is stored, no 503 is');
    const again = await fetch(`${base}/modules?name=after`, { method: 'POST', headers: authHeaders({ 'content-type': 'application/wasm' }), body: paddedModule(99_999, 1024) });
    assert.equal(again.status, 201, 'recovered by itself');
    record('overload-writer', { burst: 80, queue_limit: 4, stored: names.length, shed_503: answers.filter((a) => a.status === 503).length, other: 0 });
  });
});
