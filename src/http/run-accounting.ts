import type { EffectiveLimits } from '../auth/policy.js';
import type { CounterSeries } from '../metric-fronts.js';
import type { Receipt } from '../runner/pool.js';
import type { Services } from '../services.js';

/** Runs a call counts toward runs_per_day: one per item, and one more per started worker-second past the first. */
function extraRuns(receipts: readonly Receipt[]): number {
  let extra = 0;
  for (const r of receipts) extra += Math.max(0, Math.ceil(r.durationMs / 1000) - 1);
  return extra;
}

/** Counts a finished run for a key (usage), a tenant's lane (CPU budget) and a tier (metrics). */
export type Account = (keyId: string | null | undefined, limits: EffectiveLimits, lane: string, outcome: 'ok' | 'error', receipts: readonly Receipt[]) => void;

/** The accounting every run route shares (/modules/{id}/run and the HTTP handlers), with its tier series found once per tier. */
export function runAccounting(services: Pick<Services, 'metrics' | 'usage' | 'cpuBudget'>): Account {
  const { metrics, usage, cpuBudget } = services;
  const tierSeries = new Map<string, { ok: CounterSeries<'tier' | 'outcome'>; error: CounterSeries<'tier' | 'outcome'>; cpu: CounterSeries<'tier'>; fuel: CounterSeries<'tier'> }>();
  return (keyId, limits, lane, outcome, receipts) => {
    let cpuMs = 0;
    let fuel = 0;
    for (const r of receipts) {
      cpuMs += r.cpuMs;
      fuel += r.fuelUsed ?? 0;
    }
    const tier = limits.tier ?? 'none';
    let series = tierSeries.get(tier);
    if (series === undefined) {
      series = {
        ok: metrics.tierRunsFront.series({ tier, outcome: 'ok' }),
        error: metrics.tierRunsFront.series({ tier, outcome: 'error' }),
        cpu: metrics.tierCpuSecondsFront.series({ tier }),
        fuel: metrics.tierFuelFront.series({ tier }),
      };
      tierSeries.set(tier, series);
    }
    series[outcome].add();
    series.cpu.add(cpuMs / 1000);
    if (fuel > 0) series.fuel.add(fuel);
    cpuBudget.charge(lane, limits.cpuMsPerMinute, cpuMs);
    if (keyId) usage.record(keyId, { errors: outcome === 'error' ? 1 : 0, cpu_ms: cpuMs, fuel, runs: extraRuns(receipts) });
  };
}
