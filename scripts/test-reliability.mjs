// `npm run test:reliability [-- suite…]`: the reliability suites of issue 7 at full size, after a
// build: the fast ones `npm test` runs too (with more cycles and fuzz runs) and the long ones
// (*.long.js: 10,000 connections, minutes of load). The fd soft limit is raised to the hard one.
// Each suite's figures are printed and appended to WESS_RELIABILITY_RESULTS (default
// test/reliability/results.jsonl), between a `run` line (command, sizes, machine) and a `run-end`
// line (exit code). After a run of every suite that passes into the default file, RESULTS.md is
// regenerated from it (scripts/reliability-report.mjs); a run of some suites, a failing one, or one
// writing elsewhere (CI) leaves RESULTS.md alone.
// Sizes: WESS_CRASH_CYCLES (50), WESS_FUZZ_RUNS (2000), WESS_LOAD_CONNECTIONS (10000),
// WESS_LOAD_HOLD_S (120), WESS_LOAD_MINUTES (10); `-- crash overload` runs only those suites.
import { execFileSync, spawn } from 'node:child_process';
import { appendFileSync, readdirSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { DEFAULT_OUT, DEFAULT_RESULTS, writeReport } from './reliability-report.mjs';

const DIR = 'dist/test/reliability';
const wanted = process.argv.slice(2);
const suiteOf = (file) => file.replace(/\.(test|long)\.js$/, '');
const all = readdirSync(DIR).filter((file) => /\.(test|long)\.js$/.test(file)).sort();
const files = all.filter((file) => wanted.length === 0 || wanted.includes(suiteOf(file))).map((file) => join(DIR, file));
if (files.length === 0) {
  console.error(`no reliability suite matches ${wanted.join(', ')}`);
  process.exit(2);
}
const SIZES = {
  WESS_CRASH_CYCLES: '50',
  WESS_FUZZ_RUNS: '2000',
  WESS_LOAD_CONNECTIONS: '10000',
  WESS_LOAD_HOLD_S: '120',
  WESS_LOAD_MINUTES: '10',
};
const results = process.env.WESS_RELIABILITY_RESULTS ? resolve(process.env.WESS_RELIABILITY_RESULTS) : DEFAULT_RESULTS;
const run = new Date().toISOString();
const env = { ...SIZES, ...process.env, WESS_RELIABILITY_RESULTS: results, WESS_RELIABILITY_RUN: run };
const full = files.length === all.length;

const fdLimit = Number(execFileSync('sh', ['-c', 'ulimit -Hn']).toString().trim()) || 'unlimited';
const append = (line) => appendFileSync(results, `${JSON.stringify(line)}\n`);
append({
  suite: 'run',
  run,
  at: run,
  command: `npm run test:reliability${wanted.length ? ` -- ${wanted.join(' ')}` : ''}`,
  sizes: Object.fromEntries(Object.keys(SIZES).map((name) => [name, env[name]])),
  suites: files.map((file) => suiteOf(file.slice(DIR.length + 1))),
  full,
  machine: {
    cpus: cpus().length,
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    memory_gib: Math.round(totalmem() / 2 ** 30),
    platform: `${process.platform} ${process.arch}`,
    node: process.version,
    fd_limit: fdLimit,
    loadavg: loadavg().map((l) => Math.round(l * 100) / 100),
  },
});

const quoted = files.map((file) => `'${file}'`).join(' ');
const started = Date.now();
// One suite at a time: they load the machine and measure it.
const child = spawn('sh', ['-c', `ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec '${process.execPath}' --test --test-concurrency=1 ${quoted}`], { stdio: 'inherit', env });
child.on('exit', (code) => {
  const exitCode = code ?? 1;
  append({ suite: 'run-end', run, at: new Date().toISOString(), full, exit_code: exitCode, duration_s: Math.round((Date.now() - started) / 1000) });
  if (!full || exitCode !== 0 || results !== DEFAULT_RESULTS) {
    const why = !full ? 'not every suite ran' : exitCode !== 0 ? 'a suite failed' : `the figures went to ${results}`;
    console.log(`\nRESULTS.md left as it was (${why}); render this run with: node scripts/reliability-report.mjs ${results} <out.md> --run ${run}`);
    process.exit(exitCode);
  }
  try {
    writeReport(results, DEFAULT_OUT, run);
  } catch (err) {
    console.error(`\nRESULTS.md not written: ${err.message}`);
    process.exit(1);
  }
  console.log(`\nwrote ${DEFAULT_OUT} from run ${run}`);
  process.exit(0);
});
