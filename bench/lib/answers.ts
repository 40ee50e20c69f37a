import { withKey, type Server } from './servers.js';

/*
 * The bare baseline answers each route the bench drives with the very bytes Wess sent for the same
 * request, so the comparison measures Wess's work and not a shorter body: answers are captured from
 * the Wess of this run, handed to bench/bare-server.ts, and checked byte for byte before any load.
 */

/** A request the bench sends to both servers. */
export interface Probe {
  method: 'GET' | 'POST';
  path: string;
  /** JSON request body (POST only). */
  body?: string;
}

/** A probe and the answer Wess gave it. */
export interface Exchange extends Probe {
  status: number;
  contentType: string;
  /** The response body exactly as Wess sent it (JSON, so UTF-8 text). */
  answer: string;
}

/** How many times each probe is sent before its answer is kept: the kept one is a warm answer. */
const WARM_CALLS = 3;

async function send(server: Server, probe: Probe): Promise<{ status: number; contentType: string; bytes: Buffer }> {
  const init: RequestInit = { method: probe.method, headers: withKey(probe.body === undefined ? {} : { 'content-type': 'application/json' }) };
  if (probe.body !== undefined) init.body = probe.body;
  const res = await fetch(`${server.url}${probe.path}`, init);
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', bytes: Buffer.from(await res.arrayBuffer()) };
}

/** Sends each probe to Wess a few times and keeps its last answer; throws unless it is a 200. */
export async function capture(wess: Server, probes: Probe[]): Promise<Exchange[]> {
  const exchanges: Exchange[] = [];
  for (const probe of probes) {
    let last = await send(wess, probe);
    for (let i = 1; i < WARM_CALLS; i++) last = await send(wess, probe);
    const answer = last.bytes.toString('utf8');
    if (last.status !== 200) throw new Error(`${probe.method} ${probe.path} on Wess answered ${last.status}: ${answer.slice(0, 300)}`);
    exchanges.push({ ...probe, status: last.status, contentType: last.contentType, answer });
  }
  return exchanges;
}

/** Where `got` first differs from `expected`, or undefined when they are the same bytes. */
export function difference(expected: Buffer, got: Buffer): string | undefined {
  if (expected.equals(got)) return undefined;
  let at = 0;
  while (at < expected.length && at < got.length && expected[at] === got[at]) at++;
  const around = (b: Buffer) => JSON.stringify(b.subarray(Math.max(0, at - 20), at + 40).toString('utf8'));
  return `${got.length} bytes instead of ${expected.length}, first differing at byte ${at}: ${around(got)} instead of ${around(expected)}`;
}

/** Every way `server` fails to answer the exchanges as Wess did (status, content-type, body bytes); empty when it matches. */
export async function mismatches(server: Server, exchanges: Exchange[]): Promise<string[]> {
  const problems: string[] = [];
  for (const exchange of exchanges) {
    const got = await send(server, exchange);
    const route = `${exchange.method} ${exchange.path}`;
    if (got.status !== exchange.status) problems.push(`${route}: status ${got.status} instead of ${exchange.status}`);
    if (got.contentType !== exchange.contentType) problems.push(`${route}: content-type ${JSON.stringify(got.contentType)} instead of ${JSON.stringify(exchange.contentType)}`);
    const diff = difference(Buffer.from(exchange.answer, 'utf8'), got.bytes);
    if (diff) problems.push(`${route}: body ${diff}`);
  }
  return problems;
}
