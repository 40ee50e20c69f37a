import { normalizeIP } from '@fastify/rate-limit';
import LocalStore from '@fastify/rate-limit/store/LocalStore.js';
import RedisStore from '@fastify/rate-limit/store/RedisStore.js';
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify';
import { Redis } from 'ioredis';
import { limitsFor } from '../auth/policy.js';
import type { Config } from '../config/schema.js';
import { wessError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import { OPEN_ROUTES } from './auth.js';
import { routeOf } from './plugins/decorations.js';
import type { Services } from '../services.js';


/** Prefix of every key Wess writes to Redis, so a shared Redis can hold other data beside it. */
export const REDIS_KEY_PREFIX = 'wess:rl:';

/** A Redis that went away is retried in the background at least this often (ms). */
const RECONNECT_MAX_MS = 1000;

type FailureMode = Config['rate_limit']['redis_failure'];

/** What the limiter says of one request. */
export interface LimitVerdict {
  exceeded: boolean;
  max: number;
  remaining: number;
  ttlMs: number;
  resetSeconds: number;
}

/** Counts a refused request against its client IP; undefined when nothing is limited (rate_limit.enabled = false). */
export type DeniedLimiter = (request: FastifyRequest) => Promise<LimitVerdict | undefined>;

/** A counter store of @fastify/rate-limit: a fixed window per key, counted by incr (the callback is synchronous in memory). */
interface CounterStore {
  incr(key: string, callback: (err: Error | null, result: { current: number; ttl: number } | null) => void, timeWindow: number, max: number): void;
}

type Verdict = (err: Error | null, verdict: LimitVerdict | undefined) => void;

/** Counts requests against their limits (in-memory or Redis counters); the hook and auth's denied limiter share it. */
export interface RateLimiter {
  /** Counts `request` and calls back with the verdict, or with none when nothing is limited (rate_limit.enabled = false). */
  count(request: FastifyRequest, callback: Verdict): void;
  /** The same, for a request auth refuses (its max is rate_limit.anonymous_max, its key the client IP). */
  denied: DeniedLimiter;
}

/**
 * The limiter over @fastify/rate-limit's counter stores: in memory, or in Redis when
 * `rate_limit.redis_url` is set so nodes share the counters (connected here, closed with the app).
 * Every limit is read per request from `services.config`, so a config reload can switch limiting on
 * or off and change max and window live.
 */
export async function createRateLimiter(app: FastifyInstance, services: Services): Promise<RateLimiter> {
  const { redis_url: redisUrl } = services.config.rate_limit;
  const store: CounterStore = redisUrl ? await redisStore(app, services, redisUrl) : new LocalStore(false, false);
  const max = maxFor(() => services.config);
  const count = (request: FastifyRequest, callback: Verdict): void => {
    const config = services.config;
    if (!config.rate_limit.enabled) return callback(null, undefined);
    const limit = max(request);
    store.incr(clientKey(request), (err, result) => {
      if (err || !result) return callback(err ?? new Error('the rate limit store gave no answer'), undefined);
      const resetSeconds = Math.ceil(result.ttl / 1000);
      callback(null, { exceeded: result.current > limit, max: limit, remaining: Math.max(0, limit - result.current), ttlMs: result.ttl, resetSeconds });
    }, config.rate_limit.window, limit);
  };
  const denied: DeniedLimiter = (request) => new Promise((resolve, reject) => count(request, (err, verdict) => (err ? reject(err) : resolve(verdict))));
  return { count, denied };
}

/**
 * Counts every request but the open routes' (probes and scrapes must get through an overloaded node)
 * against its API key: the x-ratelimit-* headers, and past the limit 429 RATE_LIMITED with Retry-After.
 * Installed after auth, which sets the principal it keys on and answers a request without a valid key
 * itself (asking `limiter.denied`), so such a request never reaches this hook.
 *
 * @fastify/rate-limit's own hook is not used: it awaits its key generator, allow list, max, window and
 * store in turn, six promises and as many microtask hops per request (profiled: ~4 µs of main thread
 * per cached GET). This one calls the plugin's store directly, synchronously when it is in memory.
 */
export function installRateLimit(app: FastifyInstance, services: Services, limiter: RateLimiter): void {
  // Callback-style, as every per-request hook (see plugins/request-id.ts).
  app.addHook('onRequest', (request, reply, done) => {
    if (OPEN_ROUTES.has(routeOf(request))) return done();
    limiter.count(request, (err, verdict) => {
      if (err) return done(err);
      if (verdict === undefined) return done();
      reply.header('x-ratelimit-limit', verdict.max).header('x-ratelimit-remaining', verdict.remaining).header('x-ratelimit-reset', verdict.resetSeconds);
      if (!verdict.exceeded) return done();
      reply.header('retry-after', verdict.resetSeconds);
      const message = `rate limit of ${verdict.max} requests per ${duration(services.config.rate_limit.window)} exceeded; retry in ${verdict.ttlMs} ms`;
      done(wessError('RATE_LIMITED', message, { limit: verdict.max, retry_after_ms: verdict.ttlMs }));
    });
  });
}

/** A window as the 429 message says it: "1 minute", "10 seconds", "1500 ms". */
export function duration(ms: number): string {
  const units: [number, string][] = [[3_600_000, 'hour'], [60_000, 'minute'], [1000, 'second']];
  for (const [size, name] of units) if (ms >= size && ms % size === 0) return `${ms / size} ${name}${ms === size ? '' : 's'}`;
  return `${ms} ms`;
}

/** The counter a request counts against: its API key when it has one, else its IP (IPv6 grouped by /64, as the plugin does). */
export function clientKey(request: FastifyRequest): string {
  // Optional chaining: principal is undefined, not null, if no auth hook decorated the request.
  const keyId = request.principal?.keyId;
  return keyId ? `key:${keyId}` : `ip:${normalizeIP(request.ip)}`;
}

/**
 * Requests per window for a request: `rate_limit.anonymous_max` for one refused for want of a valid
 * key, else its tier's requests_per_minute scaled to the window, else `rate_limit.max`. The tier is
 * resolved by limitsFor (worked out once per config and tier), as every other limit is, so a key whose tier left the config falls back to
 * auth.default_tier here too. Given a function, the config is read on every request (the live one,
 * which a reload swaps).
 */
export function maxFor(source: Config | (() => Config)): (request: FastifyRequest) => number {
  const current = typeof source === 'function' ? source : () => source;
  return (request) => {
    const config = current();
    if (request.authDenial) return config.rate_limit.anonymous_max;
    const { max, window } = config.rate_limit;
    const perMinute = limitsFor(config, request.principal ?? null).requestsPerMinute;
    return perMinute === undefined ? max : Math.max(1, Math.round((perMinute * window) / 60_000));
  };
}

/**
 * Connects to Redis (waiting at most its connect timeout: a node must boot while Redis is away),
 * closes the client with the app, and returns its counter store.
 */
async function redisStore(app: FastifyInstance, services: Services, url: string): Promise<CounterStore> {
  const { redis_timeout: timeout, redis_failure: failure } = services.config.rate_limit;
  const connectTimeout = Math.max(timeout, 1000);
  const redis = createRedisClient(url, timeout, connectTimeout);
  const health = storeHealth(app.log, failure);
  // Always listened to: an 'error' without a listener is printed by ioredis on every reconnect attempt.
  redis.on('error', (err: Error) => health.down(err));
  redis.on('ready', () => health.up());
  app.addHook('onClose', () => closeRedis(redis));
  if (!(await firstConnection(redis, connectTimeout + 100))) {
    health.down(new Error(`no connection within ${connectTimeout} ms at startup`));
  }
  return redisCounter(redis, health, services.metrics, failure);
}

/** A client that fails fast while Redis is away (no offline queue, bounded commands) and reconnects in the background. */
function createRedisClient(url: string, commandTimeout: number, connectTimeout: number): Redis {
  return new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout,
    connectTimeout,
    retryStrategy: (attempt: number) => Math.min(attempt * 100, RECONNECT_MAX_MS),
  });
}

/** Resolves true once the client is ready, false on its first error or after `ms`; never rejects. */
function firstConnection(redis: Redis, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const settle = (ok: boolean) => {
      clearTimeout(timer);
      redis.off('ready', onReady);
      redis.off('error', onError);
      resolve(ok);
    };
    const onReady = () => settle(true);
    const onError = () => settle(false);
    const timer = setTimeout(() => settle(false), ms);
    redis.once('ready', onReady);
    redis.once('error', onError);
  });
}

/** Closes the client without waiting on a Redis that is away: QUIT (bounded by commandTimeout) only when connected. */
async function closeRedis(redis: Redis): Promise<void> {
  if (redis.status === 'ready') await redis.quit().catch(() => undefined);
  // Also stops the reconnect timer, which would otherwise keep the process alive.
  redis.disconnect();
}

/** Whether Redis answers; logs the transitions only, so a dead Redis costs one line, not one per request. */
interface StoreHealth {
  down(err: Error): void;
  up(): void;
}

function storeHealth(log: FastifyBaseLogger, failure: FailureMode): StoreHealth {
  let healthy = true;
  return {
    down(err) {
      if (!healthy) return;
      healthy = false;
      const effect = failure === 'open' ? 'letting requests through unlimited' : 'refusing requests with 503';
      log.warn({ reason: err.message, failure }, `rate limiter: Redis unavailable; ${effect} until it answers again`);
    },
    up() {
      if (healthy) return;
      healthy = true;
      log.info('rate limiter: Redis answers again; counting requests in it');
    },
  };
}

/**
 * The plugin's own RedisStore (its Lua script) under REDIS_KEY_PREFIX, with the failure policy: while
 * Redis is away a request is let through uncounted (`open`) or refused 503 (`closed`).
 */
function redisCounter(redis: Redis, health: StoreHealth, metrics: Metrics, failure: FailureMode): CounterStore {
  const outcome = failure === 'open' ? 'allowed' : 'refused';
  const inner = new RedisStore(false, false, redis, REDIS_KEY_PREFIX);
  return {
    incr(key, callback, timeWindow, max) {
      inner.incr(
        key,
        (err, result) => {
          if (!err && result) {
            health.up();
            callback(null, result);
            return;
          }
          health.down(err ?? new Error('Redis gave no answer'));
          metrics.rateLimitStoreErrors.inc({ outcome });
          // Fail open: reported as nothing counted yet, so the request goes through.
          if (failure === 'open') callback(null, { current: 0, ttl: 0 });
          else callback(wessError('UNAVAILABLE', 'rate limiter unavailable'), null);
        },
        timeWindow,
        max,
      );
    },
  };
}
