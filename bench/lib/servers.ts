import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Exchange } from './answers.js';
import { sleep } from './stats.js';

/** The repository root (this file runs from dist/bench/lib/). */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export interface Server {
  url: string;
  /** Wess's log file (one JSON line per request), or undefined for the bare app. */
  logFile?: string;
  /** The server's process id (its main thread's CPU time is read from /proc by bench/budget.ts). */
  pid: number;
  stop(): Promise<void>;
}

async function waitForLine<T>(file: string, child: ChildProcess, pick: (line: string) => T | undefined, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}: ${readFileSync(file, 'utf8').slice(-2000)}`);
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const found = line ? pick(line) : undefined;
      if (found !== undefined) return found;
    }
    await sleep(50);
  }
  child.kill('SIGKILL');
  throw new Error(`server did not start within ${ms} ms`);
}

function stopper(child: ChildProcess, cleanup: () => void): () => Promise<void> {
  return async () => {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      // Bounded: a server that does not drain in 15 s is killed.
      await Promise.race([exited, sleep(15_000).then(() => child.kill('SIGKILL'))]);
    }
    cleanup();
  };
}

function parse(line: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** The admin key the benchmarked Wess starts with (WESS_ADMIN_KEY): requests pay for auth like real ones. */
export const BENCH_KEY = 'wess_benchadmin_BENCHONLYbenchonlyBENCHONLY0123456789';

/** `headers` plus the bench key (the bare baseline gets it too, and ignores it: same bytes on the wire). */
export function withKey(headers: Record<string, string>): Record<string, string> {
  return { ...headers, authorization: `Bearer ${BENCH_KEY}` };
}

/** The node flags `npm start` runs Wess with (package.json's start script), so the bench measures what users run. */
export function startFlags(root = ROOT): string[] {
  const script = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts.start ?? '';
  const flags = /^node((?: --\S+)*) dist\/src\/main\.js$/.exec(script);
  if (!flags) throw new Error(`package.json's start script is not "node [--flag …] dist/src/main.js": ${script}`);
  return flags[1]?.trim().split(' ').filter(Boolean) ?? [];
}

/**
 * A program that runs node under it, and how long a server it runs may take to start: bench/budget.ts runs
 * servers under valgrind, which takes tens of seconds to reach "ready".
 */
export interface Launcher {
  command: string[];
  startMs: number;
}

/** node itself (the default): `process.execPath` with the given arguments. */
function spawnNode(launcher: Launcher | undefined, args: string[], options: SpawnOptions): ChildProcess {
  const [program, ...rest] = launcher ? [...launcher.command, process.execPath, ...args] : [process.execPath, ...args];
  return spawn(program as string, rest, options);
}

/**
 * Starts `node dist/src/main.js` as `npm start` does, from the repository root (so wess.toml's defaults apply), on a
 * temp data dir; `root`: another built checkout's (bench/ab.ts compares two trees); `launcher`: a program to run node under.
 */
export async function startWess(env: Record<string, string> = {}, extraNodeArgs: string[] = [], root = ROOT, launcher?: Launcher): Promise<Server> {
  const dir = mkdtempSync(join(tmpdir(), 'wess-bench-'));
  const logFile = join(dir, 'wess.log');
  const out = openSync(logFile, 'a');
  const child = spawnNode(launcher, [...startFlags(root), ...extraNodeArgs, join(root, 'dist/src/main.js')], {
    cwd: root,
    stdio: ['ignore', out, out],
    env: {
      ...process.env,
      WESS_SERVER_HOST: '127.0.0.1',
      WESS_SERVER_PORT: '0',
      WESS_DB_PATH: join(dir, 'data'),
      WESS_LOG_LEVEL: 'info',
      WESS_RATE_LIMIT_MAX: '100000000',
      WESS_ADMIN_KEY: BENCH_KEY,
      ...env,
    },
  });
  const port = await waitForLine(logFile, child, (line) => {
    const entry = parse(line);
    return entry?.msg === 'wess is ready' ? (entry.port as number) : undefined;
  }, launcher?.startMs);
  const cleanup = () => {
    gatherThreadProfiles(root, child.pid ?? 0, extraNodeArgs);
    rmSync(dir, { recursive: true, force: true });
  };
  return { url: `http://127.0.0.1:${port}`, logFile, pid: child.pid ?? 0, stop: stopper(child, cleanup) };
}

/**
 * Worker threads refuse --cpu-prof-dir (a process-wide flag: see workerExecArgv in src/runner/threads.ts), so a
 * profiled Wess's workers write their profiles where it runs, `root`: moved into the --cpu-prof-dir its main
 * thread wrote to, beside that one.
 */
function gatherThreadProfiles(root: string, pid: number, nodeArgs: string[]): void {
  const dir = nodeArgs.find((a) => a.startsWith('--cpu-prof-dir='))?.slice('--cpu-prof-dir='.length);
  if (dir === undefined) return;
  for (const file of readdirSync(root).filter((f) => f.endsWith('.cpuprofile') && f.includes(`.${pid}.`))) renameSync(join(root, file), join(dir, file));
}

/** Starts the bare Fastify baseline (dist/bench/bare-server.js) in its own process (or `processes` of them on one port), answering `exchanges` as Wess did. */
export async function startBare(exchanges: Exchange[], extraNodeArgs: string[] = [], processes = 1, launcher?: Launcher): Promise<Server> {
  const dir = mkdtempSync(join(tmpdir(), 'wess-bench-bare-'));
  const file = join(dir, 'bare.log');
  const out = openSync(file, 'a');
  const args = [...extraNodeArgs, join(ROOT, 'dist/bench/bare-server.js'), JSON.stringify(exchanges)];
  const child = spawnNode(launcher, args, { cwd: ROOT, stdio: ['ignore', out, out], env: { ...process.env, BARE_PROCESSES: String(processes) } });
  const port = await waitForLine(file, child, (line) => parse(line)?.port as number | undefined, launcher?.startMs);
  return { url: `http://127.0.0.1:${port}`, pid: child.pid ?? 0, stop: stopper(child, () => rmSync(dir, { recursive: true, force: true })) };
}

/**
 * The access log's `ms` by request id, for the ids that start with `tag`, once `expected` of them have
 * reached the file (the logger writes asynchronously) or after 5 s, with what arrived by then. The file
 * is read in chunks from where the last look stopped: after the hot-path rounds it holds millions of
 * lines, more than one string can.
 */
export async function loggedMs(file: string, tag: string, expected: number): Promise<Map<string, number>> {
  const ms = new Map<string, number>();
  const chunk = Buffer.alloc(LOG_CHUNK_BYTES);
  const decoder = new StringDecoder('utf8');
  let at = 0;
  let partial = '';
  for (let waited = 0; waited <= 5000 && ms.size < expected; waited += 250) {
    await sleep(250);
    const fd = openSync(file, 'r');
    try {
      for (let read = readSync(fd, chunk, 0, chunk.length, at); read > 0; read = readSync(fd, chunk, 0, chunk.length, at)) {
        at += read;
        const lines = (partial + decoder.write(chunk.subarray(0, read))).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) {
          if (!line.includes(tag)) continue;
          const entry = parse(line);
          if (entry?.msg === 'request' && typeof entry.request_id === 'string' && entry.request_id.startsWith(tag)) ms.set(entry.request_id, entry.ms as number);
        }
      }
    } finally {
      closeSync(fd);
    }
  }
  return ms;
}

const LOG_CHUNK_BYTES = 8 * 1024 * 1024;
