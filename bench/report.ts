import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { BudgetRun } from './budget.js';
import type { Results, Row } from './lib/result.js';

/*
 * Renders bench/results.json (written by bench/run.ts) and bench/budget.json (bench/budget.ts) as
 * bench/RESULTS.md. Run alone to regenerate it: `node dist/bench/report.js`.
 */

const BENCH = fileURLToPath(new URL('../../bench/', import.meta.url));

const num = (v: number | null): string => (v === null ? '-' : v.toLocaleString('en-US'));
const verdict = (row: Row): string => (row.pass === null ? (row.detail.startsWith('ERROR') ? 'ERROR' : '-') : row.pass ? 'PASS' : 'FAIL');

/** The markdown table alone (also printed by run.ts). */
export function table(rows: Row[]): string {
  const lines = ['| scenario | metric | Wess | baseline | ratio | target | result |', '|---|---|---:|---:|---:|---|---|'];
  for (const r of rows) lines.push(`| ${r.scenario} | ${r.metric} | ${num(r.wess)} | ${num(r.baseline)} | ${r.ratio === null ? '-' : `${r.ratio}×`} | ${r.target} | ${verdict(r)} |`);
  return lines.join('\n');
}

/** One line per row with a target: the figure its verdict comes from. */
export function judgements(rows: Row[]): string[] {
  const lines = rows.filter((r) => r.judges !== undefined).map((r) => `- **${r.scenario}**, ${r.metric}, target ${r.target}: ${r.judges}`);
  return lines.length ? ['## What each target judges', '', ...lines, ''] : [];
}

/** One line per row: the per-round figures and whatever else the verdict leaves out. */
export function details(rows: Row[]): string[] {
  return ['## Details', '', ...rows.map((r) => `- **${r.scenario}** (${r.metric}): ${r.detail}`)];
}

/** Thousands of instructions per request (callgrind, `--instructions`), and Wess's over bare's of the same run. */
function instructionRows(runs: BudgetRun[], of: (run: BudgetRun) => BudgetRun['scenarios'][number] | undefined, last: BudgetRun): string[] {
  const k = (n: number | undefined) => (n === undefined ? '-' : (n / 1000).toFixed(1));
  return [
    `| **main thread, thousand instructions per request (callgrind)** | ${runs.map((r) => `**${k(of(r)?.wess.instructions?.main)}**`).join(' | ')} | **${k(of(last)?.bare.instructions?.main)}** |`,
    `| instructions, Wess over bare (same run) | ${runs.map((r) => { const sc = of(r); return sc?.wess.instructions && sc.bare.instructions ? `${(sc.wess.instructions.main / sc.bare.instructions.main).toFixed(2)}×` : '-'; }).join(' | ')} | 1× |`,
    `| other threads, thousand instructions per request | ${runs.map((r) => k(of(r)?.wess.instructions?.other)).join(' | ')} | ${k(of(last)?.bare.instructions?.other)} |`,
  ];
}

/**
 * The per-request budget: for each scenario, the main thread's CPU per request split by part, one
 * column per budget run (e.g. before and after a change) and the bare app's of the last run.
 */
export function budget(runs: BudgetRun[]): string[] {
  if (runs.length === 0) return [];
  const last = runs[runs.length - 1] as BudgetRun;
  const out = [
    '## Per-request budget (main thread)',
    '',
    'From `node dist/bench/budget.js --label=NAME` (`bench/budget.json`): the main thread\'s CPU per request, from its utime + stime in ' +
      '`/proc` over a load of 100 connections without a profiler, split by part with a CPU profile of the same load (each sample\'s self ' +
      'time goes to the part of its function\'s file; a native function\'s, such as a socket write or JSON.stringify, to its nearest caller ' +
      'with a file). The machine is shared and its speed drifts between runs: compare Wess with bare within a run, and runs by their ratios. ' +
      'Runs made with `--instructions` also count the instructions per request under valgrind\'s callgrind (user space only, median of 3 rounds ' +
      'of 3,000 requests after 25,000): repeatable within ~3%, so a change of a few per cent can be judged where the µs cannot. ' +
      'Under valgrind the server runs ~20× slower and one thread at a time: work done per second (timers) weighs ~20× more per request, ' +
      'and on `/run` the main thread\'s share of waiting on the workers is stretched with it, so its `/run` count overstates the gap to bare.',
    '',
    `Runs: ${runs.map((r) => `**${r.label}** (\`${r.commit}\`, ${r.date.slice(0, 16).replace('T', ' ')} UTC)`).join(', ')}.`,
  ];
  for (const scenario of last.scenarios.map((sc) => sc.name)) {
    const of = (run: BudgetRun) => run.scenarios.find((sc) => sc.name === scenario);
    const parts = Object.keys(of(last)?.wess.parts ?? {});
    for (const run of runs) for (const part of Object.keys(of(run)?.wess.parts ?? {})) if (!parts.includes(part)) parts.push(part);
    const cell = (v: number | undefined) => (v === undefined ? '-' : v.toFixed(1));
    const header = `| ${scenario} | ${runs.map((r) => `Wess, ${r.label}`).join(' | ')} | bare, ${last.label} |`;
    const rows = [
      header,
      `|---|${runs.map(() => '---:|').join('')}---:|`,
      `| req/s | ${runs.map((r) => num(of(r)?.wess.rps ?? null)).join(' | ')} | ${num(of(last)?.bare.rps ?? null)} |`,
      `| ratio to bare (same run) | ${runs.map((r) => { const sc = of(r); return sc ? `${(sc.wess.rps / sc.bare.rps).toFixed(3)}×` : '-'; }).join(' | ')} | 1× |`,
      `| **main thread, µs per request** | ${runs.map((r) => `**${cell(of(r)?.wess.mainUs)}**`).join(' | ')} | **${cell(of(last)?.bare.mainUs)}** |`,
      `| whole process (workers too), µs per request | ${runs.map((r) => cell(of(r)?.wess.processUs)).join(' | ')} | ${cell(of(last)?.bare.processUs)} |`,
      ...(runs.some((r) => of(r)?.wess.instructions) ? instructionRows(runs, of, last) : []),
      ...parts.map((part) => `| ${part} | ${runs.map((r) => cell(of(r)?.wess.parts[part])).join(' | ')} | ${cell(of(last)?.bare.parts[part])} |`),
    ];
    out.push('', ...rows);
  }
  return [...out, ''];
}

export function render(results: Results, budgetRuns: BudgetRun[] = []): string {
  const settings = Object.entries(results.settings).map(([k, v]) => `${k}=${v}`).join(', ');
  return [
    '# Benchmark results',
    '',
    `Generated by \`bench/report.ts\` from \`bench/results.json\`; reproduce with \`${results.command}\`.`,
    '',
    `- date: ${results.date}`,
    `- machine: ${results.machine.nproc} CPUs (\`nproc\`), ${results.machine.cpu}, ${results.machine.platform}, Node ${results.machine.node}`,
    `- settings: ${settings}`,
    '- baselines: a bare Fastify app in its own process (the same routes and request-body validation, no logging, no auth) ' +
      'for the HTTP rows, answering each route with the body Wess sent for the same request in this run (captured before the load, ' +
      'checked byte for byte, the run stops if they differ); raw classic-level `batch(..., {sync: true})`, group-committed at the ' +
      'same concurrency, for uploads; the same Wess before and after the storm for the storm row. Wess runs as `npm start` does ' +
      `(\`${['node', ...(results.wessNodeFlags ?? []), 'dist/src/main.js'].join(' ')}\`; the bare app with node's defaults) ` +
      'with wess.toml, logging at info to a file, metrics on, `WESS_RATE_LIMIT_MAX=100000000`. autocannon runs in the harness process.',
    '- rows against the bare app and raw classic-level are medians of alternating rounds (baseline, Wess, baseline, Wess, …); ' +
      'req/s and writes/s count 2xx answers only. Every other figure is what its metric names, and "What each target judges" ' +
      'below says which figure each verdict comes from.',
    '',
    table(results.rows),
    '',
    ...judgements(results.rows),
    ...budget(budgetRuns),
    ...details(results.rows),
    ...(results.notes.length ? ['', '## Notes', '', ...results.notes.map((n) => `- ${n}`)] : []),
    '',
  ].join('\n');
}

/** Writes RESULTS.md from a results object (and returns its path). */
export function writeReport(results: Results): string {
  const path = `${BENCH}RESULTS.md`;
  writeFileSync(path, render(results, budgetRuns()));
  return path;
}

/** The runs bench/budget.json holds, in the order they were added; none when there is no file. */
export function budgetRuns(): BudgetRun[] {
  try {
    return (JSON.parse(readFileSync(`${BENCH}budget.json`, 'utf8')) as { runs: BudgetRun[] }).runs;
  } catch {
    return [];
  }
}

/** Regenerates RESULTS.md from the stored results (after a budget run, say); false when there are none yet. */
export function rewriteReport(): boolean {
  let results: Results;
  try {
    results = JSON.parse(readFileSync(`${BENCH}results.json`, 'utf8')) as Results;
  } catch {
    return false;
  }
  writeReport(results);
  return true;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  rewriteReport();
  process.stdout.write(`wrote ${BENCH}RESULTS.md\n`);
}
