import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { validateConfig } from '../../src/config/load.js';
import { headersTimeout } from '../../src/http/transport.js';
import { listen, startApp, type TestApp } from '../helper.js';
import { within } from '../within.js';

const OPEN = { auth: { enabled: false } };
const BOUNDED = { timeout: 15_000 };

/** The port a listening app is bound to. */
function portOf(t: TestApp): number {
  const address = t.app.server.address();
  if (!address || typeof address !== 'object') throw new Error('server has no TCP address');
  return address.port;
}

interface RawClient {
  socket: Socket;
  /** Everything the server has sent so far. */
  text(): string;
  /** Resolves with Date.now() when the first byte arrives. */
  firstByte: Promise<number>;
  /** Resolves with Date.now() when the server's side of the connection is gone. */
  closed: Promise<number>;
}

/** A bare TCP client, for what fetch hides: oversized headers, half-sent requests, idle keep-alive sockets. */
async function rawClient(port: number): Promise<RawClient> {
  const socket = connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let received = '';
  const firstByte = new Promise<number>((resolve) => socket.once('data', () => resolve(Date.now())));
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now())));
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  // A reset while the server closes is an outcome the tests read from `closed`, not a failure.
  socket.on('error', () => {});
  return { socket, text: () => received, firstByte, closed };
}

function assertHelmetHeaders(headers: Headers | http.IncomingHttpHeaders, where: string): void {
  const get = (name: string) => (headers instanceof Headers ? headers.get(name) : headers[name]) ?? undefined;
  assert.equal(get('x-content-type-options'), 'nosniff', `${where}: x-content-type-options`);
  assert.equal(get('x-frame-options'), 'DENY', `${where}: x-frame-options`);
  assert.equal(get('referrer-policy'), 'no-referrer', `${where}: referrer-policy`);
  assert.equal(get('cross-origin-resource-policy'), 'same-origin', `${where}: cross-origin-resource-policy`);
  assert.match(String(get('content-security-policy')), /default-src 'none'.*frame-ancestors 'none'/, `${where}: content-security-policy`);
  // Document-only headers are left out of a JSON API's answers (transport.ts says why).
  for (const name of ['cross-origin-opener-policy', 'origin-agent-cluster', 'x-dns-prefetch-control', 'x-download-options', 'x-permitted-cross-domain-policies', 'x-xss-protection', 'x-powered-by']) {
    assert.equal(get(name), undefined, `${where}: no ${name}`);
  }
}

describe('security headers over plain HTTP', () => {
  let t: TestApp;
  let base: string;
  before(async () => {
    t = await startApp(OPEN);
    base = await listen(t.app);
  });
  after(() => t.close());

  test('on a 200, a 404 and an error response, without HSTS', BOUNDED, async () => {
    const responses = {
      live: await fetch(`${base}/health/live`),
      modules: await fetch(`${base}/modules`),
      missing: await fetch(`${base}/no-such-route`),
      invalid: await fetch(`${base}/modules`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' }),
    };
    assert.equal(responses.live.status, 200);
    assert.equal(responses.modules.status, 200);
    assert.equal(responses.missing.status, 404);
    assert.equal(responses.invalid.status, 400);
    for (const [where, res] of Object.entries(responses)) {
      await res.arrayBuffer();
      assertHelmetHeaders(res.headers, where);
      assert.equal(res.headers.get('strict-transport-security'), null, `${where}: no HSTS without TLS`);
    }
  });
});

describe('TLS', () => {
  let dir: string;
  let cert: string;
  let key: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wess-tls-'));
    cert = join(dir, 'c.pem');
    key = join(dir, 'k.pem');
    execFileSync(
      '/usr/bin/openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'],
      { stdio: 'ignore' },
    );
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('serves HTTPS with HSTS and refuses plain HTTP on the same port', BOUNDED, async () => {
    const t = await startApp({ ...OPEN, server: { tls_cert: cert, tls_key: key } });
    try {
      await t.app.listen({ host: '127.0.0.1', port: 0 });
      const port = portOf(t);
      const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
        https.get(`https://127.0.0.1:${port}/health/live`, { ca: readFileSync(cert), agent: false }, resolve).on('error', reject);
      });
      res.resume();
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['strict-transport-security'], 'max-age=31536000; includeSubDomains');
      assertHelmetHeaders(res.headers, 'https');
      await assert.rejects(
        new Promise((resolve, reject) => {
          http.get(`http://127.0.0.1:${port}/health/live`, { agent: false }, resolve).on('error', reject);
        }),
        (err: NodeJS.ErrnoException) => err.code === 'ECONNRESET',
      );
    } finally {
      await t.close();
    }
  });

  test('a missing certificate file fails the build, naming the key and the path', BOUNDED, async () => {
    const data = await mkdtemp(join(tmpdir(), 'wess-test-'));
    const missing = join(dir, 'missing.pem');
    try {
      await assert.rejects(startApp({ ...OPEN, server: { workers: 1, tls_cert: missing, tls_key: key } }, data), {
        message: `server.tls_cert: cannot read ${missing} (ENOENT)`,
      });
    } finally {
      await rm(data, { recursive: true, force: true });
    }
  });

  test('a file that is not PEM fails the build', BOUNDED, async () => {
    const data = await mkdtemp(join(tmpdir(), 'wess-test-'));
    const garbage = join(dir, 'garbage.pem');
    await writeFile(garbage, 'not a certificate\n');
    try {
      await assert.rejects(startApp({ ...OPEN, server: { workers: 1, tls_cert: garbage, tls_key: key } }, data), /not a usable PEM certificate and key/);
    } finally {
      await rm(data, { recursive: true, force: true });
    }
  });
});

describe('header limits and timeouts', () => {
  let t: TestApp;
  let base: string;
  let port: number;
  before(async () => {
    t = await startApp({ ...OPEN, server: { max_header_size: 4096, headers_timeout: 500, keep_alive_timeout: 300 } });
    base = await listen(t.app);
    port = portOf(t);
  });
  after(() => t.close());

  test('headers over max_header_size get 431; headers under it are served', BOUNDED, async () => {
    const ask = async (headerBytes: number) => {
      const client = await rawClient(port);
      client.socket.write(`GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: ${'a'.repeat(headerBytes)}\r\n\r\n`);
      await within(client.closed, 10_000, 'connection close');
      return client.text().split('\r\n')[0];
    };
    assert.equal(await ask(2000), 'HTTP/1.1 200 OK');
    assert.equal(await ask(8000), 'HTTP/1.1 431 Request Header Fields Too Large');
  });

  // Lower bounds here cannot fail on a busy machine (it is late, never early): each is measured from a
  // moment before the server could have started its timer. Upper bounds are a few seconds, below what
  // the defaults would give (headers_timeout 10 s, node's 30 s sweep; keep_alive_timeout 5 s + 1 s).
  test('a slowloris client is cut off after headers_timeout while others are served', BOUNDED, async () => {
    const opened = Date.now();
    const client = await rawClient(port);
    client.socket.write('GET /health/live HTTP/1.1\r\nHost: x\r\n');
    // A header line every 100 ms: never idle, never finished.
    const drip = setInterval(() => client.socket.writable && client.socket.write('X-Drip: 1\r\n'), 100);
    try {
      const other = await fetch(`${base}/health/live`);
      assert.equal(other.status, 200, 'another client is served meanwhile');
      await other.arrayBuffer();
      const closedAfter = (await within(client.closed, 6000, 'slowloris close')) - opened;
      assert.ok(closedAfter >= 450, `closed after ${closedAfter} ms, before headers_timeout (500 ms, less 50 for clock rounding)`);
      assert.match(client.text(), /^HTTP\/1\.1 408 /);
    } finally {
      clearInterval(drip);
      client.socket.destroy();
    }
  });

  test('an idle keep-alive connection is closed after keep_alive_timeout', BOUNDED, async () => {
    const client = await rawClient(port);
    try {
      const sent = Date.now();
      client.socket.write('GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n');
      await within(client.firstByte, 10_000, 'response');
      // Node 20 closes 1 s after the advertised keep_alive_timeout (a fixed HTTP_SERVER_KEEP_ALIVE_TIMEOUT_BUFFER)
      // so that clients, which honour the advertised value, close first: about 1.3 s here, 6 s with the default.
      const closedAfter = (await within(client.closed, 4000, 'keep-alive close')) - sent;
      assert.match(client.text(), /^HTTP\/1\.1 200 /);
      assert.match(client.text(), /\r\nconnection: keep-alive\r\n/i, 'the server offered to keep the connection');
      assert.equal(t.app.server.keepAliveTimeout, 300);
      assert.ok(closedAfter >= 300, `closed ${closedAfter} ms after the request, before keep_alive_timeout`);
    } finally {
      client.socket.destroy();
    }
  });

  test('headers_timeout is the one the server uses, lowered to request_timeout when that is shorter', () => {
    assert.equal(t.app.server.headersTimeout, 500);
    assert.equal(headersTimeout(validateConfig({ server: { headers_timeout: 1000, request_timeout: 300 } })), 300);
    assert.equal(headersTimeout(validateConfig({ server: { headers_timeout: 1000, request_timeout: 0 } })), 1000);
  });
});
