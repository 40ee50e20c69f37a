import { ROOT_CONTEXT, SpanKind, SpanStatusCode, defaultTextMapGetter, trace, type Attributes, type Context, type Span, type Tracer } from '@opentelemetry/api';
import { W3CTraceContextPropagator, setGlobalErrorHandler } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import type { Config } from '../config/schema.js';
import type { Logger } from '../logger.js';
import { VERSION } from '../version.js';
import type { Interval } from './clock.js';
import { totalsOf, type RunNote } from '../observability/run-note.js';
import type { Phases, Receipt } from '../runner/protocol.js';

/** Spans wait at most this long before they are exported (the SDK's default is 5 s). */
const EXPORT_DELAY_MS = 1000;
/** A collector that refuses or is down is reported at most this often. */
const FAILURE_REPORT_MS = 60_000;

/**
 * OpenTelemetry for one Wess app: its own tracer provider (never the global one, so two apps in one
 * process do not share exporters), the W3C trace-context propagator, and a batch exporter over
 * OTLP/HTTP protobuf. Built only when tracing.endpoint is set: with tracing off no hook, wrapper or
 * timer exists, so it costs nothing on the hot path.
 */
export class Tracing {
  readonly #provider: BasicTracerProvider;
  readonly #tracer: Tracer;
  readonly #propagator = new W3CTraceContextPropagator();

  private constructor(provider: BasicTracerProvider) {
    this.#provider = provider;
    this.#tracer = provider.getTracer('wess', VERSION);
  }

  /**
   * The tracing `config` asks for, or undefined when tracing.endpoint is empty. app.ts imports this
   * module only when it is set, so with tracing off the SDK is not even loaded.
   */
  static start(config: Config, logger: Logger): Tracing | undefined {
    const { endpoint, sample_ratio: ratio, service_name: serviceName } = config.tracing;
    if (endpoint === '') return undefined;
    reportFailures(logger);
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: serviceName, [ATTR_SERVICE_VERSION]: VERSION }),
      // A caller's traceparent decides for its own trace (sampled or not); a trace started here is kept with the ratio.
      sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) }),
      spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: tracesUrl(endpoint) }), { scheduledDelayMillis: EXPORT_DELAY_MS })],
    });
    logger.info({ endpoint: tracesUrl(endpoint), sample_ratio: ratio, service_name: serviceName }, 'tracing on');
    return new Tracing(provider);
  }

  /** The context a request's `traceparent`/`tracestate` headers carry (the root context when they carry none or a malformed one). */
  extract(headers: Record<string, string | string[] | undefined>): Context {
    return this.#propagator.extract(ROOT_CONTEXT, headers, defaultTextMapGetter);
  }

  /** `traceparent` (and `tracestate`) for an outgoing request made on behalf of the span in `context`. */
  inject(context: Context): Record<string, string> {
    const carrier: Record<string, string> = {};
    this.#propagator.inject(context, carrier, { set: (c, k, v) => ((c as Record<string, string>)[k] = v) });
    return carrier;
  }

  /** Starts a server span under `parent` (a caller's context or the root); returns it and the context its children go under. */
  startServer(parent: Context, name: string, startTime: number, attributes: Attributes): { span: Span; context: Context } {
    const span = this.#tracer.startSpan(name, { kind: SpanKind.SERVER, startTime, attributes }, parent);
    return { span, context: trace.setSpan(parent, span) };
  }

  /** Starts an internal span under `parent`, to be ended by the caller. */
  startInternal(parent: Context, name: string, attributes: Attributes, startTime?: number): Span {
    return this.#tracer.startSpan(name, { kind: SpanKind.INTERNAL, startTime, attributes }, parent);
  }

  /** Records a finished internal span under `parent` (a step whose start and end are known afterwards). */
  record(parent: Context, name: string, at: Interval, attributes: Attributes, failed?: string): Context {
    const span = this.#tracer.startSpan(name, { kind: SpanKind.INTERNAL, startTime: at.start, attributes }, parent);
    if (failed !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: failed });
    span.end(at.end);
    return trace.setSpan(parent, span);
  }

  /**
   * The runner's part of a call, from its receipts, under `parent`: the wait for a worker, then the run
   * on it, with its `instantiate` and `call` spans when the worker timed them (Receipt.phases). A
   * batch's items run one after another in one bundle, so its run span covers them all and its wait
   * is the longest. queued_ms counts whole milliseconds of Date.now() on two threads, so the wait is
   * drawn from no earlier than `notBefore` (when the call could first have been made).
   */
  recordRun(parent: Context, run: RunNote, notBefore = -Infinity): void {
    const { durationMs: duration, cpuMs: cpu, queuedMs: queued, fuelUsed: fuel } = totalsOf(run.receipts);
    const at = runInterval(run.receipts, duration, run.answeredAt);
    this.record(parent, 'runner queue', { start: Math.max(notBefore, at.start - queued), end: at.start }, { 'wess.queued_ms': queued });
    const attributes: Attributes = {
      'wess.module.version': run.version,
      'wess.cpu_ms': cpu,
      'wess.calls': run.receipts.length,
    };
    if (fuel !== undefined) attributes['wess.fuel_used'] = fuel;
    if (run.fn !== null) attributes['wess.function'] = run.fn;
    if (run.compileCached !== undefined) attributes['wess.compile_cached'] = run.compileCached;
    const context = this.record(parent, 'runner run', at, attributes);
    for (const receipt of run.receipts) if (receipt.phases !== undefined) this.#recordPhases(context, receipt.phases);
  }

  /** A timed call's `instantiate` (when it made an instance) and `call` spans, under its run. */
  #recordPhases(parent: Context, phases: Phases): void {
    const { run, call } = phases;
    if (phases.instantiated) this.record(parent, 'instantiate', { start: run.start, end: call?.start ?? run.end }, {});
    if (call !== null) this.record(parent, 'call', call, { 'wess.instance.reused': !phases.instantiated });
  }

  /** Ends `span`, as an error when `failed` says why (Wess's other modules use no OpenTelemetry value, so that tracing off loads none). */
  end(span: Span, failed?: string): void {
    if (failed !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: failed });
    span.end();
  }

  /** Starts a span for work a message asked for (a job's run), under the context its W3C headers carry. */
  startConsumer(headers: Record<string, string | undefined>, name: string, attributes: Attributes): { span: Span; context: Context } {
    const parent = this.extract(headers);
    const span = this.#tracer.startSpan(name, { kind: SpanKind.CONSUMER, attributes }, parent);
    return { span, context: trace.setSpan(parent, span) };
  }

  /** Starts a client span (an outgoing request: a webhook) and the W3C headers that carry it. */
  startClient(parent: Context, name: string, attributes: Attributes): { span: Span; headers: Record<string, string> } {
    const span = this.#tracer.startSpan(name, { kind: SpanKind.CLIENT, attributes }, parent);
    return { span, headers: this.inject(trace.setSpan(parent, span)) };
  }

  /** Exports what is buffered (shutdown, and tests). */
  flush(): Promise<void> {
    return this.#provider.forceFlush();
  }

  /** Exports what is buffered and stops exporting. */
  shutdown(): Promise<void> {
    return this.#provider.shutdown();
  }
}

/**
 * When a run was on its worker: as the worker timed it (the clock of its instantiate and call spans,
 * so they nest in it), else worked back from when the runner answered. A call it did not time (one
 * stopped at its deadline, whose answer the main thread made) widens it to the worked-back interval.
 */
function runInterval(receipts: readonly Receipt[], duration: number, answeredAt: number): Interval {
  let start = Infinity, end = -Infinity, untimed = false;
  for (const receipt of receipts) {
    if (receipt.phases === undefined) untimed ||= receipt.durationMs > 0;
    else {
      start = Math.min(start, receipt.phases.run.start);
      end = Math.max(end, receipt.phases.run.end);
    }
  }
  if (start === Infinity || untimed) return { start: Math.min(start, answeredAt - duration), end: Math.max(end, answeredAt) };
  return { start, end };
}

/** The OTLP/HTTP traces URL under a collector's base URL, as OTEL_EXPORTER_OTLP_ENDPOINT is read. */
export function tracesUrl(endpoint: string): string {
  return `${endpoint.replace(/\/+$/, '')}/v1/traces`;
}

let failureLogger: Logger | undefined;
let lastReport = 0;

/** Failed exports (the SDK reports them through its global error handler) go to the log, at most once a minute. */
function reportFailures(logger: Logger): void {
  failureLogger = logger;
  setGlobalErrorHandler((err) => {
    const now = Date.now();
    if (now - lastReport < FAILURE_REPORT_MS) return;
    lastReport = now;
    failureLogger?.warn({ err }, 'exporting traces failed (reported once a minute)');
  });
}
