import { appendFileSync } from 'node:fs';

/** A recorded figure: a number or text, or a list or table of them (the per-route table of hostile-requests). */
export type Figure = number | string | boolean | null | Figure[] | { [name: string]: Figure };

/**
 * Reports a suite's figures: one line on stdout ("[reliability] {...}") and, when
 * WESS_RELIABILITY_RESULTS names a file, one JSON line appended to it, tagged with the run
 * (WESS_RELIABILITY_RUN) that `npm run test:reliability` started; test/reliability/report.ts
 * renders a run's lines as test/reliability/RESULTS.md.
 */
export function record(suite: string, figures: Record<string, Figure>): void {
  const run = process.env.WESS_RELIABILITY_RUN;
  const line = JSON.stringify({ suite, ...(run ? { run } : {}), at: new Date().toISOString(), ...figures });
  process.stdout.write(`[reliability] ${line}\n`);
  const file = process.env.WESS_RELIABILITY_RESULTS;
  if (file) appendFileSync(file, `${line}\n`);
}
