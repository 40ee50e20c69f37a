import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import wabt from 'wabt';
import { createLogger } from '../../src/logger.js';
import { createMetrics, type Metrics } from '../../src/metrics.js';
import { Runner, type RunnerOptions } from '../../src/runner/pool.js';
import { ROOT } from '../helper.js';


export interface StoredModule {
  sha256: string;
  bytes: Uint8Array;
}

function stored(bytes: Uint8Array): StoredModule {
  return { sha256: createHash('sha256').update(bytes).digest('hex'), bytes };
}

/** A fixture from test/fixtures/wasm/, with its content hash. */
export function fixture(name: string): StoredModule {
  return stored(new Uint8Array(readFileSync(new URL(`test/fixtures/wasm/${name}.wasm`, ROOT))));
}

/** A WASI program built from C, from test/fixtures/wasi/, with its content hash. */
export function wasiFixture(name: string): StoredModule {
  return stored(new Uint8Array(readFileSync(new URL(`test/fixtures/wasi/${name}.wasm`, ROOT))));
}

// wabt runs on wasm itself: build every text module when this file loads, before any Runner sets
// the process-wide memory cap under it.
const wat = await wabt();

/** A module from WebAssembly text, for behaviours no fixture covers. */
export function fromWat(text: string): StoredModule {
  const parsed = wat.parseWat('test.wat', text, { multi_value: true, bulk_memory: true, reference_types: true });
  try {
    return stored(parsed.toBinary({}).buffer.slice());
  } finally {
    parsed.destroy();
  }
}

export interface TestRunner {
  runner: Runner;
  metrics: Metrics;
  /** Modules loadBytes can find, by sha256. */
  store: Map<string, Uint8Array>;
  /** Puts modules in the store. */
  add(...modules: StoredModule[]): void;
}

/**
 * A runner over a real pool with small limits; its store starts with `modules`. Its deadline is seconds,
 * so healthy calls never meet it on a busy machine (nor the wait limit of twice that); tests about
 * deadlines set their own.
 */
export async function startRunner(options: Partial<RunnerOptions> = {}, modules: StoredModule[] = []): Promise<TestRunner> {
  const metrics = options.metrics ?? createMetrics();
  const store = new Map<string, Uint8Array>();
  const runner = await Runner.start({
    size: 2,
    timeoutMs: 5000,
    maxMemoryBytes: 16 * 65536,
    queueLimit: 10_000,
    compiledCacheSize: 16,
    logger: createLogger('silent'),
    loadBytes: async (sha256) => store.get(sha256),
    ...options,
    metrics,
  });
  const add = (...list: StoredModule[]) => {
    for (const m of list) store.set(m.sha256, m.bytes);
  };
  add(...modules);
  return { runner, metrics, store, add };
}

/** The value of one sample (a counter, a gauge, or a histogram's `_count`/`_sum`) with these labels. */
export async function metricValue(metrics: Metrics, sample: string, labels: Record<string, string> = {}): Promise<number> {
  for (const metric of await metrics.registry.getMetricsAsJSON()) {
    const values = metric.values as { value: number; metricName?: string; labels: Record<string, string | number> }[];
    for (const v of values) {
      if ((v.metricName ?? metric.name) !== sample) continue;
      if (Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want)) return v.value;
    }
  }
  return 0;
}

/** The error a promise rejects with (fails the test when it resolves). */
export async function rejection(promise: Promise<unknown>): Promise<{ code?: string; message: string }> {
  try {
    await promise;
  } catch (err) {
    return err as { code?: string; message: string };
  }
  throw new Error('expected a rejection');
}

/** Test-only view of the pool behind the facade: how many Piscina tasks it has completed. */
export function tasksCompleted(runner: Runner): number {
  return (runner as unknown as { pool: { completed: number } }).pool.completed;
}
