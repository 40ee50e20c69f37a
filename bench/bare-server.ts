import cluster from 'node:cluster';
import { createServer } from 'node:net';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import type { Exchange } from './lib/answers.js';

/*
 * The baseline: a bare Fastify app (no logging, no hooks, no auth) with Wess's /run and GET /modules/{id}
 * routes. It answers each request the bench sends with the body Wess sent for it in this run: bench/run.ts
 * captures those answers and passes them as JSON in argv[2] (see bench/lib/answers.ts), then checks that
 * this app's bytes are Wess's before driving either. Run in its own process; prints {"port": N} on stdout
 * once listening. With BARE_PROCESSES=N (N > 1), N processes share the port through node:cluster, as
 * Wess's server.processes does: the baseline of Wess's multi-process rows.
 */

const exchanges = JSON.parse(process.argv[2] ?? '[]') as Exchange[];
// Parsed once and returned as objects: Fastify serializes them per request with JSON.stringify, the
// work Wess does for its own answers (its stats differ per call), so the baseline is not spared it.
const isJson = (e: Exchange) => e.contentType.startsWith('application/json');
const answers = new Map(exchanges.filter(isJson).map((e) => [`${e.method} ${e.path}`, JSON.parse(e.answer) as unknown]));
/** Answers that are not JSON (an HTTP handler's text), sent as they are with Wess's content type. */
const texts = new Map(exchanges.filter((e) => !isJson(e)).map((e) => [`${e.method} ${e.path}`, e]));

const app = Fastify({ logger: false });

app.post(
  '/modules/:id/run',
  {
    // Wess validates the body too (with zod); this is the bare app's share of that work.
    schema: {
      body: {
        type: 'object',
        properties: { function: { type: 'string', minLength: 1, maxLength: 1024 }, args: { type: 'array' } },
        additionalProperties: false,
      },
    },
  },
  async (request, reply) => answerOf(request, reply),
);
app.get('/modules/:id', async (request, reply) => answerOf(request, reply));
// An HTTP handler's answer (bench/scenarios/handlers.ts): the same text, from a route that runs nothing.
app.get('/h/*', async (request, reply) => {
  const exchange = texts.get(`${request.method} ${request.url}`);
  if (exchange === undefined) {
    reply.callNotFound();
    return reply;
  }
  return reply.type(exchange.contentType).send(exchange.answer);
});
// Uploads (bench/scenarios/stores.ts): the body is read whole, as Wess reads it, and not stored.
app.addContentTypeParser('application/wasm', { parseAs: 'buffer', bodyLimit: 16 * 1024 * 1024 }, (_request, body, done) => done(null, body));
app.post('/modules', async (request, reply) => answerOf(request, reply));

/** Wess's answer to this request; a 404 for one the harness did not capture (it then counts no 2xx). */
function answerOf(request: FastifyRequest, reply: FastifyReply): unknown {
  const answer = answers.get(`${request.method} ${request.url}`);
  if (answer !== undefined) return answer;
  reply.callNotFound();
  return reply;
}

const processes = Number(process.env.BARE_PROCESSES ?? 1);

/** A port free right now, for the workers of a cluster to share. */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

if (processes > 1 && cluster.isPrimary) {
  const port = await freePort();
  let listening = 0;
  cluster.on('listening', () => {
    if (++listening === processes) process.stdout.write(`${JSON.stringify({ port })}\n`);
  });
  for (let i = 0; i < processes; i++) cluster.fork({ BARE_PORT: String(port) });
  process.on('SIGTERM', () => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.kill('SIGTERM');
    process.exit(0);
  });
} else {
  await app.listen({ host: '127.0.0.1', port: Number(process.env.BARE_PORT ?? 0) });
  const address = app.server.address();
  if (cluster.isPrimary) process.stdout.write(`${JSON.stringify({ port: typeof address === 'object' && address ? address.port : 0 })}\n`);
  process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
}
