// The live page's arithmetic (web/metrics.js: the console's own module, which needs no DOM) on
// a real /metrics answer: what it charts must agree with what the server counted.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { authHeaders, fixture, listen, ROOT, startApp, type TestApp } from '../helper.js';

interface Snapshot {
  at: number;
  requests: number;
  errors: Record<string, number>;
  hits: number;
  misses: number;
}
interface Point {
  rate: number;
  p50: number | null;
  p99: number | null;
  errors: number;
  hitRatio: number | null;
}
interface MetricsModule {
  parseMetrics(text: string): Array<{ name: string; labels: Record<string, string>; value: number }>;
  snapshot(samples: unknown[], at: number): Snapshot;
  point(before: Snapshot, after: Snapshot): Point;
}

describe('the live page\'s figures from /metrics', () => {
  let t: TestApp;
  let base: string;
  let metrics: MetricsModule;

  before(async () => {
    t = await startApp();
    base = await listen(t.app);
    // Plain JavaScript for the browser: loaded by URL, so the compiler does not look for its types.
    metrics = (await import(new URL('web/metrics.js', ROOT).href)) as MetricsModule;
  });
  after(() => t.close());

  const scrape = async (at: number) => metrics.snapshot(metrics.parseMetrics(await (await fetch(`${base}/metrics`)).text()), at);

  it('counts requests, errors by code and cache lookups between two scrapes', async () => {
    const first = await scrape(0);
    const made = await fetch(`${base}/modules?name=m`, { method: 'POST', headers: authHeaders({ 'content-type': 'application/wasm' }), body: fixture('add') });
    const { id } = (await made.json()) as { id: string };
    for (let i = 0; i < 4; i += 1) {
      const run = await fetch(`${base}/modules/${id}/run`, { method: 'POST', headers: authHeaders({ 'content-type': 'application/json' }), body: '{"function":"add","args":[1,2]}' });
      await run.arrayBuffer();
    }
    await (await fetch(`${base}/modules`)).arrayBuffer(); // no key: 401
    await (await fetch(`${base}/modules/${id}/run`, { method: 'POST', headers: authHeaders({ 'content-type': 'application/json' }), body: '{"function":"nope"}' })).arrayBuffer();
    const second = await scrape(2000);

    // A scrape is counted once it is answered, so the second sees the first: 7 requests and that scrape, in 2 s.
    assert.equal(second.requests - first.requests, 8);
    assert.equal((second.errors.UNAUTHORIZED ?? 0) - (first.errors.UNAUTHORIZED ?? 0), 1);
    assert.equal((second.errors.UNKNOWN_FUNCTION ?? 0) - (first.errors.UNKNOWN_FUNCTION ?? 0), 1);
    const p = metrics.point(first, second);
    assert.equal(p.rate, 4);
    assert.equal(p.errors, 1);
    assert.ok(p.p50 !== null && p.p50 > 0 && p.p99 !== null && p.p99 >= p.p50, `percentiles ${p.p50} ≤ ${p.p99}`);
    assert.ok(second.hits + second.misses > first.hits + first.misses, 'runs look the module up');
    assert.ok(p.hitRatio !== null && p.hitRatio >= 0 && p.hitRatio <= 1);
  });

  it('reads label values with escaped quotes and skips comments', () => {
    const samples = metrics.parseMetrics('# HELP x y\n# TYPE x counter\nx{a="say \\"hi\\"",b="2"} 3\ny 4.5\n');
    assert.deepEqual(samples, [
      { name: 'x', labels: { a: 'say \\"hi\\"', b: '2' }, value: 3 },
      { name: 'y', labels: {}, value: 4.5 },
    ]);
  });
});
