/**
 * Per-tenant limits that hold during a call, and what a call costs: receipts in `stats`, the
 * cpu_ms_per_minute budget, runs_per_day counting batch items and worker-seconds, a suspicion that a
 * quick call cannot launder, the memory and table caps enforced inside the call, and WASI output
 * bounded in the JSON answer. Real HTTP, tenants made through /keys.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { authHeaders, fixture, listen, makeKey, startApp, wasiFixture, type MadeKey, type TestApp } from '../helper.js';
import { copyOf, KeyClient, type RunBody } from './key-client.js';

describe('tenant limits and receipts', () => {
  let t: TestApp;
  let base: string;
  const keys: Record<string, MadeKey> = {};

  before(async () => {
    t = await startApp({
      server: { workers: 2 },
      runner: { timeout: 5000, max_memory: 16 * 65536, max_output: 4096 },
      limits: { max_table_elements: 1000 },
      tiers: {
        std: { max_timeout: 4000 },
        budget: { max_timeout: 1000, cpu_ms_per_minute: 300 },
        daily: { max_timeout: 4000, runs_per_day: 6 },
        tight: { max_memory: 2 * 65536, max_table_elements: 100 },
        quick: { max_timeout: 1000 },
        metered: { max_fuel: 100_000, default_fuel: 50_000 },
      },
    });
    base = await listen(t.app);
    const made: [string, string][] = [['r', 'std'], ['cpu', 'budget'], ['cpu2', 'budget'], ['day', 'daily'], ['mem', 'tight'], ['wash', 'quick'], ['calm', 'quick'], ['out', 'std'], ['fuel', 'metered']];
    for (const [tenant, tier] of made) keys[tenant] = await makeKey(t.app, { name: tenant, role: 'developer', tenant, tier });
  });
  after(async () => t.close());

  const as = (tenant: string) => new KeyClient(base, keys[tenant]?.key);
  const upload = (tenant: string, name: string, bytes?: Uint8Array) => as(tenant).upload(name, bytes);
  const uploaded = (tenant: string, name: string, bytes?: Uint8Array) => as(tenant).uploaded(name, bytes);
  const run = (tenant: string, id: string, payload: Record<string, unknown>) => as(tenant).run(id, payload);

  async function usageOf(tenant: string): Promise<{ usage: Record<string, number>; limits: Record<string, number | null> }> {
    const res = await fetch(`${base}/keys/${keys[tenant]?.id}/usage`, { headers: authHeaders({}, keys[tenant]?.key) });
    assert.equal(res.status, 200);
    return (await res.json()) as { usage: Record<string, number>; limits: Record<string, number | null> };
  }

  test('every run answer carries its receipt: cpu_ms, queued_ms, peak_memory_pages, and usage adds the CPU', async () => {
    const busy = await uploaded('r', 'busy');
    const grow = await uploaded('r', 'grow-loop');
    const before = await usageOf('r');
    const answer = await run('r', busy, { function: 'busy', args: [50_000_000] });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const stats = answer.body.stats as Record<string, number>;
    for (const field of ['duration_ms', 'cpu_ms', 'queued_ms'] as const) assert.equal(typeof stats[field], 'number', field);
    assert.ok((stats.cpu_ms ?? 0) > 0, `cpu_ms ${stats.cpu_ms}`);
    // Thread CPU can never be more than the time the call held the thread.
    assert.ok((stats.cpu_ms ?? 0) <= (stats.duration_ms ?? 0) + 0.001, `cpu_ms ${stats.cpu_ms} > duration_ms ${stats.duration_ms}`);
    assert.ok((stats.queued_ms ?? -1) >= 0);
    assert.equal(stats.peak_memory_pages, null, 'busy has no memory');
    const after = await usageOf('r');
    assert.ok(Math.abs((after.usage.cpu_ms ?? 0) - (before.usage.cpu_ms ?? 0) - (stats.cpu_ms ?? 0)) < 0.01, 'usage cpu_ms grew by the answer\'s cpu_ms');

    const grown = await run('r', grow, { function: 'grow_all' });
    assert.equal(grown.status, 200, JSON.stringify(grown.body));
    assert.deepEqual(grown.body.results, [16], 'grew to runner.max_memory (16 pages)');
    assert.equal(grown.body.stats?.peak_memory_pages, 16);
    assert.equal(grown.body.stats?.memory_pages, 16);

    const batch = await run('r', busy, { function: 'busy', batch: [[1_000_000], [2_000_000], ['x']] });
    assert.equal(batch.status, 200, JSON.stringify(batch.body));
    assert.equal(typeof batch.body.stats?.cpu_ms, 'number');
    assert.equal(typeof batch.body.stats?.queued_ms, 'number');
  });

  test('cpu_ms_per_minute: a tenant over its CPU budget gets 429 QUOTA_EXCEEDED with Retry-After; another tenant of the tier does not', async () => {
    const spin = await uploaded('cpu', 'loop-forever');
    const add = await uploaded('cpu', 'add');
    const add2 = await uploaded('cpu2', 'add');
    assert.equal((await run('cpu', add, { function: 'add', args: [1, 2] })).status, 200, 'a fresh budget admits');
    // The 1,000 ms timeout spends more than the 300 ms a minute: the bucket goes below zero.
    const spun = await run('cpu', spin, { function: 'spin' });
    assert.equal(spun.status, 408, JSON.stringify(spun.body));
    const refused = await run('cpu', add, { function: 'add', args: [1, 2] });
    assert.equal(refused.status, 429, JSON.stringify(refused.body));
    assert.equal(refused.body.error?.code, 'QUOTA_EXCEEDED');
    assert.equal(refused.body.error?.details?.quota, 'cpu_ms_per_minute');
    assert.match(refused.body.error?.message ?? '', /300 ms of CPU per minute \(tier budget\)/);
    const retry = Number(refused.headers.get('retry-after'));
    assert.ok(retry >= 1 && retry <= 60 * 4, `Retry-After ${retry}`);
    const other = await run('cpu2', add2, { function: 'add', args: [1, 2] });
    assert.equal(other.status, 200, 'the budget is per tenant');
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /wess_quota_rejections_total\{tier="budget",quota="cpu_ms_per_minute"\} 1/);
  });

  test('runs_per_day counts every batch item and every started worker-second', async () => {
    const add = await uploaded('day', 'add');
    const spin = await uploaded('day', 'loop-forever');
    const over = await run('day', add, { function: 'add', batch: Array.from({ length: 7 }, (_, i) => [i, 1]) });
    assert.equal(over.status, 429, 'a batch of 7 items does not fit in 6 runs');
    assert.match(over.body.error?.message ?? '', /this batch needs 7 and 6 are left/);
    const fits = await run('day', add, { function: 'add', batch: [[1, 1], [2, 2], ['bad']] });
    assert.equal(fits.status, 200, JSON.stringify(fits.body));
    assert.equal((await usageOf('day')).usage.runs_today, 3, 'three items, three runs (the bad one too: it was admitted)');
    // A call that held a worker for about two and a half seconds: one run, and two more worker-seconds.
    const long = await run('day', spin, { function: 'spin', timeout_ms: 2500 });
    assert.equal(long.status, 408);
    const runs = (await usageOf('day')).usage.runs_today ?? 0;
    assert.ok(runs >= 5, `runs_today ${runs} after a 2.5 s call (3 before)`);
    assert.equal((await run('day', add, { function: 'add', args: [1, 1] })).status, runs >= 6 ? 429 : 200);
  });

  test('a timeout makes its tenant a suspect for a minute, and a quick call in between does not clear it', async () => {
    const maybe = await uploaded('wash', 'maybe');
    const copies = await Promise.all([1, 2, 3].map((i) => uploaded('wash', `maybe-${i}`, copyOf(fixture('maybe'), `copy${i}`))));
    await uploaded('calm', 'maybe');
    const suspectedUntil = async (tenant: string) => (await usageOf(tenant) as unknown as { suspected_until: string | null }).suspected_until;
    assert.equal(await suspectedUntil('wash'), null);
    const startedAt = Date.now();
    assert.equal((await run('wash', maybe, { function: 'maybe', args: [1] })).status, 408);
    const until = await suspectedUntil('wash');
    assert.ok(until !== null && Date.parse(until) > startedAt + 30_000, `suspected_until ${until}`);
    const quick = await run('wash', maybe, { function: 'maybe', args: [0] });
    assert.equal(quick.status, 200, 'quick calls still run');
    assert.equal(await suspectedUntil('wash'), until, 'a quick call does not launder the suspicion');
    assert.equal(await suspectedUntil('calm'), null, 'another tenant of the tier is not suspected');
    // Three loops over three different modules at once: the tenant's share (the pool size) runs, the
    // third waits for it; new modules do not buy a tenant more room. The third's deadline and the
    // stopping of the first two fall in the same millisecond or so: most often it never starts, but it
    // may start in the moment between them and be stopped at once. Either way each says why.
    const loops = await Promise.all(copies.map((id) => run('wash', id, { function: 'maybe', args: [1] })));
    assert.ok(loops.every((l) => l.status === 408), JSON.stringify(loops.map((l) => l.body)));
    const messages = loops.map((l) => l.body.error?.message ?? '');
    const waited = messages.filter((m) => /did not start/.test(m));
    assert.ok(waited.length <= 1 && messages.filter((m) => /did not finish/.test(m)).length >= 2, JSON.stringify(messages));
    for (const message of waited) assert.match(message, /concurrent runs|timed out recently/);
    assert.ok(Date.parse(String(await suspectedUntil('wash'))) > Date.parse(until), 'each timeout extends the suspicion');
  });

  test('a tier\'s max_memory is the module\'s maximum during the call: memory.grow fails past it', async () => {
    const grow = await uploaded('mem', 'grow-loop');
    const capped = await run('mem', grow, { function: 'grow_all' });
    assert.equal(capped.status, 200, JSON.stringify(capped.body));
    assert.deepEqual(capped.body.results, [2], 'memory.grow returned -1 at the tier\'s 2 pages');
    // The same module for a key without the tier grows to the global cap: each cap has its own compile.
    const admin = await fetch(`${base}/modules/${grow}/run`, { method: 'POST', headers: authHeaders({ 'content-type': 'application/json' }), body: '{"function":"grow_all"}' });
    assert.deepEqual(((await admin.json()) as RunBody).results, [16]);
    assert.deepEqual((await run('mem', grow, { function: 'grow_all' })).body.results, [2]);
  });

  test('tables: a module starting above limits.max_table_elements (or the tier\'s) is refused at upload; table.grow stops at the limit', async () => {
    const big = await upload('r', 'big-table');
    assert.equal(big.status, 400, JSON.stringify(big.body));
    assert.equal(big.body.error?.code, 'MEMORY_LIMIT');
    assert.match(big.body.error?.message ?? '', /table 0 starts with 10000000 elements; at most 1000 are allowed/);
    const grow = await uploaded('r', 'table-grow');
    assert.deepEqual((await run('r', grow, { function: 'grow', args: [990] })).body.results, [10], 'to 1000 elements: allowed');
    assert.deepEqual((await run('r', grow, { function: 'grow', args: [991] })).body.results, [-1], 'past 1000: refused by the guest\'s own table.grow');
    // (module (table 500 funcref)): within the global 1,000, above the tight tier's 100.
    const table500 = Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 0x04, 0x05, 0x01, 0x70, 0x00, 0xf4, 0x03]);
    assert.equal((await upload('r', 'table500', table500)).status, 201);
    const tier = await upload('mem', 'table500', table500);
    assert.equal(tier.status, 400, JSON.stringify(tier.body));
    assert.match(tier.body.error?.message ?? '', /table 0 starts with 500 elements; at most 100 are allowed \(tier tight\)/);
  });

  test('WASI output is bounded in the JSON answer: control bytes come back as base64, batch items share one allowance', async () => {
    const echo = await uploaded('out', 'echo', wasiFixture('echo'));
    const controls = '\u0001'.repeat(4000);
    const answer = await run('out', echo, { stdin: controls });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.stdout, undefined, 'not as text: escaped, 4000 control bytes are 24,000 bytes of JSON');
    assert.equal(Buffer.from(String(answer.body.stdout_base64), 'base64').toString('latin1'), controls);
    assert.ok(answer.bytes < 2 * 4000 + 1000, `answer of ${answer.bytes} bytes`);
    const text = await run('out', echo, { stdin: 'line one\nline two\n' });
    assert.equal(text.body.stdout, 'LINE ONE\nLINE TWO\n', 'ordinary text stays text');

    const lib = await uploaded('out', 'lib', wasiFixture('lib'));
    const batch = await run('out', lib, { function: 'greet', batch: [[500], [500], [500], [500]] });
    assert.equal(batch.status, 200, JSON.stringify(batch.body).slice(0, 500));
    for (const item of batch.body.batch ?? []) {
      assert.deepEqual(item.results, [500]);
      assert.equal(Buffer.byteLength(String(item.stdout)), 1024, 'runner.max_output (4096) shared by four items');
      assert.equal(item.stdout_truncated, true);
    }
    assert.ok(batch.bytes < 4096 * 2 + 2000, `batch answer of ${batch.bytes} bytes`);
  });

  test('fuel: a run with "fuel" is metered, deterministic, and stops with 422 FUEL_EXHAUSTED when it runs out', async () => {
    const busy = await uploaded('r', 'busy');
    const spin = await uploaded('r', 'loop-forever');
    const startLoop = await uploaded('r', 'start-loop');
    const small = await run('r', busy, { function: 'busy', args: [10], fuel: 1000 });
    assert.equal(small.status, 200, JSON.stringify(small.body));
    assert.deepEqual(small.body.results, [0]);
    const used = small.body.stats?.fuel_used;
    assert.ok(typeof used === 'number' && used > 10 && used < 1000, `fuel_used ${used}`);
    assert.equal((await run('r', busy, { function: 'busy', args: [10], fuel: 1000 })).body.stats?.fuel_used, used, 'the same call uses the same fuel');
    const twice = (await run('r', busy, { function: 'busy', args: [20], fuel: 1000 })).body.stats?.fuel_used as number;
    const thrice = (await run('r', busy, { function: 'busy', args: [30], fuel: 1000 })).body.stats?.fuel_used as number;
    assert.equal(thrice - twice, twice - used, 'fuel grows by the same amount per ten iterations');
    const plain = await run('r', busy, { function: 'busy', args: [10] });
    assert.equal(plain.body.stats?.fuel_used, undefined, 'no fuel asked: not metered');

    const out = await run('r', busy, { function: 'busy', args: [1_000_000], fuel: 1000 });
    assert.equal(out.status, 422, JSON.stringify(out.body));
    assert.equal(out.body.error?.code, 'FUEL_EXHAUSTED');
    assert.match(out.body.error?.message ?? '', /ran out of fuel: it was given 1000/);
    const loop = await run('r', spin, { function: 'spin', fuel: 100_000 });
    assert.equal(loop.body.error?.code, 'FUEL_EXHAUSTED', 'a loop ends by fuel, long before its deadline');
    const start = await run('r', startLoop, { function: 'noop', fuel: 100_000 });
    assert.equal(start.body.error?.code, 'FUEL_EXHAUSTED', 'the start function runs on the call\'s fuel');

    const batch = await run('r', busy, { function: 'busy', batch: [[10], [10], [1_000_000]], fuel: 1000 });
    assert.equal(batch.status, 200);
    assert.deepEqual(batch.body.batch?.map((i) => (i.error as { code?: string } | undefined)?.code ?? 'ok'), ['ok', 'ok', 'FUEL_EXHAUSTED']);
    assert.equal(batch.body.stats?.fuel_used, 2 * used + 1000, 'a batch sums its items, all of an item that ran out');
  });

  test('fuel limits: a tier\'s max_fuel caps what a run may ask for, its default_fuel meters runs that ask for none, usage counts it', async () => {
    const busy = await uploaded('fuel', 'busy');
    const spin = await uploaded('fuel', 'loop-forever');
    const echo = await uploaded('fuel', 'echo', wasiFixture('echo'));
    const over = await run('fuel', busy, { function: 'busy', args: [1], fuel: 100_001 });
    assert.equal(over.status, 400);
    assert.equal(over.body.error?.code, 'VALIDATION');
    assert.match(over.body.error?.message ?? '', /body\.fuel: 100001 is over the limit of 100000 \(tier metered\)/);
    const before = await usageOf('fuel');
    const byDefault = await run('fuel', busy, { function: 'busy', args: [10] });
    assert.equal(typeof byDefault.body.stats?.fuel_used, 'number', 'default_fuel meters a run that asks for none');
    const loop = await run('fuel', spin, { function: 'spin' });
    assert.match(loop.body.error?.message ?? '', /given 50000/);
    const wasi = await run('fuel', echo, { stdin: 'hi' });
    assert.equal(wasi.status, 200, JSON.stringify(wasi.body));
    assert.equal(wasi.body.stdout, 'HI');
    assert.ok((wasi.body.stats?.fuel_used as number) > 0);
    const after = await usageOf('fuel');
    const spent = (byDefault.body.stats?.fuel_used as number) + 50_000 + (wasi.body.stats?.fuel_used as number);
    assert.equal((after.usage.fuel ?? 0) - (before.usage.fuel ?? 0), spent);
    assert.equal(after.limits.max_fuel, 100_000);
    assert.equal(after.limits.default_fuel, 50_000);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /wess_tier_fuel_total\{tier="metered"\} \d+/);
  });
});
