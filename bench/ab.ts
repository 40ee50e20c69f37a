import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { capture } from './lib/answers.js';
import { mainThreadTicks, TICK_US } from './lib/cpu.js';
import { uploadWasm } from './lib/client.js';
import { drive } from './lib/load.js';
import { ROOT, startBare, startWess, withKey, type Server } from './lib/servers.js';
import { median, round, say } from './lib/stats.js';

/*
 * `node dist/bench/ab.js get|run [rounds] [seconds]` with A and B given as JSON in AB_A and AB_B
 * ({"env": {...}, "node": ["--flag"]}, or {"bare": true, "node": [...]} for the bare app): two servers side by side, driven in
 * alternated rounds (A B A B …, 100 connections), each round's req/s, p99 and main-thread CPU per request
 * (from /proc, no profiler). Judges one change at a time against the tree as it is.
 */

/** A Wess with extra env and node flags, or (bare: true) the bare app with these node flags. */
interface Variant { env?: Record<string, string>; node?: string[]; bare?: boolean }

const RUN_BODY = '{"function":"add","args":[1,2]}';

async function prepare(variant: Variant): Promise<{ server: Server; path: string }> {
  const wess = await startWess(variant.bare ? {} : variant.env ?? {}, variant.bare ? [] : variant.node ?? []);
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
  const rounds = Number(roundsArg);
  const seconds = Number(secondsArg);
  const variants = { A: JSON.parse(process.env.AB_A ?? '{}') as Variant, B: JSON.parse(process.env.AB_B ?? '{}') as Variant };
  const sides = { A: await prepare(variants.A), B: await prepare(variants.B) };
  const results: Record<'A' | 'B', { rps: number; p99: number; us: number }[]> = { A: [], B: [] };
  try {
    const load = (side: { server: Server; path: string }, s: number) => drive(what === 'run'
      ? { url: `${side.server.url}/modules/${side.path}/run`, method: 'POST', body: RUN_BODY, headers: withKey({ 'content-type': 'application/json' }), connections: 100, seconds: s }
      : { url: `${side.server.url}/modules/${side.path}`, headers: withKey({}), connections: 100, seconds: s });
    for (const name of ['A', 'B'] as const) await load(sides[name], 2);
    for (let i = 0; i < rounds; i++) {
      for (const name of (i % 2 === 0 ? ['A', 'B'] : ['B', 'A']) as ('A' | 'B')[]) {
        const t0 = mainThreadTicks(sides[name].server.pid);
        const r = await load(sides[name], seconds);
        const us = round(((mainThreadTicks(sides[name].server.pid) - t0) * TICK_US) / (r.rps * seconds), 1);
        results[name].push({ rps: r.rps, p99: r.p99, us });
        say(`${name} round ${i + 1}: ${r.rps} req/s, p99 ${r.p99} ms, ${us} µs/request`);
      }
    }
  } finally {
    await sides.A.server.stop();
    await sides.B.server.stop();
  }
  const ratios = results.A.map((a, i) => (results.B[i]?.rps ?? 0) / a.rps);
  for (const name of ['A', 'B'] as const) {
    const r = results[name];
    say(`${name}: median ${median(r.map((x) => x.rps))} req/s, p99 ${median(r.map((x) => x.p99))} ms, ${median(r.map((x) => x.us))} µs/request`);
  }
  say(`B/A req/s by pair: ${ratios.map((x) => round(x, 3)).join(' ')}; median ${round(median(ratios), 3)}`);
}

void main();
