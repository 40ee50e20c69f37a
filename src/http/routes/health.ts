import type { FastifyInstance } from 'fastify';
import { nodeMetrics } from '../../cluster.js';
import { wessError, type ErrorCode } from '../../errors.js';
import { VERSION } from '../../version.js';
import { optionalPrincipal } from '../auth.js';
import { describeRoute, ref, type RouteDoc } from '../openapi.js';
import type { Services } from '../../services.js';


/** Registers /health/live, /health/ready, /health and /metrics (none of them rate limited or needing a key). */
export function healthRoutes(app: FastifyInstance, services: Services): void {
  const { store, runner, metrics, lifecycle } = services;
  const isReady = () => !lifecycle.closing && store.status === 'open' && runner.ready;

  const doc = (summary: string, responses: RouteDoc['responses'], errors: ErrorCode[] = []) =>
    describeRoute({ summary, tags: ['health'], access: 'open', responses, errors });

  app.get('/health/live', doc('Liveness: the process answers', { 200: { description: 'Alive', body: ref('Status') } }), async () => ({ status: 'ok' }));

  app.get('/health/ready', doc('Readiness: database open, worker pool up, not shutting down', { 200: { description: 'Ready', body: ref('Status') } }, ['UNAVAILABLE']), async () => {
    if (!isReady()) throw wessError('UNAVAILABLE', lifecycle.closing ? 'shutting down' : (store.problem ?? 'not ready'));
    return { status: 'ready' };
  });

  const health = { description: 'Status and version; the detail too with an admin key', body: ref('Health') };
  app.get('/health', {
    ...describeRoute({
      summary: 'Health: status and version; in detail with an admin key',
      description:
        'Anyone gets the status and the version. An admin key (or auth.enabled = false) adds the detail: ' +
        'uptime, database, writer, runner, memory and stored-content damage, with the affected module ids. ' +
        'A missing or other key is not refused: it gets the short answer.',
      tags: ['health'],
      access: 'optional',
      responses: { 200: health, 503: { ...health, description: 'Not ready or shutting down' } },
    }),
  }, async (request, reply) => {
    const ready = isReady();
    const status = ready ? 'ready' : lifecycle.closing ? 'shutting_down' : 'not_ready';
    reply.code(ready ? 200 : 503);
    // The detail names module ids of every tenant and sizes the node: for operators, not strangers.
    if (optionalPrincipal(request, services)?.role !== 'admin') return reply.send({ status, version: VERSION });
    const memory = process.memoryUsage();
    return reply.send({
      status,
      version: VERSION,
      uptime_s: Math.round((Date.now() - lifecycle.startedAt) / 1000),
      database: { status: store.status, engine: store.engine, ...(store.problem === undefined ? {} : { problem: store.problem }) },
      writer: services.store.writer.stats(),
      runner: (({ workers, queued, inFlight, utilization }) => ({ workers, queued, in_flight: inFlight, utilization }))(runner.stats()),
      memory: { rss: memory.rss, heap_used: memory.heapUsed },
      store: services.storeHealth.summary(),
    });
  });

  const prometheus = { description: 'Prometheus text exposition format', contentType: metrics.registry.contentType, body: { type: 'string' } };
  app.get('/metrics', doc('Metrics for Prometheus', { 200: prometheus }), async (_request, reply) => {
    // The dispatcher updates queue and in-flight gauges as they change; stats() refreshes the rest.
    runner.stats();
    // In a worker of server.processes > 1, every worker's figures: the scrape could reach any of them.
    return reply.type(metrics.registry.contentType).send(await nodeMetrics(metrics.registry));
  });
}
