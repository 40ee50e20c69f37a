import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { rss, uploadWasm } from '../lib/client.js';
import { drive } from '../lib/load.js';
import type { Row } from '../lib/result.js';
import { withKey, ROOT, type Server } from '../lib/servers.js';
import { round, say, sleep } from '../lib/stats.js';

export interface RssSettings { seconds: number; warmupSeconds: number; connections: number; everySeconds: number }

const MiB = 1024 * 1024;

/**
 * Warm `add` load on `wess` (a fresh server: what earlier scenarios left in memory, LevelDB memtables
 * full of uploads say, is not this scenario's) for warmupSeconds + seconds, sampling /health's
 * memory.rss. The warm-up (heap and JIT reaching their working size) is reported, not judged; "flat"
 * means the last sample after it is at most 10% above the first.
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
  if (samples.length < 2) throw new Error('too few RSS samples after the warm-up');
  const first = samples[0]!;
  const last = samples.at(-1)!;
  const growth = round((last - first) / first, 3);
  // Growth over the second half tells a plateau from a leak (steady growth).
  const mid = samples[Math.floor((samples.length - 1) / 2)]!;
  const mib = (values: number[]) => values.map((v) => round(v / MiB, 0)).join(' ');
  return [
    {
      scenario: `RSS over ${s.seconds} s of warm add after ${s.warmupSeconds} s warm-up (${result.rps} req/s)`,
      metric: 'RSS MiB last',
      wess: round(last / MiB, 1),
      baseline: round(first / MiB, 1),
      ratio: round(last / first, 3),
      target: 'flat: last ≤ first + 10%',
      pass: growth <= 0.1,
      detail:
        `idle before load ${round(atStart / MiB, 1)} MiB; warm-up samples ${mib(warm)}; then every ${s.everySeconds} s: ${mib(samples)}; ` +
        `second half ${round(mid / MiB, 1)} → ${round(last / MiB, 1)} MiB (${round((100 * (last - mid)) / mid, 1)}%); max ${round(Math.max(...samples) / MiB, 1)}`,
    },
  ];
}
