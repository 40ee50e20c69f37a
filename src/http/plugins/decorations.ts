import type { FastifyInstance, FastifyRequest } from 'fastify';
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
  app.decorateRequest('routePattern', null);
  app.decorateRequest('errorCode', null);
  app.decorateRequest('run', null);
  app.decorateRequest('trace', null);
  app.decorate('services', services);
}

/**
 * The route pattern a request matched ('' for none), read from Fastify once per request: its
 * routeOptions getter builds a new twelve-field object on every read, and four hooks ask.
 */
export function routeOf(request: FastifyRequest): string {
  let route = request.routePattern;
  if (route === null) request.routePattern = route = request.routeOptions.url ?? '';
  return route;
}
