/**
 * Reliability suite 7 (issue 7), graceful shutdown: SIGTERM while calls and uploads stream in, with one
 * call of ~1.5 s known (by its request id, from the server's log) to be in the runner when the signal
 * comes. That call answers 200 with its result; the drain stays open until it has answered, new
 * requests meanwhile get 503 (still in the second half of its wait, not only as the signal lands); no
 * acknowledged upload is lost, and the process exits 0 within its grace period.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { authHeaders } from '../helper.js';
import { runOver, startProcess, uploadOver, type Line } from '../process.js';
import { paddedModule } from '../store/transfer-helper.js';
import { record } from './results.js';

const GRACE_MS = 4000;
// Debug logs the `run` line as a call goes to the runner: how the test knows the long call is in it.
const ENV = { WESS_RATE_LIMIT_MAX: '100000000', WESS_SERVER_SHUTDOWN_GRACE: String(GRACE_MS), WESS_LOG_LEVEL: 'debug' };
const LONG_ID = 'shutdown-long-call';
const DRAIN_STARTED = 'shutting down: draining in-flight requests';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** How each request ended. `refused`: no connection (the listener had closed), never a reset mid-answer. */
interface Tally {
  ok: number;
  unavailable: number;
  refused: number;
  /** The client's error codes for `refused`, for the report. */
  codes: Map<string, number>;
  other: string[];
}

/**
 * What the server's log says of the drain: the long call was admitted before it (200, not 503) and
 * answered during it; the process stopped only after that answer; and 503s were still being answered
 * in the second half of the long call's wait, so the listener stayed open through it rather than
 * closing as the signal landed (as a drain that does not wait for calls does).
 */
function drainOf(lines: Line[]): { longMs: number; longAfterMs: number; last503AfterMs: number; unavailable: number } {
  const at = (line: Line | undefined) => Date.parse(String(line?.time));
  const started = lines.findIndex((l) => l.msg === DRAIN_STARTED);
  const longAt = lines.findIndex((l) => l.msg === 'request' && l.request_id === LONG_ID);
  const stoppedAt = lines.findIndex((l) => l.msg === 'stopped cleanly');
  const long = lines[longAt];
  assert.ok(started >= 0 && longAt > started, 'the long call was answered during the drain');
  assert.equal(long?.status, 200);
  assert.ok(stoppedAt > longAt, 'the drain ended after the long call answered');
  const unavailable = lines.slice(started).filter((l) => l.msg === 'request' && l.status === 503);
  const longAfterMs = at(long) - at(lines[started]);
  const last503AfterMs = unavailable.length > 0 ? at(unavailable.at(-1)) - at(lines[started]) : -1;
  assert.ok(last503AfterMs >= longAfterMs / 2, `503s through the drain: the last came ${last503AfterMs} ms after the signal, the long call answered ${longAfterMs} ms after it`);
  return { longMs: Number(long?.ms), longAfterMs, last503AfterMs, unavailable: unavailable.length };
}

describe('reliability: graceful shutdown under load', { timeout: 60_000 }, () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  test('SIGTERM mid-load: in-flight calls finish, new ones get 503, acknowledged uploads survive, exit 0 within the grace', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wess-shutdown-'));
    dirs.push(dir);
    const proc = await startProcess(dir, { env: ENV });
    const add = await uploadOver(proc.base, 'add');
    const busy = await uploadOver(proc.base, 'busy');
    const tally: Tally = { ok: 0, unavailable: 0, refused: 0, codes: new Map(), other: [] };
    const acked = new Map<string, string>();
    let stopping = false;
    let n = 0;

    const settle = async (send: () => Promise<Response>, onOk: (res: Response) => Promise<void>) => {
      let res: Response;
      try {
        res = await send();
      } catch (err) {
        // Connection refused or closed before an answer: acceptable only once the drain began.
        if (stopping) {
          tally.refused++;
          const code = String((err as { cause?: { code?: string } }).cause?.code ?? 'unknown');
          tally.codes.set(code, (tally.codes.get(code) ?? 0) + 1);
        } else tally.other.push(`fetch failed before SIGTERM: ${String(err)}`);
        return;
      }
      if (res.status === 200 || res.status === 201) {
        tally.ok++;
        await onOk(res);
      } else if (res.status === 503 && stopping) {
        tally.unavailable++;
        await res.arrayBuffer();
      } else {
        tally.other.push(`${res.status} ${await res.text()}`);
      }
    };
    // Until the process is gone: during the drain, requests on open connections get 503, new
    // connections are refused (a short pause then, not a spin).
    const running = () => proc.child.exitCode === null && proc.child.signalCode === null;
    const pause = () => (stopping ? new Promise((resolve) => setTimeout(resolve, 10)) : undefined);
    const caller = async (id: string, fn: string, args: number[], expect: number) => {
      while (running()) {
        await settle(() => runOver(proc.base, id, fn, args), async (res) => {
          assert.deepEqual(((await res.json()) as { results: number[] }).results, [expect]);
        });
        await pause();
      }
    };
    const uploader = async () => {
      while (running()) {
        const bytes = paddedModule(n++, 8 * 1024);
        await settle(
          () => fetch(`${proc.base}/modules?name=drain`, { method: 'POST', headers: authHeaders({ 'content-type': 'application/wasm' }), body: bytes }),
          async (res) => {
            const body = (await res.json()) as { id: string; sha256: string };
            assert.equal(body.sha256, sha256(bytes));
            acked.set(body.id, body.sha256);
          },
        );
        await pause();
      }
    };
    const load = Promise.all([
      ...Array.from({ length: 16 }, () => caller(add, 'add', [2, 3], 5)),
      // ~200 ms calls: some are always in flight when the signal comes.
      ...Array.from({ length: 2 }, () => caller(busy, 'busy', [200_000_000], 0)),
      ...Array.from({ length: 4 }, uploader),
    ]);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    // A call of ~1.5 s in the runner when the signal comes: it must complete, and hold the drain open.
    const long = fetch(`${proc.base}/modules/${busy}/run`, {
      method: 'POST',
      headers: authHeaders({ 'content-type': 'application/json', 'x-request-id': LONG_ID }),
      body: JSON.stringify({ function: 'busy', args: [1_500_000_000] }),
    });
    await proc.nextLine((l) => l.msg === 'run' && l.request_id === LONG_ID);
    const okBefore = tally.ok;
    const signalled = Date.now();
    stopping = true;
    proc.child.kill('SIGTERM');
    const longAnswer = await long;
    assert.equal(longAnswer.status, 200, 'the long call in flight at SIGTERM completed');
    assert.deepEqual(((await longAnswer.json()) as { results: number[] }).results, [0]);
    const exit = await proc.exited;
    const drainMs = Date.now() - signalled;
    await load;

    assert.deepEqual(tally.other, [], 'every request ended in a 2xx, a 503 during the drain, or no connection after it');
    assert.equal(exit.code, 0, 'a clean exit');
    assert.ok(drainMs < GRACE_MS + 2000, `exited ${drainMs} ms after SIGTERM (grace ${GRACE_MS} ms)`);
    assert.ok(okBefore > 0 && acked.size > 0, 'the load did real work before the signal');
    assert.ok(tally.unavailable > 0, 'requests that arrived during the drain were answered 503');
    const drain = drainOf(proc.lines);
    record('shutdown', {
      grace_ms: GRACE_MS, drain_ms: drainMs, long_call_ms: drain.longMs, long_call_answered_after_signal_ms: drain.longAfterMs,
      last_503_after_signal_ms: drain.last503AfterMs, answered_503_by_server_in_drain: drain.unavailable,
      answered_2xx: tally.ok, answered_503_in_drain: tally.unavailable, refused_after_close: tally.refused,
      refused_codes: Object.fromEntries(tally.codes), acknowledged_uploads: acked.size, lost: 0,
    });

    const again = await startProcess(dir, { env: ENV });
    try {
      for (const [id, sha] of acked) {
        const res = await fetch(`${again.base}/modules/${id}/content`, { headers: authHeaders() });
        assert.equal(res.status, 200, `acknowledged upload ${id} is missing after the restart`);
        assert.equal(sha256(new Uint8Array(await res.arrayBuffer())), sha);
      }
    } finally {
      again.child.kill('SIGTERM');
      await again.exited;
    }
  });
});
