import type { FastifyRequest } from 'fastify';

/** A W3C traceparent: version, trace id, parent span id, flags. */
const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;
const NO_TRACE = '00000000000000000000000000000000';
const NO_SPAN = '0000000000000000';
/** tracestate is a list of at most 32 members of at most 256 characters each (W3C trace context). */
const MAX_TRACESTATE = 32 * 257;

/** A trace context as carried by a job to its runs and its webhook: the W3C headers. */
export interface TraceContext {
  traceparent: string;
  tracestate?: string;
}

/** The trace id a traceparent names, or null for one that is malformed or names none. */
export function traceIdOf(traceparent: string | undefined | null): string | null {
  if (typeof traceparent !== 'string') return null;
  const match = TRACEPARENT.exec(traceparent);
  if (match === null || match[1] === NO_TRACE || match[2] === NO_SPAN) return null;
  return match[1] as string;
}

/**
 * The trace context work started by `request` continues (a job it submits): its span's while tracing
 * is on, else the caller's own headers when they are valid; null when there is none.
 */
export function requestTraceContext(request: FastifyRequest, inject: ((context: NonNullable<FastifyRequest['trace']>['context']) => Record<string, string>) | undefined): TraceContext | null {
  if (request.trace && inject) {
    const carrier = inject(request.trace.context);
    return carrier.traceparent === undefined ? null : withState(carrier.traceparent, carrier.tracestate);
  }
  const parent = request.headers.traceparent;
  if (typeof parent !== 'string' || traceIdOf(parent) === null) return null;
  const state = request.headers.tracestate;
  return withState(parent, typeof state === 'string' ? state : undefined);
}

function withState(traceparent: string, tracestate: string | undefined): TraceContext {
  return tracestate === undefined || tracestate === '' || tracestate.length > MAX_TRACESTATE ? { traceparent } : { traceparent, tracestate };
}
