import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import otlp from '@opentelemetry/otlp-transformer/build/src/generated/root.js';
import type { IExportTraceServiceRequest, ISpan } from '@opentelemetry/otlp-transformer/build/src/trace/internal-types.js';
import type { IKeyValue } from '@opentelemetry/otlp-transformer/build/src/common/internal-types.js';
import { applyEnv, validateConfig } from '../../src/config/load.js';
import { tracesUrl } from '../../src/tracing/tracing.js';
import { authHeaders, fixture, listen, startApp, wasiFixture, type TestApp } from '../helper.js';
import { within } from '../within.js';

/** The collector's request message, decoded by the protobuf code generated from OTLP's own .proto files. */
const ExportTraceServiceRequest = (otlp as unknown as {
  opentelemetry: { proto: { collector: { trace: { v1: { ExportTraceServiceRequest: { decode(bytes: Uint8Array): IExportTraceServiceRequest } } } } } };
}).opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;

interface Received {
  span: ISpan;
  service: string | undefined;
}

/** An OTLP/HTTP collector on 127.0.0.1: every span it is sent, decoded, and the content types it saw. */
class Collector {
  readonly spans: Received[] = [];
  readonly contentTypes = new Set<string>();
  #server: Server | undefined;
  #waiters: Array<() => void> = [];

  async start(): Promise<string> {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (req.url !== '/v1/traces' || req.method !== 'POST') {
          res.writeHead(404).end();
          return;
        }
        this.contentTypes.add(String(req.headers['content-type']));
        const message = ExportTraceServiceRequest.decode(Buffer.concat(chunks));
        for (const resourceSpans of message.resourceSpans ?? []) {
          const service = attribute(resourceSpans.resource?.attributes ?? [], 'service.name');
          for (const scope of resourceSpans.scopeSpans ?? []) for (const span of scope.spans ?? []) this.spans.push({ span, service: service as string | undefined });
        }
        res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
        for (const wake of this.#waiters.splice(0)) wake();
      });
    });
    await new Promise<void>((resolve) => this.#server?.listen(0, '127.0.0.1', resolve));
    const address = this.#server.address();
    if (!address || typeof address !== 'object') throw new Error('collector has no address');
    return `http://127.0.0.1:${address.port}`;
  }

  /** The spans once `found` picks what a test waits for from them; fails after 15 s (spans are exported each second). */
  async waitFor<T>(found: (spans: Received[]) => T | undefined): Promise<T> {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const hit = found(this.spans);
      if (hit !== undefined) return hit;
      if (Date.now() > deadline) throw new Error(`collector: not found in ${this.spans.length} spans: ${this.spans.map((s) => s.span.name).join(', ')}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 1000);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  close(): Promise<void> {
    return new Promise((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
  }
}

function attribute(attributes: IKeyValue[], key: string): unknown {
  const value = attributes.find((a) => a.key === key)?.value;
  if (!value) return undefined;
  if (value.stringValue !== undefined && value.stringValue !== null) return value.stringValue;
  if (value.boolValue !== undefined && value.boolValue !== null) return value.boolValue;
  if (value.doubleValue !== undefined && value.doubleValue !== null) return value.doubleValue;
  if (value.intValue !== undefined && value.intValue !== null) return Number(value.intValue);
  return undefined;
}

const attr = (s: ISpan, key: string): unknown => attribute(s.attributes, key);
const hex = (id: string | Uint8Array | null | undefined): string => (id === undefined || id === null ? '' : typeof id === 'string' ? id : Buffer.from(id).toString('hex'));
const SERVER = 2;
const ERROR = 2;

const nanos = (time: ISpan['startTimeUnixNano']): bigint => BigInt(String(time));

/** The `runner run` span of request `requestId` and the spans under it, once there are `count` of them. */
function runPhases(spans: Received[], requestId: string, count: number): { run: ISpan; phases: ISpan[] } | undefined {
  const run = requestTrace(spans, requestId)?.children.find((c) => c.name === 'runner run');
  if (!run) return undefined;
  const id = hex(run.spanId);
  const phases = spans.filter((s) => hex(s.span.parentSpanId) === id).map((s) => s.span);
  return phases.length >= count ? { run, phases } : undefined;
}

/** Asserts that every span of `phases` lies in `run`'s time range, and that each instantiate ends before the call it precedes starts. */
function assertInside(run: ISpan, phases: ISpan[]): void {
  for (const phase of phases) {
    assert.equal(hex(phase.traceId), hex(run.traceId), `${phase.name} is in the run's trace`);
    assert.ok(nanos(phase.startTimeUnixNano) >= nanos(run.startTimeUnixNano), `${phase.name} starts inside the run`);
    assert.ok(nanos(phase.endTimeUnixNano) <= nanos(run.endTimeUnixNano), `${phase.name} ends inside the run`);
    assert.ok(nanos(phase.startTimeUnixNano) <= nanos(phase.endTimeUnixNano), `${phase.name} ends after it starts`);
  }
  const instantiated = phases.filter((p) => p.name === 'instantiate').map((p) => nanos(p.endTimeUnixNano)).sort();
  const called = phases.filter((p) => p.name === 'call').map((p) => nanos(p.startTimeUnixNano)).sort();
  instantiated.forEach((end, i) => assert.ok(end <= (called[i] as bigint), 'an instance is made before its call'));
}

/** The server span of the request whose x-request-id was `requestId`, and the spans under it. */
function requestTrace(spans: Received[], requestId: string): { server: Received; children: ISpan[] } | undefined {
  const server = spans.find((s) => s.span.kind === SERVER && attr(s.span, 'wess.request_id') === requestId);
  if (!server) return undefined;
  const id = hex(server.span.spanId);
  const children = spans.filter((s) => hex(s.span.parentSpanId) === id).map((s) => s.span);
  return { server, children };
}

describe('OpenTelemetry traces over OTLP/HTTP', () => {
  const collector = new Collector();
  let t: TestApp;
  let base: string;
  let addId: string;
  let trapId: string;
  let busyId: string;
  let memoryId: string;
  let helloId: string;
  let hook: Server | undefined;

  before(async () => {
    const endpoint = await collector.start();
    t = await startApp({ tracing: { endpoint, service_name: 'wess-under-test' }, jobs: { callback_allow: ['127.0.0.1'] } });
    base = await listen(t.app);
    const uploaded = await fetch(`${base}/modules?name=add`, { method: 'POST', headers: authHeaders({ 'content-type': 'application/wasm' }), body: fixture('add') });
    assert.equal(uploaded.status, 201);
    addId = ((await uploaded.json()) as { id: string }).id;
    const trap = await fetch(`${base}/modules?name=trap`, { method: 'POST', headers: authHeaders({ 'content-type': 'application/wasm' }), body: fixture('trap') });
    trapId = ((await trap.json()) as { id: string }).id;
    const busy = await fetch(`${base}/modules?name=busy`, { method: 'POST', headers: authHeaders({ 'content-type': 'application/wasm' }), body: fixture('busy') });
    busyId = ((await busy.json()) as { id: string }).id;
    const memory = await fetch(`${base}/modules?name=grow-memory`, { method: 'POST', headers: authHeaders({ 'content-type': 'application/wasm' }), body: fixture('grow-memory') });
    memoryId = ((await memory.json()) as { id: string }).id;
    const hello = await fetch(`${base}/modules?name=hello`, { method: 'POST', headers: authHeaders({ 'content-type': 'application/wasm' }), body: wasiFixture('hello') });
    helloId = ((await hello.json()) as { id: string }).id;
  });
  after(async () => {
    await t.close();
    await collector.close();
    hook?.close();
  });

  test('a run is one trace: the request span, with auth, the runner queue and the run under it', async () => {
    const res = await fetch(`${base}/modules/${addId}/run`, { method: 'POST', headers: authHeaders({ 'content-type': 'application/json' }), body: JSON.stringify({ function: 'add', args: [2, 3] }) });
    assert.equal(res.status, 200);
    const requestId = res.headers.get('x-request-id') ?? '';
    const { server, children } = await collector.waitFor((spans) => {
      const found = requestTrace(spans, requestId);
      return found && found.children.length >= 3 ? found : undefined;
    });
    assert.equal(server.service, 'wess-under-test');
    assert.ok(collector.contentTypes.has('application/x-protobuf'), 'exported as OTLP protobuf');
    const span = server.span;
    assert.equal(span.name, 'POST /modules/:id/run');
    assert.equal(attr(span, 'http.request.method'), 'POST');
    assert.equal(attr(span, 'http.route'), '/modules/:id/run');
    assert.equal(attr(span, 'url.path'), `/modules/${addId}/run`);
    assert.equal(attr(span, 'http.response.status_code'), 200);
    assert.equal(attr(span, 'wess.module.id'), addId);
    assert.equal(attr(span, 'wess.module.version'), 1);
    assert.equal(attr(span, 'wess.function'), 'add');
    assert.equal(attr(span, 'wess.tenant'), 'default');
    assert.equal(attr(span, 'wess.outcome'), 'ok');
    assert.equal(span.status?.code ?? 0, 0, 'a success is not an error');
    assert.deepEqual(children.map((c) => c.name).sort(), ['auth', 'runner queue', 'runner run']);
    for (const child of children) assert.equal(hex(child.traceId), hex(span.traceId), `${child.name} is in the request's trace`);
    const run = children.find((c) => c.name === 'runner run') as ISpan;
    assert.equal(attr(run, 'wess.function'), 'add');
    assert.equal(attr(run, 'wess.compile_cached'), true);
    assert.equal(typeof attr(run, 'wess.cpu_ms'), 'number');
    // Timed inside the request: the children start no earlier and end no later than it.
    for (const child of children) {
      assert.ok(BigInt(String(child.startTimeUnixNano)) >= BigInt(String(span.startTimeUnixNano)), `${child.name} starts inside the request`);
      assert.ok(BigInt(String(child.endTimeUnixNano)) <= BigInt(String(span.endTimeUnixNano)), `${child.name} ends inside the request`);
    }
  });

  test('a run on a module with state: instantiate, then call, both inside the runner run span', async () => {
    const res = await fetch(`${base}/modules/${memoryId}/run`, { method: 'POST', headers: authHeaders({ 'content-type': 'application/json' }), body: JSON.stringify({ function: 'size' }) });
    assert.equal(res.status, 200, await res.text());
    const { run, phases } = await collector.waitFor((spans) => runPhases(spans, res.headers.get('x-request-id') ?? '', 2));
    assert.deepEqual(phases.map((p) => p.name).sort(), ['call', 'instantiate'], 'a fresh instance per call');
    assert.equal(attr(phases.find((p) => p.name === 'call') as ISpan, 'wess.instance.reused'), false);
    assertInside(run, phases);
  });

  test("a run on a module without state: a call span, and an instantiate span only when the worker had no instance of it yet", async () => {
    // Calls of a stateless module share their worker's one instance: after a worker's first, no instantiation.
    const requestIds: string[] = [];
    for (let i = 0; i < 12; i++) {
      const res = await fetch(`${base}/modules/${addId}/run`, { method: 'POST', headers: authHeaders({ 'content-type': 'application/json' }), body: JSON.stringify({ function: 'add', args: [i, 1] }) });
      assert.equal(res.status, 200);
      requestIds.push(res.headers.get('x-request-id') ?? '');
    }
    await t.app.services.tracing?.flush();
    let reused = 0;
    for (const requestId of requestIds) {
      const found = runPhases(collector.spans, requestId, 1);
      assert.ok(found, `the run of ${requestId} has its phases`);
      const call = found.phases.find((p) => p.name === 'call') as ISpan;
      const instantiated = found.phases.some((p) => p.name === 'instantiate');
      assert.equal(attr(call, 'wess.instance.reused'), !instantiated, 'reused exactly when nothing was instantiated');
      assert.equal(found.phases.length, instantiated ? 2 : 1);
      assertInside(found.run, found.phases);
      if (!instantiated) reused++;
    }
    assert.ok(reused > 0, 'more calls than threads: some reused their worker\'s instance');
  });

  test('a batch: an instantiate and a call span per item, all inside the runner run span', async () => {
    const res = await fetch(`${base}/modules/${memoryId}/run`, { method: 'POST', headers: authHeaders({ 'content-type': 'application/json' }), body: JSON.stringify({ function: 'grow', batch: [[1], [2], [3]] }) });
    assert.equal(res.status, 200, await res.text());
    const { run, phases } = await collector.waitFor((spans) => runPhases(spans, res.headers.get('x-request-id') ?? '', 6));
    assert.deepEqual(phases.map((p) => p.name).sort(), ['call', 'call', 'call', 'instantiate', 'instantiate', 'instantiate']);
    assertInside(run, phases);
  });

  test('a WASI run: its process and instance made, then the call of _start, inside the runner run span', async () => {
    const res = await fetch(`${base}/modules/${helloId}/run`, { method: 'POST', headers: authHeaders({ 'content-type': 'application/json' }), body: JSON.stringify({ args: ['traced'] }) });
    assert.equal(res.status, 200, await res.text());
    const { run, phases } = await collector.waitFor((spans) => runPhases(spans, res.headers.get('x-request-id') ?? '', 2));
    assert.equal(attr(run, 'wess.function'), '_start');
    assert.deepEqual(phases.map((p) => p.name).sort(), ['call', 'instantiate']);
    assertInside(run, phases);
  });

  test("a caller's traceparent is honoured: the request span joins its trace under its span", async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const parentId = '00f067aa0ba902b7';
    const res = await fetch(`${base}/modules/${addId}`, { headers: authHeaders({ traceparent: `00-${traceId}-${parentId}-01`, tracestate: 'vendor=1' }) });
    assert.equal(res.status, 200);
    const requestId = res.headers.get('x-request-id') ?? '';
    const { server } = await collector.waitFor((spans) => requestTrace(spans, requestId));
    assert.equal(hex(server.span.traceId), traceId);
    assert.equal(hex(server.span.parentSpanId), parentId);
    assert.equal(server.span.traceState, 'vendor=1');
    assert.equal(server.span.name, 'GET /modules/:id');
  });

  test('an upload waits on a store commit: a span of the request', async () => {
    const res = await fetch(`${base}/modules?name=traced-upload`, { method: 'POST', headers: authHeaders({ 'content-type': 'application/wasm' }), body: fixture('add') });
    assert.equal(res.status, 201);
    const requestId = res.headers.get('x-request-id') ?? '';
    const { children } = await collector.waitFor((spans) => {
      const found = requestTrace(spans, requestId);
      return found?.children.some((c) => c.name === 'store commit') ? found : undefined;
    });
    const commit = children.find((c) => c.name === 'store commit') as ISpan;
    assert.equal(attr(commit, 'db.operation.name'), 'create-module');
    assert.equal(attr(commit, 'db.system.name'), process.env.WESS_TEST_STORE === 'postgres' ? 'postgresql' : 'leveldb');
  });

  test('a metered run: its first call misses the compile cache and waits on a compile span, the next hits it; both carry their fuel', async () => {
    const runSpans = async (): Promise<ISpan[]> => {
      const res = await fetch(`${base}/modules/${busyId}/run`, { method: 'POST', headers: authHeaders({ 'content-type': 'application/json' }), body: JSON.stringify({ function: 'busy', args: [1000], fuel: 1_000_000 }) });
      assert.equal(res.status, 200, await res.text());
      const requestId = res.headers.get('x-request-id') ?? '';
      const { children } = await collector.waitFor((spans) => {
        const found = requestTrace(spans, requestId);
        return found?.children.some((c) => c.name === 'runner run') ? found : undefined;
      });
      return children;
    };
    const named = (spans: ISpan[], name: string): ISpan => spans.find((c) => c.name === name) as ISpan;
    const missed = await runSpans();
    const first = named(missed, 'runner run');
    assert.equal(attr(first, 'wess.compile_cached'), false, 'a miss');
    const fuel = attr(first, 'wess.fuel_used');
    assert.ok(typeof fuel === 'number' && fuel > 0 && fuel < 1_000_000, `fuel used: ${String(fuel)}`);
    const compile = named(missed, 'compile');
    assert.ok(compile, `the miss waits on a compile: ${missed.map((c) => c.name).join(', ')}`);
    assert.equal(attr(compile, 'wess.compile.metered'), true);
    assert.ok(BigInt(String(compile.endTimeUnixNano)) <= BigInt(String(named(missed, 'runner queue').startTimeUnixNano)), 'compiled before it queued for a worker');
    const hit = await runSpans();
    assert.equal(attr(named(hit, 'runner run'), 'wess.compile_cached'), true, 'a hit');
    assert.equal(attr(named(hit, 'runner run'), 'wess.fuel_used'), fuel, 'the same call, the same fuel');
    assert.deepEqual(hit.map((c) => c.name).sort(), ['auth', 'runner queue', 'runner run'], 'no compile');
  });

  test("a trap is the guest's outcome on the span, not a server error", async () => {
    const res = await fetch(`${base}/modules/${trapId}/run`, { method: 'POST', headers: authHeaders({ 'content-type': 'application/json' }), body: JSON.stringify({ function: 'unreachable' }) });
    const body = (await res.json()) as { error: { code: string } };
    assert.equal(body.error.code, 'WASM_TRAP');
    const requestId = res.headers.get('x-request-id') ?? '';
    const { server, children } = await collector.waitFor((spans) => {
      const found = requestTrace(spans, requestId);
      return found && found.children.some((c) => c.name === 'runner run') ? found : undefined;
    });
    assert.equal(attr(server.span, 'wess.outcome'), 'WASM_TRAP');
    assert.equal(attr(server.span, 'http.response.status_code'), res.status);
    assert.notEqual(server.span.status?.code, ERROR, 'a 4xx is not a server error');
    assert.ok(children.some((c) => c.name === 'runner queue'));
  });

  test("a job continues its submission's trace: its run is a span under the request that queued it", async () => {
    const traceId = '6e0c63257de34c92bf9efcd03927272e';
    const res = await fetch(`${base}/modules/${addId}/jobs`, {
      method: 'POST',
      headers: authHeaders({ 'content-type': 'application/json', traceparent: `00-${traceId}-2c6a8a1b9d7e4f30-01` }),
      body: JSON.stringify({ function: 'add', args: [20, 22] }),
    });
    assert.equal(res.status, 202);
    const { id } = (await res.json()) as { id: string };
    const submitted = await collector.waitFor((spans) => requestTrace(spans, res.headers.get('x-request-id') ?? ''));
    const job = await collector.waitFor((spans) => spans.find((s) => s.span.name === 'job run' && attr(s.span, 'wess.job.id') === id));
    assert.equal(hex(job.span.traceId), traceId, 'the same trace');
    assert.equal(hex(job.span.parentSpanId), hex(submitted.server.span.spanId), 'under the request that queued it');
    assert.equal(attr(job.span, 'wess.outcome'), 'ok');
    const jobSpanId = hex(job.span.spanId);
    const children = await collector.waitFor((spans) => {
      const found = spans.filter((s) => hex(s.span.parentSpanId) === jobSpanId).map((s) => s.span.name).sort();
      return found.length >= 2 ? found : undefined;
    });
    assert.deepEqual(children, ['runner queue', 'runner run']);
    const run = collector.spans.find((s) => s.span.name === 'runner run' && hex(s.span.parentSpanId) === jobSpanId) as Received;
    const phases = await collector.waitFor((spans) => {
      const found = spans.filter((s) => hex(s.span.parentSpanId) === hex(run.span.spanId)).map((s) => s.span);
      return found.some((p) => p.name === 'call') ? found : undefined;
    });
    assertInside(run.span, phases);
  });

  test("a job's callback carries its trace: traceparent and tracestate of a job webhook span under the request that queued it", async () => {
    const delivered = new Promise<IncomingHttpHeaders>((resolve) => {
      hook = createServer((req, res) => {
        req.resume();
        req.on('end', () => {
          res.writeHead(204).end();
          resolve(req.headers);
        });
      });
    });
    await new Promise<void>((resolve) => hook?.listen(0, '127.0.0.1', resolve));
    const { port } = hook?.address() as { port: number };
    assert.equal((await fetch(`${base}/webhook-secret`, { method: 'POST', headers: authHeaders() })).status, 201);
    const traceId = '7d3c3fd3a1e04b1f9c7b0e5a52c1f2aa';
    const res = await fetch(`${base}/modules/${addId}/jobs`, {
      method: 'POST',
      headers: authHeaders({ 'content-type': 'application/json', traceparent: `00-${traceId}-1f2e3d4c5b6a7988-01`, tracestate: 'vendor=2' }),
      body: JSON.stringify({ function: 'add', args: [1, 2], callback_url: `http://127.0.0.1:${port}/hook` }),
    });
    assert.equal(res.status, 202);
    const { id } = (await res.json()) as { id: string };
    const headers = await within(delivered, 15_000, 'the callback');
    const submitted = await collector.waitFor((spans) => requestTrace(spans, res.headers.get('x-request-id') ?? ''));
    const webhook = await collector.waitFor((spans) => spans.find((s) => s.span.name === 'job webhook' && attr(s.span, 'wess.job.id') === id));
    assert.equal(hex(webhook.span.traceId), traceId, 'the caller\'s trace');
    assert.equal(hex(webhook.span.parentSpanId), hex(submitted.server.span.spanId), 'under the request that queued the job');
    assert.equal(headers.traceparent, `00-${traceId}-${hex(webhook.span.spanId)}-01`, 'the callback is a child of the job webhook span');
    assert.equal(headers.tracestate, 'vendor=2');
  });

  test("writes no request waits on are no request's spans: the invocation log's flush, a queued job's claim and outcome", async () => {
    const ran = await fetch(`${base}/modules/${addId}/run`, { method: 'POST', headers: authHeaders({ 'content-type': 'application/json' }), body: JSON.stringify({ function: 'add', args: [4, 5] }) });
    assert.equal(ran.status, 200);
    const runId = ran.headers.get('x-request-id') ?? '';
    const queued = await fetch(`${base}/modules/${addId}/jobs`, { method: 'POST', headers: authHeaders({ 'content-type': 'application/json' }), body: JSON.stringify({ function: 'add', args: [5, 6] }) });
    assert.equal(queued.status, 202);
    const { id } = (await queued.json()) as { id: string };
    // The log's own timer writes both calls (the run's and the job's), a second after them.
    const deadline = Date.now() + 15_000;
    const logged = async (requestId: string) => (await t.app.services.store.invocations.page(addId, { limit: 20 })).items.some((c) => c.request_id === requestId);
    while (!(await logged(runId)) || !(await logged(id))) {
      assert.ok(Date.now() < deadline, 'the invocation log was not written within 15 s');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await t.app.services.tracing?.flush();
    const background = collector.spans.filter((s) => s.span.name === 'store commit' && ['append-invocations', 'claim-jobs', 'fire-schedules', 'change-job'].includes(String(attr(s.span, 'db.operation.name'))));
    assert.deepEqual(background.map((s) => attr(s.span, 'db.operation.name')), [], 'background writes are in no trace');
    const commits = (requestId: string): unknown[] =>
      (requestTrace(collector.spans, requestId)?.children ?? []).filter((c) => c.name === 'store commit').map((c) => attr(c, 'db.operation.name'));
    assert.deepEqual(commits(runId), [], 'a run waits on no write');
    assert.deepEqual(commits(queued.headers.get('x-request-id') ?? ''), ['create-job'], 'a submission waits on its job being stored, and on nothing after');
  });

  test('a refused key shows on the auth span', async () => {
    const res = await fetch(`${base}/modules/${addId}`, { headers: { authorization: 'Bearer wess_nosuchkey_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' } });
    assert.equal(res.status, 401);
    const requestId = res.headers.get('x-request-id') ?? '';
    const { server, children } = await collector.waitFor((spans) => {
      const found = requestTrace(spans, requestId);
      return found && found.children.length > 0 ? found : undefined;
    });
    assert.equal(attr(server.span, 'wess.outcome'), 'UNAUTHORIZED');
    const auth = children.find((c) => c.name === 'auth') as ISpan;
    assert.notEqual(attr(auth, 'wess.auth.outcome'), 'ok');
  });
});

describe('trace sampling', () => {
  const collector = new Collector();
  let t: TestApp;
  let base: string;

  before(async () => {
    t = await startApp({ tracing: { endpoint: await collector.start(), sample_ratio: 0 } });
    base = await listen(t.app);
  });
  after(async () => {
    await t.close();
    await collector.close();
  });

  test("sample_ratio 0 records no trace of its own, but a caller's sampled trace is kept", async () => {
    const unsampled = await fetch(`${base}/health`, { headers: authHeaders() });
    assert.equal(unsampled.status, 200);
    const traceId = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab';
    const sampled = await fetch(`${base}/health`, { headers: authHeaders({ traceparent: `00-${traceId}-00000000000000ab-01` }) });
    const { server } = await collector.waitFor((spans) => requestTrace(spans, sampled.headers.get('x-request-id') ?? ''));
    assert.equal(hex(server.span.traceId), traceId);
    // Both requests ended before the sampled one's span was exported, in the same or an earlier batch.
    assert.equal(requestTrace(collector.spans, unsampled.headers.get('x-request-id') ?? ''), undefined);
    assert.ok(collector.spans.every((s) => hex(s.span.traceId) === traceId), 'every exported span is of the caller-sampled trace');
  });
});

/** A module resolve hook (node:module register) that tells the process that registered it every @opentelemetry module it loads. */
const OTEL_PROBE = `
let port;
export function initialize(data) { port = data.port; }
export async function resolve(specifier, context, next) {
  if (specifier === 'probe:end') {
    port.postMessage(specifier);
    return { url: 'data:text/javascript,', shortCircuit: true };
  }
  const resolved = await next(specifier, context);
  if (resolved.url.includes('/@opentelemetry/')) port.postMessage(resolved.url);
  return resolved;
}`;

/** In a fresh node process: an app built with `overrides` serves a run and queues a job; the @opentelemetry modules that loaded. */
async function openTelemetryLoaded(overrides: Record<string, unknown>): Promise<string[]> {
  const script = `
    import { register } from 'node:module';
    import { MessageChannel } from 'node:worker_threads';
    const { port1, port2 } = new MessageChannel();
    const loaded = [];
    const ended = new Promise((resolve) => port1.on('message', (url) => (url === 'probe:end' ? resolve() : loaded.push(url))));
    register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(OTEL_PROBE)}), { data: { port: port2 }, transferList: [port2] });
    const { startApp, upload } = await import(${JSON.stringify(new URL('../helper.js', import.meta.url).href)});
    const t = await startApp(${JSON.stringify(overrides)});
    const { id } = await upload(t.app, 'add');
    const run = await t.app.inject({ method: 'POST', url: '/modules/' + id + '/run', payload: { function: 'add', args: [1, 2] } });
    const job = await t.app.inject({ method: 'POST', url: '/modules/' + id + '/jobs', payload: { function: 'add', args: [1, 2] } });
    await t.close();
    // Messages from one port arrive in order: once the marker has, every module loaded before it was told.
    await import('probe:end');
    await ended;
    port1.close();
    console.log(JSON.stringify({ statuses: [run.statusCode, job.statusCode], loaded }));`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  const [code] = (await within(once(child, 'exit'), 60_000, 'the probe process')) as [number | null];
  assert.equal(code, 0, out);
  const { statuses, loaded } = JSON.parse(out.trim().split('\n').at(-1) ?? '') as { statuses: number[]; loaded: string[] };
  assert.deepEqual(statuses, [200, 202], 'the app served the run and queued the job');
  return loaded;
}

describe('tracing off', () => {
  test('no endpoint: no OpenTelemetry module is even loaded, though the app serves runs and jobs', async () => {
    assert.deepEqual(await openTelemetryLoaded({}), []);
    // The probe sees them when tracing is on (sample_ratio 0: nothing to export to the closed port at shutdown).
    const loaded = await openTelemetryLoaded({ tracing: { endpoint: 'http://127.0.0.1:9', sample_ratio: 0 } });
    assert.ok(loaded.some((url) => url.includes('/@opentelemetry/api/')), loaded.join(', '));
  });

  test('no endpoint: no tracer, and requests carry no trace', async () => {
    const t = await startApp();
    try {
      assert.equal(t.app.services.tracing, undefined);
      const res = await t.app.inject({ method: 'GET', url: '/health' });
      assert.equal(res.statusCode, 200);
    } finally {
      await t.close();
    }
  });
});

describe('tracing config', () => {
  test('tracing.endpoint must be an http(s) URL; WESS_TRACING_ENDPOINT sets it', () => {
    assert.throws(() => validateConfig({ tracing: { endpoint: 'collector:4318' } }), /tracing\.endpoint/);
    assert.throws(() => validateConfig({ tracing: { endpoint: 'ftp://collector:4318' } }), /tracing\.endpoint/);
    assert.throws(() => validateConfig({ tracing: { sample_ratio: 1.5 } }), /tracing\.sample_ratio/);
    const config = validateConfig(applyEnv({}, { WESS_TRACING_ENDPOINT: 'http://collector:4318/', WESS_TRACING_SAMPLE_RATIO: '0.25' }));
    assert.equal(config.tracing.endpoint, 'http://collector:4318/');
    assert.equal(config.tracing.sample_ratio, 0.25);
    assert.equal(tracesUrl(config.tracing.endpoint), 'http://collector:4318/v1/traces');
    assert.equal(validateConfig({}).tracing.endpoint, '', 'off by default');
  });
});
