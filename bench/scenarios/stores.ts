import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { capture, mismatches } from '../lib/answers.js';
import { uploadWasm } from '../lib/client.js';
import { alternate, drive } from '../lib/load.js';
import type { Row } from '../lib/result.js';
import { ROOT, startBare, startWess, withKey, type Server } from '../lib/servers.js';
import { percentile, round, say } from '../lib/stats.js';
import { paddedAddModule } from '../lib/wasm.js';

/*
 * The stores side by side: warm /run, cached GET and durable uploads on LevelDB in one process,
 * PostgreSQL in one process, and PostgreSQL with server.processes = 2 behind one port; each beside a
 * bare Fastify app answering Wess's bytes (in as many processes as Wess), measured in alternated
 * rounds in the same run. And how long
 * a change on one node takes to reach another node's cache (target ≤ 100 ms).
 */

export interface StoreSettings { rounds: number; seconds: number; connections: number; uploadConcurrency: number; uploadBytes: number; coherenceChanges: number }

/** The server the bench creates its databases on (dropped when it ends). */
const ADMIN_URL = process.env.WESS_BENCH_PG_URL || 'postgres://postgres@127.0.0.1:5432/postgres';

const ADD_BODY = JSON.stringify({ function: 'add', args: [1, 2] });

/** A fresh database for one configuration; `drop` removes it. */
async function database(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `wess_bench_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: ADMIN_URL });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}

interface Setup {
  label: string;
  env: Record<string, string>;
  /** Processes behind the port (server.processes); the bare app runs as many. */
  processes: number;
}

/** One configuration's rows: warm /run add and durable uploads, each against the bare app. */
async function measure(setup: Setup, s: StoreSettings): Promise<Row[]> {
  const wess = await startWess(setup.env);
  try {
    const add = await uploadWasm(wess.url, 'add', readFileSync(join(ROOT, 'test/fixtures/wasm/add.wasm')));
    const exchanges = await capture(wess, [{ method: 'POST', path: `/modules/${add.id}/run`, body: ADD_BODY }, { method: 'GET', path: `/modules/${add.id}` }]);
    const mod = paddedAddModule(s.uploadBytes);
    // The bare app answers uploads with the bytes of a real upload's answer (its ids differ per upload).
    const sample = await fetch(`${wess.url}/modules?name=bench-upload`, { method: 'POST', headers: withKey({ 'content-type': 'application/wasm' }), body: mod.stamp(-1) });
    const uploadAnswer = { method: 'POST' as const, path: '/modules?name=bench-upload', status: 200, contentType: 'application/json; charset=utf-8', answer: await sample.text() };
    const bare = await startBare([...exchanges, uploadAnswer], [], setup.processes);
    try {
      const differs = await mismatches(bare, exchanges);
      if (differs.length) throw new Error(`the bare baseline does not answer as Wess does: ${differs.join('; ')}`);
      const run = (url: string) => () =>
        drive({ url: `${url}/modules/${add.id}/run`, method: 'POST', body: ADD_BODY, headers: withKey({ 'content-type': 'application/json' }), connections: s.connections, seconds: s.seconds });
      const warm = await alternate(`${setup.label} warm`, s.rounds, run(bare.url), run(wess.url));
      const get = (url: string) => () => drive({ url: `${url}/modules/${add.id}`, headers: withKey({}), connections: s.connections, seconds: s.seconds });
      const cached = await alternate(`${setup.label} GET`, s.rounds, get(bare.url), get(wess.url));
      let counter = 0;
      // The bare side reads the same POSTs and answers an upload's bytes: what is compared is Wess's
      // whole upload (admission, hashing, the durable write) against a server that does none of it.
      const upload = (url: string, path: string) => () =>
        drive({
          url: `${url}${path}`,
          method: 'POST',
          headers: withKey({ 'content-type': 'application/wasm' }),
          body: mod.bytes,
          setupRequest: (req) => ({ ...req, body: mod.stamp(counter++) }),
          connections: s.uploadConcurrency,
          seconds: s.seconds,
        });
      const uploads = await alternate(`${setup.label} uploads`, s.rounds, upload(bare.url, '/modules?name=bench-upload'), upload(wess.url, '/modules?name=bench-upload'));
      const list = (side: typeof warm.base) => side.rounds.map((r) => r.rps).join(' / ');
      return [
        {
          scenario: `stores: warm /run add, ${setup.label}`,
          metric: 'req/s',
          wess: warm.wess.rps,
          baseline: warm.base.rps,
          ratio: warm.ratio,
          target: '-',
          pass: null,
          detail: `rounds bare ${list(warm.base)}; wess ${list(warm.wess)}; p99 wess ${warm.wess.p99} ms, bare ${warm.base.p99} ms`,
        },
        {
          scenario: `stores: cached GET /modules/{id}, ${setup.label}`,
          metric: 'req/s',
          wess: cached.wess.rps,
          baseline: cached.base.rps,
          ratio: cached.ratio,
          target: '-',
          pass: null,
          detail: `rounds bare ${list(cached.base)}; wess ${list(cached.wess)}; p99 wess ${cached.wess.p99} ms, bare ${cached.base.p99} ms`,
        },
        {
          scenario: `stores: durable uploads ${Math.round(s.uploadBytes / 1024)} KiB, concurrency ${s.uploadConcurrency}, ${setup.label}`,
          metric: 'writes/s',
          wess: uploads.wess.rps,
          baseline: uploads.base.rps,
          ratio: uploads.ratio,
          target: '-',
          pass: null,
          detail: `rounds bare ${list(uploads.base)}; wess ${list(uploads.wess)}; wess p99 ${uploads.wess.p99} ms (baseline: the bare app reading the same POSTs and answering without storing anything)`,
        },
      ];
    } finally {
      await bare.stop();
    }
  } finally {
    await wess.stop();
  }
}

/**
 * Two nodes on one database: `changes` updates on node A, each followed by reads on node B (which has
 * the record cached) until B serves the new version. The time from A's 200 to B's first new answer.
 */
async function coherence(url: string, changes: number): Promise<Row[]> {
  const env = { WESS_DATABASE_URL: url };
  const a = await startWess(env);
  const b = await startWess(env);
  try {
    const bytes = readFileSync(join(ROOT, 'test/fixtures/wasm/add.wasm'));
    const { id } = await uploadWasm(a.url, 'coherence', bytes);
    const versionOn = async (server: Server) => ((await (await fetch(`${server.url}/modules/${id}`, { headers: withKey({}) })).json()) as { version: number }).version;
    const times: number[] = [];
    for (let i = 0; i < changes; i++) {
      const before = await versionOn(b);
      const res = await fetch(`${a.url}/modules/${id}`, { method: 'PUT', headers: withKey({ 'content-type': 'application/json' }), body: JSON.stringify({ name: `v${i}` }) });
      if (res.status !== 200) throw new Error(`PUT answered ${res.status}`);
      const t0 = performance.now();
      while ((await versionOn(b)) === before) {
        if (performance.now() - t0 > 10_000) throw new Error('a change did not reach the other node within 10 s');
      }
      times.push(performance.now() - t0);
    }
    const p50 = round(percentile(times, 50), 1);
    const p99 = round(percentile(times, 99), 1);
    return [
      {
        scenario: 'stores: a change on one node seen by another node',
        metric: 'p99 ms',
        wess: p99,
        baseline: null,
        ratio: null,
        target: '≤ 100 ms',
        judges: `the p99 (nearest rank) of ${changes} renames on node A, each timed from A's 200 to node B's first GET showing it (B had the record cached)`,
        pass: p99 <= 100,
        detail: `median ${p50} ms, max ${round(Math.max(...times), 1)} ms over ${changes} changes; two PostgreSQL nodes, LISTEN/NOTIFY`,
      },
    ];
  } finally {
    await a.stop();
    await b.stop();
  }
}

export async function stores(s: StoreSettings): Promise<Row[]> {
  const rows: Row[] = [];
  rows.push(...(await measure({ label: 'LevelDB, 1 process', env: {}, processes: 1 }, s)));
  const shared: Setup[] = [
    { label: 'PostgreSQL, 1 process', env: {}, processes: 1 },
    { label: 'PostgreSQL, server.processes = 2 (bare: 2 processes)', env: { WESS_SERVER_PROCESSES: '2' }, processes: 2 },
  ];
  for (const setup of shared) {
    const db = await database();
    try {
      say(`${setup.label}: database ${new URL(db.url).pathname.slice(1)}`);
      rows.push(...(await measure({ ...setup, env: { ...setup.env, WESS_DATABASE_URL: db.url } }, s)));
    } catch (err) {
      rows.push({ scenario: `stores: ${setup.label}`, metric: '-', wess: null, baseline: null, ratio: null, target: '-', pass: null, detail: `ERROR: ${(err as Error).message.slice(0, 300)}` });
    } finally {
      await db.drop();
    }
  }
  const db = await database();
  try {
    rows.push(...(await coherence(db.url, s.coherenceChanges)));
  } finally {
    await db.drop();
  }
  return rows;
}
