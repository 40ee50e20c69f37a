import rateLimit, { normalizeIP, type FastifyRateLimitStore, type FastifyRateLimitStoreCtor } from '@fastify/rate-limit';
import LocalStore from '@fastify/rate-limit/store/LocalStore.js';
import RedisStore from '@fastify/rate-limit/store/RedisStore.js';
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify';
import { Redis } from 'ioredis';
import { tierOf } from '../auth/policy.js';
import type { Config } from '../config/schema.js';
import { wessError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import { OPEN_ROUTES } from './auth.js';
import type { Services } from '../services.js';


/** Prefix of every key Wess writes to Redis, so a shared Redis can hold other data beside it. */
export const REDIS_KEY_PREFIX = 'wess:rl:';

/** A Redis that went away is retried in the background at least this often (ms). */
const RECONNECT_MAX_MS = 1000;

type FailureMode = Config['rate_limit']['redis_failure'];

/** What the limiter says of a request refused for want of a valid key. */
export interface DeniedLimit {
  exceeded: boolean;
  max: number;
  remaining: number;
  ttlMs: number;
  resetSeconds: number;
}

/** Counts a refused request against its client IP; undefined when nothing is limited (rate_limit.enabled = false). */
export type DeniedLimiter = (request: FastifyRequest) => Promise<DeniedLimit | undefined>;

/**
 * Registers @fastify/rate-limit for every route but the open ones (probes and scrapes must get
 * through an overloaded node). Must be registered before the routes (its hooks attach per route and
 * run after every app-wide onRequest hook, the auth hook's included: it keys on request.principal).
 * Counters live in memory, or in Redis when `rate_limit.redis_url` is set so nodes share them.
 * Registered even when `rate_limit.enabled` is false, and every limit is read per request from
 * `services.config`, so a config reload can switch it on or off and change max and window live.
 *
 * Returns the limiter of requests without a valid key: the auth hook answers those itself, before
 * any route hook runs, so it asks this one (same store, same window, per client IP) whether to
 * answer 401 or 429.
 */
export async function registerRateLimit(app: FastifyInstance, services: Services): Promise<DeniedLimiter> {
  const { redis_url: redisUrl } = services.config.rate_limit;
  const store = redisUrl ? await redisStore(app, services, redisUrl) : localStoreClass();
  await app.register(rateLimit, {
    global: true,
    max: maxFor(() => services.config),
    timeWindow: () => services.config.rate_limit.window,
    keyGenerator: clientKey,
    // Matched on the route pattern, not request.url, so a query string cannot make a probe limited.
    allowList: (request) => !services.config.rate_limit.enabled || OPEN_ROUTES.has(request.routeOptions.url ?? ''),
    store,
    errorResponseBuilder: (_request, context) =>
      wessError('RATE_LIMITED', `rate limit of ${context.max} requests per ${context.after} exceeded; retry in ${context.ttl} ms`, {
        limit: context.max,
        retry_after_ms: context.ttl,
      }),
  });
  const check = app.createRateLimit();
  return async (request) => {
    const result = await check(request);
    if (result.isAllowed) return undefined;
    return { exceeded: result.isExceeded, max: result.max, remaining: result.remaining, ttlMs: result.ttl, resetSeconds: result.ttlInSeconds };
  };
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
 * resolved by tierOf, as every other limit is, so a key whose tier left the config falls back to
 * auth.default_tier here too. Given a function, the config is read on every request (the live one,
 * which a reload swaps).
 */
export function maxFor(source: Config | (() => Config)): (request: FastifyRequest) => number {
  const current = typeof source === 'function' ? source : () => source;
  return (request) => {
    const config = current();
    if (request.authDenial) return config.rate_limit.anonymous_max;
    const { max, window } = config.rate_limit;
    const perMinute = tierOf(config, request.principal ?? null)?.limits.requests_per_minute;
    return perMinute === undefined ? max : Math.max(1, Math.round((perMinute * window) / 60_000));
  };
}

/**
 * Connects to Redis (waiting at most its connect timeout: a node must boot while Redis is away),
 * closes the client with the app, and returns the store class the plugin instantiates.
 */
async function redisStore(app: FastifyInstance, services: Services, url: string): Promise<FastifyRateLimitStoreCtor> {
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
  return redisStoreClass(redis, health, services.metrics, failure);
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
 * The plugin's in-memory store, answering each request with its own copy of the counter. The store
 * hands every caller its live record, which the plugin reads only after an await: requests arriving
 * together (pipelined on one connection, app.inject) would all read the count of the last of them,
 * and once that is past the limit all of them would be refused, not only those over it.
 */
function localStoreClass(): FastifyRateLimitStoreCtor {
  return class WessLocalStore implements FastifyRateLimitStore {
    readonly #inner: LocalStore;

    constructor(_globalParams?: unknown, inner?: LocalStore) {
      this.#inner = inner ?? new LocalStore(false, false);
    }

    incr(key: string, callback: Parameters<FastifyRateLimitStore['incr']>[1], timeWindow: number, max: number): void {
      this.#inner.incr(key, (err, result) => callback(err, { current: result.current, ttl: result.ttl }), timeWindow, max);
    }

    child(routeOptions: Parameters<FastifyRateLimitStore['child']>[0]): FastifyRateLimitStore {
      return new WessLocalStore(undefined, this.#inner.child(routeOptions as { continueExceeding?: boolean; exponentialBackoff?: boolean; cache?: number }));
    }
  };
}

/** What the plugin passes to `child` (its typings say RouteOptions; the code passes merged limit params). */
type ChildOptions = Parameters<RedisStore['child']>[0];

/**
 * The store class the plugin instantiates: the plugin's own RedisStore (its Lua script) under
 * REDIS_KEY_PREFIX, plus the failure policy. Made in a closure because the plugin calls
 * `new Store(globalParams)` and has no way to hand it the client, metrics or logger.
 */
function redisStoreClass(redis: Redis, health: StoreHealth, metrics: Metrics, failure: FailureMode): FastifyRateLimitStoreCtor {
  const outcome = failure === 'open' ? 'allowed' : 'refused';
  return class WessRedisStore implements FastifyRateLimitStore {
    readonly #inner: RedisStore;

    constructor(_globalParams?: unknown, inner?: RedisStore) {
      this.#inner = inner ?? new RedisStore(false, false, redis, REDIS_KEY_PREFIX);
    }

    incr(key: string, callback: Parameters<FastifyRateLimitStore['incr']>[1], timeWindow: number, max: number): void {
      this.#inner.incr(
        key,
        (err, result) => {
          if (!err && result) {
            health.up();
            callback(null, result);
            return;
          }
          health.down(err ?? new Error('Redis gave no answer'));
          metrics.rateLimitStoreErrors.inc({ outcome });
          // Fail open: reported as nothing counted yet, so the plugin lets the request through.
          if (failure === 'open') callback(null, { current: 0, ttl: 0 });
          else callback(wessError('UNAVAILABLE', 'rate limiter unavailable'));
        },
        timeWindow,
        max,
      );
    }

    child(routeOptions: Parameters<FastifyRateLimitStore['child']>[0]): FastifyRateLimitStore {
      return new WessRedisStore(undefined, this.#inner.child(routeOptions as unknown as ChildOptions));
    }
  };
}
