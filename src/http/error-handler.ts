import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { clip } from '../echo.js';
import { ERROR_CODES, RETRY_AFTER_SECONDS, hasErrorCode, type ErrorCode } from '../errors.js';
import type { Config } from '../config/schema.js';
import type { Metrics } from '../metrics.js';
import type { StoreHealth } from '../store/store-health.js';
import { bodyTooLarge } from './body-limits.js';

/** The one shape every error response has. */
export interface ErrorBody {
  error: { code: ErrorCode; message: string; request_id: string; details?: Record<string, unknown> };
}

/** Fastify's own error codes, mapped onto ours. */
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'VALIDATION',
  FST_ERR_CTP_INVALID_JSON_BODY: 'VALIDATION',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'VALIDATION',
  FST_ERR_VALIDATION: 'VALIDATION',
  FST_ERR_BAD_URL: 'VALIDATION',
  FST_ERR_ASYNC_CONSTRAINT: 'VALIDATION',
};

interface Classified {
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

function classify(err: FastifyError | Error, request: FastifyRequest, config: Config): Classified {
  // Fastify's own message names no limit; which one applied depends on the request.
  if ((err as FastifyError).code === 'FST_ERR_CTP_BODY_TOO_LARGE') return bodyTooLarge(config, request);
  if (hasErrorCode(err)) {
    const details = (err as { details?: Record<string, unknown> }).details;
    return details ? { code: err.code, message: err.message, details } : { code: err.code, message: err.message };
  }
  const fastifyCode = (err as FastifyError).code;
  const mapped = fastifyCode ? FASTIFY_CODES[fastifyCode] : undefined;
  if (mapped) return { code: mapped, message: friendlyMessage(mapped, err.message) };
  const status = (err as FastifyError).statusCode;
  if (status === 429) return { code: 'RATE_LIMITED', message: err.message };
  if (err instanceof SyntaxError || status === 400) return { code: 'VALIDATION', message: err.message };
  if (status === 413) return { code: 'PAYLOAD_TOO_LARGE', message: err.message };
  if (status === 415) return { code: 'UNSUPPORTED_MEDIA_TYPE', message: err.message };
  if (status === 503) return { code: 'UNAVAILABLE', message: err.message };
  return { code: 'INTERNAL', message: 'internal error; it has been logged with the request id' };
}

function friendlyMessage(code: ErrorCode, message: string): string {
  if (code === 'UNSUPPORTED_MEDIA_TYPE') {
    return `${message}; send application/json, application/wasm for a raw module, or text/wat for WebAssembly text`;
  }
  return message;
}

/** Seconds to wait before retrying: the error's own `retry_after_s` detail, else its code's default. */
function retryAfter(failure: Classified): number | undefined {
  const own = failure.details?.retry_after_s;
  return typeof own === 'number' ? own : RETRY_AFTER_SECONDS[failure.code];
}

/**
 * Longest message an error body carries. Messages quote client input through src/echo.ts, already
 * short; this is the net under a message built from something nobody thought of as client input.
 */
const MESSAGE_CHARS = 1024;

/** Sends the standard error body and counts it; the one place error responses are written. */
export function sendError(request: FastifyRequest, reply: FastifyReply, failure: Classified, metrics: Metrics): FastifyReply {
  const status = ERROR_CODES[failure.code].status;
  // Set here too: router errors are answered before the onRequest hook that sets it.
  reply.header('x-request-id', request.id);
  metrics.errors.inc({ code: failure.code });
  request.errorCode = failure.code;
  const retry = retryAfter(failure);
  if (retry !== undefined && !reply.hasHeader('retry-after')) reply.header('retry-after', String(retry));
  const body: ErrorBody = { error: { code: failure.code, message: clip(failure.message, MESSAGE_CHARS), request_id: request.id } };
  if (failure.details) body.error.details = failure.details;
  return reply.code(status).type('application/json; charset=utf-8').send(body);
}

/** Installs the error and not-found handlers that map every failure to the contract's body. */
export function installErrorHandling(app: FastifyInstance, services: { readonly config: Config; readonly storeHealth: StoreHealth }, metrics: Metrics): void {
  const { storeHealth } = services;
  app.setErrorHandler((err: FastifyError, request, reply) => {
    // services.config, not the config at start: a reload may change the tier limits a 413 names.
    const failure = classify(err, request, services.config);
    // Damaged content found by a read: /health reports it until a verification says otherwise.
    if (failure.code === 'CONTENT_CORRUPT' && typeof failure.details?.sha256 === 'string') storeHealth.noteDamaged(failure.details.sha256, request.moduleId ?? null);
    if (failure.code === 'INTERNAL') {
      request.log.error({ err }, 'unhandled error');
    } else if (failure.code === 'UNAVAILABLE') {
      // Overload, shutdown, a store that is down: a warn per request would double the log volume
      // exactly when the node struggles; the access line has the 503, and the cause logs its own change of state.
      request.log.debug({ code: failure.code, msg: failure.message }, 'request failed');
    } else if (ERROR_CODES[failure.code].status >= 500) {
      request.log.warn({ code: failure.code, msg: failure.message }, 'request failed');
    }
    return sendError(request, reply, failure, metrics);
  });

  app.setNotFoundHandler((request, reply) =>
    sendError(request, reply, { code: 'NOT_FOUND', message: `no route ${request.method} ${clip(request.url.split('?')[0] ?? '', 200)}` }, metrics),
  );
}
