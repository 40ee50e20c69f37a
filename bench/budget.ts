import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { capture, mismatches } from './lib/answers.js';
import { mainThreadTicks, processTicks, TICK_US } from './lib/cpu.js';
import { uploadWasm } from './lib/client.js';
import { drive, type LoadOptions } from './lib/load.js';
import { ROOT, startBare, startWess, withKey, type Launcher, type Server } from './lib/servers.js';
import { median, round, say } from './lib/stats.js';
import { budgetRuns, rewriteReport } from './report.js';

/*
 * `npm run build && node dist/bench/budget.js [--label=NAME] [--seconds=N] [--instructions]`: the per-request budget of
 * bench/RESULTS.md. For the cached GET /modules/{id} and the warm /run of add, on Wess and on the bare
 * app of bench/bare-server.ts, it measures the main thread's CPU per request (utime + stime of the
 * main thread in /proc, over a load of 100 connections, no profiler attached), then runs the same load
 * again under --cpu-prof and splits that CPU by part: each sample's self time goes to the part of its
 * function's file, and a native function's (a socket write, JSON.stringify) to the part of the nearest
 * caller that has a file. The run is stored under its label in bench/budget.json (another label's run
 * is kept, so a "before" stays beside the "after"), and bench/report.ts shows them in RESULTS.md.
 * With --instructions (valgrind on PATH: `apt-get install valgrind`) each server is also started once
 * under callgrind to count the instructions per request (countInstructions): ~2 minutes a server.
 */

const BUDGET_FILE = join(ROOT, 'bench/budget.json');
const CONNECTIONS = 100;
const WARMUP_SECONDS = 3;

/** What a part is made of, by the file a function is in; the first match wins. */
const PARTS: [string, RegExp][] = [
  ['access line and logging', /dist\/src\/logger\.js|plugins\/access-line\.js|node_modules\/(pino|sonic-boom|fast-redact|thread-stream)\//],
  ['metrics', /dist\/src\/metrics\.js|node_modules\/prom-client\//],
  ['rate limit', /http\/rate-limit\.js|node_modules\/(@fastify\/rate-limit|toad-cache)\//],
  ['auth and keys', /dist\/src\/auth\/|dist\/src\/http\/auth\.js/],
  ['request id', /plugins\/request-id\.js|node_modules\/uuid\//],
  ['usage and audit', /plugins\/(usage|audit)\.js/],
  // Apart, so that a run shows what tracing costs (with it off, as here: nothing) and what the invocation log and guest output do.
  ['tracing', /dist\/src\/tracing\/|plugins\/tracing\.js|node_modules\/@opentelemetry\//],
  ['invocation log and guest output', /dist\/src\/observability\/|plugins\/invocations\.js/],
  ['security headers', /http\/transport\.js/],
  ['validation and body parsing', /node_modules\/(zod|secure-json-parse)\/|http\/(schemas|json-body|body-limits)\.js/],
  ['route handlers and errors', /dist\/src\/http\/(routes\/|error-handler|run-output|tenant-limits)|dist\/src\/errors\.js|dist\/src\/modules\//],
  ['run executor and accounting', /dist\/src\/runs\/|http\/run-accounting\.js/],
  // Piscina wraps each task in an AsyncResource (node:async_hooks): the runner's, not node's timers'.
  ['runner (main thread side)', /dist\/src\/(runner|wasm|wasi)\/|node_modules\/piscina\/|node:async_hooks/],
  ['store reads', /dist\/src\/store\/|node_modules\/(lru-cache|classic-level|abstract-level)\//],
  ['Fastify', /node_modules\/(fastify|find-my-way|avvio|fast-json-stringify|light-my-request|@fastify\/|fast-querystring|fast-uri|process-warning|abstract-logging)/],
  ['node HTTP and sockets', /node:(_http_|net|stream|internal\/(streams|stream_base_commons|http|net|js_stream_socket))|node:events|node:internal\/(url|buffer|validators)/],
  ['node timers and microtasks', /node:internal\/(timers|process\/task_queues|async_hooks|process\/)|node:timers/],
];
const OTHER = 'other';

interface CallFrame { functionName: string; url: string }
interface ProfileNode { id: number; callFrame: CallFrame; children?: number[] }
interface Profile { nodes: ProfileNode[]; startTime: number; endTime: number; samples: number[]; timeDeltas: number[] }

/** One server's figures under one load. */
interface Measured {
  rps: number;
  p99: number;
  /** Main-thread CPU per request (µs), without a profiler. */
  mainUs: number;
  /** CPU of the whole process per request (µs): the main thread plus the worker threads. */
  processUs: number;
  /** The main thread's CPU per request split by part (µs), from the profiled run's shares of non-idle samples. */
  parts: Record<string, number>;
  /** Instructions per request under callgrind (`--instructions`): the main thread's, and the other threads' together. */
  instructions?: { main: number; other: number };
}

export interface BudgetRun {
  label: string;
  date: string;
  commit: string;
  seconds: number;
  connections: number;
  scenarios: { name: string; wess: Measured; bare: Measured }[];
}

function partOf(url: string): string | undefined {
  if (!url) return undefined;
  for (const [name, pattern] of PARTS) if (pattern.test(url)) return name;
  return OTHER;
}

/**
 * Self time by part of the samples taken between `from` and `to` (µs on the monotonic clock, which V8's
 * profiler and process.hrtime share on Linux). Idle samples are left out; GC and "(program)" (V8 and
 * native work outside any JS function) are parts of their own.
 */
function split(profile: Profile, from: number, to: number): Record<string, number> {
  const parent = new Map<number, number>();
  const byId = new Map<number, ProfileNode>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const partCache = new Map<number, string>();
  const nodePart = (id: number): string => {
    const cached = partCache.get(id);
    if (cached !== undefined) return cached;
    const node = byId.get(id) as ProfileNode;
    const name = node.callFrame.functionName;
    let part = partOf(node.callFrame.url);
    if (part === undefined) {
      if (name === '(garbage collector)') part = 'GC';
      else if (name === '(program)') part = 'V8 and native, outside JS';
      else if (name === '(idle)') part = '(idle)';
      else {
        const up = parent.get(id);
        part = up === undefined ? OTHER : nodePart(up);
        if (part === '(idle)' || part === '(root)') part = OTHER;
      }
    }
    if (name === '(root)') part = '(root)';
    partCache.set(id, part);
    return part;
  };
  const hits: Record<string, number> = {};
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    at += profile.timeDeltas[i] ?? 0;
    if (at < from || at > to) return;
    const part = nodePart(id);
    if (part === '(idle)' || part === '(root)') return;
    hits[part] = (hits[part] ?? 0) + 1;
  });
  return hits;
}

/** The profile of the process's main thread in `dir` (V8 names it CPU.<date>.<time>.<pid>.0.<seq>). */
function mainProfile(dir: string, pid: number): Profile {
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile') && f.includes(`.${pid}.0.`));
  if (!file) throw new Error(`no main-thread profile of ${pid} in ${dir}`);
  return JSON.parse(readFileSync(join(dir, file), 'utf8')) as Profile;
}

type Start = (nodeArgs: string[], launcher?: Launcher) => Promise<Server>;

/** Requests before counting starts (under valgrind V8 needs these to reach its optimised code) and per counted round. */
const COUNT_WARMUP = 25_000;
const COUNT_REQUESTS = 3000;
const COUNT_ROUNDS = 3;
/** Connections of the counted load: valgrind runs the server ~20× slower, and 10 keep it busy. */
const COUNT_CONNECTIONS = 10;

/**
 * Instructions per request, counted by valgrind's callgrind on a server started under it: exact and
 * repeatable (within ~3% between rounds), where CPU time on this shared machine moves by 15–30% from
 * one round to the next, so a change of 1–2% can be judged. Counting is on only while the counted
 * requests run (after a warm-up) and is read per thread from callgrind's dumps; the median of
 * COUNT_ROUNDS rounds is kept. Kernel work (the socket syscalls) is not counted. Timers fire at their
 * usual rate while the server runs ~20× slower, so work done per second rather than per request
 * weighs ~20× more here than at full speed.
 */
async function countInstructions(start: Start, load: (server: Server) => LoadOptions): Promise<{ main: number; other: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'wess-callgrind-'));
  const launcher: Launcher = {
    command: ['valgrind', '--tool=callgrind', '--smc-check=all', '--instr-atstart=no', '--separate-threads=yes', `--callgrind-out-file=${join(dir, 'cg.%p')}`],
    startMs: 180_000,
  };
  const server = await start([], launcher);
  const rounds: { main: number; other: number }[] = [];
  try {
    const counted = (requests: number) => drive({ ...load(server), connections: COUNT_CONNECTIONS, requests });
    await counted(COUNT_WARMUP);
    const control = (command: string) => execFileSync('callgrind_control', [command, String(server.pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
    control('--instr=on');
    for (let i = 0; i < COUNT_ROUNDS; i++) {
      control('--zero');
      const r = await counted(COUNT_REQUESTS);
      if (r.non2xx + r.errors > 0) throw new Error(`${r.non2xx} non-2xx answers and ${r.errors} errors while counting`);
      control('--dump');
      const threads = lastDump(dir, server.pid);
      const main = threads.get(1) ?? 0;
      const other = [...threads].filter(([thread]) => thread !== 1).reduce((sum, [, n]) => sum + n, 0);
      rounds.push({ main: Math.round(main / COUNT_REQUESTS), other: Math.round(other / COUNT_REQUESTS) });
    }
  } finally {
    await server.stop();
  }
  return { main: median(rounds.map((r) => r.main)), other: median(rounds.map((r) => r.other)) };
}

/** Instructions by thread (1 is the main thread) in callgrind's newest dump of `pid` (files cg.<pid>.<dump>-<thread>). */
function lastDump(dir: string, pid: number): Map<number, number> {
  const files = readdirSync(dir)
    .map((f) => /^cg\.(\d+)\.(\d+)-(\d+)$/.exec(f))
    .filter((m): m is RegExpExecArray => m !== null && Number(m[1]) === pid);
  const dump = Math.max(...files.map((m) => Number(m[2])));
  const threads = new Map<number, number>();
  for (const m of files.filter((f) => Number(f[2]) === dump)) {
    const summary = /^summary: (\d+)$/m.exec(readFileSync(join(dir, m[0]), 'utf8'));
    threads.set(Number(m[3]), Number(summary?.[1] ?? 0));
  }
  return threads;
}

/** Drives `load` on a server started by `start`: once plain for the CPU per request, once profiled for its split. */
async function measure(start: Start, load: (server: Server) => LoadOptions, seconds: number, counting: boolean): Promise<Measured> {
  const plain = await start([]);
  let rps: number;
  let p99: number;
  let mainUs: number;
  let processUs: number;
  try {
    await drive({ ...load(plain), seconds: WARMUP_SECONDS });
    const main0 = mainThreadTicks(plain.pid);
    const all0 = processTicks(plain.pid);
    const r = await drive({ ...load(plain), seconds });
    const requests = r.rps * seconds;
    mainUs = round(((mainThreadTicks(plain.pid) - main0) * TICK_US) / requests, 1);
    processUs = round(((processTicks(plain.pid) - all0) * TICK_US) / requests, 1);
    ({ rps, p99 } = r);
  } finally {
    await plain.stop();
  }
  const dir = mkdtempSync(join(tmpdir(), 'wess-budget-'));
  const profiled = await start(['--cpu-prof', `--cpu-prof-dir=${dir}`, '--cpu-prof-interval=250']);
  let from: number;
  let to: number;
  try {
    await drive({ ...load(profiled), seconds: WARMUP_SECONDS });
    from = Number(process.hrtime.bigint() / 1000n);
    await drive({ ...load(profiled), seconds });
    to = Number(process.hrtime.bigint() / 1000n);
  } finally {
    await profiled.stop();
  }
  const hits = split(mainProfile(dir, profiled.pid), from, to);
  const total = Object.values(hits).reduce((a, b) => a + b, 0);
  if (total === 0) throw new Error('the profile has no samples inside the load window (is the clock shared?)');
  const parts = Object.fromEntries(Object.entries(hits).sort((a, b) => b[1] - a[1]).map(([part, n]) => [part, round((mainUs * n) / total, 1)]));
  return { rps, p99, mainUs, processUs, parts, ...(counting ? { instructions: await countInstructions(start, load) } : {}) };
}

function argument(name: string): string | undefined {
  return process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
}

async function main(): Promise<void> {
  const label = argument('label') ?? 'current';
  const seconds = Number(argument('seconds') ?? 10);
  const counting = process.argv.includes('--instructions');
  if (counting) execFileSync('valgrind', ['--version']);
  // Wess serves the modules and the answers the bare app gives; it is then stopped, and every
  // measured server starts afresh (a profiled one cannot reuse a running process).
  const data = join(mkdtempSync(join(tmpdir(), 'wess-budget-data-')), 'data');
  const setup = await startWess({ WESS_DB_PATH: data });
  let start: { wess: Start; bare: Start };
  let paths: { get: string; run: string };
  try {
    const add = await uploadWasm(setup.url, 'add', readFileSync(join(ROOT, 'test/fixtures/wasm/add.wasm')));
    paths = { get: `/modules/${add.id}`, run: `/modules/${add.id}/run` };
    const exchanges = await capture(setup, [{ method: 'GET', path: paths.get }, { method: 'POST', path: paths.run, body: RUN_BODY }]);
    start = {
      wess: (nodeArgs, launcher) => startWess({ WESS_DB_PATH: data }, nodeArgs, ROOT, launcher),
      bare: async (nodeArgs, launcher) => {
        const bare = await startBare(exchanges, nodeArgs, 1, launcher);
        const differs = await mismatches(bare, exchanges);
        if (differs.length) throw new Error(`the bare app does not answer as Wess does: ${differs.join('; ')}`);
        return bare;
      },
    };
  } finally {
    await setup.stop();
  }
  const get = (server: Server): LoadOptions => ({ url: `${server.url}${paths.get}`, headers: withKey({}), connections: CONNECTIONS, seconds });
  const run = (server: Server): LoadOptions => ({ url: `${server.url}${paths.run}`, method: 'POST', body: RUN_BODY, headers: withKey({ 'content-type': 'application/json' }), connections: CONNECTIONS, seconds });
  const scenarios: BudgetRun['scenarios'] = [];
  for (const [name, load] of [['cached GET /modules/{id}', get], ['warm /run add', run]] as const) {
    const bare = await measure(start.bare, load, seconds, counting);
    say(`${name}: bare ${bare.rps} req/s, main thread ${bare.mainUs} µs/request${instructionNote(bare)}`);
    const wess = await measure(start.wess, load, seconds, counting);
    // Tracing is off here (wess.toml's default): its row says so with a 0 rather than by its absence.
    wess.parts.tracing ??= 0;
    say(`${name}: wess ${wess.rps} req/s, main thread ${wess.mainUs} µs/request${instructionNote(wess)}`);
    scenarios.push({ name, wess, bare });
  }
  const commit = execFileSync('git', ['rev-parse', '--short=7', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
  const run_: BudgetRun = { label, date: new Date().toISOString(), commit, seconds, connections: CONNECTIONS, scenarios };
  const runs = budgetRuns().filter((r) => r.label !== label);
  writeFileSync(BUDGET_FILE, `${JSON.stringify({ command: 'npm run build && node dist/bench/budget.js --label=NAME [--instructions]', runs: [...runs, run_] }, null, 2)}\n`);
  say(rewriteReport() ? 'bench/RESULTS.md rewritten with this budget' : 'no bench/results.json yet: run npm run bench for RESULTS.md');
}

/** The instruction count for the progress line, when there is one. */
const instructionNote = (m: Measured) => (m.instructions ? `, ${m.instructions.main} instructions/request` : '');

const RUN_BODY = JSON.stringify({ function: 'add', args: [1, 2] });

if (process.argv[1]?.endsWith('budget.js')) void main();
