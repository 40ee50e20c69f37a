import { appendFileSync } from 'node:fs';

/**
 * Reports a suite's figures: one line on stdout ("[reliability] suite: {...}") and, when
 * WESS_RELIABILITY_RESULTS names a file, one JSON line appended to it (`npm run test:reliability`
 * collects them for test/reliability/RESULTS.md).
 */
export function record(suite: string, figures: Record<string, number | string>): void {
  const line = JSON.stringify({ suite, at: new Date().toISOString(), ...figures });
  process.stdout.write(`[reliability] ${line}\n`);
  const file = process.env.WESS_RELIABILITY_RESULTS;
  if (file) appendFileSync(file, `${line}\n`);
}
