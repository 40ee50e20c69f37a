import { readFileSync } from 'node:fs';
import type { ServerOptions as HttpServerOptions } from 'node:http';
import type { ServerOptions as HttpsServerOptions } from 'node:https';
import { createSecureContext } from 'node:tls';
import helmet, { type HelmetOptions } from 'helmet';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import type { Config } from '../config/schema.js';

/**
 * What transportOptions gives Fastify. FastifyServerOptions alone has no `http`/`https` keys (they live on
 * Fastify's per-server option types), so they are named here; Fastify hands one of them to node's createServer.
 */
export type TransportOptions = Partial<FastifyServerOptions> & { http?: HttpServerOptions; https?: HttpsServerOptions };

/**
 * Milliseconds between node's sweeps for connections past headersTimeout or requestTimeout. Node only checks
 * on this interval (default 30 s), so a slowloris client could otherwise hold a socket 30 s past headers_timeout.
 */
export const CONNECTIONS_CHECKING_INTERVAL = 1000;

type PemKey = 'tls_cert' | 'tls_key';

/** Server options from config: HTTPS when server.tls_cert/tls_key are set, timeouts and header limits. */
export function transportOptions(config: Config): TransportOptions {
  const { server } = config;
  // Given to node's createServer: Fastify has no options of its own for these two.
  const nodeOptions = { maxHeaderSize: server.max_header_size, connectionsCheckingInterval: CONNECTIONS_CHECKING_INTERVAL };
  const common = { requestTimeout: server.request_timeout, keepAliveTimeout: server.keep_alive_timeout };
  const tls = tlsFiles(config);
  return tls ? { ...common, https: { ...nodeOptions, ...tls } } : { ...common, http: nodeOptions };
}

/** The PEM cert and key when both are configured (config validation refuses one without the other). */
function tlsFiles(config: Config): { cert: Buffer; key: Buffer } | undefined {
  const { tls_cert: certPath, tls_key: keyPath } = config.server;
  if (certPath === undefined || keyPath === undefined) return undefined;
  const files = { cert: readPem('tls_cert', certPath), key: readPem('tls_key', keyPath) };
  try {
    // Fails here with the config keys named, rather than later inside Fastify's createServer call.
    createSecureContext(files);
  } catch (err) {
    throw new Error(`server.tls_cert/server.tls_key: ${certPath} and ${keyPath} are not a usable PEM certificate and key (${(err as Error).message})`, { cause: err });
  }
  return files;
}

function readPem(key: PemKey, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new Error(`server.${key}: cannot read ${path} (${code})`, { cause: err });
  }
}

/**
 * Security headers on every response, and anything that must be set on the server after it is built.
 * The headers are helmet's, worked out once: for a fixed config they are the same on every answer,
 * and running helmet's middleware chain per request (as @fastify/helmet does) cost 18% of warm /run
 * throughput here (9,300 → 7,600 req/s, autocannon, 100 connections), against one headers() call.
 */
export async function registerHardening(app: FastifyInstance, config: Config): Promise<void> {
  const headers = helmetHeaders(helmetOptions(config));
  // Callback-style: an async hook costs a promise and a microtask hop on every request.
  app.addHook('onRequest', (_request, reply, done) => {
    reply.headers(headers);
    done();
  });
  app.server.headersTimeout = headersTimeout(config);
}

/** The headers helmet sets for `options`, captured from one run of its middleware. */
export function helmetHeaders(options: HelmetOptions): Record<string, string> {
  const headers: Record<string, string> = {};
  const res = {
    setHeader: (name: string, value: string | number) => (headers[name.toLowerCase()] = String(value)),
    removeHeader: (name: string) => delete headers[name.toLowerCase()],
  };
  let failed: unknown;
  helmet(options)({} as never, res as never, (err?: unknown) => (failed = err));
  if (failed) throw failed instanceof Error ? failed : new Error(String(failed));
  return Object.freeze(headers) as Record<string, string>;
}

function helmetOptions(config: Config): HelmetOptions {
  const tlsOn = config.server.tls_cert !== undefined && config.server.tls_key !== undefined;
  return {
    // A JSON API loads nothing and is framed by no one. The /docs UI and the web console need their own
    // policies: each gives its own on its routes (@fastify/swagger-ui's staticCSP, routes/console.ts's
    // CONSOLE_CSP), set per reply, which overrides this one.
    contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
    // Over plain HTTP the header is ignored by browsers and would only pin a future TLS setup by mistake.
    strictTransportSecurity: tlsOn ? { maxAge: 31_536_000, includeSubDomains: true } : false,
    // Never framed, for browsers that predate CSP's frame-ancestors.
    xFrameOptions: { action: 'deny' },
    // Helmet's other defaults govern how a browser treats an HTML document (its window's opener, origin-keyed
    // agent clusters, DNS prefetch of its links, IE's download dialog, Flash/PDF cross-domain policy files, the
    // retired XSS auditor). Wess answers JSON, wasm, NDJSON and Prometheus text, never a page that /docs or
    // the console does not set its own policy for; six headers on every answer cost warm /run ~3% of its main thread (issue 6).
    crossOriginOpenerPolicy: false,
    originAgentCluster: false,
    xDnsPrefetchControl: false,
    xDownloadOptions: false,
    xPermittedCrossDomainPolicies: false,
    xXssProtection: false,
  };
}

/**
 * server.headers_timeout, lowered to request_timeout when that is shorter: headers are part of the request,
 * and node refuses headersTimeout > requestTimeout when both are given to its constructor.
 */
export function headersTimeout(config: Config): number {
  const { headers_timeout: headers, request_timeout: request } = config.server;
  return request > 0 ? Math.min(headers, request) : headers;
}
