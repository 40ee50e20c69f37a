import type { FastifyInstance } from 'fastify';
import type { Services } from '../../services.js';

/**
 * The per-request fields the hooks and routes share (typed in services.ts), declared up front so
 * every request object has the same shape, and the app's services for main.ts, probes and tests.
 */
export function installDecorations(app: FastifyInstance, services: Services): void {
  app.decorateRequest('moduleId', null);
  app.decorateRequest('principal', null);
  app.decorateRequest('audit', null);
  app.decorateRequest('auditWritten', false);
  app.decorateRequest('authDenial', null);
  app.decorateRequest('aggregated', false);
  app.decorate('services', services);
}
