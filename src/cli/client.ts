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
  headers: Headers;
}

/** Why a connection failed, from Node's error codes (fetch hides them in `cause`). */
function reason(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  const code = cause?.code ?? (err as { code?: string }).code;
  const known: Record<string, string> = {
    ECONNREFUSED: 'connection refused',
    ENOTFOUND: 'host not found',
    EAI_AGAIN: 'host name lookup failed',
    ETIMEDOUT: 'connection timed out',
    ECONNRESET: 'connection reset',
    EHOSTUNREACH: 'host unreachable',
    ENETUNREACH: 'network unreachable',
  };
  if (code && known[code]) return known[code];
  return oneLine(cause?.message ?? (err as Error).message ?? String(err));
}

/** The server's error body, if the answer has the contract's shape. */
function errorOf(body: unknown): { code: string; message: string; request_id?: string } | undefined {
  const error = (body as { error?: { code?: unknown; message?: unknown; request_id?: unknown } } | null)?.error;
  if (typeof error?.code !== 'string' || typeof error.message !== 'string') return undefined;
  return { code: error.code, message: error.message, request_id: typeof error.request_id === 'string' ? error.request_id : undefined };
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
    let res: Response;
    let text: string;
    try {
      res = await fetch(target, { method, headers, body });
      text = await res.text();
    } catch (err) {
      throw cliError('UNREACHABLE', `cannot reach ${this.url}: ${reason(err)}`, EXIT.UNREACHABLE);
    }
    const parsed = parseJson(text);
    if (res.ok) {
      if (text !== '' && parsed === undefined) throw notWess(this.url, res.status, 'a body that is not JSON');
      return { status: res.status, body: parsed as T, headers: res.headers };
    }
    const error = errorOf(parsed);
    if (!error) throw notWess(this.url, res.status, 'an error without a Wess error body');
    let message = `${error.code}: ${oneLine(error.message)} (HTTP ${res.status}`;
    message += res.status >= 500 && error.request_id ? `, request ${error.request_id})` : ')';
    if (res.status === 401 && !this.key) message += '; pass --key or set WESS_KEY';
    throw cliError(error.code, message, exitForServerCode(error.code), { body: parsed, status: res.status });
  }

  get<T = unknown>(path: string, query?: Query): Promise<Answer<T>> {
    return this.request<T>('GET', path, { query });
  }

  delete(path: string): Promise<Answer<unknown>> {
    return this.request('DELETE', path);
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
