/**
 * PostgreSQL stopped under load and started again, on a server of this test's own: writes answer
 * 503 UNAVAILABLE with Retry-After (never 5xx otherwise), the process stays up, /health/ready says
 * why, and once the server is back the node recovers by itself with every acknowledged write there.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { authHeaders, fixture } from '../helper.js';
import { type Proc } from '../process.js';
import { startNode } from './node.js';
import { privatePostgres, PG_BIN, type PrivatePostgres } from './private-postgres.js';

const required = Boolean(process.env.CI);
const skip = PG_BIN === undefined ? (required ? false : 'no PostgreSQL server binaries on this machine: SKIPPED') : false;

/** Polls `ask` (every 20 ms, at most 60 s) until it is true. */
async function until(what: string, ask: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!(await ask())) {
    if (Date.now() > deadline) assert.fail(`${what}: not within 60 s`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('PostgreSQL stopped and started under load', { skip }, () => {
  let pg: PrivatePostgres;
  let node: { proc: Proc; dir: string } | undefined;
  let checker: { proc: Proc; dir: string } | undefined;

  before(async () => {
    pg = await privatePostgres();
  });
  after(async () => {
    for (const n of [node, checker]) {
      if (n === undefined) continue;
      n.proc.child.kill('SIGTERM');
      await n.proc.exited;
      await rm(n.dir, { recursive: true, force: true });
    }
    await pg?.destroy();
  });

  test('503 UNAVAILABLE while it is down, /health/ready says why, recovery by itself, nothing acknowledged lost', async () => {
    node = await startNode(pg.url);
    const base = node.proc.base;
    const acknowledged: string[] = [];
    const statuses = new Map<number, number>();
    const unexpected: string[] = [];
    let stop = false;
    const writer = async () => {
      while (!stop) {
        const res = await fetch(`${base}/modules?name=outage`, { method: 'POST', headers: authHeaders({ 'content-type': 'application/wasm' }), body: fixture('add') });
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        const body = (await res.json()) as { id?: string; error?: { code: string } };
        if (res.status === 201) acknowledged.push(body.id as string);
        else if (res.status !== 503 || body.error?.code !== 'UNAVAILABLE' || res.headers.get('retry-after') === null) unexpected.push(`${res.status} ${JSON.stringify(body)}`);
        else await new Promise((resolve) => setTimeout(resolve, 10));
      }
    };
    const writers = Array.from({ length: 4 }, writer);
    await until('writes acknowledged before the stop', async () => acknowledged.length >= 20);

    await pg.stop();
    await until('a write refused with 503', async () => (statuses.get(503) ?? 0) > 0);
    await until('/health/ready answering 503 with the reason', async () => {
      const ready = await fetch(`${base}/health/ready`);
      if (ready.status !== 503) return false;
      const body = (await ready.json()) as { error: { message: string } };
      return /PostgreSQL/.test(body.error.message);
    });
    assert.equal((await fetch(`${base}/health/live`)).status, 200, 'the process is up');
    const during = acknowledged.length;

    await pg.start();
    await until('ready again', async () => (await fetch(`${base}/health/ready`)).status === 200);
    await until('writes acknowledged again', async () => acknowledged.length >= during + 20);
    stop = true;
    await Promise.all(writers);

    assert.deepEqual(unexpected, [], 'every refusal was 503 UNAVAILABLE with Retry-After');
    // Checked through a node started now, whose caches are empty: every answer comes from the database.
    checker = await startNode(pg.url);
    for (const id of acknowledged) {
      const res = await fetch(`${checker.proc.base}/modules/${id}`, { headers: authHeaders() });
      assert.equal(res.status, 200, `acknowledged module ${id}`);
    }
    console.log(`PostgreSQL outage: ${acknowledged.length} writes acknowledged (${during} before the server came back), all found; answers ${JSON.stringify(Object.fromEntries(statuses))}`);
  });
});
