import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Probe } from '../lib/answers.js';
import { uploadWasm, type ModuleInfo } from '../lib/client.js';
import { alternate, drive, type Comparison } from '../lib/load.js';
import type { Row } from '../lib/result.js';
import { withKey, ROOT, type Server } from '../lib/servers.js';
import { bigCodeModule } from '../lib/wasm.js';

export interface LoadSettings { rounds: number; seconds: number; connections: number }

/** The modules the Wess-against-bare rows run: the add fixture and a ~1 MiB-code module. */
export interface Compared { add: ModuleInfo; big: ModuleInfo }

const ADD_BODY = JSON.stringify({ function: 'add', args: [1, 2] });
const JSON_HEADERS = withKey({ 'content-type': 'application/json' });
const P99_TARGET_MS = 10;

/** Uploads the modules the comparison rows run. */
export async function uploadCompared(wess: Server): Promise<Compared> {
  const add = await uploadWasm(wess.url, 'add', readFileSync(join(ROOT, 'test/fixtures/wasm/add.wasm')));
  const big = await uploadWasm(wess.url, 'big-code', bigCodeModule(1));
  return { add, big };
}

/** Every request the comparison rows drive on both servers, for the bare app to answer with Wess's bytes. */
export function comparedProbes(m: Compared): Probe[] {
  return [
    { method: 'POST', path: `/modules/${m.add.id}/run`, body: ADD_BODY },
    { method: 'POST', path: `/modules/${m.big.id}/run`, body: ADD_BODY },
    { method: 'GET', path: `/modules/${m.add.id}` },
  ];
}

function rounds(c: Comparison): string {
  const list = (side: Comparison['base']) => side.rounds.map((r) => r.rps).join(' / ');
  return `rounds base ${list(c.base)}; wess ${list(c.wess)}`;
}

/** POST /run of `moduleId` on Wess against the bare route, alternately; returns the comparison. */
function compareRun(wess: Server, bare: Server, moduleId: string, s: LoadSettings, label: string): Promise<Comparison> {
  const load = (url: string) => () =>
    drive({ url, method: 'POST', body: ADD_BODY, headers: JSON_HEADERS, connections: s.connections, seconds: s.seconds });
  return alternate(label, s.rounds, load(`${bare.url}/modules/${moduleId}/run`), load(`${wess.url}/modules/${moduleId}/run`));
}

/** The hot-path targets: req/s against bare (0.8× is where we want to end up), and p99. */
const RATIO_TARGET = 0.6;
const RATIO_GOAL = 0.8;

/**
 * A hot-path comparison's two rows: the req/s ratio, and the p99, each the median of the alternated rounds,
 * as issue 18 sets its targets. The worst round's p99 is shown beside it: on this shared machine one
 * round in three may run in a slow phase for both sides (the bare app's p99 moves with it).
 */
function hotPathRows(scenario: string, c: Comparison, s: LoadSettings, detail: string): Row[] {
  const worst = (side: Comparison['base']) => Math.max(...side.rounds.map((r) => r.p99));
  return [
    {
      scenario,
      metric: 'req/s',
      wess: c.wess.rps,
      baseline: c.base.rps,
      ratio: c.ratio,
      target: `≥ ${RATIO_TARGET}× bare (goal ${RATIO_GOAL}×)`,
      judges: `the median req/s (2xx only) of ${s.rounds} alternating ${s.seconds} s rounds on each side, Wess over bare`,
      pass: c.ratio >= RATIO_TARGET,
      detail: `${rounds(c)}${detail}`,
    },
    {
      scenario,
      metric: 'p99 ms (median of rounds)',
      wess: c.wess.p99,
      baseline: c.base.p99,
      ratio: null,
      target: `≤ ${P99_TARGET_MS} ms`,
      judges: `the median of Wess's ${s.rounds} rounds' p99 latencies (autocannon's p99 of each round), beside the bare app's`,
      pass: c.wess.p99 <= P99_TARGET_MS,
      detail: `p99 rounds wess ${c.wess.rounds.map((r) => r.p99).join(' / ')} (worst ${worst(c.wess)}); bare ${c.base.rounds.map((r) => r.p99).join(' / ')} (worst ${worst(c.base)})`,
    },
  ];
}

/** Warm /run of test/fixtures/wasm/add.wasm against the bare route: req/s ratio and p99 rows. */
export async function warmAdd(wess: Server, bare: Server, addId: string, s: LoadSettings): Promise<Row[]> {
  return hotPathRows('warm /run add', await compareRun(wess, bare, addId, s, 'warm add'), s, '');
}

/** Warm /run of `add` in a ~1 MiB-code module (no target in the issue; shows per-instance cost of a big module). */
export async function warmBig(wess: Server, bare: Server, big: ModuleInfo, s: LoadSettings): Promise<Row[]> {
  const c = await compareRun(wess, bare, big.id, s, 'warm 1 MiB');
  return [
    { scenario: `warm /run 1 MiB-code module (${Math.round(big.size / 1024)} KiB)`, metric: 'req/s', wess: c.wess.rps, baseline: c.base.rps, ratio: c.ratio, target: '-', pass: null, detail: `${rounds(c)}; p99 wess ${c.wess.p99} ms` },
  ];
}

/** GET /modules/{id} (reader cache hit) against the bare GET route: req/s ratio and p99 rows. */
export async function cachedMetadata(wess: Server, bare: Server, addId: string, s: LoadSettings): Promise<Row[]> {
  const load = (url: string) => () => drive({ url, headers: withKey({}), connections: s.connections, seconds: s.seconds });
  const c = await alternate('GET metadata', s.rounds, load(`${bare.url}/modules/${addId}`), load(`${wess.url}/modules/${addId}`));
  return hotPathRows('GET /modules/{id} (cached)', c, s, `; p99 wess ${c.wess.p99} ms, bare ${c.base.p99} ms`);
}
