import { request as httpRequest, type ClientRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { EXIT, cliError, exitForServerCode, oneLine } from './errors.js';

type Query = Record<string, string | number | boolean | undefined>;

export interface RequestOptions {
  query?: Query;
  /** A JSON body. */
  json?: unknown;
  /** A raw body (e.g. application/wasm), sent with `contentType`. */
  body?: Uint8Array;
  contentType?: string;
  headers?: Record<string, string>;
}

/** A successful answer: its status and parsed JSON body (undefined for 204 or an empty body). */
export interface Answer<T> {
  status: number;
  body: T;
  headers: IncomingHttpHeaders;
}

/**
 * How long a raw upload waits for `100 Continue` before sending its body anyway: what curl waits.
 * Only a server or proxy that ignores `Expect` makes it wait at all.
 */
const CONTINUE_TIMEOUT_MS = 1000;

/** Why a connection failed, from Node's error codes. */
function reason(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  const code = (err as { code?: string }).code ?? cause?.code;
  const known: Record<string, string> = {
    ECONNREFUSED: 'connection refused',
    ENOTFOUND: 'host not found',
    EAI_AGAIN: 'host name lookup failed',
    ETIMEDOUT: 'connection timed out',
    ECONNRESET: 'connection reset',
    EHOSTUNREACH: 'host unreachable',
    ENETUNREACH: 'network unreachable',
    EPIPE: 'the connection was closed while the request was being sent',
  };
  if (code && known[code]) return known[code];
  return oneLine((err as Error).message ?? cause?.message ?? String(err));
}

/** The server's error body, if the answer has the contract's shape. */
function errorOf(body: unknown): { code: string; message: string; request_id?: string } | undefined {
  const error = (body as { error?: { code?: unknown; message?: unknown; request_id?: unknown } } | null)?.error;
  if (typeof error?.code !== 'string' || typeof error.message !== 'string') return undefined;
  return { code: error.code, message: error.message, request_id: typeof error.request_id === 'string' ? error.request_id : undefined };
}

/**
 * Sends one request and resolves with the response as soon as its head arrives. A raw body goes with
 * `Expect: 100-continue`: a server that refuses it (413 over a size limit, 401) answers before a byte of
 * it is sent, instead of closing the connection under a client that is still writing (EPIPE, and the
 * answer lost). An answer that arrives while the body is being written is still the answer: a write
 * error after it is ignored.
 */
function send(target: URL, method: string, headers: Record<string, string>, body: string | Uint8Array | undefined): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const raw = body instanceof Uint8Array;
    const all = { ...headers };
    if (body !== undefined) all['content-length'] = String(Buffer.byteLength(body));
    if (raw) all.expect = '100-continue';
    const req: ClientRequest = (target.protocol === 'https:' ? httpsRequest : httpRequest)(target, { method, headers: all });
    let answered = false;
    let bodySent = false;
    let timer: NodeJS.Timeout | undefined;
    const sendBody = () => {
      clearTimeout(timer);
      if (bodySent || answered) return;
      bodySent = true;
      req.end(body);
    };
    req.on('response', (res) => {
      answered = true;
      clearTimeout(timer);
      // Refused before the body went: the request can never complete, so it goes once the answer is read.
      if (!bodySent) res.on('end', () => req.destroy());
      resolve(res);
    });
    req.on('error', (err) => {
      if (!answered) reject(err);
    });
    if (raw) {
      req.on('continue', sendBody);
      timer = setTimeout(sendBody, CONTINUE_TIMEOUT_MS);
      req.flushHeaders();
    } else {
      bodySent = true;
      req.end(body);
    }
  });
}

/** The whole body of a response as text. */
async function readAll(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Talks to one Wess server over HTTP; every failure becomes a CliError with the right exit code. */
export class WessClient {
  constructor(
    readonly url: string,
    readonly key: string | undefined,
  ) {}

  /** The full URL of `path` with `query` (undefined values left out). */
  href(path: string, query: Query = {}): URL {
    let base: URL;
    try {
      base = new URL(this.url);
    } catch {
      throw cliError('USAGE', `--url: ${JSON.stringify(this.url)} is not a URL (e.g. http://127.0.0.1:8080)`, EXIT.USAGE);
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:') {
      throw cliError('USAGE', `--url: ${JSON.stringify(this.url)} must start with http:// or https://`, EXIT.USAGE);
    }
    const target = new URL(`${base.pathname.replace(/\/+$/, '')}${path}`, base);
    for (const [name, value] of Object.entries(query)) if (value !== undefined) target.searchParams.set(name, String(value));
    return target;
  }

  /** Sends one request; resolves with a 2xx answer, throws a CliError for anything else. */
  async request<T = unknown>(method: string, path: string, options: RequestOptions = {}): Promise<Answer<T>> {
    const res = await this.open(method, path, options);
    let text: string;
    try {
      text = await readAll(res);
    } catch (err) {
      throw cliError('UNREACHABLE', `cannot reach ${this.url}: the answer broke off (${reason(err)})`, EXIT.UNREACHABLE);
    }
    const status = res.statusCode ?? 0;
    const parsed = parseJson(text);
    if (status < 200 || status > 299) throw this.refusal(status, text);
    if (text !== '' && parsed === undefined) throw notWess(this.url, status, 'a body that is not JSON');
    return { status, body: parsed as T, headers: res.headers };
  }

  /**
   * Opens a response that streams (an event stream): resolves with it once a 2xx head arrives;
   * anything else becomes the same CliError as `request` throws.
   */
  async stream(path: string, options: RequestOptions = {}): Promise<IncomingMessage> {
    const res = await this.open('GET', path, options);
    const status = res.statusCode ?? 0;
    if (status >= 200 && status <= 299) return res;
    throw this.refusal(status, await readAll(res).catch(() => ''));
  }

  get<T = unknown>(path: string, query?: Query): Promise<Answer<T>> {
    return this.request<T>('GET', path, { query });
  }

  delete(path: string): Promise<Answer<unknown>> {
    return this.request('DELETE', path);
  }

  private async open(method: string, path: string, options: RequestOptions): Promise<IncomingMessage> {
    const target = this.href(path, options.query);
    const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
    if (this.key) headers.authorization = `Bearer ${this.key}`;
    let body: string | Uint8Array | undefined;
    if (options.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.json);
    } else if (options.body !== undefined) {
      headers['content-type'] = options.contentType ?? 'application/octet-stream';
      body = options.body;
    }
    try {
      return await send(target, method, headers, body);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (options.body !== undefined && (code === 'EPIPE' || code === 'ECONNRESET')) {
        throw cliError(
          'UNREACHABLE',
          `${this.url} closed the connection while the ${options.body.length}-byte body was being sent, without an answer (a size limit of a proxy in between?)`,
          EXIT.UNREACHABLE,
        );
      }
      throw cliError('UNREACHABLE', `cannot reach ${this.url}: ${reason(err)}`, EXIT.UNREACHABLE);
    }
  }

  /** The CliError for a non-2xx answer. */
  private refusal(status: number, text: string) {
    const parsed = parseJson(text);
    const error = errorOf(parsed);
    if (!error) return notWess(this.url, status, 'an error without a Wess error body');
    let message = `${error.code}: ${oneLine(error.message)} (HTTP ${status}`;
    message += status >= 500 && error.request_id ? `, request ${error.request_id})` : ')';
    if (status === 401 && !this.key) message += '; pass --key or set WESS_KEY';
    return cliError(error.code, message, exitForServerCode(error.code), { body: parsed, status });
  }
}

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function notWess(url: string, status: number, what: string) {
  return cliError('BAD_RESPONSE', `${url} answered HTTP ${status} with ${what}; is it a Wess server?`, EXIT.UNREACHABLE);
}
