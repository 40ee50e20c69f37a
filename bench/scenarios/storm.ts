import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { runCall, uploadWasm } from '../lib/client.js';
import { drive } from '../lib/load.js';
import type { Row } from '../lib/result.js';
import { loggedMs, withKey, ROOT, type Server } from '../lib/servers.js';
import { median, round, say } from '../lib/stats.js';

export interface StormSettings { seconds: number; connections: number; timeoutMs: number }

const fixture = (name: string) => readFileSync(join(ROOT, `test/fixtures/wasm/${name}.wasm`));

/**
 * Healthy `add` calls under autocannon, first alone, then while one `spin` call (loop-forever) a second
 * is fired, then alone again. `wess` must run with runner.timeout = s.timeoutMs.
 * Each looping call's end is measured by the server (access log `ms`, matched by x-request-id) and, less
 * precisely, from its send on this process's clock (which autocannon keeps busy).
 */
export async function storm(wess: Server, s: StormSettings): Promise<Row[]> {
  const add = await uploadWasm(wess.url, 'add', fixture('add'));
  const spin = await uploadWasm(wess.url, 'loop-forever', fixture('loop-forever'));
  const healthy = () =>
    drive({
      url: `${wess.url}/modules/${add.id}/run`,
      method: 'POST',
      body: JSON.stringify({ function: 'add', args: [1, 2] }),
      headers: withKey({ 'content-type': 'application/json' }),
      connections: s.connections,
      seconds: s.seconds,
    });
  const before = await healthy();
  say(`storm: healthy alone ${before.rps} req/s`);

  const loops: Promise<{ ms: number; status: number }>[] = [];
  const tag = `spin-${process.pid}-${Date.now()}`;
  const fire = () => {
    const t0 = performance.now();
    loops.push(runCall(wess.url, spin.id, { function: 'spin' }, `${tag}-${loops.length}`).then(
      (res) => ({ ms: performance.now() - t0, status: res.status }),
      () => ({ ms: performance.now() - t0, status: 0 }),
    ));
  };
  fire();
  const timer = setInterval(fire, 1000);
  let during;
  try {
    during = await healthy();
  } finally {
    clearInterval(timer);
  }
  const ends = await Promise.all(loops);
  say(`storm: healthy during ${during.rps} req/s (non2xx ${during.non2xx}); loops ended at ${ends.map((e) => `${Math.round(e.ms)}(${e.status})`).join(' ')}`);
  const after = await healthy();
  say(`storm: healthy after ${after.rps} req/s`);

  const server = [...(await loggedMs(wess.logFile ?? '', tag, ends.length)).values()];
  if (server.length !== ends.length) throw new Error(`matched ${server.length} of ${ends.length} looping calls in the access log`);
  const baseline = median([before.rps, after.rps]);
  const ratio = round(during.rps / baseline, 3);
  const worst = Math.max(...server);
  const limit = s.timeoutMs + 100;
  const statuses = [...new Set(ends.map((e) => e.status))].join(',');
  const allTimedOut = ends.every((e) => e.status === 408);
  return [
    {
      scenario: `storm: healthy add beside 1 loop/s (timeout ${s.timeoutMs} ms)`,
      metric: 'req/s',
      wess: during.rps,
      baseline,
      ratio,
      target: '≥ 0.5× unstormed',
      judges: `the req/s (2xx only) of the ${s.seconds} s run beside the loops, against the mean of the unstormed runs before and after it`,
      pass: ratio >= 0.5,
      detail: `unstormed before ${before.rps}, after ${after.rps}; stormed p99 ${during.p99} ms, non2xx ${during.non2xx}`,
    },
    {
      scenario: `storm: looping calls end (n=${ends.length}, status ${statuses})`,
      metric: 'worst server ms',
      wess: round(worst, 1),
      baseline: null,
      ratio: null,
      target: `≤ ${limit} ms, all 408`,
      judges: `the slowest of the ${ends.length} looping calls by server time (access log ms), and every one of them answered 408`,
      pass: worst <= limit && allTimedOut,
      detail: `server ms median ${round(median(server), 1)}, all: ${server.map((v) => Math.round(v)).join(' ')}; client-side (send → answer): ${ends.map((e) => Math.round(e.ms)).join(' ')}`,
    },
  ];
}
