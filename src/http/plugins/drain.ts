import type { FastifyInstance } from 'fastify';
import { sendError } from '../error-handler.js';
import { OPEN_ROUTES } from '../auth.js';
import { routeOf } from './decorations.js';
import type { Services } from '../../services.js';

/** How often the shutdown drain looks whether calls and writes are done. */
const DRAIN_POLL_MS = 10;

/**
 * While shutting down, every new request but a probe or scrape is answered 503, and every answer
 * closes its connection. The wait itself is installDrainWait's.
 */
export function installDrain(app: FastifyInstance, services: Services): void {
  const { lifecycle, metrics } = services;
  // Callback-style, as every per-request hook (see request-id.ts).
  app.addHook('onRequest', (request, reply, done) => {
    if (lifecycle.closing && !OPEN_ROUTES.has(routeOf(request))) {
      sendError(request, reply, { code: 'UNAVAILABLE', message: 'shutting down; retry on another node' }, metrics);
    }
    done();
  });
  // While draining, every answer closes its connection, those of requests that arrived before the
  // drain began included (hence at send, not at arrival): otherwise an idle keep-alive socket would
  // hold server.close() open until the client's keep-alive timeout.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (lifecycle.closing) reply.header('connection', 'close');
    done(null, payload);
  });
}

/**
 * The drain: the listener stays open while guest calls run or writes wait, and every new request is
 * answered 503 with `connection: close` (installDrain's hooks), so clients and load balancers are told
 * rather than refused; then Fastify closes the listener and lets the requests in flight finish.
 * Installed after the routes: preClose hooks run in registration order, and the event routes' hook,
 * which ends the open streams, runs before this wait.
 */
export function installDrainWait(app: FastifyInstance, services: Services): void {
  const { config, lifecycle, runner } = services;
  const { writer } = services.store;
  app.addHook('preClose', async () => {
    lifecycle.closing = true;
    const deadline = Date.now() + config.server.shutdown_grace;
    const busy = () => {
      const calls = runner.stats();
      return calls.inFlight + calls.queued + writer.stats().queued > 0;
    };
    while (busy() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS));
  });
}
