/**
 * The CGI response a WAGI handler writes on stdout (RFC 3875 §6, as WAGI uses it): header lines,
 * a blank line, then the body.
 *
 *   Content-Type: text/plain\n        header lines, LF or CRLF
 *   Status: 404 Not Found\n           the status; absent: 200, or 302 when there is a Location
 *   \n                                the blank line that ends the headers (required)
 *   body bytes…                       passed on byte for byte
 *
 * Pure: no Fastify, so the rules are tested on bytes alone (test/http/cgi.test.ts).
 */

/** Header names a handler may not set: hop-by-hop (RFC 9110 §7.6.1), framing Wess computes, and what the shared origin forbids. */
const DROPPED = new Set([
  'connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection',
  'content-length',
  // Every tenant's handlers answer on the same origin: a cookie one sets, every other one's pages get.
  'set-cookie', 'set-cookie2',
]);

/**
 * Headers Wess sets on every answer and keeps: the request id, the receipt, the rate limit, and
 * helmet's security headers (src/http/transport.ts). A handler's own value of one is dropped.
 */
const WESS_OWNED = new Set([
  'x-request-id', 'server-timing', 'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset',
  'content-security-policy', 'cross-origin-opener-policy', 'cross-origin-resource-policy', 'cross-origin-embedder-policy', 'origin-agent-cluster',
  'referrer-policy', 'strict-transport-security', 'x-content-type-options', 'x-dns-prefetch-control', 'x-download-options', 'x-frame-options',
  'x-permitted-cross-domain-policies', 'x-xss-protection',
]);

/** Most header bytes and lines a handler may print before its blank line. */
export const MAX_HEADER_BYTES = 64 * 1024;
export const MAX_HEADERS = 100;

/** RFC 9110 token characters: what a header name is made of. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** What Node accepts in a header value: tab, and visible ASCII or any byte from 0x80 (read as latin1). */
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
const STATUS = /^([1-5][0-9]{2})(?:[ \t]+(.*))?$/;

export interface CgiResponse {
  status: number;
  /** Header names lower-cased, in the order printed; dropped ones left out. */
  headers: Array<[string, string]>;
  body: Uint8Array;
  /** Names of the headers the handler printed and Wess dropped (for the log). */
  dropped: string[];
}

export type CgiParse = { ok: true; response: CgiResponse } | { ok: false; problem: string };

/** Parses a handler's stdout; `problem` says what is wrong in words a handler's author can act on. */
export function parseCgi(stdout: Uint8Array): CgiParse {
  const headers: Array<[string, string]> = [];
  const dropped: string[] = [];
  let status: number | undefined;
  let hasLocation = false;
  let at = 0;
  for (let line = 1; ; line++) {
    const end = stdout.indexOf(0x0a, at);
    if (end === -1 || end >= MAX_HEADER_BYTES) {
      if (stdout.length === 0) return fail('the handler printed nothing: a response starts with headers (e.g. "Content-Type: text/plain"), then a blank line');
      return fail(end === -1 ? 'no blank line after the headers: print headers (e.g. "Content-Type: text/plain"), a blank line, then the body' : `the headers are longer than ${MAX_HEADER_BYTES} bytes`);
    }
    const text = Buffer.from(stdout.buffer, stdout.byteOffset + at, end - at).toString('latin1').replace(/\r$/, '');
    at = end + 1;
    if (text === '') {
      if (line === 1) return fail('the output starts with a blank line: no headers (at least "Content-Type" or "Location")');
      break;
    }
    if (line > MAX_HEADERS) return fail(`more than ${MAX_HEADERS} header lines`);
    const colon = text.indexOf(':');
    const name = colon === -1 ? '' : text.slice(0, colon);
    if (!TOKEN.test(name)) return fail(`header line ${line} is not "Name: value": ${quote(text)}`);
    const value = text.slice(colon + 1).trim();
    if (BAD_VALUE.test(value)) return fail(`header ${quote(name)} (line ${line}) holds a control character`);
    const lower = name.toLowerCase();
    if (lower === 'status') {
      const m = STATUS.exec(value);
      const code = m ? Number(m[1]) : 0;
      if (code < 200) return fail(`Status ${quote(value)} (line ${line}) is not a status code from 200 to 599 with an optional reason`);
      status = code;
      continue;
    }
    if (lower === 'location') hasLocation = true;
    if (DROPPED.has(lower) || WESS_OWNED.has(lower)) {
      dropped.push(lower);
      continue;
    }
    headers.push([lower, value]);
  }
  return { ok: true, response: { status: status ?? (hasLocation ? 302 : 200), headers, body: stdout.subarray(at), dropped } };
}

/** Headers that hold one value (RFC 9110 defines no list for them): printed twice, the last line counts, as one header. */
const SINGLE = new Set(['content-type', 'content-location', 'content-disposition', 'location', 'etag', 'last-modified', 'expires', 'date', 'age', 'retry-after']);

/**
 * The response headers as a reply sets them: a name printed on several lines keeps every line (an
 * array, sent as that many lines), except a one-value header, whose last line counts.
 */
export function replyHeaders(headers: ReadonlyArray<[string, string]>): Map<string, string | string[]> {
  const out = new Map<string, string | string[]>();
  for (const [name, value] of headers) {
    const seen = out.get(name);
    if (seen === undefined || SINGLE.has(name)) out.set(name, value);
    else if (Array.isArray(seen)) seen.push(value);
    else out.set(name, [seen, value]);
  }
  return out;
}

function fail(problem: string): CgiParse {
  return { ok: false, problem };
}

/** A line of the guest's output as a message quotes it: at most 80 characters. */
function quote(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
}
