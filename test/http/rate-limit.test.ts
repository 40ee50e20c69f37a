import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyRequest } from 'fastify';
import { Redis } from 'ioredis';
import { validateConfig } from '../../src/config/load.js';
import { REDIS_KEY_PREFIX, clientKey, duration, maxFor } from '../../src/http/rate-limit.js';
import type { WessApp } from '../../src/app.js';
import { startApp, waitFor, type TestApp } from '../helper.js';
import { within } from '../within.js';

/** The machine's shared Redis; tests write only keys of a random client IP to it and delete them. */
const SHARED_REDIS = 'redis://127.0.0.1:6379';
const REDIS_TIMEOUT = 300;
/**
 * What must not wait on a dead or hung Redis (a request, closing, starting) must be done within this:
 * seconds above the Redis timeout and the connect timeout (1 s), where waiting on Redis is forever
 * (a hung Redis holds a command until it wakes; a dead one until it comes back).
 */
const NOT_HELD_MS = 10_000;
const UNAVAILABLE_LOG = /Redis unavailable/;
const RECOVERED_LOG = /Redis answers again/;

const redisChildren = new Set<ChildProcess>();
after(() => {
  for (const child of redisChildren) child.kill('SIGKILL');
});

/** A port nothing listens on right now. */
async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  return port;
}

/** Starts a throwaway redis-server on `port` and resolves once it accepts connections. */
async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn('/usr/bin/redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', tmpdir()], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  redisChildren.add(child);
  child.once('exit', () => redisChildren.delete(child));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('redis-server did not start in 5 s')), 5000);
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      if (out.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited with ${code}: ${out}`));
    });
  });
  return child;
}

/** Kills a redis-server the way a crash would, and waits until it is gone. */
async function killRedis(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}

/** A random client address, so counters in a shared Redis are this run's alone. */
function randomIp(): string {
  return `10.${randomInt(256)}.${randomInt(256)}.${randomInt(1, 255)}`;
}

/** A cheap rate-limited request. */
function list(app: WessApp, remoteAddress = '127.0.0.1') {
  return app.inject({ method: 'GET', url: '/modules', remoteAddress });
}

/** The same request while Redis is dead or hung: it must be answered, not held until Redis is back. */
function listWithoutRedis(app: WessApp) {
  return within(list(app), NOT_HELD_MS, 'a request while Redis is away');
}

/** The reason the rate limiter logged when it found Redis unavailable. */
function unavailableReason(t: TestApp): unknown {
  return t.logs.find((line) => line.level === 40 && UNAVAILABLE_LOG.test(String(line.msg)))?.reason;
}

async function storeErrors(app: WessApp, outcome: 'allowed' | 'refused'): Promise<number> {
  const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
  const match = new RegExp(`^wess_rate_limit_store_errors_total\\{outcome="${outcome}"\\} (\\d+)$`, 'm').exec(text);
  return Number(match?.[1] ?? 0);
}

function logCount(t: TestApp, level: number, pattern: RegExp): number {
  return t.logs.filter((line) => line.level === level && pattern.test(String(line.msg))).length;
}

function redisApp(port: number, failure: 'open' | 'closed'): Promise<TestApp> {
  return startApp({
    auth: { enabled: false },
    rate_limit: { max: 100, window: 60_000, redis_url: `redis://127.0.0.1:${port}`, redis_failure: failure, redis_timeout: REDIS_TIMEOUT },
  });
}

describe('rate limit keys and limits', () => {
  const config = validateConfig({
    rate_limit: { max: 7, window: 10_000 },
    tiers: { small: { requests_per_minute: 30 }, tiny: { requests_per_minute: 1 }, plain: {} },
    auth: { default_tier: 'small' },
  });
  const request = (principal: Partial<NonNullable<FastifyRequest['principal']>> | null, ip = '192.0.2.1') => ({ ip, principal }) as FastifyRequest;

  test('keys on the API key when there is one, else on the IP', () => {
    assert.equal(clientKey(request({ keyId: 'abcd1234', tier: null })), 'key:abcd1234');
    assert.equal(clientKey(request({ keyId: null, tier: null })), 'ip:192.0.2.1');
    assert.equal(clientKey(request(null)), 'ip:192.0.2.1');
  });

  test('a tier with requests_per_minute sets max, scaled to the window and never below 1', () => {
    const max = maxFor(config);
    assert.equal(max(request({ keyId: 'k1', tier: 'small' })), 5);
    assert.equal(max(request({ keyId: 'k1', tier: 'tiny' })), 1);
    assert.equal(max(request({ keyId: 'k1', tier: 'plain' })), 7);
    assert.equal(max(request({ keyId: 'k1', tier: 'removed' })), 5, 'a tier gone from the config falls back to auth.default_tier');
    assert.equal(max(request({ keyId: 'k1', tier: null })), 7);
    assert.equal(max(request(null)), 7);
  });
});

describe('rate limit in memory', { timeout: 30_000 }, () => {
  test('max requests go through, the next gets 429 RATE_LIMITED with Retry-After; other clients are counted apart', async () => {
    const t = await startApp({ auth: { enabled: false }, rate_limit: { max: 3, window: 60_000 } });
    try {
      for (let i = 0; i < 3; i++) {
        const res = await list(t.app);
        assert.equal(res.statusCode, 200);
        assert.equal(res.headers['x-ratelimit-remaining'], String(2 - i));
      }
      const limited = await list(t.app);
      assert.equal(limited.statusCode, 429);
      assert.ok(Number(limited.headers['retry-after']) > 0 && Number(limited.headers['retry-after']) <= 60);
      const { error } = limited.json();
      assert.equal(error.code, 'RATE_LIMITED');
      assert.equal(error.details.limit, 3);
      assert.ok(error.details.retry_after_ms > 0 && error.details.retry_after_ms <= 60_000);
      assert.equal((await list(t.app, '192.0.2.9')).statusCode, 200);
    } finally {
      await t.close();
    }
  });

  test('requests arriving together are each counted: exactly max of them go through; the message names the window', async () => {
    const t = await startApp({ auth: { enabled: false }, rate_limit: { max: 3, window: 120_000 } });
    try {
      const answers = await Promise.all(Array.from({ length: 7 }, () => list(t.app)));
      assert.deepEqual(answers.map((a) => a.statusCode).sort(), [200, 200, 200, 429, 429, 429, 429]);
      const remaining = answers.filter((a) => a.statusCode === 200).map((a) => a.headers['x-ratelimit-remaining']).sort();
      assert.deepEqual(remaining, ['0', '1', '2'], 'each answer tells its own count');
      const limited = answers.find((a) => a.statusCode === 429);
      assert.match(String(limited?.json().error.message), /^rate limit of 3 requests per 2 minutes exceeded; retry in \d+ ms$/);
      // A path no route matches is counted too: a key cannot probe without limit.
      assert.equal((await t.app.inject({ method: 'GET', url: '/no/such/route' })).statusCode, 429);
    } finally {
      await t.close();
    }
  });

  test('windows are named in the largest whole unit', () => {
    assert.equal(duration(60_000), '1 minute');
    assert.equal(duration(600_000), '10 minutes');
    assert.equal(duration(3_600_000), '1 hour');
    assert.equal(duration(90_000), '90 seconds');
    assert.equal(duration(1000), '1 second');
    assert.equal(duration(1500), '1500 ms');
  });

  test('health and metrics are never limited', async () => {
    const t = await startApp({ auth: { enabled: false }, rate_limit: { max: 1, window: 60_000 } });
    try {
      await list(t.app);
      assert.equal((await list(t.app)).statusCode, 429);
      for (const url of ['/health/live', '/health/ready', '/health', '/metrics', '/health/live?probe=1']) {
        for (let i = 0; i < 3; i++) {
          const res = await t.app.inject({ method: 'GET', url });
          assert.equal(res.statusCode, 200, `${url} answered ${res.statusCode}`);
          assert.equal(res.headers['x-ratelimit-limit'], undefined);
        }
      }
    } finally {
      await t.close();
    }
  });

  test('requests go through again once the window has passed', async () => {
    const t = await startApp({ auth: { enabled: false }, rate_limit: { max: 2, window: 1000 } });
    try {
      await list(t.app);
      await list(t.app);
      const limited = await list(t.app);
      assert.equal(limited.statusCode, 429);
      // The window is time itself: nothing to wait on but the clock.
      await sleep(limited.json().error.details.retry_after_ms + 50);
      assert.equal((await list(t.app)).statusCode, 200);
    } finally {
      await t.close();
    }
  });
});

describe('rate limit in the shared Redis', { timeout: 30_000 }, () => {
  test('two nodes share one counter: requests split between them hit 429 together at the limit', async () => {
    const ip = randomIp();
    const key = `${REDIS_KEY_PREFIX}ip:${ip}`;
    const redis = new Redis(SHARED_REDIS, { lazyConnect: true, maxRetriesPerRequest: 1 });
    const overrides = { auth: { enabled: false }, rate_limit: { max: 4, window: 60_000, redis_url: SHARED_REDIS } };
    const a = await startApp(overrides);
    const b = await startApp(overrides);
    try {
      await redis.connect();
      for (const app of [a.app, b.app, a.app, b.app]) assert.equal((await list(app, ip)).statusCode, 200);
      assert.equal(await redis.get(key), '4');
      const ttl = await redis.pttl(key);
      assert.ok(ttl > 0 && ttl <= 60_000, `key ${key} has ttl ${ttl}`);
      assert.equal((await list(a.app, ip)).statusCode, 429);
      assert.equal((await list(b.app, ip)).statusCode, 429);
      assert.equal(logCount(a, 40, UNAVAILABLE_LOG), 0);
    } finally {
      await Promise.allSettled([a.close(), b.close()]);
      await redis.del(key).catch(() => undefined);
      redis.disconnect();
    }
  });
});

describe('rate limit when Redis goes away', { timeout: 60_000 }, () => {
  test('fail open: requests go through fast, counted as store errors, logged once; counted again when Redis is back', async () => {
    const port = await freePort();
    let server = await startRedis(port);
    const t = await redisApp(port, 'open');
    try {
      assert.equal((await list(t.app)).headers['x-ratelimit-remaining'], '99');
      await killRedis(server);
      for (let i = 0; i < 5; i++) assert.equal((await listWithoutRedis(t.app)).statusCode, 200);
      assert.equal(await storeErrors(t.app, 'allowed'), 5);
      assert.equal(logCount(t, 40, UNAVAILABLE_LOG), 1);

      server = await startRedis(port);
      await waitFor(() => logCount(t, 30, RECOVERED_LOG) === 1, 5000);
      assert.equal((await list(t.app)).headers['x-ratelimit-remaining'], '99');
      assert.equal((await list(t.app)).headers['x-ratelimit-remaining'], '98');
      assert.equal(await storeErrors(t.app, 'allowed'), 5);
      assert.equal(logCount(t, 40, UNAVAILABLE_LOG), 1);
      assert.equal(logCount(t, 30, RECOVERED_LOG), 1);
    } finally {
      await t.close();
      await killRedis(server);
    }
  });

  test('fail closed: 503 UNAVAILABLE while Redis is away, probes still answered, the app closes quickly', async () => {
    const port = await freePort();
    const server = await startRedis(port);
    const t = await redisApp(port, 'closed');
    try {
      assert.equal((await list(t.app)).statusCode, 200);
      await killRedis(server);
      for (let i = 0; i < 3; i++) {
        const res = await listWithoutRedis(t.app);
        assert.equal(res.statusCode, 503);
        assert.equal(res.headers['retry-after'], '1');
        const { error } = res.json();
        assert.equal(error.code, 'UNAVAILABLE');
        assert.equal(error.message, 'rate limiter unavailable');
      }
      assert.equal(await storeErrors(t.app, 'refused'), 3);
      assert.equal((await t.app.inject({ method: 'GET', url: '/health/live' })).statusCode, 200);
      assert.equal(logCount(t, 40, UNAVAILABLE_LOG), 1);
      await within(t.close(), NOT_HELD_MS, 'closing with Redis gone');
    } finally {
      await t.close();
      await killRedis(server);
    }
  });

  test('a hung Redis (stopped, socket open) costs each request at most the timeout', async () => {
    const port = await freePort();
    const server = await startRedis(port);
    const t = await redisApp(port, 'open');
    try {
      assert.equal((await list(t.app)).headers['x-ratelimit-remaining'], '99');
      server.kill('SIGSTOP');
      // Held until Redis wakes without the command timeout; answered once it fires with it.
      const res = await listWithoutRedis(t.app);
      assert.equal(res.statusCode, 200);
      assert.equal(logCount(t, 40, UNAVAILABLE_LOG), 1);
      assert.equal(unavailableReason(t), 'Command timed out', 'the command timeout, not a dropped connection, let the request through');
      assert.equal(await storeErrors(t.app, 'allowed'), 1);
      server.kill('SIGCONT');
      // 97, not 98: the INCR that timed out was still in the socket and ran once Redis woke.
      assert.equal((await list(t.app)).headers['x-ratelimit-remaining'], '97');
      assert.equal(logCount(t, 30, RECOVERED_LOG), 1);
    } finally {
      server.kill('SIGCONT');
      await t.close();
      await killRedis(server);
    }
  });

  test('an app started while Redis is down starts, warns, fails open, and counts once Redis comes up', async () => {
    const port = await freePort();
    let server: ChildProcess | undefined;
    const t = await within(redisApp(port, 'open'), NOT_HELD_MS, 'starting with Redis down');
    try {
      assert.equal(logCount(t, 40, UNAVAILABLE_LOG), 1);
      const res = await listWithoutRedis(t.app);
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['x-ratelimit-remaining'], '100');
      server = await startRedis(port);
      await waitFor(() => logCount(t, 30, RECOVERED_LOG) === 1, 5000);
      assert.equal((await list(t.app)).headers['x-ratelimit-remaining'], '99');
    } finally {
      await t.close();
      if (server) await killRedis(server);
    }
  });
});
