import type { FastifyInstance } from 'fastify';
import { VERSION } from '../../version.js';
import { DOCS_PREFIX, OPENAPI_PATH, describeRoute } from '../openapi.js';
import { CONSOLE_CSP, sendAsset, type Asset } from './console.js';

/** What `GET /` tells a client that is not a browser: where to go next. */
const HOME = Object.freeze({
  name: 'wess',
  version: VERSION,
  message: `Wess runs WebAssembly modules over HTTP. The API is described at ${OPENAPI_PATH} and can be tried at ${DOCS_PREFIX}; ` +
    'its routes need an API key: "Authorization: Bearer wess_<id>_<secret>" or "x-api-key: wess_<id>_<secret>".',
  docs: DOCS_PREFIX,
  openapi: OPENAPI_PATH,
  health: '/health',
});

/** Registers `GET /`: a browser gets the web console's `page`, anything else a pointer to the API's description. */
export function homeRoutes(app: FastifyInstance, page: Asset): void {
  app.get('/', {
    ...describeRoute({
      summary: 'Where to start: the web console for a browser, pointers for anything else',
      description: `A request that accepts text/html (a browser) gets the web console's page (it asks for a key before calling anything; CSP: ${CONSOLE_CSP}); others get a small JSON body naming ${DOCS_PREFIX} and ${OPENAPI_PATH}. No key needed.`,
      tags: ['meta'],
      access: 'open',
      responses: {
        200: {
          description: 'Pointers to the documentation',
          body: {
            type: 'object',
            properties: {
              name: { type: 'string' },
              version: { type: 'string' },
              message: { type: 'string' },
              docs: { type: 'string' },
              openapi: { type: 'string' },
              health: { type: 'string' },
            },
            required: ['name', 'version', 'message', 'docs', 'openapi', 'health'],
          },
        },
        // One status, two bodies: the document lists the JSON one, the page is described above.
      },
    }),
  }, async (request, reply) => {
    // The answer depends on Accept: caches must keep the two apart.
    reply.header('vary', 'accept');
    const accept = request.headers.accept;
    if (typeof accept === 'string' && accept.includes('text/html')) return sendAsset(reply, page);
    return HOME;
  });
}
