import type { FastifyInstance, FastifyRequest } from 'fastify';
import { limitsFor, tierSuffix, type EffectiveLimits } from '../../auth/policy.js';
import { wessError } from '../../errors.js';
import { DEFAULT_LANE, receiptOf, wasiOutputOf, type CallScope } from '../../runner/pool.js';
import { callInput, RunExecutor, runFuel, type Target } from '../../runs/execute.js';
import { noteAnswer, runNote } from '../../observability/run-note.js';
import type { ModuleRecord } from '../../store/types.js';
import { describeRoute, ref } from '../openapi.js';
import { idParams, parseWith, runBody, runQuery } from '../schemas.js';
import type { Services } from '../../services.js';
import { findModule } from './modules.js';

/** The module, or the version `?version=` pins; synchronous for a cached module's current version (the hot path). */
function findTarget(services: Services, request: FastifyRequest): Target | Promise<Target> {
  const { version } = parseWith(runQuery, request.query, 'query');
  const found = findModule(services, request, 'module.run');
  if (version === undefined && !(found instanceof Promise)) return found;
  return pinnedTarget(services, found, version);
}

async function pinnedTarget(services: Services, found: ModuleRecord | Promise<ModuleRecord>, version: number | undefined): Promise<Target> {
  const record = await found;
  if (version === undefined || version === record.version) return record;
  const pinned = await services.store.reader.getVersion(record.id, version);
  if (!pinned) throw wessError('VERSION_NOT_FOUND', `module ${record.id} has no version ${version}`);
  return { ...pinned, tenant: record.tenant };
}

/** The deadline of a run: what it asks for, up to its tier's (or the global) limit, which is also the default. */
function runTimeout(requested: number | undefined, limits: EffectiveLimits): number {
  if (requested === undefined) return limits.timeoutMs;
  if (requested > limits.timeoutMs) {
    throw wessError('VALIDATION', `body.timeout_ms: ${requested} ms is over the limit of ${limits.timeoutMs} ms${tierSuffix(limits.tier)}`, {
      limit: limits.timeoutMs,
      tier: limits.tier,
    });
  }
  return requested;
}

/** Registers POST /modules/:id/run: one call, a batch of calls, or a WASI program's run. */
export function runRoutes(app: FastifyInstance, services: Services): void {
  const { metrics, usage, cpuBudget } = services;
  const executor = new RunExecutor(services);

  app.post('/modules/:id/run', describeRoute({
    summary: 'Run an exported function, a batch of calls, or a WASI program',
    description:
      'Arguments are converted by the export\'s signature (i32/i64 as numbers or decimal strings, f32/f64 as numbers or strings such as "NaN"). ' +
      '`function` may be left out when the module exports exactly one function; no body at all means `{}`. ' +
      'A WASI command (kind "wasi" with _start) takes args, env and stdin instead.',
    tags: ['run'],
    params: idParams,
    query: runQuery,
    fields: {
      version: 'Run this older version instead of the current one',
      function: 'The export to call; may be left out when the module exports exactly one function',
      args: "The call's arguments, or a WASI program's command-line arguments (strings)",
      batch: 'Argument tuples, each run on a fresh instance; a tuple that fails fails alone',
      stdin: "A WASI program's standard input, as text",
      stdin_base64: "A WASI program's standard input, as base64",
      env: "A WASI program's environment",
      timeout_ms: "This call's deadline, counted from acceptance (waiting included); at most the key tier's (or the global) limit, which is also the default",
      fuel: "Run metered with this much fuel (at most the tier's max_fuel); out of fuel is 422 FUEL_EXHAUSTED. The tier's default_fuel when absent",
    },
    body: runBody,
    bodyOptional: true,
    responses: { 200: { description: 'The results, or the batch items, or the program\'s exit code and output', body: ref('RunResult') } },
    errors: [
      'VALIDATION', 'INVALID_ARGUMENT', 'UNKNOWN_FUNCTION', 'MEMORY_LIMIT', 'FORBIDDEN_IMPORT', 'FORBIDDEN', 'MODULE_NOT_FOUND', 'VERSION_NOT_FOUND',
      'EXECUTION_TIMEOUT', 'WASM_TRAP', 'FUEL_EXHAUSTED', 'QUOTA_EXCEEDED', 'CONTENT_CORRUPT', 'UNAVAILABLE',
    ],
  }), async (request) => {
    // No body at all means {}; a JSON null is a malformed body like any other non-object.
    const body = parseWith(runBody, request.body === undefined ? {} : request.body, 'body');
    // Awaited only when pending: a cached module and a loaded key cost no promise here.
    const found = findTarget(services, request);
    const target = found instanceof Promise ? await found : found;
    // From here on the call is the module's: the invocation log and the trace read this note.
    const note = runNote(target, body.function ?? null, callInput(body));
    request.run = note;
    const { config } = services;
    const limits = limitsFor(config, request.principal);
    const timeoutMs = runTimeout(body.timeout_ms, limits);
    const fuel = runFuel(body.fuel, limits);
    if (body.batch !== undefined && body.batch.length > config.limits.max_batch) {
      throw wessError('VALIDATION', `body.batch has ${body.batch.length} items; at most ${config.limits.max_batch} are allowed`);
    }
    const lane = request.principal?.tenant ?? DEFAULT_LANE;
    cpuBudget.admit(lane, limits.cpuMsPerMinute, limits.tier, metrics);
    const keyId = request.principal?.keyId;
    const admitting = keyId ? usage.admitRun(keyId, limits.runsPerDay, limits.tier, metrics, body.batch?.length ?? 1) : undefined;
    if (admitting) await admitting;
    const scope: CallScope = { lane, maxConcurrency: limits.maxConcurrency, maxMemoryPages: limits.maxMemoryPages, timeoutMs, fuel, requestId: request.id, tracePhases: request.trace?.sampled };
    const who = { keyId, limits, lane };
    try {
      const { body: answer, receipts, fn, compileCached, stderr, memoryPages } = await executor.execute(target, body, scope, request.log);
      note.fn = fn;
      noteAnswer(note, receipts, compileCached, stderr, memoryPages);
      executor.account(who, 'ok', receipts);
      return answer;
    } catch (err) {
      const receipt = receiptOf(err);
      if (receipt) noteAnswer(note, [receipt], undefined, wasiOutputOf(err)?.stderr);
      executor.account(who, 'error', receipt ? [receipt] : []);
      throw err;
    }
  });
}
