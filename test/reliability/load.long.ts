/**
 * Reliability suite 5 (issue 7), load; long, run by `npm run test:reliability` only:
 *   - 10,000 keep-alive connections held open (WESS_LOAD_HOLD_S, default 120 s) while a steady /run load
 *     is served: at the end every one is still open and answers on the same socket (same local port),
 *     so an agent that quietly reconnected does not count as held;
 *   - a burst of 1,000 uploads at once, every one stored (503s retried after their Retry-After);
 *   - mixed traffic (runs, reads, lists, uploads) for WESS_LOAD_MINUTES (default 10, at least 2) with RSS
 *     sampled every 10 s: flat after a 60 s warm-up, judged by bench/lib/trend.ts (quartile medians and a
 *     Theil–Sen slope, each within 10%) rather than first against last sample of a GC sawtooth; zero 5xx.
 * Everything on 127.0.0.1, bounded in count and time. Needs an fd limit above 10,500 (the script raises
 * the soft limit to the hard one).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, type IncomingMessage, request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import autocannon from 'autocannon';
import { isFlat, trend } from '../../bench/lib/trend.js';
import { authHeaders, TEST_ADMIN_KEY } from '../helper.js';
import { startProcess, uploadOver, type Proc } from '../process.js';
import { paddedModule } from '../store/transfer-helper.js';
import { record } from './results.js';

const HELD = Number(process.env.WESS_LOAD_CONNECTIONS ?? 10_000);
const HOLD_S = Number(process.env.WESS_LOAD_HOLD_S ?? 120);
const MINUTES = Number(process.env.WESS_LOAD_MINUTES ?? 10);
const SAMPLE_S = 10;
/** Samples left out of the memory judgement: the first minute, while caches and V8's heap settle. */
const WARMUP_SAMPLES = 6;
const ENV = {
  WESS_RATE_LIMIT_MAX: '100000000',
  // Held connections are idle between their requests: keep them past the hold.
  WESS_SERVER_KEEP_ALIVE_TIMEOUT: String((HOLD_S + 60) * 1000),
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One GET on a dedicated keep-alive agent (one socket): the status (or an error text) and the socket's local port. */
function getOn(agent: Agent, base: string, path: string): Promise<{ status: number | string; port?: number }> {
  return new Promise((resolve) => {
    const req = httpRequest(`${base}${path}`, { agent, headers: { connection: 'keep-alive' } }, (res: IncomingMessage) => {
      const port = res.socket.localPort;
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, port }));
    });
    req.on('error', (err) => resolve({ status: err.message }));
    req.setTimeout(30_000, () => req.destroy(new Error('timeout')));
    req.end();
  });
}

/** Sockets open and idle in the agents (a socket the server closed has left its agent). */
const idleSockets = (agents: Agent[]) => agents.reduce((n, agent) => n + Object.values(agent.freeSockets).reduce((m, list) => m + (list?.length ?? 0), 0), 0);

/**
 * The server's RSS and its main thread's JS heap in use, in MiB: RSS that grows while the heap does
 * not is native memory (engine buffers, the allocator's arenas), which a heap snapshot will not show.
 */
async function memoryMiB(base: string): Promise<{ rss: number; heap: number }> {
  const health = (await (await fetch(`${base}/health`, { headers: authHeaders() })).json()) as { memory: { rss: number; heap_used: number } };
  return { rss: Math.round(health.memory.rss / 1048576), heap: Math.round(health.memory.heap_used / 1048576) };
}

describe('reliability: load', { timeout: (HOLD_S + MINUTES * 60 + 600) * 1000 }, () => {
  let proc: Proc | undefined;
  const dirs: string[] = [];
  after(async () => {
    proc?.child.kill('SIGTERM');
    await proc?.exited;
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  test(`${HELD} keep-alive connections held ${HOLD_S} s under steady /run load; 1,000 uploads at once; ${MINUTES} min of mixed traffic with flat memory`, async () => {
    assert.ok(MINUTES * 60 / SAMPLE_S - WARMUP_SAMPLES >= 4, `WESS_LOAD_MINUTES=${MINUTES}: the memory trend needs at least 4 samples after the first minute (2 minutes or more)`);
    const limit = Number(execFileSync('sh', ['-c', 'ulimit -n']).toString().trim());
    assert.ok(Number.isNaN(limit) || limit > HELD + 500, `the fd limit (${limit}) must be above ${HELD + 500}: run through npm run test:reliability, which raises it`);
    const dir = await mkdtemp(join(tmpdir(), 'wess-load-'));
    dirs.push(dir);
    proc = await startProcess(dir, { env: ENV });
    const base = proc.base;
    const add = await uploadOver(base, 'add');

    // 1. Open the connections in waves (the listen backlog is finite), one request each.
    const agents = Array.from({ length: HELD }, () => new Agent({ keepAlive: true, maxSockets: 1 }));
    const opened: Array<{ status: number | string; port?: number }> = [];
    for (let i = 0; i < HELD; i += 500) opened.push(...(await Promise.all(agents.slice(i, i + 500).map((agent) => getOn(agent, base, '/health/live')))));
    assert.deepEqual(opened.filter((o) => o.status !== 200).slice(0, 5), [], 'every connection opened and answered');
    assert.equal(idleSockets(agents), HELD, 'every socket is idle in its agent, open');

    // 2. Steady load while they are held.
    const steady = await autocannon({
      url: `${base}/modules/${add}/run`,
      method: 'POST',
      headers: authHeaders({ 'content-type': 'application/json' }),
      body: JSON.stringify({ function: 'add', args: [2, 3] }),
      connections: 50,
      duration: HOLD_S,
    });
    assert.equal(steady.non2xx, 0, 'steady load: every answer 2xx');
    assert.equal(steady.errors + steady.timeouts, 0, 'steady load: no errors or timeouts');
    // Counted before asking again: an agent whose socket was closed would open a new one unasked.
    const openAfterHold = idleSockets(agents);
    const again = await Promise.all(agents.map((agent) => getOn(agent, base, '/health/live')));
    const sameSocket = again.filter((o, i) => o.status === 200 && o.port !== undefined && o.port === opened[i]?.port).length;
    for (const agent of agents) agent.destroy();
    record('load-connections', { connections: HELD, hold_s: HOLD_S, open_after_hold: openAfterHold, same_socket_answered_after_hold: sameSocket, steady_req_s: Math.round(steady.requests.average), steady_p99_ms: steady.latency.p99, steady_non2xx: steady.non2xx });
    assert.equal(openAfterHold, HELD, 'every held connection is still open after the hold');
    assert.deepEqual(again.filter((o) => o.status !== 200).slice(0, 5), [], 'every held connection answers after the hold');
    assert.equal(sameSocket, HELD, 'every held connection answers on the socket it opened (the same local port), none reconnected');

    // 3. A burst of 1,000 uploads; refused ones (503) are retried after their Retry-After.
    let shed = 0;
    const stored = await Promise.all(Array.from({ length: 1000 }, async (_, i) => {
      const bytes = paddedModule(50_000 + i, 8 * 1024);
      for (let attempt = 0; attempt < 20; attempt++) {
        const res = await fetch(`${base}/modules?name=burst`, { method: 'POST', headers: authHeaders({ 'content-type': 'application/wasm' }), body: bytes });
        if (res.status === 201) return ((await res.json()) as { id: string }).id;
        assert.equal(res.status, 503, `burst upload answered ${res.status}`);
        shed++;
        await res.arrayBuffer();
        await sleep(1000 * Number(res.headers.get('retry-after') ?? 1));
      }
      throw new Error('an upload was refused 20 times');
    }));
    assert.equal(new Set(stored).size, 1000);
    record('load-upload-burst', { uploads: 1000, stored: stored.length, shed_503_then_retried: shed });

    // 4. Mixed traffic with memory sampled.
    const mixed = autocannon({
      url: base,
      connections: 64,
      duration: MINUTES * 60,
      requests: [
        { method: 'POST', path: `/modules/${add}/run`, headers: authHeaders({ 'content-type': 'application/json' }), body: JSON.stringify({ function: 'add', args: [1, 2] }) },
        { method: 'GET', path: `/modules/${add}`, headers: authHeaders() },
        { method: 'GET', path: '/modules?limit=20', headers: authHeaders() },
        { method: 'GET', path: `/modules/${stored[0]}/content`, headers: authHeaders() },
      ],
    });
    const samples: number[] = [];
    const heapSamples: number[] = [];
    let uploads = 0;
    let done = false;
    void mixed.then(() => (done = true));
    const uploader = (async () => {
      while (!done) {
        const res = await fetch(`${base}/modules?name=mixed`, { method: 'POST', headers: { authorization: `Bearer ${TEST_ADMIN_KEY}`, 'content-type': 'application/wasm' }, body: paddedModule(900_000 + uploads, 4096) });
        assert.ok(res.status === 201 || res.status === 503, `mixed upload answered ${res.status}`);
        await res.arrayBuffer();
        uploads++;
        await sleep(50);
      }
    })();
    while (!done) {
      await sleep(SAMPLE_S * 1000);
      const memory = await memoryMiB(base);
      samples.push(memory.rss);
      heapSamples.push(memory.heap);
    }
    const result = await mixed;
    await uploader;
    assert.equal(result.non2xx, 0, 'mixed traffic: every answer 2xx');
    assert.equal(result.errors + result.timeouts, 0);
    const settled = samples.slice(WARMUP_SAMPLES);
    const rss = trend(settled);
    const pct = (share: number) => Math.round(share * 1000) / 10;
    record('load-mixed', {
      minutes: MINUTES, requests: result['2xx'] + result.non2xx, req_s: Math.round(result.requests.average), p99_ms: result.latency.p99, non2xx: result.non2xx, uploads,
      rss_samples: settled.length, rss_mib_first_quarter_median: rss.firstQuarter, rss_mib_last_quarter_median: rss.lastQuarter, rss_quarter_growth_pct: pct(rss.quarterGrowth),
      rss_slope_mib_per_sample: Math.round(rss.slope * 100) / 100, rss_slope_growth_pct: pct(rss.slopeGrowth), rss_mib_max: Math.max(...samples), rss_mib_every_10s: samples,
      heap_used_mib_every_10s: heapSamples,
    });
    assert.ok(isFlat(rss, 0.1), `RSS grew after the warm-up: quartile medians ${rss.firstQuarter} → ${rss.lastQuarter} MiB (${pct(rss.quarterGrowth)}%), Theil–Sen slope ${pct(rss.slopeGrowth)}% over the run (RSS: ${samples.join(' ')}; JS heap in use: ${heapSamples.join(' ')})`);
  });
});
