import { randomFillSync } from 'node:crypto';
import type { FastifyInstance, RawRequestDefaultExpression } from 'fastify';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Fastify's `genReqId`: the caller's `x-request-id` when it is a sane token (so a request can be
 * followed across a proxy and Wess), else a fresh UUID v4.
 */
export function requestId(req: RawRequestDefaultExpression): string {
  const incoming = req.headers['x-request-id'];
  return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomRequestId();
}

/** Random bytes for this many ids at a time, as crypto.randomUUID keeps them. */
const IDS_PER_FILL = 256;
const pool = Buffer.alloc(16 * IDS_PER_FILL);
let taken = IDS_PER_FILL;
const HEX = Buffer.from('0123456789abcdef', 'latin1');
/** The id's characters, dashes in place: the hex digits are written over the rest. */
const text = Buffer.from('00000000-0000-4000-8000-000000000000', 'latin1');
/** Where each of the 16 bytes' two hex digits go in `text`. */
const AT = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];

/**
 * A random UUID v4 (RFC 9562: version 4, variant 10), as crypto.randomUUID makes it but read out as
 * one flat string: randomUUID joins 20 pieces into a string rope per call, ~350 bytes of garbage on
 * every request that brings no id of its own.
 */
export function randomRequestId(): string {
  if (taken === IDS_PER_FILL) {
    randomFillSync(pool);
    taken = 0;
  }
  const from = 16 * taken++;
  for (let i = 0; i < 16; i++) {
    let byte = pool[from + i] as number;
    if (i === 6) byte = (byte & 0x0f) | 0x40;
    else if (i === 8) byte = (byte & 0x3f) | 0x80;
    const at = AT[i] as number;
    text[at] = HEX[byte >> 4] as number;
    text[at + 1] = HEX[byte & 0x0f] as number;
  }
  return text.toString('latin1', 0, 36);
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
