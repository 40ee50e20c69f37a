import type { FastifyInstance, RawRequestDefaultExpression } from 'fastify';
import { v4 as uuidv4 } from 'uuid';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Fastify's `genReqId`: the caller's `x-request-id` when it is a sane token (so a request can be
 * followed across a proxy and Wess), else a fresh UUID.
 */
export function requestId(req: RawRequestDefaultExpression): string {
  const incoming = req.headers['x-request-id'];
  return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : uuidv4();
}

/** Every answer carries its request id, the shutdown 503 included (so this hook comes before the drain's). */
export function installRequestId(app: FastifyInstance): void {
  // The hooks on every request are callback-style, not async: an async hook costs a promise and a
  // microtask hop per request, and these do nothing asynchronous (sending early, then done(), is
  // what an async hook that returns the reply does too).
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    done();
  });
}
