import Fastify from 'fastify';

/*
 * The baseline: a bare Fastify app (no logging, no hooks) with the same routes and JSON body shape as
 * Wess's /run and GET /modules/{id}, answering constants. Run in its own process by bench/run.ts;
 * prints {"port": N} on stdout once listening.
 */

const app = Fastify({ logger: false });
const MODULE = {
  id: '00000000-0000-4000-8000-000000000000',
  name: 'add',
  version: 1,
  sha256: '0'.repeat(64),
  size: 41,
  exports: [{ name: 'add', params: ['i32', 'i32'], results: ['i32'] }],
  memory: null,
  created_at: '2026-01-01T00:00:00.000Z',
  updated_at: '2026-01-01T00:00:00.000Z',
};

app.post(
  '/modules/:id/run',
  {
    schema: {
      body: {
        type: 'object',
        properties: { function: { type: 'string', minLength: 1, maxLength: 1024 }, args: { type: 'array' } },
        additionalProperties: false,
      },
    },
  },
  async () => ({ results: [3] }),
);
app.get('/modules/:id', async () => MODULE);

app.listen({ host: '127.0.0.1', port: 0 }).then(() => {
  const address = app.server.address();
  process.stdout.write(`${JSON.stringify({ port: typeof address === 'object' && address ? address.port : 0 })}\n`);
});
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
