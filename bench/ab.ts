import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { capture } from './lib/answers.js';
import { mainThreadTicks, processTicks, TICK_US } from './lib/cpu.js';
import { uploadWasm } from './lib/client.js';
import { drive } from './lib/load.js';
import { ROOT, startBare, startWess, withKey, type Server } from './lib/servers.js';
import { median, round, say } from './lib/stats.js';

/*
 * `node dist/bench/ab.js get|run [rounds] [seconds]` with A and B given as JSON in AB_A and AB_B:
 * {"env": {...}, "node": ["--flag"], "root": "/another/built/checkout"} for a Wess, {"bare": true, "node": [...]}
 * for the bare app. Both run side by side, driven in alternated rounds (A B A B …, 100 connections; AB_RATE for
 * a fixed rate), with each round's req/s, p99 and CPU per request (main thread and process, from /proc, no
 * profiler). Judges one change at a time: a setting, a flag, or this tree against another.
 */

/** A Wess with extra env and node flags (from another built checkout: root), or (bare: true) the bare app with these node flags. */
interface Variant { env?: Record<string, string>; node?: string[]; bare?: boolean; root?: string }

const RUN_BODY = '{"function":"add","args":[1,2]}';

async function prepare(variant: Variant): Promise<{ server: Server; path: string }> {
  const wess = await startWess(variant.bare ? {} : variant.env ?? {}, variant.bare ? [] : variant.node ?? [], variant.root);
  const add = await uploadWasm(wess.url, 'add', readFileSync(join(ROOT, 'test/fixtures/wasm/add.wasm')));
  if (!variant.bare) return { server: wess, path: add.id };
  try {
    const exchanges = await capture(wess, [{ method: 'GET', path: `/modules/${add.id}` }, { method: 'POST', path: `/modules/${add.id}/run`, body: RUN_BODY }]);
    return { server: await startBare(exchanges, variant.node ?? []), path: add.id };
  } finally {
    await wess.stop();
  }
}

async function main(): Promise<void> {
  const [what = 'get', roundsArg = '5', secondsArg = '5'] = process.argv.slice(2);
  // A fixed rate (AB_RATE req/s) below both sides' capacity: CPU per request without the contention of a saturating load.
  const rate = process.env.AB_RATE === undefined ? undefined : Number(process.env.AB_RATE);
  const rounds = Number(roundsArg);
  const seconds = Number(secondsArg);
  const variants = { A: JSON.parse(process.env.AB_A ?? '{}') as Variant, B: JSON.parse(process.env.AB_B ?? '{}') as Variant };
  const sides = { A: await prepare(variants.A), B: await prepare(variants.B) };
  const results: Record<'A' | 'B', { rps: number; p99: number; us: number; allUs: number }[]> = { A: [], B: [] };
  try {
    const load = (side: { server: Server; path: string }, s: number) => drive(what === 'run'
      ? { url: `${side.server.url}/modules/${side.path}/run`, method: 'POST', body: RUN_BODY, headers: withKey({ 'content-type': 'application/json' }), connections: 100, seconds: s, rate }
      : { url: `${side.server.url}/modules/${side.path}`, headers: withKey({}), connections: 100, seconds: s, rate });
    for (const name of ['A', 'B'] as const) await load(sides[name], 2);
    for (let i = 0; i < rounds; i++) {
      for (const name of (i % 2 === 0 ? ['A', 'B'] : ['B', 'A']) as ('A' | 'B')[]) {
        const { pid } = sides[name].server;
        const [main0, all0] = [mainThreadTicks(pid), processTicks(pid)];
        const r = await load(sides[name], seconds);
        const perRequest = (ticks: number) => round((ticks * TICK_US) / (r.rps * seconds), 1);
        const [us, allUs] = [perRequest(mainThreadTicks(pid) - main0), perRequest(processTicks(pid) - all0)];
        results[name].push({ rps: r.rps, p99: r.p99, us, allUs });
        say(`${name} round ${i + 1}: ${r.rps} req/s, p99 ${r.p99} ms, ${us} µs/request on the main thread, ${allUs} in the process`);
      }
    }
  } finally {
    await sides.A.server.stop();
    await sides.B.server.stop();
  }
  const ratios = results.A.map((a, i) => (results.B[i]?.rps ?? 0) / a.rps);
  for (const name of ['A', 'B'] as const) {
    const r = results[name];
    say(`${name}: median ${median(r.map((x) => x.rps))} req/s, p99 ${median(r.map((x) => x.p99))} ms, ${median(r.map((x) => x.us))} µs/request on the main thread, ${median(r.map((x) => x.allUs))} in the process`);
  }
  say(`B/A req/s by pair: ${ratios.map((x) => round(x, 3)).join(' ')}; median ${round(median(ratios), 3)}`);
}

void main();
