import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { rss, uploadWasm } from '../lib/client.js';
import { drive } from '../lib/load.js';
import type { Row } from '../lib/result.js';
import { withKey, ROOT, type Server } from '../lib/servers.js';
import { round, say, sleep } from '../lib/stats.js';
import { isFlat, trend } from '../lib/trend.js';

export interface RssSettings { seconds: number; warmupSeconds: number; connections: number; everySeconds: number }

const MiB = 1024 * 1024;

/** The bound on growth after the warm-up: 0.1 = 10% of the first quarter's median. */
const FLAT = 0.1;
/** Below 8, each quarter is a single sample and the judgement is back at first against last. */
const MIN_SAMPLES = 8;

/**
 * Warm `add` load on `wess` (a fresh server: what earlier scenarios left in memory, LevelDB memtables
 * full of uploads say, is not this scenario's) for warmupSeconds + seconds, sampling /health's
 * memory.rss. The warm-up (heap and JIT reaching their working size) is reported, not judged.
 * After it, GC leaves a sawtooth, so "flat" is judged by bench/lib/trend: the median of the last
 * quarter of the samples and the Theil–Sen slope over all of them must each stay within 10% of the
 * first quarter's median. The first and last samples alone can read ±10% by where the teeth fall.
 */
export async function rssUnderLoad(wess: Server, s: RssSettings): Promise<Row[]> {
  const add = await uploadWasm(wess.url, 'add', readFileSync(join(ROOT, 'test/fixtures/wasm/add.wasm')));
  const atStart = await rss(wess.url);
  const warm: number[] = [];
  const samples: number[] = [];
  const load = drive({
    url: `${wess.url}/modules/${add.id}/run`,
    method: 'POST',
    body: JSON.stringify({ function: 'add', args: [1, 2] }),
    headers: withKey({ 'content-type': 'application/json' }),
    connections: s.connections,
    seconds: s.warmupSeconds + s.seconds,
  });
  let done = false;
  void load.finally(() => (done = true));
  const started = Date.now();
  await sleep(s.everySeconds * 1000);
  while (!done) {
    const value = await rss(wess.url);
    const inWarmup = Date.now() - started < s.warmupSeconds * 1000;
    (inWarmup ? warm : samples).push(value);
    say(`rss${inWarmup ? ' (warm-up)' : ''}: ${round(value / MiB, 1)} MiB`);
    await Promise.race([load, sleep(s.everySeconds * 1000)]);
  }
  const result = await load;
  if (samples.length < MIN_SAMPLES) throw new Error(`${samples.length} RSS samples after the warm-up; the trend needs at least ${MIN_SAMPLES}`);
  const t = trend(samples);
  const mib = (value: number) => round(value / MiB, 1);
  const pct = (share: number) => `${share >= 0 ? '+' : ''}${round(100 * share, 1)}%`;
  const perMinute = (t.slope * 60) / s.everySeconds;
  return [
    {
      scenario: `RSS over ${s.seconds} s of warm add after ${s.warmupSeconds} s warm-up (${result.rps} req/s)`,
      metric: 'RSS MiB, last-quarter median',
      wess: mib(t.lastQuarter),
      baseline: mib(t.firstQuarter),
      ratio: round(t.lastQuarter / t.firstQuarter, 3),
      target: `flat: last quarter and slope each ≤ +${100 * FLAT}%`,
      judges:
        `the ${samples.length} samples after the warm-up (one every ${s.everySeconds} s): the median of their last quarter against the median of their first ` +
        `(the baseline column), and the Theil–Sen slope (median of all pairwise slopes) carried over the whole run, as a share of the first quarter's median; ` +
        `both must be ≤ +${100 * FLAT}%`,
      pass: isFlat(t, FLAT),
      detail:
        `quarter medians ${mib(t.firstQuarter)} → ${mib(t.lastQuarter)} MiB (${pct(t.quarterGrowth)}); ` +
        `Theil–Sen slope ${round(perMinute / MiB, 2)} MiB/min, ${pct(t.slopeGrowth)} over the run; max ${mib(Math.max(...samples))} MiB; ` +
        `idle before load ${mib(atStart)} MiB; warm-up samples ${list(warm)}; then every ${s.everySeconds} s: ${list(samples)}`,
    },
  ];
}

function list(values: number[]): string {
  return values.map((v) => round(v / MiB, 0)).join(' ');
}
