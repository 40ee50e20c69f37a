/**
 * Reliability suite 1 (issue 7), crash durability: a real server takes a stream of uploads and updates
 * and is killed with SIGKILL at a random moment, again and again on the same data directory. After
 * every restart each write it acknowledged with a 2xx is there, byte for byte (sha256), and the store
 * opened without repair. WESS_CRASH_CYCLES sets the cycles (3 here; `npm run test:reliability` runs 50).
 */
import assert from 'node:assert/strict';
import { createHash, randomInt } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { authHeaders } from '../helper.js';
import { startProcess, type Proc } from '../process.js';
import { paddedModule } from '../store/transfer-helper.js';
import { record } from './results.js';

const CYCLES = Number(process.env.WESS_CRASH_CYCLES ?? 3);
const WRITERS = 8;
/** The admin key's rate limit is raised out of the way: this suite is about durability. */
const ENV = { WESS_RATE_LIMIT_MAX: '100000000' };

/** What a 2xx acknowledged: per module, the sha256 of every version it answered with. */
type Acked = Map<string, Map<number, string>>;

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** Mostly small modules, now and then ~100 KiB ones, every one unique. */
function nextModule(n: number): Uint8Array {
  return paddedModule(n, randomInt(10) === 0 ? 100 * 1024 : randomInt(64, 4096));
}

/** One writer: uploads and updates until `stop`; records what was acknowledged. Failures after the kill are expected. */
async function writer(proc: Proc, acked: Acked, counter: { n: number; writes: number }, stop: { now: boolean }): Promise<void> {
  const known = () => [...acked.keys()];
  while (!stop.now) {
    const bytes = nextModule(counter.n++);
    const ids = known();
    const update = ids.length > 0 && randomInt(3) === 0;
    const id = update ? ids[randomInt(ids.length)] : undefined;
    try {
      const res = await fetch(update ? `${proc.base}/modules/${id}` : `${proc.base}/modules?name=crash`, {
        method: update ? 'PUT' : 'POST',
        headers: authHeaders({ 'content-type': 'application/wasm' }),
        body: bytes,
      });
      if (res.status !== 200 && res.status !== 201) {
        assert.fail(`${update ? 'update' : 'upload'} answered ${res.status}: ${await res.text()}`);
      }
      const body = (await res.json()) as { id: string; version: number; sha256: string };
      assert.equal(body.sha256, sha256(bytes), 'the answer names the bytes sent');
      const versions = acked.get(body.id) ?? new Map<number, string>();
      versions.set(body.version, body.sha256);
      acked.set(body.id, versions);
      counter.writes++;
    } catch (err) {
      if (stop.now) return;
      // A request cut off by the kill (fetch failed) is neither acknowledged nor refused.
      if (err instanceof TypeError) return;
      throw err;
    }
  }
}

/** Checks every acknowledged version against the restarted server; returns how many were checked. */
async function verify(base: string, acked: Acked): Promise<number> {
  const checks: Array<() => Promise<void>> = [];
  for (const [id, versions] of acked) {
    const newest = Math.max(...versions.keys());
    checks.push(async () => {
      const res = await fetch(`${base}/modules/${id}`, { headers: authHeaders() });
      assert.equal(res.status, 200, `module ${id} was acknowledged and is missing`);
      const current = (await res.json()) as { version: number };
      assert.ok(current.version >= newest, `module ${id} is at version ${current.version}, below the acknowledged ${newest}`);
    });
    for (const [version, sha] of versions) {
      checks.push(async () => {
        const res = await fetch(`${base}/modules/${id}/versions/${version}/content`, { headers: authHeaders() });
        assert.equal(res.status, 200, `version ${version} of ${id} is missing`);
        assert.equal(sha256(new Uint8Array(await res.arrayBuffer())), sha, `version ${version} of ${id} has other bytes`);
      });
    }
  }
  // 16 at a time: bounded, and quick enough for thousands of versions.
  for (let i = 0; i < checks.length; i += 16) await Promise.all(checks.slice(i, i + 16).map((check) => check()));
  return checks.length;
}

describe('reliability: crash durability (SIGKILL)', { timeout: 60_000 + CYCLES * 20_000 }, () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  test(`every acknowledged upload and update survives ${CYCLES} SIGKILLs at random moments`, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wess-crash-'));
    dirs.push(dir);
    const acked: Acked = new Map();
    const counter = { n: 0, writes: 0 };
    for (let cycle = 1; cycle <= CYCLES; cycle++) {
      const proc = await startProcess(dir, { env: ENV });
      // The store opened as it was left: nothing above a warning on the way up.
      assert.deepEqual(proc.lines.filter((l) => Number(l.level) >= 50), [], `cycle ${cycle}: errors while opening`);
      await verify(proc.base, acked);
      const stop = { now: false };
      const writing = Promise.all(Array.from({ length: WRITERS }, () => writer(proc, acked, counter, stop)));
      await new Promise((resolve) => setTimeout(resolve, randomInt(150, 900)));
      proc.child.kill('SIGKILL');
      const exit = await proc.exited;
      stop.now = true;
      await writing;
      assert.equal(exit.signal, 'SIGKILL');
    }
    const last = await startProcess(dir, { env: ENV });
    let checked: number;
    try {
      checked = await verify(last.base, acked);
    } finally {
      last.child.kill('SIGTERM');
      await last.exited;
    }
    assert.ok(counter.writes > CYCLES, `too few writes acknowledged to mean anything (${counter.writes})`);
    record('crash', { cycles: CYCLES, acknowledged_writes: counter.writes, modules: acked.size, versions_checked_last: checked, lost: 0 });
  });
});
