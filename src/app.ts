import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { maxThreads, poolSize, type Config } from './config/schema.js';
import { EventBus } from './events.js';
import { ImageCache } from './files/image-cache.js';
import { applyAdminKey, serverSecret } from './auth/bootstrap.js';
import { Keyring } from './auth/keyring.js';
import { UsageTracker } from './auth/usage.js';
import { CpuBudget } from './auth/cpu-budget.js';
import { DenialLog } from './auth/denials.js';
import { installAuth } from './http/auth.js';
import { installExpectContinue } from './http/body-limits.js';
import { installErrorHandling, sendError } from './http/error-handler.js';
import { adminRoutes } from './http/routes/admin.js';
import { auditRoutes } from './http/routes/audit.js';
import { keyRoutes } from './http/routes/keys.js';
import { createRateLimiter, installRateLimit } from './http/rate-limit.js';
import { registerOpenApi } from './http/openapi.js';
import { registerJsonBody } from './http/json-body.js';
import { installAccessLine } from './http/plugins/access-line.js';
import { installAudit } from './http/plugins/audit.js';
import { installDecorations } from './http/plugins/decorations.js';
import { installDrain, installDrainWait } from './http/plugins/drain.js';
import { installRequestId, requestId } from './http/plugins/request-id.js';
import { installCallRecords } from './http/plugins/invocations.js';
import { GuestOutput } from './observability/guest-output.js';
import { observabilityRoutes } from './http/routes/observability.js';
import { InvocationLog } from './observability/invocation-log.js';
import { TenantSettingsTable } from './observability/tenant-settings.js';
import { installUsage } from './http/plugins/usage.js';
import { registerHardening, transportOptions } from './http/transport.js';
import { eventRoutes } from './http/routes/events.js';
import { healthRoutes } from './http/routes/health.js';
import { consoleRoutes, loadConsole } from './http/routes/console.js';
import { homeRoutes } from './http/routes/home.js';
import { jobRoutes } from './http/routes/jobs.js';
import { scheduleRoutes } from './http/routes/schedules.js';
import { JobEngine } from './jobs/engine.js';
import { RunExecutor } from './runs/execute.js';
import { moduleRoutes } from './http/routes/modules.js';
import { runRoutes } from './http/routes/run.js';
import { handlerRoutes } from './http/routes/handlers.js';
import { routeRoutes } from './http/routes/routes.js';
import { RouteTable } from './http/handlers/route-table.js';
import { versionRoutes } from './http/routes/versions.js';
import type { Services } from './services.js';
import { createLogger, LazyRequestLogger, type Logger } from './logger.js';
import { createMetrics } from './metrics.js';
import { Runner } from './runner/pool.js';
import { openStore } from './store/index.js';
import { StoreHealth } from './store/store-health.js';

export interface BuildOptions {
  /** A logger to use instead of one built from `config.log.level` (tests pass a silent or capturing one). */
  logger?: Logger;
}

export type WessApp = FastifyInstance;

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
  // Loaded only when tracing.endpoint is set: with tracing off, no OpenTelemetry code runs or loads.
  const tracing = config.tracing.endpoint === '' ? undefined : (await import('./tracing/tracing.js')).Tracing.start(config, logger);
  const tracingHooks = tracing && (await import('./http/plugins/tracing.js'));
  const store = await openStore(config, { bus, metrics, logger, observeWrites: tracing && tracingHooks?.traceWrites(tracing, config.database.url === undefined ? 'leveldb' : 'postgres') });
  const { writer, reader } = store;
  let runner: Runner;
  let keyring: Keyring;
  let routes: RouteTable;
  let tenantSettings: TenantSettingsTable;
  try {
    const secret = await serverSecret(config, store.settings, logger);
    keyring = await Keyring.load(store.keys, bus, secret, store.engine === 'postgres');
    await applyAdminKey(config, keyring, writer, secret, logger);
    routes = await RouteTable.load(store.routes, bus);
    tenantSettings = await TenantSettingsTable.load(store.tenantSettings, bus);
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
      observeCompile: tracing && tracingHooks?.traceCompiles(tracing),
    });
  } catch (err) {
    await store.close();
    await tracing?.shutdown();
    throw err;
  }
  const usage = new UsageTracker(store.usage, writer, logger, config.auth.usage_flush);
  const denials = new DenialLog({ writer, logger, metrics });
  const invocations = new InvocationLog({ writer, store: store.invocations, logger, metrics, keep: config.observability.invocations_kept });
  const guestOutput = new GuestOutput(logger, config.observability.guest_lines_per_second);
  const services: Services = { config, logger, metrics, bus, store, runner, keyring, usage, denials, cpuBudget: new CpuBudget(), images: new ImageCache(store.modules), storeHealth: new StoreHealth(), lifecycle: { closing: false, startedAt: Date.now() }, tracing, invocations, tenantSettings, guestOutput };
  // Jobs run through the same executor as /run, on the runner's background lanes.
  const jobs = new JobEngine(services, new RunExecutor(services), logger.child({ component: 'jobs' }));
  if (!config.auth.enabled) {
    logger.warn('AUTH IS DISABLED (auth.enabled = false): anyone who can reach this port can upload and run code, as an admin. Use this only for local experiments');
  }

  const app = Fastify({
    ...transport,
    // pino's Logger is a FastifyBaseLogger; the cast keeps Fastify's default generics for the routes.
    loggerInstance: logger as FastifyBaseLogger,
    // One access-log line per request, written by http/plugins/access-line.ts, instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'request_id' }),
    // request.log is made only when something logs through it (most requests log only their access line).
    childLoggerFactory: LazyRequestLogger.factory as unknown as FastifyServerOptions['childLoggerFactory'],
    bodyLimit: config.server.body_limit,
    trustProxy: config.server.trust_proxy,
    genReqId: requestId,
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    routerOptions: { maxParamLength: 200 },
    // Errors the router raises before any hook runs (a malformed URL, an over-long path segment).
    frameworkErrors: (err, request, reply) =>
      sendError(request, reply, { code: 'VALIDATION', message: err.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 'a path segment is longer than 200 characters' : 'malformed URL' }, metrics),
  });
  // In registration order, which is the order Fastify runs hooks of one kind in.
  // Security headers first, so every answer gets them, the shutdown 503 included.
  await registerHardening(app, config);
  installDecorations(app, services);
  app.removeContentTypeParser('text/plain');
  registerJsonBody(app, config.limits.max_json_depth);
  installErrorHandling(app, services, metrics);
  installExpectContinue(app, config);
  installRequestId(app);
  // Before auth and the rate limit: the request's span starts ahead of the work it measures.
  if (tracing) tracingHooks?.installTracing(app, tracing);
  installDrain(app, services);
  installAccessLine(app, services);
  // Auth asks the rate limiter whether a request without a valid key gets 401 or 429; the limiter's
  // hook comes after auth's, since it counts a request against the key auth found.
  const limiter = await createRateLimiter(app, services);
  installAuth(app, services, limiter.denied, routes);
  installRateLimit(app, services, limiter);
  installAudit(app, services);
  installUsage(app, services);
  installCallRecords(app, invocations, guestOutput, tenantSettings);
  // Before the routes: the OpenAPI plugin collects routes as they are added.
  await registerOpenApi(app);

  const web = loadConsole();
  homeRoutes(app, web.page);
  consoleRoutes(app, web.assets);
  healthRoutes(app, services);
  moduleRoutes(app, services);
  versionRoutes(app, services);
  runRoutes(app, services);
  eventRoutes(app, services);
  keyRoutes(app, services);
  auditRoutes(app, services);
  adminRoutes(app, services);
  routeRoutes(app, services, routes);
  handlerRoutes(app, services, routes);
  jobRoutes(app, services, jobs);
  scheduleRoutes(app, services, jobs);
  observabilityRoutes(app, services, invocations, tenantSettings);

  installDrainWait(app, services);
  app.addHook('onClose', async () => {
    // No new claims; runs in progress end with the runner, and their outcomes are stored before the store closes.
    jobs.stop();
    await runner.close(config.server.shutdown_grace);
    await jobs.drain();
    await usage.close();
    await denials.close();
    await invocations.close();
    guestOutput.close();
    keyring.close();
    routes.close();
    tenantSettings.close();
    // The writer closes (committing what usage and denials just queued), then the engine.
    await store.close();
    // Last: the spans of everything above are exported before the process goes.
    await tracing?.shutdown();
  });

  await app.ready();
  jobs.start();
  return app;
}
