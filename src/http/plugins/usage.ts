import type { FastifyInstance } from 'fastify';
import { limitsFor } from '../../auth/policy.js';
import type { CounterSeries } from '../../metric-fronts.js';
import type { Services } from '../../services.js';

/** Counts a finished request's bytes against its key's usage and its tier's byte metrics. */
export function installUsage(app: FastifyInstance, services: Services): void {
  const { metrics, usage } = services;
  /** The byte counters' series by tier, found with one lookup. */
  const bytesOf = new Map<string, Record<'in' | 'out', CounterSeries<'tier' | 'direction'>>>();
  // Callback-style, as every per-request hook (see request-id.ts).
  app.addHook('onResponse', (request, reply, done) => {
    const keyId = request.principal?.keyId;
    if (keyId) {
      const bytesIn = Number(request.headers['content-length'] ?? 0) || 0;
      const bytesOut = Number(reply.getHeader('content-length') ?? 0) || 0;
      usage.record(keyId, { bytes_in: bytesIn, bytes_out: bytesOut });
      // The live config: a reload may have changed the key's tier.
      const tier = limitsFor(services.config, request.principal).tier ?? 'none';
      let bytes = bytesOf.get(tier);
      if (bytes === undefined) {
        bytes = { in: metrics.tierBytesFront.series({ tier, direction: 'in' }), out: metrics.tierBytesFront.series({ tier, direction: 'out' }) };
        bytesOf.set(tier, bytes);
      }
      bytes.in.add(bytesIn);
      bytes.out.add(bytesOut);
    }
    done();
  });
}
