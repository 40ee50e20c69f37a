/** The real server process for tests: `node dist/src/main.js` on a free port, its log lines, its exit. */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ROOT, TEST_ADMIN_KEY, authHeaders, fixture } from './helper.js';

export const MAIN = fileURLToPath(new URL('dist/src/main.js', ROOT));

export type Line = Record<string, unknown>;

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Proc {
  child: ChildProcess;
  base: string;
  /** Every JSON log line so far, in order. */
  lines: Line[];
  /** Resolves with the first line (from now on, or already seen after `from`) that `match` accepts. */
  nextLine(match: (line: Line) => boolean, from?: number): Promise<Line>;
  exited: Promise<Exit>;
}

export interface StartOptions {
  /** Merged over the test defaults; a value of undefined removes that variable. */
  env?: Record<string, string | undefined>;
  /** Arguments after main.js (e.g. ['--config', file]). */
  args?: string[];
}

/** Starts the server on `dataDir` and resolves once it logs that it is ready. */
export async function startProcess(dataDir: string, options: StartOptions = {}): Promise<Proc> {
  const env: Record<string, string | undefined> = {
    ...process.env,
    WESS_SERVER_HOST: '127.0.0.1',
    WESS_SERVER_PORT: '0',
    WESS_DB_PATH: dataDir,
    WESS_ADMIN_KEY: TEST_ADMIN_KEY,
    ...options.env,
  };
  for (const [name, value] of Object.entries(env)) if (value === undefined) delete env[name];
  const child = spawn(process.execPath, [MAIN, ...(options.args ?? [])], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: Line[] = [];
  const waiters: Array<{ match: (line: Line) => boolean; resolve: (line: Line) => void }> = [];
  const exited = new Promise<Exit>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (text) => {
    const line = JSON.parse(text) as Line;
    lines.push(line);
    for (const waiter of waiters.splice(0)) {
      if (waiter.match(line)) waiter.resolve(line);
      else waiters.push(waiter);
    }
  });
  const nextLine = (match: (line: Line) => boolean, from = lines.length): Promise<Line> => {
    const seen = lines.slice(from).find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise<Line>((resolve, reject) => {
      waiters.push({ match, resolve });
      void exited.then(() => reject(new Error('wess exited before the expected log line')));
    });
  };
  const ready = await nextLine((line) => line.msg === 'wess is ready', 0);
  return { child, base: `http://127.0.0.1:${ready.port as number}`, lines, nextLine, exited };
}

/** Uploads fixture `name` (test/fixtures/wasm/<name>.wasm) and returns its id. */
export async function uploadOver(base: string, name: string, key = TEST_ADMIN_KEY): Promise<string> {
  const res = await fetch(`${base}/modules?name=${name}`, { method: 'POST', headers: authHeaders({ 'content-type': 'application/wasm' }, key), body: fixture(name) });
  assert.equal(res.status, 201);
  return ((await res.json()) as { id: string }).id;
}

/** POST /modules/{id}/run with a JSON body. */
export function runOver(base: string, id: string, fn: string, args: unknown[] = []): Promise<Response> {
  return fetch(`${base}/modules/${id}/run`, { method: 'POST', headers: authHeaders({ 'content-type': 'application/json' }), body: JSON.stringify({ function: fn, args }) });
}

/** Resolves once the pool reports a call in flight (polling /health's admin detail, which is not rate limited). */
export async function waitForInFlight(base: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const health = (await (await fetch(`${base}/health`, { headers: authHeaders() })).json()) as { runner: { in_flight: number } };
    if (health.runner.in_flight > 0) return;
  }
  throw new Error('the call never reached a worker');
}
