import type { FastifyInstance } from 'fastify';
import { writeAccessLine } from '../../logger.js';
import type { CounterSeries, HistogramSeries } from '../../metric-fronts.js';
import { routeOf } from './decorations.js';
import type { Services } from '../../services.js';

/**
 * One access-log line per request (Fastify's own two are off: see the LogController in app.ts) and
 * the request metrics, written once the response is sent.
 */
export function installAccessLine(app: FastifyInstance, services: Services): void {
  const { logger, metrics } = services;
  /** The request metrics' series by route, method and status (all bounded), found with one lookup. */
  const seriesOf = new Map<string, { requests: CounterSeries<'route' | 'method' | 'status'>; duration: HistogramSeries<'route'> }>();
  // Callback-style, as every per-request hook (see request-id.ts).
  app.addHook('onResponse', (request, reply, done) => {
    const route = routeOf(request) || 'unmatched';
    const status = reply.statusCode;
    const method = request.method;
    const key = `${status} ${method} ${route}`;
    let series = seriesOf.get(key);
    if (series === undefined) {
      series = { requests: metrics.requestsFront.series({ route, method, status }), duration: metrics.requestDurationFront.series({ route }) };
      seriesOf.set(key, series);
    }
    series.requests.add();
    series.duration.observe(reply.elapsedTime / 1000);
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
}
