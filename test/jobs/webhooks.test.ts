import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TEST_ADMIN_KEY, fixture, listen, makeKey, startApp, upload, type TestApp } from '../helper.js';
import { client, waitForJob, type Call } from './client.js';

interface Received {
  headers: IncomingMessage['headers'];
  body: string;
}

/** A callback receiver on 127.0.0.1 that answers `status()` and keeps what it got. */
async function receiver(status: () => number): Promise<{ server: Server; url: string; got: Received[] }> {
  const got: Received[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      got.push({ headers: req.headers, body });
      res.writeHead(status()).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address !== 'object') throw new Error('receiver has no address');
  return { server, url: `http://127.0.0.1:${address.port}/hook`, got };
}

/** Checks Wess-Signature as a receiver would: t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">. */
function verify(secret: string, header: string | string[] | undefined, body: string): boolean {
  const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(header));
  if (!match) return false;
  const [, t, v1] = match as unknown as [string, string, string];
  if (Math.abs(Date.now() / 1000 - Number(t)) > 300) return false;
  const expected = createHmac('sha256', secret).update(`${t}.${body}`).digest();
  return timingSafeEqual(expected, Buffer.from(v1, 'hex'));
}

describe('job callbacks', () => {
  let t: TestApp;
  let call: Call;
  let base: string;
  let add: string;
  let trap: string;

  before(async () => {
    t = await startApp({ jobs: { callback_allow: ['127.0.0.1'], retry_base: 20, retry_max: 50, poll: 100, webhook_attempts: 3 } });
    add = (await upload(t.app, 'add')).id;
    trap = (await upload(t.app, 'trap')).id;
    base = await listen(t.app);
    call = client(base);
  });
  after(async () => t.close());

  test('an ended job is POSTed to its callback, signed with the tenant\'s secret', async () => {
    const hook = await receiver(() => 204);
    try {
      const created = await call('POST', '/webhook-secret');
      assert.equal(created.status, 201);
      const { secret } = created.body as { secret: string };
      const res = await call('POST', `/modules/${add}/jobs`, { function: 'add', args: [20, 22], callback_url: hook.url });
      const job = await waitForJob(call, res.body.id, (j) => j.webhook?.status === 'delivered');
      assert.equal(job.status, 'succeeded');
      assert.equal(hook.got.length, 1);
      const [delivery] = hook.got as [Received];
      assert.ok(verify(secret, delivery.headers['wess-signature'], delivery.body), `signature ${String(delivery.headers['wess-signature'])} does not verify`);
      assert.equal(verify('another secret', delivery.headers['wess-signature'], delivery.body), false);
      const sent = JSON.parse(delivery.body);
      assert.equal(sent.id, res.body.id);
      assert.equal(sent.status, 'succeeded');
      assert.deepEqual(sent.result.results, [42]);

      // A failed job calls back too; after a rotation only the new secret verifies.
      const rotated = (await call('POST', '/webhook-secret')).body.secret as string;
      assert.notEqual(rotated, secret);
      const failed = await call('POST', `/modules/${trap}/jobs`, { function: 'div', args: [1, 0], callback_url: hook.url });
      await waitForJob(call, failed.body.id, (j) => j.webhook?.status === 'delivered');
      const second = hook.got[1] as Received;
      assert.equal(JSON.parse(second.body).status, 'failed');
      assert.ok(verify(rotated, second.headers['wess-signature'], second.body));
      assert.equal(verify(secret, second.headers['wess-signature'], second.body), false);
    } finally {
      hook.server.close();
    }
  });

  test('a receiver that fails is retried with backoff, then given up after jobs.webhook_attempts', async () => {
    let answers = 0;
    const flaky = await receiver(() => (++answers === 1 ? 500 : 200));
    const down = await receiver(() => 503);
    try {
      const retried = await call('POST', `/modules/${add}/jobs`, { function: 'add', args: [1, 1], callback_url: flaky.url });
      const ok = await waitForJob(call, retried.body.id, (j) => j.webhook?.status === 'delivered');
      assert.equal(ok.webhook.attempts, 2);
      assert.equal(flaky.got.length, 2);
      const never = await call('POST', `/modules/${add}/jobs`, { function: 'add', args: [1, 1], callback_url: down.url });
      const gaveUp = await waitForJob(call, never.body.id, (j) => j.webhook?.status === 'failed');
      assert.equal(gaveUp.webhook.attempts, 3);
      assert.equal(gaveUp.webhook.last_error, 'the receiver answered 503');
      assert.equal(down.got.length, 3);
      assert.equal((await call('GET', `/jobs/${retried.body.id}`)).body.webhook.last_error, undefined, 'a delivered callback keeps no error');
    } finally {
      flaky.server.close();
      down.server.close();
    }
  });

  test('a tenant without a webhook secret gets no unsigned callback: the delivery fails and says why', async () => {
    const hook = await receiver(() => 204);
    try {
      const key = await makeKey(t.app, { name: 'unsigned', role: 'developer', tenant: 'no-secret-yet' });
      const dev = client(base, key.key);
      const mod = (await dev('POST', '/modules', { name: 'add', content: fixture('add').toString('base64') })).body;
      const res = await dev('POST', `/modules/${mod.id}/jobs`, { function: 'add', args: [1, 1], callback_url: hook.url });
      const job = await waitForJob(dev, res.body.id, (j) => j.webhook?.status === 'failed');
      assert.equal(job.status, 'succeeded');
      assert.equal(job.webhook.attempts, 3);
      assert.match(job.webhook.last_error, /no webhook secret \(POST \/webhook-secret\)/);
      assert.equal(hook.got.length, 0, 'nothing was sent unsigned');
    } finally {
      hook.server.close();
    }
  });

  test('a callback host outside jobs.callback_allow is refused with 400 before anything is queued', async () => {
    const res = await call('POST', `/modules/${add}/jobs`, { function: 'add', args: [1, 1], callback_url: 'http://localhost:9/hook' });
    assert.equal(res.status, 400);
    assert.equal(res.body.error.code, 'CALLBACK_NOT_ALLOWED');
    assert.equal((await call('POST', `/modules/${add}/jobs`, { function: 'add', args: [1, 1], callback_url: 'file:///etc/passwd' })).body.error.code, 'CALLBACK_NOT_ALLOWED');
  });

  test("a caller's traceparent travels with its job: the run's invocation is under the job id and trace id, the callback carries it", async () => {
    const hook = await receiver(() => 204);
    try {
      await call('POST', '/webhook-secret');
      const traceparent = '00-5b8aa5a2d2c872e8321cf37308d69df2-051581bf3cb55c13-01';
      const res = await fetch(`${base}/modules/${add}/jobs`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TEST_ADMIN_KEY}`, 'content-type': 'application/json', traceparent, tracestate: 'vendor=x' },
        body: JSON.stringify({ function: 'add', args: [2, 2], callback_url: hook.url }),
      });
      assert.equal(res.status, 202);
      const { id } = (await res.json()) as { id: string };
      assert.equal((await waitForJob(call, id)).status, 'succeeded');
      const deadline = Date.now() + 15_000;
      while (!hook.got.some((g) => g.body.includes(id)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const delivered = hook.got.find((g) => g.body.includes(id));
      assert.ok(delivered, 'the callback arrived');
      assert.equal(delivered.headers.traceparent, traceparent, 'tracing off: the caller\'s own headers pass through');
      assert.equal(delivered.headers.tracestate, 'vendor=x');
      const log = await call('GET', `/modules/${add}/invocations`);
      const run = (log.body.items as Array<Record<string, unknown>>).find((c) => c.request_id === id);
      assert.ok(run, "the job's run is in the module's invocation log under the job id");
      assert.deepEqual([run.trace_id, run.function, run.status, run.code], ['5b8aa5a2d2c872e8321cf37308d69df2', 'add', 200, null]);
    } finally {
      hook.server.close();
    }
  });
});

describe('jobs.callback_allow at delivery', () => {
  const apps: TestApp[] = [];
  let dir: string;
  after(async () => {
    for (const app of apps) await app.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('a host taken off the list gets no more callbacks after a restart, even for jobs submitted before', async () => {
    dir = await mkdtemp(join(tmpdir(), 'wess-callback-allow-'));
    const jobs = { retry_base: 300, retry_max: 300, poll: 100, lease: 1000, webhook_attempts: 100 };
    const first = await startApp({ jobs: { ...jobs, callback_allow: ['127.0.0.1'] } }, dir);
    apps.push(first);
    const hook = await receiver(() => 503);
    try {
      let call = client(await listen(first.app));
      await call('POST', '/webhook-secret');
      const add = (await upload(first.app, 'add')).id;
      const res = await call('POST', `/modules/${add}/jobs`, { function: 'add', args: [1, 1], callback_url: hook.url });
      await waitForJob(call, res.body.id, (j) => j.webhook?.attempts >= 2);
      await first.close();
      apps.splice(apps.indexOf(first), 1);
      const sent = hook.got.length;
      assert.ok(sent >= 2);

      const second = await startApp({ jobs }, dir);
      apps.push(second);
      call = client(await listen(second.app));
      const job = await waitForJob(call, res.body.id, (j) => /callback_allow/.test(j.webhook?.last_error ?? ''));
      assert.equal(job.webhook.status, 'pending', 'still retried: the list may name the host again');
      assert.match(job.webhook.last_error, /callback host 127\.0\.0\.1 is not in jobs\.callback_allow/);
      assert.equal(hook.got.length, sent, 'nothing was sent to the host once it was off the list');
    } finally {
      hook.server.close();
    }
  });
});
