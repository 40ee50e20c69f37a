/** The CGI response parser on bytes alone: what a WAGI handler may print, and what Wess makes of it. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_HEADERS, parseCgi, replyHeaders, type CgiResponse } from '../../src/http/handlers/cgi.js';

const bytes = (text: string) => new Uint8Array(Buffer.from(text, 'latin1'));

function parsed(text: string | Uint8Array): CgiResponse {
  const result = parseCgi(typeof text === 'string' ? bytes(text) : text);
  assert.ok(result.ok, result.ok ? '' : result.problem);
  return result.response;
}

function problem(text: string): string {
  const result = parseCgi(bytes(text));
  assert.equal(result.ok, false, 'expected a refusal');
  return result.ok ? '' : result.problem;
}

test('headers, a blank line, the body: LF and CRLF alike', () => {
  for (const eol of ['\n', '\r\n']) {
    const r = parsed(`Content-Type: text/plain${eol}X-Thing:  spaced ${eol}${eol}hello${eol}`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.headers, [['content-type', 'text/plain'], ['x-thing', 'spaced']]);
    assert.equal(Buffer.from(r.body).toString('latin1'), `hello${eol}`);
  }
});

test('Status sets the status; Location without Status is a 302; with Status it keeps that', () => {
  assert.equal(parsed('Status: 404 Not Found\nContent-Type: text/plain\n\nnope').status, 404);
  assert.equal(parsed('Status: 201\n\n').status, 201);
  const redirect = parsed('Location: /elsewhere\n\n');
  assert.equal(redirect.status, 302);
  assert.deepEqual(redirect.headers, [['location', '/elsewhere']]);
  assert.equal(parsed('Status: 301 Moved\nLocation: /x\n\n').status, 301);
});

test('the body is passed on byte for byte, blank lines and binary included', () => {
  const body = Buffer.from([0, 1, 2, 0x0a, 0x0a, 0xff, 0x0d, 0x0a]);
  const r = parsed(Buffer.concat([Buffer.from('Content-Type: application/octet-stream\n\n'), body]));
  assert.deepEqual(Buffer.from(r.body), body);
});

test('hop-by-hop, framing, cookies and the headers Wess owns are dropped, and named', () => {
  const r = parsed(
    'Content-Type: text/plain\nConnection: close\nTransfer-Encoding: chunked\nContent-Length: 3\nSet-Cookie: a=b\nKeep-Alive: 5\n' +
      'Upgrade: h2c\nTE: trailers\nTrailer: x\nProxy-Authenticate: x\nX-Content-Type-Options: off\nContent-Security-Policy: none\nX-Request-Id: mine\nX-Kept: 1\n\nbody',
  );
  assert.deepEqual(r.headers, [['content-type', 'text/plain'], ['x-kept', '1']]);
  assert.deepEqual(r.dropped, [
    'connection', 'transfer-encoding', 'content-length', 'set-cookie', 'keep-alive', 'upgrade', 'te', 'trailer', 'proxy-authenticate',
    'x-content-type-options', 'content-security-policy', 'x-request-id',
  ]);
});

test('what is not a CGI response is refused with a reason', () => {
  assert.match(problem(''), /printed nothing/);
  assert.match(problem('just a body'), /no blank line after the headers/);
  assert.match(problem('\nbody'), /starts with a blank line/);
  assert.match(problem('Content-Type: text/plain\nnot a header\n\nbody'), /header line 2 is not "Name: value"/);
  assert.match(problem('Bad Name: x\n\n'), /header line 1/);
  assert.match(problem(' folded: x\n\n'), /header line 1/);
  assert.match(problem('Status: abc\n\n'), /Status "abc"/);
  assert.match(problem('Status: 99\n\n'), /not a status code/);
  assert.match(problem('Status: 600\n\n'), /not a status code/);
  assert.match(problem('Status: 101 Switching\n\n'), /not a status code/);
  assert.match(problem('X-Bad: a\u0001b\n\n'), /control character/);
  assert.match(problem(`${'X-A: 1\n'.repeat(MAX_HEADERS + 1)}\n`), /more than 100 header lines/);
  assert.match(problem(`X-Long: ${'a'.repeat(70_000)}\n\n`), /longer than 65536 bytes/);
});

test('a header printed on several lines keeps them all, but a one-value header keeps its last', () => {
  const r = parsed('Content-Type: text/plain\nLink: </a>\nVary: Accept\nLink: </b>\nContent-Type: text/html\nLink: </c>\nLocation: /x\nLocation: /y\n\n');
  assert.deepEqual([...replyHeaders(r.headers)], [
    ['content-type', 'text/html'],
    ['link', ['</a>', '</b>', '</c>']],
    ['vary', 'Accept'],
    ['location', '/y'],
  ]);
});
