import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Probe } from '../lib/answers.js';
import { uploadWasm } from '../lib/client.js';
import { alternate, drive, type Comparison } from '../lib/load.js';
import type { Row } from '../lib/result.js';
import { withKey, ROOT, type Server } from '../lib/servers.js';
import type { LoadSettings } from './warm.js';

const JSON_HEADERS = withKey({ 'content-type': 'application/json' });

/** Where the hello handler answers: a public route of the bench admin's tenant. */
export const HELLO_PATH = '/h/default/hello';

/** Uploads test/fixtures/wasi/http-hello.wasm and binds it, public, to HELLO_PATH. */
export async function bindHello(wess: Server): Promise<Probe> {
  const hello = await uploadWasm(wess.url, 'http-hello', readFileSync(join(ROOT, 'test/fixtures/wasi/http-hello.wasm')));
  const res = await fetch(`${wess.url}/routes`, {
    method: 'POST',
    headers: withKey({ 'content-type': 'application/json' }),
    body: JSON.stringify({ path: '/hello', module: hello.id, public: true }),
  });
  if (res.status !== 201) throw new Error(`POST /routes answered ${res.status}: ${await res.text()}`);
  return { method: 'GET', path: HELLO_PATH };
}

/** Uploads test/fixtures/wasi/hello.wasm; the probe runs it with no input (POST /modules/{id}/run, `{}`). */
export async function uploadWasiHello(wess: Server): Promise<Probe> {
  const hello = await uploadWasm(wess.url, 'wasi-hello', readFileSync(join(ROOT, 'test/fixtures/wasi/hello.wasm')));
  return { method: 'POST', path: `/modules/${hello.id}/run`, body: '{}' };
}

const rounds = (side: Comparison['base']) => side.rounds.map((r) => r.rps).join(' / ');
const p99s = (side: Comparison['base']) => side.rounds.map((r) => r.p99).join(' / ');

/**
 * GET of the hello handler (a WASI program run per request, its CGI answer parsed) against a bare
 * Fastify route answering the same text, alternately, without a key (a public route). No target in
 * the issue: the rows show what running a fresh WASI instance per HTTP request costs.
 */
export async function handlerHello(wess: Server, bare: Server, s: LoadSettings): Promise<Row[]> {
  const load = (url: string) => () => drive({ url, connections: s.connections, seconds: s.seconds });
  const c = await alternate('HTTP handler hello', s.rounds, load(`${bare.url}${HELLO_PATH}`), load(`${wess.url}${HELLO_PATH}`));
  const worst = (side: Comparison['base']) => Math.max(...side.rounds.map((r) => r.p99));
  const scenario = `HTTP handler hello (${s.connections} connections)`;
  return [
    { scenario, metric: 'req/s', wess: c.wess.rps, baseline: c.base.rps, ratio: c.ratio, target: '-', pass: null, detail: `rounds base ${rounds(c.base)}; wess ${rounds(c.wess)}` },
    { scenario, metric: 'p99 ms (worst round)', wess: worst(c.wess), baseline: worst(c.base), ratio: null, target: '-', pass: null, detail: `p99 rounds wess ${p99s(c.wess)}; bare ${p99s(c.base)}` },
  ];
}

/**
 * A WASI /run of hello.wasm (a wasi-libc program: a fresh instance and WASI process per call, its
 * output in JSON) against the bare route answering Wess's bytes: the handler row's point of
 * comparison, without routes or the CGI answer.
 */
export async function wasiRunHello(wess: Server, bare: Server, probe: Probe, s: LoadSettings): Promise<Row[]> {
  const load = (url: string) => () => drive({ url, method: 'POST', body: probe.body, headers: JSON_HEADERS, connections: s.connections, seconds: s.seconds });
  const c = await alternate('WASI /run hello', s.rounds, load(`${bare.url}${probe.path}`), load(`${wess.url}${probe.path}`));
  const worst = (side: Comparison['base']) => Math.max(...side.rounds.map((r) => r.p99));
  const scenario = `WASI /run hello.wasm (${s.connections} connections)`;
  return [
    { scenario, metric: 'req/s', wess: c.wess.rps, baseline: c.base.rps, ratio: c.ratio, target: '-', pass: null, detail: `rounds base ${rounds(c.base)}; wess ${rounds(c.wess)}` },
    { scenario, metric: 'p99 ms (worst round)', wess: worst(c.wess), baseline: worst(c.base), ratio: null, target: '-', pass: null, detail: `p99 rounds wess ${p99s(c.wess)}; bare ${p99s(c.base)}` },
  ];
}
