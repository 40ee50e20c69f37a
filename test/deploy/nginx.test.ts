/**
 * deploy/nginx/wess.conf: nginx accepts it, its body limit is above Wess's own, and a real nginx
 * (Debian's) started from it in front of three Wess processes on one PostgreSQL database proxies
 * uploads, runs and an /events stream.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../src/config/load.js';
import { uploadJsonLimit } from '../../src/http/body-limits.js';
import { authHeaders, TEST_ADMIN_KEY, TEST_AUTH_SECRET } from '../helper.js';
import { runOver, startProcess, uploadOver, type Proc } from '../process.js';
import { pgOptions, testDatabase, type TestDatabase } from '../store/postgres/pg-helper.js';
import { nginxTool, postgresStoreMissing, prometheusRequired, repoPath, repoText, warnLoudly, which } from './helpers.js';
import { startNginx, upstreamServers, writeConfigs, type Nginx } from './nginx.js';

/** nginx's size syntax (40m, 512k, 1g, bytes) in bytes. */
function bytesOf(size: string): number {
  const match = /^(\d+)([kmg]?)$/i.exec(size);
  assert.ok(match, `not an nginx size: ${size}`);
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(match[2] ?? '').toLowerCase()] ?? 1;
  return Number(match[1]) * unit;
}

test('nginx -t accepts deploy/nginx/wess.conf (upstreams and listen address replaced for this machine)', async (t) => {
  const nginx = nginxTool(t);
  if (!nginx) return;
  const { dir, main } = await writeConfigs(['127.0.0.1:1', '127.0.0.1:2', '127.0.0.1:3'], '127.0.0.1:1');
  try {
    const checked = spawnSync(nginx, ['-t', '-c', main, '-p', `${dir}/`, '-e', 'stderr'], { encoding: 'utf8' });
    assert.equal(checked.status, 0, checked.stderr);
    assert.match(checked.stderr, /test is successful/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('nginx lets through every body Wess accepts: client_max_body_size is above the largest upload wess.toml allows', () => {
  const conf = repoText('deploy/nginx/wess.conf');
  const server = /client_max_body_size\s+(\S+);/.exec(conf)?.[1];
  assert.ok(server, 'client_max_body_size is set');
  const config = loadConfig({ argv: ['--config', repoPath('wess.toml')] });
  assert.ok(bytesOf(server) >= uploadJsonLimit(config), `${server} is below Wess's upload limit of ${uploadJsonLimit(config)} bytes`);
  assert.ok(bytesOf(server) >= config.limits.max_module_size);
  assert.equal(upstreamServers(conf).length, 3);
});

test('/events is not buffered and may stay idle past the heartbeat; an import is streamed', () => {
  const conf = repoText('deploy/nginx/wess.conf');
  const events = /location = \/events \{([^}]*)\}/.exec(conf)?.[1] ?? '';
  assert.match(events, /proxy_buffering off;/);
  assert.match(events, /proxy_read_timeout 1h;/);
  const imports = /location = \/admin\/import \{([^}]*)\}/.exec(conf)?.[1] ?? '';
  assert.match(imports, /proxy_request_buffering off;/);
  assert.match(imports, /client_max_body_size 0;/);
  assert.match(conf, /proxy_http_version 1\.1;/);
  assert.match(conf, /keepalive \d+;/);
});

const nginxMissing = !which('nginx') && !prometheusRequired() ? 'nginx NOT FOUND: install Debian\'s "nginx" package. SKIPPED.' : false;
if (nginxMissing) warnLoudly(nginxMissing);
const skip = postgresStoreMissing || nginxMissing || pgOptions.skip;

describe('nginx in front of three Wess nodes on one PostgreSQL database', { skip }, () => {
  let db: TestDatabase;
  const nodes: Proc[] = [];
  const dirs: string[] = [];
  let nginx: Nginx | undefined;

  before(async () => {
    db = await testDatabase();
    const env = { WESS_DATABASE_URL: db.url, WESS_AUTH_SECRET: TEST_AUTH_SECRET, WESS_ADMIN_KEY: TEST_ADMIN_KEY, WESS_SERVER_WORKERS: '1', WESS_SERVER_TRUST_PROXY: 'true' };
    // One after the other: the first creates the schema; the others find it (their start under the
    // advisory lock is the store's own test).
    for (let i = 0; i < 3; i++) {
      const dir = await mkdtemp(join(tmpdir(), 'wess-nginx-node-'));
      dirs.push(dir);
      nodes.push(await startProcess(dir, { env }));
    }
    const binary = which('nginx');
    if (!binary) throw new Error('nginx is required under CI: install Debian\'s "nginx" package (.ci/run does)');
    nginx = await startNginx(binary, nodes.map((node) => node.base.replace('http://', '')));
  });
  after(async () => {
    await nginx?.stop();
    for (const node of nodes) node.child.kill('SIGTERM');
    const exits = await Promise.all(nodes.map((node) => node.exited));
    for (const exit of exits) assert.equal(exit.code, 0);
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
    await db?.close();
  });

  test('an upload through nginx is read back from every node, and runs through nginx', async () => {
    const id = await uploadOver(nginx!.base, 'add');
    for (const node of nodes) {
      const res = await fetch(`${node.base}/modules/${id}`, { headers: authHeaders() });
      assert.equal(res.status, 200, `node ${node.base} sees the module`);
      assert.equal(((await res.json()) as { id: string }).id, id);
    }
    for (let i = 0; i < 6; i++) {
      const res = await runOver(nginx!.base, id, 'add', [2, i]);
      assert.equal(res.status, 200);
      assert.deepEqual(((await res.json()) as { results: number[] }).results, [2 + i]);
    }
  });

  test('X-Request-Id passes through nginx both ways, and nginx makes one when the client sends none', async () => {
    const sent = await fetch(`${nginx!.base}/health/live`, { headers: { 'x-request-id': 'through-nginx-1' } });
    assert.equal(sent.status, 200);
    assert.equal(sent.headers.get('x-request-id'), 'through-nginx-1');
    const node = await Promise.race(nodes.map((proc) => proc.nextLine((line) => line.request_id === 'through-nginx-1', 0)));
    assert.equal(node.url, '/health/live');
    const made = await fetch(`${nginx!.base}/health/live`);
    assert.match(made.headers.get('x-request-id') ?? '', /^[0-9a-f]{32}$/, "nginx's $request_id, not a fresh one per hop");
    assert.match(await nginx!.accessLog(), new RegExp(`request_id=${made.headers.get('x-request-id')}`));
  });

  test('an /events stream through nginx receives an event as it happens', async () => {
    const controller = new AbortController();
    const res = await fetch(`${nginx!.base}/events`, { headers: authHeaders(), signal: controller.signal });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let text = '';
    const created = (async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`the stream ended before an event arrived:\n${text}`);
        text += decoder.decode(value, { stream: true });
        const frame = /event: module\.created\ndata: (.*)\n\n/.exec(text);
        if (frame) return JSON.parse(frame[1] as string) as { module_id: string };
      }
    })();
    // One upload through each node: whichever node holds the stream sees its own at least.
    const ids = [];
    for (const node of nodes) ids.push(await uploadOver(node.base, 'add'));
    const event = await created;
    assert.ok(ids.includes(event.module_id), `an event of this test's uploads: ${event.module_id}`);
    controller.abort();
    await reader.cancel().catch(() => undefined);
  });

  test('a module over a Wess limit gets Wess\'s JSON 413, not an nginx page', async () => {
    const res = await fetch(`${nginx!.base}/modules?name=big`, {
      method: 'POST',
      headers: authHeaders({ 'content-type': 'application/wasm' }),
      body: new Uint8Array(2 * 1024 * 1024 + 1),
    });
    assert.equal(res.status, 413);
    const body = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'PAYLOAD_TOO_LARGE');
    assert.match(body.error.message, /the limit is 2097152 bytes/);
  });
});
