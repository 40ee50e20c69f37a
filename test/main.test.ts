/** The real process: `node dist/src/main.js`, signals, restart on the same data dir. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { authHeaders } from './helper.js';
import { MAIN, runOver as runCall, startProcess as start, uploadOver, waitForInFlight } from './process.js';

/** A generated admin key, wherever it appears. */
const KEY_TEXT = /wess_[0-9a-z]{4,32}_[A-Za-z0-9_-]{20,}/;

interface Failed {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the server on `dataDir` with no admin key configured, to its exit (a start expected to fail). */
function failedStart(dataDir: string, env: Record<string, string>, options: { uid?: number } = {}): Promise<Failed> {
  const base: Record<string, string | undefined> = { ...process.env, WESS_SERVER_HOST: '127.0.0.1', WESS_SERVER_PORT: '0', WESS_DB_PATH: dataDir, ...env };
  delete base.WESS_ADMIN_KEY;
  const child = spawn(process.execPath, [MAIN], { env: base, stdio: ['ignore', 'pipe', 'pipe'], ...options });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

/** A TCP server holding a port on 127.0.0.1, as another program would. */
async function holdPort(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as { port: number }).port, server };
}

/** stderr is one sentence on one line: no JSON, no stack. */
function oneSentence(stderr: string): string {
  const lines = stderr.split('\n').filter((line) => line !== '');
  assert.equal(lines.length, 1, `one line on stderr, got:\n${stderr}`);
  const line = lines[0] as string;
  assert.ok(!line.startsWith('{') && !/\n\s+at /.test(stderr), `no JSON, no stack: ${line}`);
  return line;
}

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
  test('regression (issue 15, item 14): a start on a port in use says so in one sentence, exits 1 and shows no admin key; the next start shows one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wess-main-'));
    dirs.push(dir);
    const held = await holdPort();
    let failed: Failed;
    try {
      failed = await failedStart(dir, { WESS_SERVER_PORT: String(held.port), WESS_AUTH_SECRET: 's'.repeat(40) });
    } finally {
      held.server.close();
    }
    assert.equal(failed.code, 1);
    const sentence = oneSentence(failed.stderr);
    assert.equal(
      sentence,
      `wess: cannot listen on 127.0.0.1:${held.port}: the port is already in use by another process; stop it, or set server.port / WESS_SERVER_PORT to a free port`,
    );
    assert.doesNotMatch(failed.stdout + failed.stderr, KEY_TEXT, 'no admin key was shown');
    const fatal = failed.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.level === 60);
    assert.equal(fatal?.msg, 'wess failed to start');
    assert.equal(fatal?.reason, sentence.slice('wess: '.length));

    // Nothing was stored either: the next start on the same directory is a first start and shows a key that works.
    const next = await start(dir, { env: { WESS_ADMIN_KEY: undefined, WESS_AUTH_SECRET: 's'.repeat(40) } });
    try {
      const shown = next.lines.filter((l) => KEY_TEXT.test(String(l.msg)));
      assert.equal(shown.length, 1, 'the first start that listens shows the key');
      const key = (KEY_TEXT.exec(String(shown[0]?.msg)) as RegExpExecArray)[0];
      const keys = await fetch(`${next.base}/keys`, { headers: authHeaders({}, key) });
      assert.equal(keys.status, 200);
      assert.equal(((await keys.json()) as { items: unknown[] }).items.length, 1, 'the only key there is');
    } finally {
      next.child.kill('SIGTERM');
      await next.exited;
    }
  });

  test('regression (issue 15, item 14): a host that is not on this machine is named with server.host / WESS_SERVER_HOST', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wess-main-'));
    dirs.push(dir);
    // 192.0.2.0/24 is TEST-NET-1 (RFC 5737): never an address of this machine.
    const failed = await failedStart(dir, { WESS_SERVER_HOST: '192.0.2.1', WESS_SERVER_PORT: '8080' });
    assert.equal(failed.code, 1);
    assert.equal(
      oneSentence(failed.stderr),
      'wess: cannot listen on 192.0.2.1:8080: 192.0.2.1 is not an address of this machine; set server.host / WESS_SERVER_HOST to one of its addresses, or 0.0.0.0 for all',
    );
    assert.doesNotMatch(failed.stdout, KEY_TEXT);
  });

  test('regression (issue 15, item 14): a data directory held by a running Wess names its pid, from the pid file beside the LOCK', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wess-main-'));
    dirs.push(dir);
    const first = await start(dir);
    try {
      assert.equal((await readFile(join(dir, 'wess.pid'), 'utf8')).trim(), String(first.child.pid));
      const failed = await failedStart(dir, {});
      assert.equal(failed.code, 1);
      assert.equal(
        oneSentence(failed.stderr),
        `wess: the data directory ${dir} is locked by another Wess (pid ${first.child.pid}): stop it first, or give this server another data directory (database.path / WESS_DB_PATH)`,
      );
      assert.equal((await readFile(join(dir, 'wess.pid'), 'utf8')).trim(), String(first.child.pid), 'the failed start left the pid file alone');
      assert.equal((await fetch(`${first.base}/health/live`)).status, 200, 'the first server is untouched');
    } finally {
      first.child.kill('SIGTERM');
      assert.equal((await first.exited).code, 0);
    }
    await assert.rejects(readFile(join(dir, 'wess.pid')), { code: 'ENOENT' }, 'a clean stop removes the pid file');
  });

  test('regression (issue 15, item 14): a data directory this user may not use names database.path / WESS_DB_PATH', async (t) => {
    if (process.getuid?.() !== 0) {
      t.skip('needs root, to start the server as the unprivileged user "nobody"');
      return;
    }
    const parent = await mkdtemp(join(tmpdir(), 'wess-main-'));
    dirs.push(parent);
    await chmod(parent, 0o700);
    // One that exists but is root's alone, and one that would have to be created inside it.
    for (const dir of [parent, join(parent, 'data')]) {
      const failed = await failedStart(dir, {}, { uid: 65534 });
      assert.equal(failed.code, 1, failed.stderr);
      assert.equal(
        oneSentence(failed.stderr),
        `wess: cannot use the data directory ${dir}: permission denied (EACCES): make it writable for this user, or set database.path / WESS_DB_PATH to a directory it may use`,
      );
    }
  });
});
