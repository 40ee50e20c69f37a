import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { authorize, limitsFor, type EffectiveLimits } from '../../auth/policy.js';
import { echo } from '../../echo.js';
import { hasErrorCode, wessError } from '../../errors.js';
import { receiptOf, wasiOutputOf, type Receipt, type RunResult } from '../../runner/pool.js';
import type { ModuleRecord, RouteRecord, VersionRecord } from '../../store/types.js';
import { StderrMirror } from '../../wasi/index.js';
import type { WasiOutput } from '../../wasi/types.js';
import { cgiEnvironment } from '../handlers/cgi-env.js';
import { parseCgi, replyHeaders } from '../handlers/cgi.js';
import { HANDLER_PATTERN, splitHandlerUrl } from '../handlers/paths.js';
import { statusClass, type RouteMatch, type RouteTable } from '../handlers/route-table.js';
import { describeRoute, OPENAPI_METHODS, undocumentedRoute } from '../openapi.js';
import { ROUTE_METHODS } from '../schemas.js';
import { runAccounting } from '../run-accounting.js';
import { noteAnswer, runNote } from '../../observability/run-note.js';
import { tenantLimitsOf } from '../tenant-limits.js';
import type { Services } from '../../services.js';

type Target = Pick<VersionRecord, 'id' | 'version' | 'sha256' | 'kind' | 'exports' | 'files'>;

/** Bytes of stderr kept of a handler stopped at its deadline: its first lines, for the log. */
const STOPPED_STDERR_BYTES = 8 * 1024;

/**
 * Serves /h/{tenant}{path}: the longest route path of the tenant that prefixes the request path runs
 * its module as a WAGI handler (the CGI convention: environment and stdin in, headers and body out).
 * Two Fastify routes serve every handler (the methods the OpenAPI document lists, and the others); the lookup is in memory (RouteTable).
 */
export function handlerRoutes(app: FastifyInstance, services: Services, table: RouteTable): void {
  const { metrics, runner, cpuBudget, usage } = services;
  const account = runAccounting(services);

  // Every method Node parses reaches the handlers, but Fastify routes only the methods it knows: the
  // others are added, with a body (a PROPFIND's XML is the program's stdin). No other route takes
  // them, so elsewhere they stay the not-found handler's 404, as before.
  for (const method of ROUTE_METHODS) if (!app.supportedMethods.includes(method)) app.addHttpMethod(method, { hasBody: true });
  // HEAD is Fastify's own route beside GET's (exposeHeadRoutes), with the same handler. TRACE has no
  // body (RFC 9110), and the operation below describes one: it is named with the others instead.
  const documented = ROUTE_METHODS.filter((m) => OPENAPI_METHODS.has(m) && m !== 'HEAD' && m !== 'TRACE');
  const undocumented = ROUTE_METHODS.filter((m) => m !== 'HEAD' && !documented.includes(m));

  const handler = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const started = performance.now();
    const url = splitHandlerUrl(request.url);
    const match = table.match(url.tenant, url.path);
    if (match === undefined) throw notFound(url.tenant, url.path);
    const { route } = match;
    try {
      await serve(request, reply, match, url);
    } finally {
      const klass = statusClass(reply.statusCode);
      const seconds = (performance.now() - started) / 1000;
      table.record(route.id, klass, seconds * 1000);
      metrics.handlerRequests.inc({ class: klass, access: route.public ? 'public' : 'private' });
      metrics.handlerDuration.observe({ class: klass }, seconds);
    }
  };

  void app.register(async (scope) => {
    // Any body, of any type, reaches the guest as it was sent (server.body_limit still holds).
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

    scope.route({ method: documented, url: HANDLER_PATTERN, handler, ...describeRoute({
      summary: 'Call an HTTP handler (any method)',
      description:
        'Runs the WASI program bound to the longest route path of {tenant} that prefixes the rest of the URL, by the CGI convention ' +
        '(see the README, "HTTP handlers"): its stdout is the response. A private route needs a key of the tenant with run rights; a public one none. ' +
        `It takes every other method Node parses as well: HEAD (as GET) and ${undocumented.join(', ')}.`,
      tags: ['handlers'],
      body: { '*/*': { type: 'string', format: 'binary', description: "Any body, of any type: the guest's stdin" } },
      bodyOptional: true,
      responses: { 200: { description: "The handler's own answer: its status, headers and body" } },
      errors: ['ROUTE_NOT_FOUND', 'METHOD_NOT_ALLOWED', 'FORBIDDEN', 'PAYLOAD_TOO_LARGE', 'BAD_GATEWAY', 'GATEWAY_TIMEOUT', 'QUOTA_EXCEEDED', 'UNAVAILABLE'],
    }) });
    scope.route({ method: undocumented, url: HANDLER_PATTERN, handler, ...undocumentedRoute() });
  });

  async function serve(request: FastifyRequest, reply: FastifyReply, match: RouteMatch, url: ReturnType<typeof splitHandlerUrl>): Promise<void> {
    const { route } = match;
    const limits = admit(request, reply, route, url.path);
    if (route.methods !== null && !route.methods.includes(request.method)) {
      reply.header('allow', route.methods.join(', '));
      throw wessError('METHOD_NOT_ALLOWED', `route ${route.path} takes ${route.methods.join(', ')}, not ${request.method}`, { allow: route.methods });
    }
    const target = await targetOf(route);
    const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    // From here on the request is a call of the module: the invocation log, the trace and the guest's stderr lines read this note.
    const note = runNote({ id: target.id, tenant: route.tenant, version: target.version }, '_start', body, route.path);
    request.run = note;
    // A public route's runs are the tenant's (runs_per_day, usage): charged to the calling key when it is one of the tenant's,
    // else (no key, another tenant's, an admin's) to the key that made the route. A private route's, to its caller, as /run's.
    const principal = request.principal;
    const keyId = principal && (!route.public || principal.tenant === route.tenant) ? principal.keyId : route.created_by;
    cpuBudget.admit(route.tenant, limits.cpuMsPerMinute, limits.tier, metrics);
    const admitting = keyId ? usage.admitRun(keyId, limits.runsPerDay, limits.tier, metrics) : undefined;
    if (admitting) await admitting;
    const env = cgiEnvironment(match, url, {
      method: request.method,
      headers: request.headers,
      bodyLength: body.length,
      serverName: request.hostname || services.config.server.host,
      serverPort: request.port ?? services.config.server.port,
      remoteAddr: request.ip,
      requestId: request.id,
    });
    const maxOutputBytes = services.config.runner.max_output;
    // A mirror of stderr: what a handler stopped at its deadline wrote still reaches the log (its worker's copy dies with it).
    const stderrMirror = StderrMirror.create(Math.min(maxOutputBytes, STOPPED_STDERR_BYTES));
    const wasi = { args: [route.path], env, stdin: body, maxOutputBytes, stderrMirror };
    const files = target.files === undefined ? undefined : { files: await services.images.get(target.files), maxScratchBytes: services.config.limits.max_scratch_bytes };
    let outcome: RunResult;
    try {
      outcome = await runner.run({
        sha256: target.sha256, fn: '_start', params: [], results: [], args: [], wasi, files,
        lane: route.tenant, maxConcurrency: limits.maxConcurrency, maxMemoryPages: limits.maxMemoryPages, timeoutMs: limits.timeoutMs,
        fuel: limits.defaultFuel, requestId: request.id, tracePhases: request.trace?.sampled,
      });
    } catch (err) {
      const receipt = receiptOf(err);
      account(keyId, limits, route.tenant, 'error', receipt ? [receipt] : []);
      if (receipt) {
        noteAnswer(note, [receipt], undefined, wasiOutputOf(err)?.stderr);
        // A trap's or a timeout's cost too: how long it ran is what its author needs to know.
        reply.header('server-timing', serverTiming(receipt, undefined, target.version));
      }
      throw asGatewayError(err, route);
    }
    account(keyId, limits, route.tenant, 'ok', [outcome]);
    const output = outcome.wasi;
    noteAnswer(note, [outcome], outcome.compileCached, output?.stderr, outcome.memoryPages);
    answer(reply, route, target, outcome, output);
  }

  /** Who may call the route, and under which limits: a public route's tenant's, a private route's key's. */
  function admit(request: FastifyRequest, reply: FastifyReply, route: RouteRecord, path: string): EffectiveLimits {
    if (route.public) return tenantLimitsOf(services, route.tenant);
    const principal = request.principal;
    // The auth hook refused a private route's request without a valid key; only a route made private
    // since the hook looked (a PUT in between) gets here without one.
    if (!principal) {
      reply.header('www-authenticate', 'Bearer realm="wess"');
      throw wessError('UNAUTHORIZED', `route ${route.path} is private: send a key of its tenant ("Authorization: Bearer wess_..." or "x-api-key")`);
    }
    // Another tenant's key learns nothing: the route answers as if it did not exist.
    if (principal.role !== 'admin' && principal.tenant !== route.tenant) throw notFound(route.tenant, path);
    authorize(principal, 'module.run');
    if (principal.modules && !principal.modules.has(route.module)) {
      throw wessError('FORBIDDEN', `this key is limited to ${principal.modules.size} named module(s), and the module of route ${route.path} is not one of them`);
    }
    return limitsFor(services.config, principal);
  }

  /** The version the route runs: the pinned one, else the module's current one; 502 when it is gone or no WASI command. */
  async function targetOf(route: RouteRecord): Promise<Target> {
    const reader = services.store.reader;
    const record: ModuleRecord | undefined = reader.cachedModule(route.module) ?? (await reader.getModule(route.module));
    if (!record || record.tenant !== route.tenant) throw wessError('BAD_GATEWAY', `the module of route ${route.path} was deleted; bind the route to another module`);
    const target = route.version === null || route.version === record.version ? record : await reader.getVersion(record.id, route.version);
    if (!target) throw wessError('BAD_GATEWAY', `route ${route.path} is pinned to version ${route.version}, which module ${record.id} no longer has`);
    if (target.kind !== 'wasi' || !target.exports.some((e) => e.name === '_start')) {
      throw wessError('BAD_GATEWAY', `version ${target.version} of the module of route ${route.path} is not a WASI command (it exports no _start)`);
    }
    return target;
  }

  /** The handler's CGI answer, as the response; 502 for anything that is not one. */
  function answer(reply: FastifyReply, route: RouteRecord, target: Target, outcome: RunResult, output: WasiOutput | undefined): void {
    if (!output) throw wessError('INTERNAL', 'a WASI run gave no output');
    reply.header('server-timing', serverTiming(outcome, outcome.compileCached, target.version));
    if (output.exitCode !== 0) throw wessError('BAD_GATEWAY', `the handler of route ${route.path} exited with status ${output.exitCode}`, { exit_code: output.exitCode });
    if (output.stdoutTruncated) {
      throw wessError('BAD_GATEWAY', `the handler of route ${route.path} printed more than runner.max_output (${services.config.runner.max_output} bytes)`, { limit: services.config.runner.max_output });
    }
    const parsed = parseCgi(output.stdout);
    if (!parsed.ok) throw wessError('BAD_GATEWAY', `the handler of route ${route.path} gave no valid CGI response: ${parsed.problem}`);
    const { status, headers, body } = parsed.response;
    reply.code(status);
    // Grouped first: reply.header keeps only the last value of a name printed twice (Link, Vary…).
    for (const [name, value] of replyHeaders(headers)) reply.header(name, value);
    void reply.send(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
  }
}

/** The same 404 for a path no route matches and for another tenant's route: existence does not leak. */
function notFound(tenant: string, path: string): Error {
  return wessError('ROUTE_NOT_FOUND', `no route of tenant ${echo(tenant)} matches ${echo(path)}`);
}

/** A guest that trapped or overran is the gateway's upstream failing: 502 and 504, not the /run statuses. */
function asGatewayError(err: unknown, route: RouteRecord): unknown {
  if (!hasErrorCode(err)) return err;
  const receipt = receiptOf(err);
  const wrap = (code: 'BAD_GATEWAY' | 'GATEWAY_TIMEOUT', message: string) => {
    const wrapped = wessError(code, message, { cause: err.code });
    if (receipt) Object.defineProperty(wrapped, 'receipt', { value: receipt, enumerable: false });
    return wrapped;
  };
  if (err.code === 'EXECUTION_TIMEOUT') return wrap('GATEWAY_TIMEOUT', `the handler of route ${route.path} did not answer in time: ${err.message}`);
  if (err.code === 'WASM_TRAP' || err.code === 'FUEL_EXHAUSTED' || err.code === 'MEMORY_LIMIT') return wrap('BAD_GATEWAY', `the handler of route ${route.path} failed: ${err.message}`);
  return err;
}

/** The run's receipt as Server-Timing (W3C): durations in ms, the rest as descriptions; `compile` only when known (not for a failed run). */
function serverTiming(receipt: Receipt, compileCached: boolean | undefined, version: number): string {
  const ms = (value: number) => Math.round(value * 1000) / 1000;
  const parts = [`run;dur=${ms(receipt.durationMs)}`, `cpu;dur=${ms(receipt.cpuMs)}`, `queued;dur=${ms(receipt.queuedMs)}`];
  if (compileCached !== undefined) parts.push(`compile;desc="${compileCached ? 'cached' : 'fresh'}"`);
  parts.push(`version;desc="${version}"`);
  if (receipt.fuelUsed !== undefined) parts.push(`fuel;desc="${receipt.fuelUsed}"`);
  return parts.join(', ');
}
