import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCall, uploadWasm } from '../lib/client.js';
import type { Row } from '../lib/result.js';
import { ROOT, type Server } from '../lib/servers.js';
import { median, round, say } from '../lib/stats.js';

export interface MeteringSettings { rounds: number; callsPerRound: number }

/** The kernels: a hash of a few instructions per byte, and busy's four-instruction loop, metering's worst case. */
const KERNELS = [
  { fixture: 'hash-loop', fn: 'hash', n: 5_000_000 },
  { fixture: 'busy', fn: 'busy', n: 20_000_000 },
] as const;

interface Answer { results?: unknown[]; stats?: { duration_ms?: number; fuel_used?: number } }

/**
 * The cost of fuel metering on CPU-bound kernels (KERNELS: loops of a few instructions, where charging
 * per iteration shows most), each called with and without `"fuel"` in alternated rounds. Judged on the
 * guest's own time (stats.duration_ms, measured in the worker), so the HTTP round trip, the same for
 * both, does not dilute the ratio.
 */
export async function metering(wess: Server, s: MeteringSettings): Promise<Row[]> {
  const rows: Row[] = [];
  for (const kernel of KERNELS) rows.push(await meteringOf(wess, s, kernel));
  return rows;
}

async function meteringOf(wess: Server, s: MeteringSettings, kernel: (typeof KERNELS)[number]): Promise<Row> {
  const module = await uploadWasm(wess.url, kernel.fixture, readFileSync(join(ROOT, `test/fixtures/wasm/${kernel.fixture}.wasm`)));
  const call = async (fuel: number | undefined): Promise<Answer> => {
    const res = await runCall(wess.url, module.id, { function: kernel.fn, args: [kernel.n], fuel });
    if (res.status !== 200) throw new Error(`${kernel.fn}(${kernel.n}) answered ${res.status}: ${JSON.stringify(res.body)}`);
    return res.body as Answer;
  };
  const plain = (await call(undefined)).results;
  const metered = await call(1e15);
  if (JSON.stringify(plain) !== JSON.stringify(metered.results)) throw new Error(`metered ${kernel.fn} gave ${JSON.stringify(metered.results)}, unmetered ${JSON.stringify(plain)}`);
  const times = { plain: [] as number[], metered: [] as number[] };
  let fuel = 0;
  for (let r = 0; r < s.rounds; r++) {
    for (const kind of ['plain', 'metered'] as const) {
      const samples: number[] = [];
      for (let i = 0; i < s.callsPerRound; i++) {
        const answer = await call(kind === 'metered' ? 1e15 : undefined);
        samples.push(answer.stats?.duration_ms ?? Number.NaN);
        if (kind === 'metered') fuel = answer.stats?.fuel_used ?? 0;
      }
      times[kind].push(median(samples));
    }
    say(`metering ${kernel.fn} round ${r + 1}: plain ${round(times.plain.at(-1) ?? 0, 2)} ms, metered ${round(times.metered.at(-1) ?? 0, 2)} ms`);
  }
  const p = median(times.plain);
  const m = median(times.metered);
  return {
      scenario: `fuel metering: ${kernel.fn}(${kernel.n}) (${kernel.fixture}.wasm), metered against unmetered`,
      metric: 'guest ms (median)',
      wess: round(m, 2),
      baseline: round(p, 2),
      ratio: round(m / p, 3),
    target: '-',
      pass: null,
      detail: `medians of ${s.rounds} alternated rounds of ${s.callsPerRound} calls each (stats.duration_ms); rounds plain ${times.plain.map((v) => round(v, 2)).join(' / ')}, metered ${times.metered.map((v) => round(v, 2)).join(' / ')}; fuel_used ${fuel} (${round(fuel / kernel.n, 2)} per iteration)`,
  };
}
