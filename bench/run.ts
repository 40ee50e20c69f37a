import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { capture, mismatches } from './lib/answers.js';
import { guarded, type Results, type Row } from './lib/result.js';
import { startBare, startFlags, startWess, type Server } from './lib/servers.js';
import { say } from './lib/stats.js';
import { details, judgements, table, writeReport } from './report.js';
import { coldPath } from './scenarios/cold.js';
import { jobs } from './scenarios/jobs.js';
import { metering } from './scenarios/metering.js';
import { neighbours } from './scenarios/neighbours.js';
import { rssUnderLoad } from './scenarios/rss.js';
import { storm } from './scenarios/storm.js';
import { bindHello, handlerHello, uploadWasiHello, wasiRunHello } from './scenarios/handlers.js';
import { stores } from './scenarios/stores.js';
import { observability } from './scenarios/observability.js';
import { uploads } from './scenarios/uploads.js';
import { cachedMetadata, comparedProbes, uploadCompared, warmAdd, warmBig, type LoadSettings } from './scenarios/warm.js';

/*
 * `npm run bench [-- --long] [-- --quick] [-- --only=… [--merge]]`: starts Wess and a bare Fastify app (answering with the bytes
 * Wess answered) as separate processes on 127.0.0.1, runs every scenario (each guarded: one failing still
 * reports the others), prints the table and writes bench/results.json and bench/RESULTS.md. Bounded: every
 * load has a duration.
 */

const args = new Set(process.argv.slice(2));
const long = args.has('--long');
const quick = args.has('--quick');
/** `--only warm,uploads`: run just these scenarios (by the first word of their label) and print, without writing results. */
const onlyArg = process.argv.find((a) => a.startsWith('--only='));
const only = onlyArg ? new Set(onlyArg.slice('--only='.length).split(',')) : undefined;
/**
 * `--only=… --merge`: the rows of these scenarios replace theirs in bench/results.json (a scenario that failed
 * in the full run, run again), with a note saying which and when, and RESULTS.md is written again.
 */
const merge = args.has('--merge');
const wanted = (label: string) => !only || only.has(label.split(' ')[0] ?? '');

const S = {
  rounds: quick ? 2 : 5,
  seconds: quick ? 3 : 10,
  connections: 100,
  smallSeconds: quick ? 3 : 5,
  // At 60 the cold path's p95 is the 57th sample of 60; at 20 it would be the 19th, all but the worst. About 3 s.
  coldCount: quick ? 20 : 60,
  uploadConcurrency: 32,
  uploadBytes: 100 * 1024,
  stormTimeoutMs: 1000,
  stormSeconds: quick ? 5 : 15,
  rssSeconds: long ? 300 : quick ? 20 : 60,
  rssWarmupSeconds: quick ? 10 : 20,
  // Every 2 s: more samples under each quarter's median, and the quick run still gets the 8 the trend needs.
  rssEverySeconds: 2,
  neighbourRounds: quick ? 1 : 2,
  neighbourSeconds: quick ? 5 : 15,
  neighbourPaceMs: 20,
  storeSeconds: quick ? 3 : 5,
  coherenceChanges: quick ? 20 : 100,
  jobsThroughput: quick ? 1000 : 3000,
  jobsBacklog: 10_000,
  jobsSeconds: quick ? 5 : 10,
};

async function main(): Promise<void> {
  const BENCH = fileURLToPath(new URL('../../bench/', import.meta.url));
  const rows: Row[] = [];
  const loadAtStart = loadavg();
  const notes: string[] = [];
  const load = { rounds: S.rounds, seconds: S.seconds, connections: S.connections };
  const small = { ...load, seconds: S.smallSeconds };

  let wess: Server | undefined;
  try {
    wess = await startWess();
    say(`wess at ${wess.url} (log ${wess.logFile})`);
    const w = wess;
    if (wanted('warm') || wanted('GET') || wanted('HTTP') || wanted('WASI')) rows.push(...(await againstBare(w, load, small)));
    rows.push(...(await maybe('cold path', () => coldPath(w, S.coldCount))));
    rows.push(...(await maybe('fuel metering', () => metering(w, { rounds: S.rounds, callsPerRound: quick ? 5 : 20 }))));
    rows.push(...(await maybe('durable uploads', () =>
      uploads(w, { rounds: S.rounds, seconds: S.smallSeconds, concurrency: S.uploadConcurrency, size: S.uploadBytes }))));
  } catch (err) {
    if ((err as { code?: unknown }).code === BASELINE_DIFFERS) throw err;
    notes.push(`setup failed: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    await wess?.stop();
  }

  rows.push(...(await maybe('RSS', async () => {
    const fresh = await startWess();
    try {
      return await rssUnderLoad(fresh, { seconds: S.rssSeconds, warmupSeconds: S.rssWarmupSeconds, connections: S.connections, everySeconds: S.rssEverySeconds });
    } finally {
      await fresh.stop();
    }
  })));

  rows.push(...(await maybe('storm', async () => {
    // Without wess.toml: its free tier's max_timeout (2 s) is above this runner.timeout, which the
    // config check refuses (a tier can only lower the deadline). Built-in defaults otherwise.
    const empty = join(mkdtempSync(join(tmpdir(), 'wess-bench-storm-')), 'wess.toml');
    writeFileSync(empty, '');
    const stormy = await startWess({ WESS_RUNNER_TIMEOUT: String(S.stormTimeoutMs), WESS_CONFIG: empty });
    try {
      return await storm(stormy, { seconds: S.stormSeconds, connections: S.connections, timeoutMs: S.stormTimeoutMs });
    } finally {
      await stormy.stop();
    }
  })));

  // The default wess.toml, as the issue's figures were taken: 2 workers and a spare, free tier max_timeout 2 s.
  rows.push(...(await maybe('noisy neighbour', async () => {
    const shared = await startWess();
    try {
      const settings = { rounds: S.neighbourRounds, seconds: S.neighbourSeconds, paceMs: S.neighbourPaceMs, loops: 8, flood: 4000, floodBatch: 100 };
      return await neighbours(shared, settings, ['loops', 'launder', 'flood']);
    } finally {
      await shared.stop();
    }
  })));

  rows.push(...(await maybe('jobs', async () => {
    const fresh = await startWess(process.env.BENCH_JOBS_CONCURRENCY ? { WESS_JOBS_CONCURRENCY: process.env.BENCH_JOBS_CONCURRENCY } : {});
    try {
      return await jobs(fresh, { throughputJobs: S.jobsThroughput, backlog: S.jobsBacklog, concurrency: 32, seconds: S.jobsSeconds, paceMs: 20 });
    } finally {
      await fresh.stop();
    }
  })));

  rows.push(...(await maybe('stores', () =>
    stores({ rounds: S.rounds, seconds: S.storeSeconds, connections: S.connections, uploadConcurrency: S.uploadConcurrency, uploadBytes: S.uploadBytes, coherenceChanges: S.coherenceChanges }))));

  rows.push(...(await maybe('observability', () => observability(load))));

  const load1 = (label: string, l: number[]) => `load average ${label}: ${l.map((v) => v.toFixed(2)).join(' / ')} (1/5/15 min); the machine is shared, so a high value means other work competed with both sides.`;
  notes.push(load1('at start', loadAtStart), load1('at end', loadavg()));
  const results: Results = {
    command: `npm run bench${long ? ' -- --long' : quick ? ' -- --quick' : ''}`,
    date: new Date().toISOString(),
    machine: { nproc: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version, platform: `${process.platform} ${process.arch}` },
    wessNodeFlags: startFlags(),
    settings: S,
    rows,
    notes,
  };
  if (only && merge) {
    const path = writeReport(mergedInto(JSON.parse(readFileSync(`${BENCH}results.json`, 'utf8')) as Results, rows, `${onlyArg ?? ''} --merge`, results.date, BENCH));
    process.stdout.write(`${table(rows)}\n\nmerged into bench/results.json; wrote ${path}\n`);
    return;
  }
  if (only) {
    process.stdout.write(`${[table(rows), '', ...judgements(rows), ...details(rows)].join('\n')}\n\n(--only: results not written)\n`);
    return;
  }
  writeFileSync(`${BENCH}results.json`, `${JSON.stringify(results, null, 2)}\n`);
  const path = writeReport(results);
  process.stdout.write(`${table(rows)}\n\nwrote ${path}\n`);
}

/**
 * `full` with `rows` in place of the rows of the same scenarios (by the first word of the scenario, as --only
 * picks them, a failed scenario's row included), and a note of the re-run; written back to results.json.
 */
function mergedInto(full: Results, rows: Row[], how: string, date: string, bench: string): Results {
  const key = (r: Row) => r.scenario.split(/[\s:]/)[0] ?? '';
  const rerun = new Set(rows.map(key));
  const kept = full.rows.filter((r) => !rerun.has(key(r)));
  const at = full.rows.findIndex((r) => rerun.has(key(r)));
  const merged = at === -1 ? [...kept, ...rows] : [...kept.slice(0, at), ...rows, ...kept.slice(at)];
  const note = `rows of ${[...rerun].join(', ')} run again on ${date} with \`npm run bench -- ${how}\` and merged into this run's results`;
  const results = { ...full, rows: merged, notes: [...full.notes, note] };
  writeFileSync(`${bench}results.json`, `${JSON.stringify(results, null, 2)}\n`);
  return results;
}

const BASELINE_DIFFERS = 'BASELINE_DIFFERS';

/**
 * The rows that compare Wess with the bare app. The bare app starts with the answers Wess gave to the
 * same requests, and must answer them with the same bytes: one that answers other bytes would make
 * every ratio a comparison of different work, so a difference stops the run before anything is measured.
 */
async function againstBare(w: Server, load: LoadSettings, small: LoadSettings): Promise<Row[]> {
  const m = await uploadCompared(w);
  const hello = await bindHello(w);
  const wasiHello = await uploadWasiHello(w);
  const exchanges = await capture(w, [...comparedProbes(m), hello, wasiHello]);
  const b = await startBare(exchanges);
  try {
    say(`bare at ${b.url}, answering ${exchanges.map((e) => `${e.method} ${e.path} with Wess's ${Buffer.byteLength(e.answer)} bytes`).join('; ')}`);
    const differs = await mismatches(b, exchanges);
    if (differs.length) {
      const message = `the bare baseline does not answer as Wess does; nothing measured or written:\n  ${differs.join('\n  ')}`;
      throw Object.assign(new Error(message), { code: BASELINE_DIFFERS });
    }
    say('bare answers are byte for byte the ones Wess sent');
    return [
      ...(await maybe('warm /run add', () => warmAdd(w, b, m.add.id, load))),
      ...(await maybe('GET /modules/{id}', () => cachedMetadata(w, b, m.add.id, load))),
      ...(await maybe('warm /run 1 MiB-code module', () => warmBig(w, b, m.big, small))),
      ...(await maybe('HTTP handler hello', () => handlerHello(w, b, load))),
      ...(await maybe('WASI /run hello', () => wasiRunHello(w, b, wasiHello, load))),
    ];
  } finally {
    await b.stop();
  }
}

/** Runs a scenario unless `--only` leaves it out. */
function maybe(label: string, body: () => Promise<Row[]>): Promise<Row[]> {
  return wanted(label) ? guarded(label, body) : Promise.resolve([]);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
