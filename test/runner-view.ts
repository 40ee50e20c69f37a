import type { Piscina } from 'piscina';
import type { WessApp } from '../src/app.js';
import type { BundleTask } from '../src/runner/protocol.js';

/**
 * Runs `work` and counts the most bundles the app's runner had on workers at once while it ran, at
 * the runner facade's private pool (a test-only view). A bundle's calls run one after another on its
 * thread, so this is how many of a tenant's calls could run side by side: what max_concurrency holds.
 */
export async function mostBundlesAtOnce<T>(app: WessApp, work: () => Promise<T>): Promise<[T, number]> {
  const pool = (app.services.runner as unknown as { pool: Piscina<BundleTask, unknown> }).pool;
  const run = pool.run;
  let now = 0;
  let most = 0;
  pool.run = ((task: BundleTask, options?: Parameters<typeof run>[1]) => {
    most = Math.max(most, ++now);
    return run.call(pool, task, options).finally(() => now--);
  }) as typeof pool.run;
  try {
    return [await work(), most];
  } finally {
    pool.run = run;
  }
}
