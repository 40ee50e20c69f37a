/**
 * Reliability suite 1 (issue 7), crash durability: a real server takes a stream of uploads and updates
 * and is killed with SIGKILL at a random moment, again and again on the same data directory. After
 * every restart each write it acknowledged with a 2xx is there, byte for byte (sha256), and the store
 * opened without repair. Each cycle acknowledges a floor of writes before its kill, every kill must find
 * writes in flight, and the kills must cut writes short, so a run that wrote next to nothing, or killed
 * an idle server, cannot pass as "nothing lost".
 * WESS_CRASH_CYCLES sets the cycles (3 here; `npm run test:reliability` runs 50).
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
/**
 * Writes each cycle acknowledges before its kill (two per writer), then the kill comes at a random
 * moment 0–750 ms later. A fixed delay instead let a slow start reach its kill with a handful of
 * writes (10 in one cycle of a loaded run), and a cycle that wrote nothing would prove nothing.
 */
const MIN_ACKED_PER_CYCLE = 2 * WRITERS;
/** How long the writers get to reach that floor before the cycle fails. */
const FLOOR_WAIT_MS = 30_000;
/** The admin key's rate limit is raised out of the way: this suite is about durability. */
const ENV = { WESS_RATE_LIMIT_MAX: '100000000' };

/** What a 2xx acknowledged: per module, the sha256 of every version it answered with. */
type Acked = Map<string, Map<number, string>>;

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** Mostly small modules, now and then ~100 KiB ones, every one unique. */
function nextModule(n: number): Uint8Array {
  return paddedModule(n, randomInt(10) === 0 ? 100 * 1024 : randomInt(64, 4096));
}

/** What the writers did: `n` numbers the modules; `inFlight` counts requests sent and not yet answered. */
interface Counter {
  n: number;
  writes: number;
  inFlight: number;
  /** Requests the kill cut short: sent, then the connection died without an answer. */
  cut: number;
  /** Resolved once `writes` reaches `at`. */
  waiter?: { at: number; resolve: () => void };
}

/** Resolves once the writers have acknowledged `count` more writes; fails after FLOOR_WAIT_MS. */
function acknowledged(counter: Counter, count: number): Promise<void> {
  const at = counter.writes + count;
  let timer: NodeJS.Timeout | undefined;
  const reached = new Promise<void>((resolve) => (counter.waiter = { at, resolve }));
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the writers acknowledged ${count - (at - counter.writes)} of ${count} writes in ${FLOOR_WAIT_MS} ms`)), FLOOR_WAIT_MS);
  });
  return Promise.race([reached, late]).finally(() => clearTimeout(timer));
}

/** One writer: uploads and updates until the kill; records what was acknowledged. */
async function writer(proc: Proc, acked: Acked, counter: Counter, kill: { sent: boolean }): Promise<void> {
  const known = () => [...acked.keys()];
  while (!kill.sent) {
    const bytes = nextModule(counter.n++);
    const ids = known();
    const update = ids.length > 0 && randomInt(3) === 0;
    const id = update ? ids[randomInt(ids.length)] : undefined;
    counter.inFlight++;
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
      if (counter.waiter && counter.writes >= counter.waiter.at) counter.waiter.resolve();
    } catch (err) {
      // A request cut off by the kill (fetch failed) is neither acknowledged nor refused; before the
      // kill, a failed fetch is a server that stopped answering.
      if (err instanceof TypeError && kill.sent) {
        counter.cut++;
        return;
      }
      throw err;
    } finally {
      counter.inFlight--;
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
    const counter: Counter = { n: 0, writes: 0, inFlight: 0, cut: 0 };
    const cycles: Array<{ acked: number; inFlightAtKill: number; cut: number }> = [];
    for (let cycle = 1; cycle <= CYCLES; cycle++) {
      const proc = await startProcess(dir, { env: ENV });
      const kill = { sent: false };
      try {
        // The store opened as it was left: nothing above a warning on the way up.
        assert.deepEqual(proc.lines.filter((l) => Number(l.level) >= 50), [], `cycle ${cycle}: errors while opening`);
        await verify(proc.base, acked);
        const [writesBefore, cutBefore] = [counter.writes, counter.cut];
        const writing = Promise.all(Array.from({ length: WRITERS }, () => writer(proc, acked, counter, kill)));
        await acknowledged(counter, MIN_ACKED_PER_CYCLE);
        await new Promise((resolve) => setTimeout(resolve, randomInt(0, 750)));
        // No writer sends after this: every request still open was sent before the kill.
        kill.sent = true;
        const inFlightAtKill = counter.inFlight;
        proc.child.kill('SIGKILL');
        const exit = await proc.exited;
        await writing;
        assert.equal(exit.signal, 'SIGKILL');
        cycles.push({ acked: counter.writes - writesBefore, inFlightAtKill, cut: counter.cut - cutBefore });
      } finally {
        // A failed cycle must not leave its server running (it would hold the test process open).
        kill.sent = true;
        if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL');
      }
    }
    const last = await startProcess(dir, { env: ENV });
    let checked: number;
    try {
      checked = await verify(last.base, acked);
    } finally {
      last.child.kill('SIGTERM');
      await last.exited;
    }
    const perCycle = (what: (c: (typeof cycles)[number]) => number) => cycles.map(what).join(' ');
    // A kill between writes would test the restart, not the write path. Not every kill cuts a write
    // short: the writers share group commits, and a batch can be answered between the signal being
    // sent and landing (2 kills in 20 cut none, in one run). Together they must.
    const inFlight = perCycle((c) => c.inFlightAtKill);
    assert.ok(cycles.every((c) => c.inFlightAtKill > 0), `every kill finds writes in flight (per kill: ${inFlight})`);
    assert.ok(counter.cut > 0, `the kills cut writes short (in flight per kill: ${inFlight}; cut short: ${perCycle((c) => c.cut)})`);
    const acks = cycles.map((c) => c.acked);
    record('crash', {
      cycles: CYCLES, writers: WRITERS, acknowledged_writes: counter.writes, modules: acked.size, versions_checked_last: checked, lost: 0,
      acked_per_cycle_floor: MIN_ACKED_PER_CYCLE, acked_per_cycle_min: Math.min(...acks), acked_per_cycle_median: acks.sort((a, b) => a - b)[Math.floor(acks.length / 2)] ?? 0,
      in_flight_at_kill_min: Math.min(...cycles.map((c) => c.inFlightAtKill)), kills_that_cut_writes_short: cycles.filter((c) => c.cut > 0).length, cut_short_by_kills: counter.cut,
    });
  });
});
