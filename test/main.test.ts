/** The real process: `node dist/src/main.js`, signals, restart on the same data dir. */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { ROOT, fixture } from './helper.js';

const MAIN = fileURLToPath(new URL('dist/src/main.js', ROOT));

interface Proc {
  child: ChildProcess;
  base: string;
  lines: Record<string, unknown>[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

async function startProcess(dataDir: string, env: Record<string, string> = {}): Promise<Proc> {
  const child = spawn(process.execPath, [MAIN], {
    env: { ...process.env, WESS_SERVER_HOST: '127.0.0.1', WESS_SERVER_PORT: '0', WESS_DB_PATH: dataDir, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: Record<string, unknown>[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      const entry = JSON.parse(line) as Record<string, unknown>;
      lines.push(entry);
      if (entry.msg === 'wess is ready') resolve(entry.port as number);
    });
    void exited.then(() => reject(new Error('wess exited before it was ready')));
  });
  return { child, base: `http://127.0.0.1:${port}`, lines, exited };
}

async function uploadOver(base: string, name: string): Promise<string> {
  const res = await fetch(`${base}/modules?name=${name}`, { method: 'POST', headers: { 'content-type': 'application/wasm' }, body: fixture(name) });
  assert.equal(res.status, 201);
  return ((await res.json()) as { id: string }).id;
}

const runCall = (base: string, id: string, fn: string, args: unknown[] = []) =>
  fetch(`${base}/modules/${id}/run`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ function: fn, args }) });

describe('the wess process', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  test('SIGTERM drains in-flight calls, exits 0, and a restart keeps every acknowledged module', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wess-main-'));
    dirs.push(dir);
    const first = await startProcess(dir, { WESS_RUNNER_TIMEOUT: '800' });
    const add = await uploadOver(first.base, 'add');
    const spin = await uploadOver(first.base, 'loop-forever');
    const inflight = runCall(first.base, spin, 'spin');
    // The call is in flight once the pool reports it; poll /health (not rate limited).
    for (let i = 0; i < 200; i++) {
      const health = (await (await fetch(`${first.base}/health`)).json()) as { runner: { in_flight: number } };
      if (health.runner.in_flight > 0) break;
    }
    first.child.kill('SIGTERM');
    const answer = await inflight;
    assert.equal(answer.status, 408);
    assert.equal(answer.headers.get('connection'), 'close');
    const { code } = await first.exited;
    assert.equal(code, 0);
    assert.ok(first.lines.some((l) => l.msg === 'stopped cleanly'));

    const second = await startProcess(dir);
    try {
      const res = await runCall(second.base, add, 'add', [20, 22]);
      assert.deepEqual(((await res.json()) as { results: unknown[] }).results, [42]);
    } finally {
      second.child.kill('SIGTERM');
      assert.equal((await second.exited).code, 0);
    }
  });

  test('a second signal exits at once', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wess-main-'));
    dirs.push(dir);
    const proc = await startProcess(dir, { WESS_RUNNER_TIMEOUT: '60000', WESS_SERVER_SHUTDOWN_GRACE: '60000' });
    const spin = await uploadOver(proc.base, 'loop-forever');
    const inflight = runCall(proc.base, spin, 'spin').catch(() => 'reset');
    for (let i = 0; i < 200; i++) {
      const health = (await (await fetch(`${proc.base}/health`)).json()) as { runner: { in_flight: number } };
      if (health.runner.in_flight > 0) break;
    }
    const started = Date.now();
    proc.child.kill('SIGTERM');
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => {
      const check = setInterval(() => {
        if (proc.lines.some((l) => String(l.msg).startsWith('shutting down'))) {
          clearInterval(check);
          resolve(undefined);
        }
      }, 5);
    });
    proc.child.kill('SIGINT');
    const { code } = await proc.exited;
    assert.equal(code, 130);
    assert.ok(Date.now() - started < 10_000);
    await inflight;
  });

  test('a bad config exits 2 before listening', async () => {
    const child = spawn(process.execPath, [MAIN], { env: { ...process.env, WESS_SERVER_PORT: 'not-a-port' }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise((resolve) => child.on('exit', resolve));
    assert.equal(code, 2);
    assert.match(stderr, /server\.port/);
  });
});
