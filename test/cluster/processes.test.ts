/**
 * server.processes: refused on LevelDB before anything starts; on PostgreSQL, N worker processes
 * on one port, every one of them answering, their metrics summed, a SIGHUP reaching each, a killed
 * one replaced, and a SIGTERM draining them all.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../src/config/load.js';
import { postgresStoreMissing } from '../deploy/helpers.js';
import { ROOT, TEST_ADMIN_KEY, TEST_AUTH_SECRET } from '../helper.js';
import { MAIN, runOver, startProcess, uploadOver, type Line, type Proc } from '../process.js';
import { pgOptions, testDatabase, type TestDatabase } from '../store/postgres/pg-helper.js';

const WESS = fileURLToPath(new URL('dist/src/cli/wess.js', ROOT));

/** Runs `args` with node to its exit; what it wrote. */
function run(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, args, { env: { ...process.env, WESS_SERVER_HOST: '127.0.0.1', WESS_SERVER_PORT: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

describe('server.processes on LevelDB', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  test('defaults to 1; WESS_SERVER_PROCESSES and --processes set it, the flag over the variable', () => {
    assert.equal(loadConfig({}).server.processes, 1);
    assert.throws(() => loadConfig({ env: { WESS_SERVER_PROCESSES: '3' } }), /server\.processes = 3 \(from WESS_SERVER_PROCESSES\) needs the PostgreSQL store/);
    assert.throws(() => loadConfig({ env: { WESS_SERVER_PROCESSES: '1' }, argv: ['--processes', '0'] }), /server\.processes = 0 \(from --processes\) needs/);
    assert.equal(loadConfig({ env: { WESS_SERVER_PROCESSES: '4' }, argv: ['--processes=1'] }).server.processes, 1);
    assert.throws(() => loadConfig({ argv: ['--processes', 'two'] }), /server\.processes \(from --processes\): .*number/);
  });

  test('a server with server.processes = 2 and no database.url exits 2 before listening, naming the keys', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wess-processes-'));
    dirs.push(dir);
    const { code, stdout, stderr } = await run([MAIN], { WESS_DB_PATH: dir, WESS_SERVER_PROCESSES: '2' });
    assert.equal(code, 2);
    assert.match(stderr, /server\.processes = 2 \(from WESS_SERVER_PROCESSES\) needs the PostgreSQL store \(database\.url \/ WESS_DATABASE_URL\): LevelDB can be opened by one process/);
    assert.doesNotMatch(stdout, /ready/, 'nothing started');
  });

  test('wess serve --processes 0 (one per core) is refused the same way', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wess-processes-'));
    dirs.push(dir);
    const { code, stderr } = await run([WESS, 'serve', '--processes', '0'], { WESS_DB_PATH: dir });
    assert.equal(code, 2);
    assert.match(stderr, /server\.processes = 0 \(from --processes\) needs the PostgreSQL store/);
  });
});

/** GET on a connection of its own (keep-alive would pin every request to one worker). */
function getAlone(url: string, requestId: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, headers: { 'x-request-id': requestId, connection: 'close' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('server.processes = 2 on PostgreSQL', { skip: postgresStoreMissing || pgOptions.skip }, () => {
  let db: TestDatabase;
  let dir: string;
  let proc: Proc;
  let ready: Line;

  before(async () => {
    db = await testDatabase();
    dir = await mkdtemp(join(tmpdir(), 'wess-processes-'));
    proc = await startProcess(dir, {
      env: { WESS_DATABASE_URL: db.url, WESS_SERVER_PROCESSES: '2', WESS_SERVER_WORKERS: '1', WESS_AUTH_SECRET: TEST_AUTH_SECRET, WESS_ADMIN_KEY: TEST_ADMIN_KEY },
    });
    // startProcess waited for the primary's "wess is ready": every worker listens by then.
    ready = proc.lines.find((line) => line.msg === 'wess is ready') as Line;
  });
  after(async () => {
    if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    await db?.close();
  });

  test('the primary reports two worker pids, neither its own, on one port', async () => {
    const workers = ready.workers as number[];
    assert.equal(workers.length, 2);
    assert.ok(!workers.includes(proc.child.pid as number));
    assert.equal(ready.processes, 2);
    // Each worker's line, which may reach the pipe after the primary's.
    const workerLines = await Promise.all(workers.map((pid) => proc.nextLine((line) => line.msg === 'wess worker is ready' && line.pid === pid, 0)));
    assert.deepEqual(workerLines.map((line) => line.pid).sort(), [...workers].sort());
    assert.ok(workerLines.every((line) => line.port === ready.port), 'every worker on the one port');
  });

  test('requests on one port are answered by both workers (the access lines say which)', async () => {
    const from = proc.lines.length;
    const ids = Array.from({ length: 12 }, (_, i) => `processes-${i}`);
    for (const id of ids) assert.equal(await getAlone(`${proc.base}/health/live`, id), 200);
    const lines = await Promise.all(ids.map((id) => proc.nextLine((line) => line.request_id === id, from)));
    assert.deepEqual(new Set(lines.map((line) => line.pid)), new Set(ready.workers as number[]));
  });

  test('an upload on one worker runs on the other; /metrics sums every worker', async () => {
    const id = await uploadOver(proc.base, 'add');
    for (let i = 0; i < 4; i++) {
      const res = await runOver(proc.base, id, 'add', [i, 1]);
      assert.equal(res.status, 200);
      assert.deepEqual(((await res.json()) as { results: number[] }).results, [i + 1]);
    }
    const before = proc.lines.length;
    const marks = Array.from({ length: 6 }, (_, i) => `metrics-${i}`);
    for (const mark of marks) assert.equal(await getAlone(`${proc.base}/health/ready`, mark), 200);
    const answered = await Promise.all(marks.map((mark) => proc.nextLine((line) => line.request_id === mark, before)));
    assert.equal(new Set(answered.map((line) => line.pid)).size, 2, 'both workers answered /health/ready');
    const text = await (await fetch(`${proc.base}/metrics`)).text();
    const ready = /^wess_requests_total\{route="\/health\/ready",method="GET",status="200"\} (\d+)$/m.exec(text);
    assert.equal(Number(ready?.[1]), 6, 'one scrape counts the requests of both workers');
    assert.match(text, /^wess_pool_workers 2$/m, 'one runner thread per worker, summed');
  });

  test('SIGHUP to the primary reloads the config in every worker', async () => {
    const from = proc.lines.length;
    proc.child.kill('SIGHUP');
    const reloaded = await Promise.all((ready.workers as number[]).map((pid) => proc.nextLine((line) => line.pid === pid && String(line.msg).startsWith('config reloaded'), from)));
    assert.equal(reloaded.length, 2);
    assert.equal(proc.child.exitCode, null, 'the primary is still running');
  });

  test('a worker killed with SIGKILL is replaced, and the port keeps answering', async () => {
    const [victim] = ready.workers as number[];
    const from = proc.lines.length;
    process.kill(victim as number, 'SIGKILL');
    const died = await proc.nextLine((line) => line.msg === 'a worker exited: starting another in its place' && line.worker === victim, from);
    assert.equal(died.signal, 'SIGKILL');
    const replacement = await proc.nextLine((line) => line.msg === 'wess worker is ready', from);
    assert.ok(!(ready.workers as number[]).includes(replacement.pid as number), 'a new process');
    assert.equal(await getAlone(`${proc.base}/health/live`, 'after-kill'), 200);
  });

  test('SIGTERM drains every worker and the primary exits 0', async () => {
    const from = proc.lines.length;
    proc.child.kill('SIGTERM');
    const exit = await proc.exited;
    assert.equal(exit.code, 0);
    const stopped = proc.lines.slice(from).filter((line) => line.msg === 'stopped cleanly');
    assert.equal(stopped.length, 3, 'two workers and the primary');
  });
});
