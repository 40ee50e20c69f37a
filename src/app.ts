import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { v4 as uuidv4 } from 'uuid';
import { maxThreads, poolSize, type Config } from './config/schema.js';
import { EventBus } from './events.js';
import { applyAdminKey, serverSecret } from './auth/bootstrap.js';
import { Keyring } from './auth/keyring.js';
import { UsageTracker } from './auth/usage.js';
import { CpuBudget } from './auth/cpu-budget.js';
import { DenialLog } from './auth/denials.js';
import { installAuth, OPEN_ROUTES } from './http/auth.js';
import { installExpectContinue } from './http/body-limits.js';
import { installErrorHandling, sendError } from './http/error-handler.js';
import { adminRoutes } from './http/routes/admin.js';
import { auditRoutes } from './http/routes/audit.js';
import { keyRoutes } from './http/routes/keys.js';
import { registerRateLimit } from './http/rate-limit.js';
import { registerOpenApi } from './http/openapi.js';
import { registerJsonBody } from './http/json-body.js';
import { registerHardening, transportOptions } from './http/transport.js';
import { eventRoutes } from './http/routes/events.js';
import { healthRoutes } from './http/routes/health.js';
import { homeRoutes } from './http/routes/home.js';
import { moduleRoutes } from './http/routes/modules.js';
import { runRoutes } from './http/routes/run.js';
import { versionRoutes } from './http/routes/versions.js';
import type { Services } from './services.js';
import { createLogger, writeAccessLine, type Logger } from './logger.js';
import { createMetrics } from './metrics.js';
import { Runner } from './runner/pool.js';
import { openStore } from './store/index.js';
import { StoreHealth } from './store/store-health.js';

export interface BuildOptions {
  /** A logger to use instead of one built from `config.log.level` (tests pass a silent or capturing one). */
  logger?: Logger;
}

export type WessApp = FastifyInstance;

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
/** How often the shutdown drain looks whether calls and writes are done. */
const DRAIN_POLL_MS = 10;

/**
 * Builds a ready Wess app: components start in dependency order (metrics, store, runner, HTTP)
 * and close in reverse when the app closes. Only main.ts listens or exits.
 */
export async function buildApp(config: Config, options: BuildOptions = {}): Promise<WessApp> {
  // First: a TLS file that cannot be read fails the build before anything is opened.
  const transport = transportOptions(config);
  const logger = options.logger ?? createLogger(config.log.level);
  const metrics = createMetrics();
  const bus = new EventBus((err, event) => logger.error({ err, topic: event.topic }, 'event listener failed'));
  bus.subscribe('module.*', (event) => metrics.moduleEvents.inc({ topic: event.topic }));
  const store = await openStore(config, { bus, metrics, logger });
  const { writer, reader } = store;
  let runner: Runner;
  let keyring: Keyring;
  try {
    const secret = await serverSecret(config, store.settings, logger);
    keyring = await Keyring.load(store.keys, bus, secret);
    await applyAdminKey(config, keyring, writer, secret, logger);
    runner = await Runner.start({
      size: poolSize(config),
      timeoutMs: config.runner.timeout,
      maxMemoryBytes: config.runner.max_memory,
      queueLimit: config.runner.queue_limit,
      compiledCacheSize: config.runner.compiled_cache_size,
      maxWasiOutputBytes: config.runner.max_output,
      maxThreads: maxThreads(config),
      longCallMs: config.runner.long_call_ms,
      maxTableElements: config.limits.max_table_elements,
      metrics,
      logger,
      loadBytes: (sha256) => reader.getContent(sha256),
    });
  } catch (err) {
    await store.close();
    throw err;
  }
  const usage = new UsageTracker(store.usage, writer, logger, config.auth.usage_flush);
  const denials = new DenialLog({ writer, logger, metrics });
  const services: Services = { config, logger, metrics, bus, store, writer, reader, runner, keyring, usage, denials, cpuBudget: new CpuBudget(), storeHealth: new StoreHealth(), lifecycle: { closing: false, startedAt: Date.now() } };
  if (!config.auth.enabled) {
    logger.warn('AUTH IS DISABLED (auth.enabled = false): anyone who can reach this port can upload and run code, as an admin. Use this only for local experiments');
  }

  const app = Fastify({
    ...transport,
    // pino's Logger is a FastifyBaseLogger; the cast keeps Fastify's default generics for the routes.
    loggerInstance: logger as FastifyBaseLogger,
    // One access-log line per request, written in onResponse below, instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'request_id' }),
    bodyLimit: config.server.body_limit,
    trustProxy: config.server.trust_proxy,
    genReqId: (req) => {
      const incoming = req.headers['x-request-id'];
      return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : uuidv4();
    },
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    routerOptions: { maxParamLength: 200 },
    // Errors the router raises before any hook runs (a malformed URL, an over-long path segment).
    frameworkErrors: (err, request, reply) =>
      sendError(request, reply, { code: 'VALIDATION', message: err.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 'a path segment is longer than 200 characters' : 'malformed URL' }, metrics),
  });
  // Security headers first, so every answer gets them, the shutdown 503 included.
  await registerHardening(app, config);
  app.decorateRequest('moduleId', null);
  app.decorateRequest('principal', null);
  app.decorateRequest('audit', null);
  app.decorateRequest('auditWritten', false);
  app.decorateRequest('authDenial', null);
  app.decorateRequest('aggregated', false);
  app.decorate('services', services);
  app.removeContentTypeParser('text/plain');
  registerJsonBody(app, config.limits.max_json_depth);
  installErrorHandling(app, services, metrics);
  installExpectContinue(app, config);

  // The hooks on every request are callback-style, not async: an async hook costs a promise and a
  // microtask hop per request, and these do nothing asynchronous (sending early, then done(), is
  // what an async hook that returns the reply does too).
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    if (services.lifecycle.closing && !OPEN_ROUTES.has(request.routeOptions.url ?? '')) {
      sendError(request, reply, { code: 'UNAVAILABLE', message: 'shutting down; retry on another node' }, metrics);
    }
    done();
  });
  // While draining, every answer closes its connection: otherwise an idle keep-alive socket
  // would hold server.close() open until the client's keep-alive timeout.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (services.lifecycle.closing) reply.header('connection', 'close');
    done(null, payload);
  });
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const status = reply.statusCode;
    metrics.requestsFront.add({ route, method: request.method, status });
    metrics.requestDuration.observe({ route }, reply.elapsedTime / 1000);
    // A refused request past the first of its IP, reason and minute is told by the DenialLog's summary.
    if (!request.aggregated) writeAccessLine(logger, {
      requestId: request.id,
      method: request.method,
      url: request.url,
      status,
      ms: Math.round(reply.elapsedTime * 100) / 100,
      moduleId: request.moduleId ?? undefined,
      keyId: request.principal?.keyId ?? undefined,
    });
    if (logger.isLevelEnabled('debug')) {
      request.log.debug({ bytes_in: Number(request.headers['content-length'] ?? 0), bytes_out: Number(reply.getHeader('content-length') ?? 0) }, 'payload sizes');
      // What arrived, for debugging a client: the logger's serializers redact keys in it.
      request.log.trace({ req: request, headers: request.headers }, 'request headers');
    }
    done();
  });

  installAuth(app, services, await registerRateLimit(app, services));
  // Before the routes: the OpenAPI plugin collects routes as they are added.
  await registerOpenApi(app);

  homeRoutes(app);
  healthRoutes(app, services);
  moduleRoutes(app, services);
  versionRoutes(app, services);
  runRoutes(app, services);
  eventRoutes(app, services);
  keyRoutes(app, services);
  auditRoutes(app, services);
  adminRoutes(app, services);

  // The drain: the listener stays open while guest calls run or writes wait, and every new request is
  // answered 503 with `connection: close` (the hooks above), so clients and load balancers are told
  // rather than refused; then Fastify closes the listener and lets the requests in flight finish.
  app.addHook('preClose', async () => {
    services.lifecycle.closing = true;
    const deadline = Date.now() + config.server.shutdown_grace;
    const busy = () => {
      const calls = runner.stats();
      return calls.inFlight + calls.queued + writer.stats().queued > 0;
    };
    while (busy() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS));
  });
  app.addHook('onClose', async () => {
    await runner.close(config.server.shutdown_grace);
    await usage.close();
    await denials.close();
    keyring.close();
    // The writer closes (committing what usage and denials just queued), then the engine.
    await store.close();
  });

  await app.ready();
  return app;
}
