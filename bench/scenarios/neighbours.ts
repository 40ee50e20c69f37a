import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Row } from '../lib/result.js';
import { loggedMs, ROOT, withKey, type Server } from '../lib/servers.js';
import { percentile, round, say, sleep } from '../lib/stats.js';

/*
 * Noisy neighbours at the default config (wess.toml: 2 workers and a spare, free tier max_timeout
 * 2 s): tenant B (pro tier) calls `add` at a steady pace while tenant A (free tier) misbehaves, in
 * rounds alternated with rounds where A does nothing, so B's figures with and without A come from the
 * same run. B's latency is every call's send → answer on this process's clock, pooled over the rounds
 * of a kind (a p99 of pooled calls, not a median of per-round p99s).
 */

export interface NeighbourSettings {
  rounds: number;
  seconds: number;
  /** B's pace: one call every this many ms, sent on schedule whether or not the last one answered. */
  paceMs: number;
  /** A's looping calls kept in flight, over as many modules. */
  loops: number;
  /** A's flood: calls kept queued, in batch requests of `floodBatch` items. */
  flood: number;
  floodBatch: number;
}

type Attack = 'none' | 'loops' | 'launder' | 'flood';

interface Noisy { key: string; loops: string[]; maybe: string; add: string }

interface Tenants {
  /** A fresh tenant A per attack, so one attack's suspicion is not another's head start. */
  a: Map<Attack, Noisy>;
  b: { key: string; add: string };
}

const fixture = (name: string) => readFileSync(join(ROOT, `test/fixtures/wasm/${name}.wasm`));

/** A copy of a module with a custom section of its own: the same code under another sha256. */
function copyOf(bytes: Uint8Array, tag: string): Buffer {
  const name = Buffer.from(tag);
  return Buffer.concat([bytes, Buffer.from([0x00, name.length + 1, name.length]), name]);
}

async function post(url: string, key: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

async function setUp(wess: Server, attacks: Attack[]): Promise<Tenants> {
  const key = async (tenant: string, tier: string | null): Promise<string> => {
    const res = await fetch(`${wess.url}/keys`, {
      method: 'POST', headers: withKey({ 'content-type': 'application/json' }), body: JSON.stringify({ name: tenant, role: 'developer', tenant, tier }),
    });
    if (res.status !== 201) throw new Error(`POST /keys for ${tenant}: ${res.status} ${await res.text()}`);
    return ((await res.json()) as { key: string }).key;
  };
  const upload = async (k: string, name: string, bytes: Uint8Array): Promise<string> => {
    const res = await fetch(`${wess.url}/modules?name=${name}`, { method: 'POST', headers: { authorization: `Bearer ${k}`, 'content-type': 'application/wasm' }, body: bytes });
    if (res.status !== 201) throw new Error(`upload of ${name}: ${res.status} ${await res.text()}`);
    return ((await res.json()) as { id: string }).id;
  };
  const a = new Map<Attack, Noisy>();
  for (const kind of attacks) {
    // The flood's thousands of calls a second would meet the free tier's request rate and daily runs
    // first: that A has no tier, so only the runner stands between it and B.
    const aKey = await key(`noisy-${kind}`, kind === 'flood' ? null : 'free');
    const loops = [];
    for (let i = 0; i < 8; i++) loops.push(await upload(aKey, `spin-${i}`, copyOf(fixture('loop-forever'), `${kind}${i}`)));
    a.set(kind, { key: aKey, loops, maybe: await upload(aKey, 'maybe', fixture('maybe')), add: await upload(aKey, 'add', fixture('add')) });
  }
  const bKey = await key('steady', 'pro');
  return { a, b: { key: bKey, add: await upload(bKey, 'add', fixture('add')) } };
}

/** B's calls for `ms`, one every paceMs: each call's latency, and the answers that were not 200. */
async function steady(wess: Server, b: Tenants['b'], ms: number, paceMs: number): Promise<{ latencies: number[]; errors: string[] }> {
  const latencies: number[] = [];
  const errors: string[] = [];
  const calls: Promise<void>[] = [];
  const url = `${wess.url}/modules/${b.add}/run`;
  const start = performance.now();
  for (let i = 0; performance.now() - start < ms; i++) {
    const due = start + i * paceMs;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    const t0 = performance.now();
    calls.push(post(url, b.key, { function: 'add', args: [i, 1] }).then(
      (res) => {
        latencies.push(performance.now() - t0);
        if (res.status !== 200) errors.push(`${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
      },
      (err: unknown) => void errors.push(String(err)),
    ));
  }
  await Promise.all(calls);
  return { latencies, errors };
}

/** A's behaviour for as long as `running()` holds; resolves with the request ids of its looping calls and their statuses. */
async function attack(wess: Server, a: Noisy | undefined, kind: Attack, s: NeighbourSettings, tag: string, running: () => boolean): Promise<{ ids: string[]; statuses: number[] }> {
  const ids: string[] = [];
  const statuses: number[] = [];
  const loop = async (id: string, args: number[], fn: string): Promise<void> => {
    const requestId = `${tag}-${ids.length}`;
    ids.push(requestId);
    const res = await post(`${wess.url}/modules/${id}/run`, tenant.key, { function: fn, args }, { 'x-request-id': requestId });
    statuses.push(res.status);
  };
  if (a === undefined) return { ids, statuses };
  const lanes: Promise<void>[] = [];
  const tenant = a;
  if (kind === 'loops') {
    for (const id of a.loops.slice(0, s.loops)) lanes.push((async () => { while (running()) await loop(id, [], 'spin'); })());
  } else if (kind === 'launder') {
    for (let i = 0; i < s.loops; i++) {
      lanes.push((async () => {
        while (running()) {
          await post(`${wess.url}/modules/${tenant.maybe}/run`, tenant.key, { function: 'maybe', args: [0] });
          await loop(tenant.maybe, [1], 'maybe');
        }
      })());
    }
  } else if (kind === 'flood') {
    const batch = Array.from({ length: s.floodBatch }, (_, i) => [i, 1]);
    for (let i = 0; i < s.flood / s.floodBatch; i++) {
      lanes.push((async () => { while (running()) await post(`${wess.url}/modules/${tenant.add}/run`, tenant.key, { function: 'add', batch }); })());
    }
  }
  await Promise.all(lanes);
  return { ids, statuses };
}

interface Pooled { latencies: number[]; errors: string[]; loopIds: string[]; loopStatuses: number[] }

/** Alternated rounds: none, then each attack, `rounds` times; B's calls and A's looping calls pooled per kind. */
export async function neighbours(wess: Server, s: NeighbourSettings, attacks: Attack[]): Promise<Row[]> {
  const tenants = await setUp(wess, attacks);
  const pooled = new Map<Attack, Pooled>();
  for (let r = 0; r < s.rounds; r++) {
    for (const kind of ['none', ...attacks] as Attack[]) {
      const tag = `nb-${process.pid}-${kind}-${r}`;
      let on = true;
      const a = attack(wess, tenants.a.get(kind), kind, s, tag, () => on);
      if (kind !== 'none') await sleep(500); // A's calls reach the runner first
      const b = await steady(wess, tenants.b, s.seconds * 1000, s.paceMs);
      on = false;
      const done = await a;
      const p = pooled.get(kind) ?? { latencies: [], errors: [], loopIds: [], loopStatuses: [] };
      p.latencies.push(...b.latencies);
      p.errors.push(...b.errors);
      p.loopIds.push(...done.ids);
      p.loopStatuses.push(...done.statuses);
      pooled.set(kind, p);
      say(`neighbours ${kind} round ${r + 1}: B p99 ${round(percentile(b.latencies, 99), 1)} ms over ${b.latencies.length} calls, ${b.errors.length} errors; A looping calls ${done.ids.length}`);
    }
  }
  const calm = pooled.get('none') as Pooled;
  const calmP99 = round(percentile(calm.latencies, 99), 1);
  const rows: Row[] = [];
  for (const kind of attacks) {
    const p = pooled.get(kind) as Pooled;
    const p99 = round(percentile(p.latencies, 99), 1);
    const bound = kind === 'flood' ? 20 : 50;
    rows.push({
      scenario: `noisy neighbour (${describe(kind, s)}): tenant B's add every ${s.paceMs} ms`,
      metric: "B's p99 ms",
      wess: p99,
      baseline: calmP99,
      ratio: round(p99 / calmP99, 2),
      target: `≤ ${bound} ms, no B errors`,
      judges: `the p99 of all ${p.latencies.length} of B's calls over ${s.rounds} rounds of ${s.seconds} s (send → answer), beside the p99 of B alone in the alternated rounds`,
      pass: p99 <= bound && p.errors.length === 0,
      detail: `B alone: p50 ${round(percentile(calm.latencies, 50), 1)} p99 ${calmP99} ms (${calm.latencies.length} calls, ${calm.errors.length} errors); with A: p50 ${round(percentile(p.latencies, 50), 1)} ms, errors ${p.errors.length}${p.errors.length ? `: ${p.errors.slice(0, 3).join('; ')}` : ''}`,
    });
    if (kind === 'flood') continue;
    const server = [...(await loggedMs(wess.logFile ?? '', `nb-${process.pid}-${kind}-`, p.loopIds.length)).values()];
    const worst = Math.max(...server);
    const limit = 2000 + 100;
    const all408 = p.loopStatuses.every((status) => status === 408);
    rows.push({
      scenario: `noisy neighbour (${describe(kind, s)}): A's looping calls end (n=${p.loopIds.length})`,
      metric: 'worst server ms',
      wess: round(worst, 1),
      baseline: null,
      ratio: null,
      target: `≤ ${limit} ms, all 408`,
      judges: `the slowest of A's looping calls by server time (access log ms; ${server.length} matched), and every one answered 408`,
      pass: worst <= limit && all408 && server.length === p.loopIds.length,
      detail: `statuses ${[...new Set(p.loopStatuses)].join(',')}; server ms p50 ${round(percentile(server, 50), 1)}, p99 ${round(percentile(server, 99), 1)}`,
    });
  }
  return rows;
}

function describe(kind: Attack, s: NeighbourSettings): string {
  if (kind === 'loops') return `A keeps ${s.loops} looping calls in flight over ${s.loops} modules`;
  if (kind === 'launder') return `A launders: maybe(0) then maybe(1), ${s.loops} at a time`;
  if (kind === 'flood') return `A keeps ${s.flood} add calls queued in batches of ${s.floodBatch}`;
  return 'A idle';
}
