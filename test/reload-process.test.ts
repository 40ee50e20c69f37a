/** SIGHUP on the real process: `node dist/src/main.js --config FILE`, rewrite the file, signal, see it applied (or refused). */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { wess } from './cli/helper.js';
import { authHeaders } from './helper.js';
import { startProcess as start, uploadOver as upload, waitForInFlight } from './process.js';

/** Starts `node dist/src/main.js --config <file>` (see process.ts). */
const startProcess = (dataDir: string, configFile: string) => start(dataDir, { args: ['--config', configFile] });

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
  test('regression (issue 15, item 16): the server logs its pid and keeps it in <data>/wess.pid; wess reload signals that process', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wess-reload-'));
    dirs.push(dir);
    const file = join(dir, 'wess.toml');
    const data = join(dir, 'data');
    await writeFile(file, '[rate_limit]\nmax = 1000\n');
    const proc = await startProcess(data, file);
    try {
      const ready = proc.lines.find((l) => l.msg === 'wess is ready');
      assert.equal(ready?.pid, proc.child.pid, 'the ready line names the pid to signal');
      assert.equal((await readFile(join(data, 'wess.pid'), 'utf8')).trim(), String(proc.child.pid));

      await writeFile(file, '[rate_limit]\nmax = 3\n');
      const mark = proc.lines.length;
      const sent = await wess(['reload', '--data', data]);
      assert.equal(sent.code, 0, sent.stderr);
      assert.match(sent.stdout, new RegExp(`sent SIGHUP to the Wess server \\(pid ${proc.child.pid}\\)`));
      const applied = await proc.nextLine((l) => String(l.msg).startsWith('config reloaded:'), mark);
      assert.match(String(applied.msg), /rate_limit\.max 1000 → 3/);

      // Without --data: the data directory is database.path of the config it is given.
      await writeFile(file, `[database]\npath = ${JSON.stringify(data)}\n[rate_limit]\nmax = 4\n`);
      const second = proc.lines.length;
      const again = await wess(['reload', '--config', file]);
      assert.equal(again.code, 0, again.stderr);
      assert.match(String((await proc.nextLine((l) => String(l.msg).startsWith('config reloaded:'), second)).msg), /rate_limit\.max 3 → 4/);
    } finally {
      proc.child.kill('SIGTERM');
      assert.equal((await proc.exited).code, 0);
    }
    const none = await wess(['reload', '--data', data]);
    assert.equal(none.code, 3, 'no server: exit 3, like an unreachable one');
    assert.match(none.stderr, /^wess: no running Wess server found for the data directory .*wess\.pid/);
  });
});
