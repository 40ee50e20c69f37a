/** SIGHUP on the real process: `node dist/src/main.js --config FILE`, rewrite the file, signal, see it applied (or refused). */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { ROOT, TEST_ADMIN_KEY, authHeaders, fixture } from './helper.js';

const MAIN = fileURLToPath(new URL('dist/src/main.js', ROOT));

type Line = Record<string, unknown>;

interface Proc {
  child: ChildProcess;
  base: string;
  lines: Line[];
  /** Resolves with the first line (from now on, or already seen after `from`) that `match` accepts. */
  nextLine(match: (line: Line) => boolean, from?: number): Promise<Line>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `node dist/src/main.js --config <file>` on a free port (as test/main.test.ts does, plus the config file). */
async function startProcess(dataDir: string, configFile: string): Promise<Proc> {
  const env = { ...process.env, WESS_SERVER_HOST: '127.0.0.1', WESS_SERVER_PORT: '0', WESS_DB_PATH: dataDir, WESS_ADMIN_KEY: TEST_ADMIN_KEY };
  const child = spawn(process.execPath, [MAIN, '--config', configFile], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: Line[] = [];
  const waiters: Array<{ match: (line: Line) => boolean; resolve: (line: Line) => void }> = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (text) => {
    const line = JSON.parse(text) as Line;
    lines.push(line);
    for (const waiter of waiters.splice(0)) {
      if (waiter.match(line)) waiter.resolve(line);
      else waiters.push(waiter);
    }
  });
  const nextLine = (match: (line: Line) => boolean, from = lines.length) => {
    const seen = lines.slice(from).find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise<Line>((resolve, reject) => {
      waiters.push({ match, resolve });
      void exited.then(() => reject(new Error('wess exited before the expected log line')));
    });
  };
  const ready = nextLine((line) => line.msg === 'wess is ready', 0);
  return { child, base: `http://127.0.0.1:${(await ready).port as number}`, lines, nextLine, exited };
}

async function upload(base: string, name: string): Promise<string> {
  const res = await fetch(`${base}/modules?name=${name}`, { method: 'POST', headers: authHeaders({ 'content-type': 'application/wasm' }), body: fixture(name) });
  assert.equal(res.status, 201);
  return ((await res.json()) as { id: string }).id;
}

/** Resolves once the pool reports a call in flight (polling /health, which is not rate limited). */
async function waitForInFlight(base: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const health = (await (await fetch(`${base}/health`)).json()) as { runner: { in_flight: number } };
    if (health.runner.in_flight > 0) return;
  }
  throw new Error('the call never reached a worker');
}

describe('SIGHUP on the wess process', { timeout: 60_000 }, () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  test('a rewritten config is applied live; a broken one is refused and the old one keeps serving; SIGHUP never kills it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wess-reload-'));
    dirs.push(dir);
    const file = join(dir, 'wess.toml');
    await writeFile(file, '[server]\nworkers = 1\n[runner]\ntimeout = 1500\n[rate_limit]\nmax = 1000\n');
    const proc = await startProcess(join(dir, 'data'), file);
    const list = () => fetch(`${proc.base}/modules`, { headers: authHeaders() });
    try {
      // Nothing counted against the admin key yet: /health is not rate limited.
      assert.equal((await fetch(`${proc.base}/health`)).status, 200);
      // Log lines are written in batches: this request's line must be out before the mark below.
      await proc.nextLine((l) => l.msg === 'request' && l.url === '/health', 0);

      await writeFile(file, '[server]\nworkers = 4\n[runner]\ntimeout = 1500\n[rate_limit]\nmax = 2\n[log]\nlevel = "warn"\n');
      let mark = proc.lines.length;
      proc.child.kill('SIGHUP');
      const applied = await proc.nextLine((l) => String(l.msg).startsWith('config reloaded:'), mark);
      assert.match(String(applied.msg), /rate_limit\.max 1000 → 2/);
      assert.match(String(applied.msg), /log\.level "info" → "warn"/);
      const warning = proc.lines.slice(mark).find((l) => l.level === 40);
      assert.match(String(warning?.msg), /^config reload: server\.workers changed but only take effect after a restart/);
      assert.equal((await list()).status, 200);
      assert.equal((await list()).status, 200);
      const limited = await list();
      assert.equal(limited.status, 429, 'the new max of 2 is in force');
      assert.equal(proc.lines.slice(mark).filter((l) => l.msg === 'request').length, 0, 'log.level warn: no access-log lines');

      await writeFile(file, '[rate_limit]\nmax = "lots"\n[log]\nlevel = "info"\n[tiers.x]\nbogus = 1\n');
      mark = proc.lines.length;
      proc.child.kill('SIGHUP');
      const refused = await proc.nextLine((l) => l.level === 50, mark);
      assert.match(String(refused.msg), /^config reload rejected, the current config stays in force: .*rate_limit\.max.*tiers\.x\.bogus/);
      const still = await list();
      assert.equal(still.status, 429);
      assert.match(((await still.json()) as { error: { message: string } }).error.message, /rate limit of 2 requests/, 'the old limit still holds');
      const metrics = await (await fetch(`${proc.base}/metrics`)).text();
      assert.match(metrics, /wess_config_reloads_total\{outcome="success"\} 1/);
      assert.match(metrics, /wess_config_reloads_total\{outcome="rejected"\} 1/);

      // Back to a roomy limit, so that a reload after a refused one still works, then a SIGHUP during
      // shutdown: a spinning call holds the drain open while the hangup arrives.
      await writeFile(file, '[server]\nworkers = 1\n[runner]\ntimeout = 1500\n[rate_limit]\nmax = 1000\n');
      mark = proc.lines.length;
      proc.child.kill('SIGHUP');
      await proc.nextLine((l) => String(l.msg).startsWith('config reloaded:'), mark);
      const spin = await upload(proc.base, 'loop-forever');
      const inflight = fetch(`${proc.base}/modules/${spin}/run`, { method: 'POST', headers: authHeaders({ 'content-type': 'application/json' }), body: '{"function": "spin"}' });
      await waitForInFlight(proc.base);
      mark = proc.lines.length;
      proc.child.kill('SIGTERM');
      await proc.nextLine((l) => String(l.msg).startsWith('shutting down'), mark);
      proc.child.kill('SIGHUP');
      await proc.nextLine((l) => l.msg === 'SIGHUP during shutdown: ignored', mark);
      assert.equal((await inflight).status, 408, 'the drained call ran to its deadline');
      const { code, signal } = await proc.exited;
      assert.equal(signal, null, 'not killed by a signal');
      assert.equal(code, 0);
    } finally {
      if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL');
    }
  });
});
