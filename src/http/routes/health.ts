import type { FastifyInstance } from 'fastify';
import { wessError } from '../../errors.js';
import { VERSION } from '../../version.js';
import type { Services } from '../services.js';


/** Registers /health/live, /health/ready, /health and /metrics (none of them rate limited). */
export function healthRoutes(app: FastifyInstance, services: Services): void {
  const { db, runner, metrics, lifecycle } = services;
  const noLimit = { config: { rateLimit: false } };
  const isReady = () => !lifecycle.closing && db.status === 'open' && runner.ready;

  app.get('/health/live', noLimit, async () => ({ status: 'ok' }));

  app.get('/health/ready', noLimit, async () => {
    if (!isReady()) throw wessError('UNAVAILABLE', lifecycle.closing ? 'shutting down' : 'not ready');
    return { status: 'ready' };
  });

  app.get('/health', noLimit, async (_request, reply) => {
    const ready = isReady();
    const memory = process.memoryUsage();
    return reply.code(ready ? 200 : 503).send({
      status: ready ? 'ready' : lifecycle.closing ? 'shutting_down' : 'not_ready',
      version: VERSION,
      uptime_s: Math.round((Date.now() - lifecycle.startedAt) / 1000),
      database: { status: db.status },
      writer: services.writer.stats(),
      runner: (({ workers, queued, inFlight, utilization }) => ({ workers, queued, in_flight: inFlight, utilization }))(runner.stats()),
      memory: { rss: memory.rss, heap_used: memory.heapUsed },
    });
  });

  app.get('/metrics', noLimit, async (_request, reply) => {
    // The dispatcher updates queue and in-flight gauges as they change; stats() refreshes the rest.
    runner.stats();
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
}
