/** The real process: `node dist/src/main.js`, signals, restart on the same data dir. */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { ROOT, TEST_ADMIN_KEY, authHeaders, fixture } from './helper.js';

const MAIN = fileURLToPath(new URL('dist/src/main.js', ROOT));

interface Proc {
  child: ChildProcess;
  base: string;
  lines: Record<string, unknown>[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `node dist/src/main.js`; an env value of undefined removes that variable. */
async function startProcess(dataDir: string, env: Record<string, string | undefined> = {}): Promise<Proc> {
  const merged: Record<string, string | undefined> = { ...process.env, WESS_SERVER_HOST: '127.0.0.1', WESS_SERVER_PORT: '0', WESS_DB_PATH: dataDir, WESS_ADMIN_KEY: TEST_ADMIN_KEY, ...env };
  for (const [name, value] of Object.entries(merged)) if (value === undefined) delete merged[name];
  const child = spawn(process.execPath, [MAIN], {
    env: merged,
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

async function uploadOver(base: string, name: string, key = TEST_ADMIN_KEY): Promise<string> {
  const res = await fetch(`${base}/modules?name=${name}`, { method: 'POST', headers: authHeaders({ 'content-type': 'application/wasm' }, key), body: fixture(name) });
  assert.equal(res.status, 201);
  return ((await res.json()) as { id: string }).id;
}

const runCall = (base: string, id: string, fn: string, args: unknown[] = []) =>
  fetch(`${base}/modules/${id}/run`, { method: 'POST', headers: authHeaders({ 'content-type': 'application/json' }), body: JSON.stringify({ function: fn, args }) });

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

  test('the first start without WESS_ADMIN_KEY logs one admin key, once; it works; a restart makes no other', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wess-main-'));
    dirs.push(dir);
    const first = await startProcess(dir, { WESS_ADMIN_KEY: undefined, WESS_AUTH_SECRET: undefined });
    let key: string;
    try {
      const announced = first.lines.filter((l) => /wess_[0-9a-z]+_[A-Za-z0-9_-]+/.test(String(l.msg)));
      assert.equal(announced.length, 1, 'exactly one log line carries the generated key');
      assert.match(String(announced[0]?.msg), /Authorization: Bearer/);
      key = (/wess_[0-9a-z]+_[A-Za-z0-9_-]+/.exec(String(announced[0]?.msg)) as RegExpExecArray)[0];
      assert.ok(first.lines.some((l) => String(l.msg).includes('auth.secret is not set')), 'the generated HMAC secret is announced');
      const denied = await fetch(`${first.base}/modules`);
      assert.equal(denied.status, 401);
      await uploadOver(first.base, 'add', key);
    } finally {
      first.child.kill('SIGTERM');
      await first.exited;
    }
    const second = await startProcess(dir, { WESS_ADMIN_KEY: undefined, WESS_AUTH_SECRET: undefined });
    try {
      assert.ok(!second.lines.some((l) => /wess_[0-9a-z]+_/.test(String(l.msg))), 'no key is logged on later starts');
      const listed = await fetch(`${second.base}/modules`, { headers: authHeaders({}, key) });
      assert.equal(listed.status, 200, 'the key (and the stored HMAC secret) survive a restart');
      assert.equal(((await listed.json()) as { items: unknown[] }).items.length, 1);
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
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
