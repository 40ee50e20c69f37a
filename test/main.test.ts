/** The real process: `node dist/src/main.js`, signals, restart on the same data dir. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { authHeaders } from './helper.js';
import { MAIN, runOver as runCall, startProcess as start, uploadOver, waitForInFlight } from './process.js';

/** Starts the server with these env overrides (see process.ts). */
const startProcess = (dataDir: string, env: Record<string, string | undefined> = {}) => start(dataDir, { env });

describe('the wess process', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  test('SIGTERM drains in-flight calls, exits 0, and a restart keeps every acknowledged module', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wess-main-'));
    dirs.push(dir);
    // Not below the repository wess.toml's tiers' max_timeout (2000 ms): that config would be refused.
    const first = await startProcess(dir, { WESS_RUNNER_TIMEOUT: '2000' });
    const add = await uploadOver(first.base, 'add');
    const spin = await uploadOver(first.base, 'loop-forever');
    const inflight = runCall(first.base, spin, 'spin');
    // The call is in flight once the pool reports it; poll /health (not rate limited).
    await waitForInFlight(first.base);
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
    await waitForInFlight(proc.base);
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
