import { AsyncLocalStorage } from 'node:async_hooks';
import { SpanStatusCode, type Attributes, type Context } from '@opentelemetry/api';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { redactKeys } from '../../logger.js';
import type { CompileObserver } from '../../runner/types.js';
import type { WriteObserver } from '../../store/index.js';
import { nowMs } from '../../tracing/clock.js';
import type { Tracing } from '../../tracing/tracing.js';
import { routeOf } from './decorations.js';

/** One request's trace while it is served: its server span, the context children go under, and when auth ended. */
export interface RequestTrace {
  span: ReturnType<Tracing['startServer']>['span'];
  context: Context;
  start: number;
  /** When the last onRequest hook (auth, rate limit) let the request through; undefined when one of them answered it. */
  admitted: number | undefined;
  /** Set once the answer is on its way: a write submitted after that is not one the request waits on. */
  answered: boolean;
  /** Whether the trace is recorded (sampled): only then do its calls ask the worker for their phase times (CallScope.tracePhases). */
  sampled: boolean;
  /** When the last compile the request waited on ended (its call queued after that); undefined without one. */
  compiled: number | undefined;
}

/**
 * The trace of the request being served, for work it starts that reads no request (a store write):
 * entered in the request's first hook, it follows the request's callbacks and promises, but also
 * every timer started from them, long after the answer (the invocation log's flush, the job engine's
 * polls, which start their next timers from there): hence `answered`.
 */
const current = new AsyncLocalStorage<RequestTrace>();

/**
 * A span per request (HTTP semantic conventions) under the caller's `traceparent`, with children for
 * auth, the runner's queue wait and run, and each store commit it waits on. Installed only when
 * tracing is on (app.ts): its hooks are the whole of its per-request cost.
 */
export function installTracing(app: FastifyInstance, tracing: Tracing): void {
  // First among the onRequest hooks that matter (auth, rate limit): the span's start is the request's.
  app.addHook('onRequest', (request, _reply, done) => {
    const start = nowMs();
    const parent = tracing.extract(request.headers);
    const { span, context } = tracing.startServer(parent, request.method, start, requestAttributes(request));
    const trace: RequestTrace = { span, context, start, admitted: undefined, answered: false, sampled: span.isRecording(), compiled: undefined };
    request.trace = trace;
    current.enterWith(trace);
    done();
  });
  // The first hook after every onRequest hook: auth and the rate limit are done.
  app.addHook('preParsing', (request, _reply, payload, done) => {
    if (request.trace) request.trace.admitted = nowMs();
    done(null, payload);
  });
  // A handler has awaited every write it waits on by the time its answer is sent.
  app.addHook('onSend', (request, _reply, payload, done) => {
    if (request.trace) request.trace.answered = true;
    done(null, payload);
  });
  app.addHook('onResponse', (request, reply, done) => {
    const trace = request.trace;
    if (trace) {
      trace.answered = true;
      endRequest(tracing, request, reply.statusCode, trace);
    }
    done();
  });
}

/** A store's write observer that records each commit a traced request waits on as a span of it. */
export function traceWrites(tracing: Tracing, engine: 'leveldb' | 'postgres'): WriteObserver {
  const system = engine === 'postgres' ? 'postgresql' : 'leveldb';
  return (kind) => {
    const trace = current.getStore();
    if (trace === undefined || trace.answered) return undefined;
    const span = tracing.startInternal(trace.context, 'store commit', { 'db.system.name': system, 'db.operation.name': kind });
    return (failure) => {
      if (failure !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: failure instanceof Error ? failure.message : String(failure) });
      span.end();
    };
  };
}

/** A runner's compile observer that records each compile a traced request waits on (a compile-cache miss) as a span of it. */
export function traceCompiles(tracing: Tracing): CompileObserver {
  return (metered) => {
    const trace = current.getStore();
    if (trace === undefined || trace.answered) return undefined;
    const span = tracing.startInternal(trace.context, 'compile', { 'wess.compile.metered': metered });
    return (failure) => {
      tracing.end(span, failure === undefined ? undefined : failure instanceof Error ? failure.message : String(failure));
      trace.compiled = nowMs();
    };
  };
}

function requestAttributes(request: FastifyRequest): Attributes {
  const query = request.url.indexOf('?');
  const attributes: Attributes = {
    'http.request.method': request.method,
    'url.path': redactKeys(query === -1 ? request.url : request.url.slice(0, query)),
    'url.scheme': request.protocol,
    'server.address': request.hostname,
    'client.address': request.ip,
    'network.protocol.version': request.raw.httpVersion,
    'wess.request_id': request.id,
  };
  if (request.port !== null) attributes['server.port'] = request.port;
  const agent = request.headers['user-agent'];
  if (agent !== undefined) attributes['user_agent.original'] = agent;
  return attributes;
}

function endRequest(tracing: Tracing, request: FastifyRequest, status: number, trace: RequestTrace): void {
  const end = nowMs();
  const principal = request.principal;
  const who: Attributes = {};
  if (principal?.tenant) who['wess.tenant'] = principal.tenant;
  if (principal?.keyId) who['wess.key_id'] = principal.keyId;
  tracing.record(trace.context, 'auth', { start: trace.start, end: trace.admitted ?? end }, { ...who, 'wess.auth.outcome': request.authDenial ?? (trace.admitted === undefined ? 'refused' : 'ok') });
  const run = request.run;
  // Its call was made after auth let the request through and after any compile it waited on.
  if (run && run.receipts.length > 0) tracing.recordRun(trace.context, run, Math.max(trace.admitted ?? trace.start, trace.compiled ?? -Infinity));

  const route = routeOf(request);
  const { span } = trace;
  if (route !== '') {
    span.updateName(`${request.method} ${route}`);
    span.setAttribute('http.route', route);
  }
  span.setAttributes(who);
  span.setAttribute('http.response.status_code', status);
  span.setAttribute('wess.outcome', request.errorCode ?? 'ok');
  if (request.moduleId) span.setAttribute('wess.module.id', request.moduleId);
  if (run) {
    span.setAttribute('wess.module.version', run.version);
    if (run.fn !== null) span.setAttribute('wess.function', run.fn);
    if (run.route !== null) span.setAttribute('wess.route', run.route);
  }
  // A server span is an error only for a 5xx: a 4xx is the client's (HTTP semantic conventions).
  if (status >= 500) {
    span.setAttribute('error.type', request.errorCode ?? String(status));
    span.setStatus({ code: SpanStatusCode.ERROR });
  }
  span.end(end);
}
