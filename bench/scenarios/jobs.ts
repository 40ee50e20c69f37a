import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Row } from '../lib/result.js';
import { ROOT, withKey, type Server } from '../lib/servers.js';
import { percentile, round, say, sleep } from '../lib/stats.js';

/*
 * Jobs: how many a node runs per second end to end (submitted over HTTP → succeeded in the store),
 * and what a backlog of queued jobs does to synchronous /run: a steady client's p99 with no job
 * queued, then with `backlog` jobs queued and running (jobs take the runner's background lanes, which
 * never hold the last worker, so the p99 should barely move).
 */

export interface JobSettings {
  /** Jobs submitted for the throughput figure. */
  throughputJobs: number;
  /** Jobs queued before the second latency round. */
  backlog: number;
  /** Requests in flight while submitting. */
  concurrency: number;
  /** Seconds of steady /run calls per round. */
  seconds: number;
  paceMs: number;
}

const fixture = (name: string) => readFileSync(join(ROOT, `test/fixtures/wasm/${name}.wasm`));

async function upload(wess: Server, name: string): Promise<string> {
  const res = await fetch(`${wess.url}/modules?name=${name}`, { method: 'POST', headers: withKey({ 'content-type': 'application/wasm' }), body: fixture(name) });
  if (res.status !== 201) throw new Error(`upload of ${name}: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { id: string }).id;
}

async function post(url: string, body: unknown): Promise<number> {
  const res = await fetch(url, { method: 'POST', headers: withKey({ 'content-type': 'application/json' }), body: JSON.stringify(body) });
  await res.arrayBuffer();
  return res.status;
}

/** Submits `count` jobs, `concurrency` at a time; throws on any answer but 202. */
async function submit(wess: Server, module: string, count: number, concurrency: number, body: (i: number) => unknown): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const status = await post(`${wess.url}/modules/${module}/jobs`, body(i));
      if (status !== 202) throw new Error(`job ${i} answered ${status}`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

/** wess_jobs_total{outcome="succeeded"} from /metrics. */
async function succeeded(wess: Server): Promise<number> {
  const text = await (await fetch(`${wess.url}/metrics`)).text();
  return Number(/^wess_jobs_total\{outcome="succeeded"\} (\d+)/m.exec(text)?.[1] ?? 0);
}

async function untilSucceeded(wess: Server, count: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await succeeded(wess)) < count) {
    if (Date.now() > deadline) throw new Error(`only ${await succeeded(wess)} of ${count} jobs succeeded within ${timeoutMs} ms`);
    await sleep(100);
  }
}

/** Steady /run add calls, one every paceMs, for `seconds`: each call's latency (ms). */
async function steady(wess: Server, add: string, s: JobSettings): Promise<{ latencies: number[]; errors: number }> {
  const latencies: number[] = [];
  let errors = 0;
  const calls: Promise<void>[] = [];
  const start = performance.now();
  for (let i = 0; performance.now() - start < s.seconds * 1000; i++) {
    const wait = start + i * s.paceMs - performance.now();
    if (wait > 0) await sleep(wait);
    const t0 = performance.now();
    calls.push(post(`${wess.url}/modules/${add}/run`, { function: 'add', args: [i, 1] }).then((status) => {
      latencies.push(performance.now() - t0);
      if (status !== 200) errors++;
    }));
  }
  await Promise.all(calls);
  return { latencies, errors };
}

export async function jobs(wess: Server, s: JobSettings): Promise<Row[]> {
  const add = await upload(wess, 'add');
  const busy = await upload(wess, 'busy');

  const before = await succeeded(wess);
  const t0 = performance.now();
  await submit(wess, add, s.throughputJobs, s.concurrency, (i) => ({ function: 'add', args: [i, 1] }));
  await untilSucceeded(wess, before + s.throughputJobs, 300_000);
  const seconds = (performance.now() - t0) / 1000;
  const rate = round(s.throughputJobs / seconds, 0);
  say(`jobs: ${s.throughputJobs} add jobs submitted and succeeded in ${round(seconds, 2)} s: ${rate} jobs/s`);

  const calm = await steady(wess, add, s);
  const calmP99 = round(percentile(calm.latencies, 99), 1);
  say(`jobs: /run p99 ${calmP99} ms over ${calm.latencies.length} calls with no job queued`);
  // ~2 ms jobs: the backlog outlasts the round, and every worker the background lanes may use stays busy.
  const queuedAt = performance.now();
  await submit(wess, busy, s.backlog, s.concurrency, () => ({ function: 'busy', args: [2_000_000] }));
  say(`jobs: ${s.backlog} busy jobs queued in ${round((performance.now() - queuedAt) / 1000, 1)} s`);
  const loaded = await steady(wess, add, s);
  const loadedP99 = round(percentile(loaded.latencies, 99), 1);
  const left = s.backlog + s.throughputJobs + before - (await succeeded(wess));
  say(`jobs: /run p99 ${loadedP99} ms over ${loaded.latencies.length} calls with the backlog (${left} jobs still to run at the end)`);
  const ratio = calmP99 > 0 ? round(loadedP99 / calmP99, 2) : null;
  return [
    {
      scenario: 'jobs', metric: 'jobs/s end to end (submit → succeeded)', wess: rate, baseline: null, ratio: null, target: '-', pass: null,
      detail: `${s.throughputJobs} add jobs, ${s.concurrency} submissions in flight, ${round(seconds, 2)} s from the first POST to the last success (wess_jobs_total)`,
    },
    {
      scenario: 'jobs', metric: `/run p99 with a ${s.backlog}-job backlog (ms)`, wess: loadedP99, baseline: calmP99, ratio,
      target: '≤ 2× the p99 without, or within 5 ms of it', judges: 'p99 of steady /run calls, nearest rank, pooled over the round',
      pass: loaded.errors === 0 && (ratio === null || ratio <= 2 || loadedP99 - calmP99 <= 5),
      detail: `one call every ${s.paceMs} ms for ${s.seconds} s per round; baseline: the same with no job queued; ${left} jobs still queued at the end of the round; errors ${calm.errors} / ${loaded.errors}`,
    },
  ];
}
