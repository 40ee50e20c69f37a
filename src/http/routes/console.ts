import { readdirSync, readFileSync } from 'node:fs';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { wessError } from '../../errors.js';
import { describeRoute } from '../openapi.js';
import { parseWith } from '../schemas.js';

/** Where the console's assets are: web/ at the repository root (this file runs from dist/src/http/routes/). */
export const WEB_DIR = new URL('../../../../web/', import.meta.url);
/** The URL prefix of the console's assets; its page is served at `/` to browsers. */
export const CONSOLE_PREFIX = '/console';

/**
 * The console's CSP: its own origin only, no inline script or style, never framed. API answers
 * keep the stricter `default-src 'none'` of http/transport.ts; this header, set per reply, replaces it.
 */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "object-src 'none'",
].join('; ');

const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
};

export interface Asset {
  body: Buffer;
  type: string;
}

const assetParams = z.object({ file: z.string().regex(/^[a-z0-9-]+\.(?:js|css|svg)$/, 'must be a console asset name') });

/** The console's files: its page (`GET /` to a browser) and the assets under /console. */
export interface ConsoleFiles {
  page: Asset;
  assets: Map<string, Asset>;
}

/**
 * The files of web/, read once at start: a handful of small files, and a fixed set means no
 * request can name anything else on disk (no path is ever joined from a URL).
 */
export function loadConsole(dir: URL = WEB_DIR): ConsoleFiles {
  const assets = new Map<string, Asset>();
  for (const name of readdirSync(dir)) {
    const type = TYPES[name.split('.').pop() ?? ''];
    if (type !== undefined) assets.set(name, { body: readFileSync(new URL(name, dir)), type });
  }
  const page = assets.get('index.html');
  if (page === undefined) throw new Error(`the console's page is missing: no index.html in ${dir.pathname}`);
  return { page, assets };
}

/** Sends a console asset under the console's CSP. */
export function sendAsset(reply: FastifyReply, asset: Asset): FastifyReply {
  // no-cache: a browser revalidates, so a new release's page never runs an old script.
  return reply.header('content-security-policy', CONSOLE_CSP).header('cache-control', 'no-cache').type(asset.type).send(asset.body);
}

/** Registers `GET /console/{file}`: the console's scripts, styles and icon (its page is `GET /`, see home.ts). */
export function consoleRoutes(app: FastifyInstance, assets: Map<string, Asset>): void {
  app.get(`${CONSOLE_PREFIX}/:file`, describeRoute({
    summary: "The web console's scripts and styles",
    description: 'Static files of the console (its page is `GET /` with Accept: text/html), under the console\'s CSP. No key needed.',
    tags: ['meta'],
    access: 'open',
    params: assetParams,
    responses: { 200: { description: 'A script, style sheet or icon', contentType: 'text/javascript', body: { type: 'string' } } },
    errors: ['VALIDATION', 'NOT_FOUND'],
  }), async (request, reply) => {
    const { file } = parseWith(assetParams, request.params, 'path');
    const asset = assets.get(file);
    if (asset === undefined) throw wessError('NOT_FOUND', `no console asset ${file}`);
    return sendAsset(reply, asset);
  });
}
