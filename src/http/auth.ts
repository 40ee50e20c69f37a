import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { normalizeIP } from '@fastify/rate-limit';
import type { DenyReason } from '../auth/denials.js';
import { OPEN_PRINCIPAL, principalOf } from '../auth/policy.js';
import type { Principal } from '../auth/types.js';
import { clip } from '../echo.js';
import { redactKeys } from '../logger.js';
import { sendError } from './error-handler.js';
import { routeOf } from './plugins/decorations.js';
import { DOCS_PREFIX, OPENAPI_PATH } from './openapi.js';
import { CONSOLE_PREFIX } from './routes/console.js';
import { HANDLER_PATTERN } from './handlers/paths.js';
import type { RouteTable } from './handlers/route-table.js';
import type { DeniedLimiter } from './rate-limit.js';
import type { Services } from '../services.js';

const OPEN_PATHS: ReadonlySet<string> = new Set(['/', '/health/live', '/health/ready', '/health', '/metrics', OPENAPI_PATH, DOCS_PREFIX, `${CONSOLE_PREFIX}/:file`]);

/**
 * Routes anyone may call: probes, scrapes, the API's documentation (the explorer's pages and
 * assets under /docs/) and the web console's assets, which carry no key. `has` takes a route pattern (routeOptions.url).
 */
export const OPEN_ROUTES: { has(route: string): boolean } = {
  has: (route) => OPEN_PATHS.has(route) || route.startsWith(`${DOCS_PREFIX}/`),
};

/** The route patterns of the HTTP handlers (routes/handlers.ts): a key is optional there unless the route is private. */
export const HANDLER_ROUTES: ReadonlySet<string> = new Set([HANDLER_PATTERN]);

/**
 * Who an open route's request acts as, for open routes that say more to some callers (/health's
 * detail): the principal of a valid key it presents, an admin while auth is disabled, else null.
 * A missing or bad key is not refused here; the route just answers as to a stranger.
 */
export function optionalPrincipal(request: FastifyRequest, services: Pick<Services, 'config' | 'keyring'>): Principal | null {
  if (!services.config.auth.enabled) return OPEN_PRINCIPAL;
  const presented = presentedKey(request);
  if (!presented) return null;
  const auth = services.keyring.authenticate(presented);
  return auth.ok ? principalOf(auth.key) : null;
}

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

/** The key a request presents: `Authorization: Bearer <key>`, else `x-api-key`. */
function presentedKey(request: FastifyRequest): string | undefined {
  const authorization = request.headers.authorization;
  if (typeof authorization === 'string') return BEARER.exec(authorization)?.[1] ?? '';
  const apiKey = request.headers['x-api-key'];
  return typeof apiKey === 'string' ? apiKey.trim() : undefined;
}

const DENIALS: Record<DenyReason, string> = {
  missing: 'this route needs an API key: send "Authorization: Bearer wess_..." or "x-api-key: wess_..."',
  invalid: 'the API key is not valid',
  revoked: 'the API key has been revoked',
};

/**
 * Resolves every request's principal before anything else reads the request (rate limits key on
 * it); plugins/audit.ts and plugins/usage.ts account for the request once answered. A request
 * without a valid key is counted per client IP by `limitDenied` (429 past rate_limit.anonymous_max)
 * and its audit entry and access line are folded into one per IP, reason and minute. `handlers`
 * says which HTTP handler requests need a key (a private route's).
 */
export function installAuth(app: FastifyInstance, services: Services, limitDenied: DeniedLimiter, handlers: Pick<RouteTable, 'isPrivate'>): void {
  const { config, denials, keyring, metrics } = services;

  // Callback-style, as every per-request hook (see plugins/request-id.ts): a denial sends its answer, then done(),
  // as an async hook returning the reply did; Fastify runs nothing more for a sent reply.
  app.addHook('onRequest', (request, reply, done) => {
    const reason = authenticate(request);
    if (reason === undefined) return done();
    // An HTTP handler's request may carry no key, or credentials meant for the guest: a public route
    // needs none, and a path no route matches is the handler's 404 with or without one. A private
    // route's is refused here like any keyed route's, so it counts against rate_limit.anonymous_max.
    const refuse: (why: DenyReason) => void = HANDLER_ROUTES.has(routeOf(request)) && !handlers.isPrivate(request.url)
      ? () => done()
      : (why: DenyReason) => deny(request, reply, why).then(() => done(), (err: unknown) => done(err as Error));
    // On a shared store, a key another node made a moment ago: read from the store before refusing it.
    const presented = presentedKey(request);
    if (reason !== 'invalid' || presented === undefined || !keyring.mayBeNew(presented)) return void refuse(reason);
    keyring.authenticateFresh(presented).then((auth) => {
      if (!auth.ok) return void refuse(auth.reason);
      request.principal = principalOf(auth.key);
      done();
    }, (err: unknown) => done(err as Error));
  });

  /** Sets the request's principal; the reason when the request must be refused. */
  function authenticate(request: FastifyRequest): DenyReason | undefined {
    if (OPEN_ROUTES.has(routeOf(request))) return undefined;
    if (!config.auth.enabled) {
      request.principal = OPEN_PRINCIPAL;
      return undefined;
    }
    const presented = presentedKey(request);
    if (presented === undefined) return 'missing';
    const auth = keyring.authenticate(presented);
    if (!auth.ok) return auth.reason;
    request.principal = principalOf(auth.key);
    return undefined;
  }

  /** 401, or 429 once the client IP is over its allowance of refused requests; counted for the aggregated audit entry. */
  async function deny(request: FastifyRequest, reply: FastifyReply, reason: DenyReason): Promise<void> {
    metrics.authFailures.inc({ reason });
    request.authDenial = reason;
    const note = (status: number) => {
      const route = auditedRoute(request);
      const first = denials.record({ ip: normalizeIP(request.ip), reason, method: request.method, route, requestId: request.id, status });
      request.aggregated = !first;
    };
    let limit: Awaited<ReturnType<DeniedLimiter>>;
    try {
      limit = await limitDenied(request);
    } catch (err) {
      // The rate limiter's store refused (Redis away, redis_failure = "closed"): its 503.
      note(503);
      throw err;
    }
    if (limit?.exceeded) {
      note(429);
      reply.header('x-ratelimit-limit', limit.max).header('x-ratelimit-remaining', 0).header('x-ratelimit-reset', limit.resetSeconds).header('retry-after', limit.resetSeconds);
      const message = `more than ${limit.max} requests without a valid API key from this address in ${services.config.rate_limit.window} ms; retry in ${limit.ttlMs} ms`;
      sendError(request, reply, { code: 'RATE_LIMITED', message, details: { limit: limit.max, retry_after_ms: limit.ttlMs } }, metrics);
      return;
    }
    note(401);
    if (limit) reply.header('x-ratelimit-limit', limit.max).header('x-ratelimit-remaining', limit.remaining).header('x-ratelimit-reset', limit.resetSeconds);
    reply.header('www-authenticate', 'Bearer realm="wess"');
    sendError(request, reply, { code: 'UNAUTHORIZED', message: DENIALS[reason] }, metrics);
  }
}

/**
 * The route an audit entry names: its pattern, or for a path no route matched, the path clipped and
 * with anything shaped like a key redacted (the audit log outlives the request and is read by others).
 */
export function auditedRoute(request: FastifyRequest): string {
  return routeOf(request) || clip(redactKeys(request.url.split('?')[0] ?? ''), 200);
}
