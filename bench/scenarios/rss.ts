import { rss } from '../lib/client.js';
import { drive } from '../lib/load.js';
import type { Row } from '../lib/result.js';
import { withKey, type Server } from '../lib/servers.js';
import { round, say, sleep } from '../lib/stats.js';

export interface RssSettings { seconds: number; connections: number; everySeconds: number }

const MiB = 1024 * 1024;

/** Warm `add` load for s.seconds while sampling /health's memory.rss; "flat" = last ≤ first sample + 10%. */
export async function rssUnderLoad(wess: Server, addId: string, s: RssSettings): Promise<Row[]> {
  const samples: number[] = [];
  const load = drive({
    url: `${wess.url}/modules/${addId}/run`,
    method: 'POST',
    body: JSON.stringify({ function: 'add', args: [1, 2] }),
    headers: withKey({ 'content-type': 'application/json' }),
    connections: s.connections,
    seconds: s.seconds,
  });
  let done = false;
  void load.finally(() => (done = true));
  await sleep(s.everySeconds * 1000);
  while (!done) {
    samples.push(await rss(wess.url));
    say(`rss: ${round(samples.at(-1)! / MiB, 1)} MiB`);
    await Promise.race([load, sleep(s.everySeconds * 1000)]);
  }
  const result = await load;
  if (samples.length < 2) throw new Error('too few RSS samples');
  const first = samples[0]!;
  const last = samples.at(-1)!;
  const growth = round((last - first) / first, 3);
  // Growth over the second half tells warm-up (early growth, then a plateau) from a leak (steady growth).
  const mid = samples[Math.floor((samples.length - 1) / 2)]!;
  return [
    {
      scenario: `RSS over ${s.seconds} s of warm add (${result.rps} req/s)`,
      metric: 'RSS MiB last',
      wess: round(last / MiB, 1),
      baseline: round(first / MiB, 1),
      ratio: round(last / first, 3),
      target: 'flat: last ≤ first + 10%',
      pass: growth <= 0.1,
      detail: `second half: ${round(mid / MiB, 1)} → ${round(last / MiB, 1)} MiB (${round((100 * (last - mid)) / mid, 1)}%); samples every ${s.everySeconds} s (MiB): ${samples.map((v) => round(v / MiB, 0)).join(' ')}; max ${round(Math.max(...samples) / MiB, 1)}`,
    },
  ];
}
