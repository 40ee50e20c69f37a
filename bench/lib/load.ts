import autocannon, { type Request } from 'autocannon';
import { median, round, say } from './stats.js';

export interface LoadOptions {
  url: string;
  method?: 'GET' | 'POST';
  body?: string | Buffer;
  headers?: Record<string, string>;
  /** Builds each request afresh (e.g. a unique upload body). */
  setupRequest?: (req: Request) => Request;
  connections: number;
  seconds: number;
  /** Requests per second over all connections (autocannon's overallRate); absent: as fast as answered. */
  rate?: number;
  /** Stop after this many requests rather than after `seconds` (autocannon's amount). */
  requests?: number;
}

export interface Round { rps: number; p99: number; non2xx: number; errors: number }

/** One autocannon run; req/s counts 2xx answers only, so errors never inflate throughput. */
export async function drive(options: LoadOptions): Promise<Round> {
  const request: Request = { method: options.method ?? 'GET', headers: options.headers ?? {} };
  if (options.body !== undefined) request.body = options.body;
  if (options.setupRequest) request.setupRequest = options.setupRequest;
  const result = await autocannon({ url: options.url, connections: options.connections, duration: options.seconds, requests: [request], timeout: 30, ...(options.rate === undefined ? {} : { overallRate: options.rate }), ...(options.requests === undefined ? {} : { amount: options.requests }) });
  const seconds = result.duration || options.seconds;
  return { rps: round(result['2xx'] / seconds, 0), p99: result.latency.p99, non2xx: result.non2xx, errors: result.errors + result.timeouts };
}

export interface Side { rounds: Round[]; rps: number; p99: number }

export interface Comparison { wess: Side; base: Side; ratio: number }

function side(rounds: Round[]): Side {
  return { rounds, rps: median(rounds.map((r) => r.rps)), p99: median(rounds.map((r) => r.p99)) };
}

/** Runs base and wess alternately (A B A B …) and reports each side's medians and wess/base. */
export async function alternate(label: string, rounds: number, base: () => Promise<Round>, wess: () => Promise<Round>): Promise<Comparison> {
  const a: Round[] = [];
  const b: Round[] = [];
  for (let i = 1; i <= rounds; i++) {
    const ra = await base();
    say(`${label} round ${i} base: ${ra.rps} req/s p99 ${ra.p99} ms${ra.non2xx + ra.errors ? ` (non2xx ${ra.non2xx}, errors ${ra.errors})` : ''}`);
    a.push(ra);
    const rb = await wess();
    say(`${label} round ${i} wess: ${rb.rps} req/s p99 ${rb.p99} ms${rb.non2xx + rb.errors ? ` (non2xx ${rb.non2xx}, errors ${rb.errors})` : ''}`);
    b.push(rb);
  }
  const baseSide = side(a);
  const wessSide = side(b);
  return { base: baseSide, wess: wessSide, ratio: round(wessSide.rps / baseSide.rps, 3) };
}
