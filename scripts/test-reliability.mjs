// `npm run test:reliability [-- suite…]`: the reliability suites of issue 7 at full size, after a
// build: the fast ones `npm test` runs too (with more cycles and fuzz runs) and the long ones
// (*.long.js: 10,000 connections, minutes of load). The fd soft limit is raised to the hard one.
// Each suite's figures are printed and appended to test/reliability/results.jsonl (RESULTS.md quotes them).
// Sizes: WESS_CRASH_CYCLES (50), WESS_FUZZ_RUNS (2000), WESS_LOAD_CONNECTIONS (10000),
// WESS_LOAD_HOLD_S (120), WESS_LOAD_MINUTES (10); `-- crash overload` runs only those suites.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

const DIR = 'dist/test/reliability';
const wanted = process.argv.slice(2);
const files = readdirSync(DIR)
  .filter((file) => /\.(test|long)\.js$/.test(file))
  .filter((file) => wanted.length === 0 || wanted.includes(file.replace(/\.(test|long)\.js$/, '')))
  .sort()
  .map((file) => join(DIR, file));
if (files.length === 0) {
  console.error(`no reliability suite matches ${wanted.join(', ')}`);
  process.exit(2);
}
const env = {
  WESS_CRASH_CYCLES: '50',
  WESS_FUZZ_RUNS: '2000',
  WESS_RELIABILITY_RESULTS: resolve('test/reliability/results.jsonl'),
  ...process.env,
};
const quoted = files.map((file) => `'${file}'`).join(' ');
// One suite at a time: they load the machine and measure it.
const child = spawn('sh', ['-c', `ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec '${process.execPath}' --test --test-concurrency=1 ${quoted}`], { stdio: 'inherit', env });
child.on('exit', (code) => process.exit(code ?? 1));
