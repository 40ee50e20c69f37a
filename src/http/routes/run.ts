import type { FastifyInstance, FastifyRequest } from 'fastify';
import { limitsFor, tierSuffix, type EffectiveLimits } from '../../auth/policy.js';
import { echo, listNames } from '../../echo.js';
import { hasErrorCode, wessError } from '../../errors.js';
import { ImageCache } from '../../files/image-cache.js';
import { DEFAULT_LANE, receiptOf, wasiOutputOf, type BatchItem, type CallScope, type Receipt, type RunFiles, type RunResult } from '../../runner/pool.js';
import type { FilesSummary, ModuleRecord } from '../../store/types.js';
import { wasiInputProblem } from '../../wasi/index.js';
import type { WasiInput } from '../../wasi/types.js';
import type { FunctionExport, WasmArg } from '../../wasm/types.js';
import { encodeResults, parseArgs } from '../../wasm/values.js';
import { wasiOutputBody } from '../run-output.js';
import { describeRoute, ref } from '../openapi.js';
import { idParams, parseWith, runBody, runQuery, wasiArgs, wasiEnv } from '../schemas.js';
import { runAccounting } from '../run-accounting.js';
import { noteAnswer, runNote } from '../../observability/run-note.js';
import type { Services } from '../../services.js';
import { findModule } from './modules.js';

const JSON_TYPES = new Set(['i32', 'i64', 'f32', 'f64']);
const LISTED_NAMES = 20;

/** What a run needs of a module or of one of its versions. */
type Target = Pick<ModuleRecord, 'id' | 'tenant' | 'name' | 'version' | 'sha256' | 'exports' | 'kind' | 'files'>;
type RunBody = ReturnType<typeof runBody.parse>;

function exportList(target: Target): string {
  return target.exports.length ? listNames(target.exports.map((e) => e.name), LISTED_NAMES) : 'none';
}

/** The export a call names, or the only one when the call names none. */
export function pickFunction(target: Target, name: string | undefined): FunctionExport {
  if (name === undefined) {
    const [only, ...rest] = target.exports;
    if (only && rest.length === 0) return only;
    throw wessError(
      'VALIDATION',
      `body.function is required: module ${target.id} exports ${target.exports.length} functions (${exportList(target)})`,
    );
  }
  const found = target.exports.find((e) => e.name === name);
  if (!found) {
    throw wessError('UNKNOWN_FUNCTION', `module ${target.id} exports no function ${echo(name)}; it exports ${exportList(target)}`);
  }
  const unsupported = found.results.find((t) => !JSON_TYPES.has(t));
  if (unsupported) {
    throw wessError('INVALID_ARGUMENT', `function ${echo(name)} returns ${unsupported}, which cannot be sent as JSON`);
  }
  return found;
}

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

/** What a call was given (its arguments, a batch's tuples, a WASI program's args, env and stdin), for the invocation log. */
function callInput(body: RunBody): unknown {
  const { args, batch, env, stdin, stdin_base64: stdinBase64 } = body;
  if (env === undefined && stdin === undefined && stdinBase64 === undefined) return batch ?? args ?? [];
  return { args, env, stdin, stdin_base64: stdinBase64 };
}

/** A WASI program runs its `_start` when the call names no other function. */
function isCommandRun(target: Target, body: RunBody): boolean {
  // The kind first: a functions module (every call on the hot path) needs no look through its exports.
  return target.kind === 'wasi' && (body.function === undefined || body.function === '_start') && body.batch === undefined && target.exports.some((e) => e.name === '_start');
}

function wasiInput(services: Services, target: Target, body: RunBody): WasiInput {
  const args = parseWith(wasiArgs, body.args ?? [], 'body.args');
  const env = parseWith(wasiEnv, body.env ?? {}, 'body.env');
  const stdin = body.stdin_base64 !== undefined ? Buffer.from(body.stdin_base64, 'base64') : Buffer.from(body.stdin ?? '', 'utf8');
  const input: WasiInput = { args: [target.name, ...args], env: Object.entries(env), stdin, maxOutputBytes: services.config.runner.max_output };
  const problem = wasiInputProblem(input);
  if (problem) throw wessError('VALIDATION', problem);
  return input;
}

/** What a run answer's `stats` says of the calls it made: one (`single`), or a batch's items. */
function stats(receipts: readonly RunReceipt[], single: boolean, compileCached: boolean, target: Target): Record<string, unknown> {
  let duration = 0, cpu = 0, queued = 0, pages: number | null = null;
  for (const r of receipts) {
    if (r.ok !== false) duration += r.durationMs;
    cpu += r.cpuMs;
    queued = Math.max(queued, r.queuedMs);
    if (r.memoryPages !== null && r.memoryPages !== undefined) pages = Math.max(pages ?? 0, r.memoryPages);
  }
  const one = single ? receipts[0] : undefined;
  let fuel: number | undefined;
  for (const r of receipts) if (r.fuelUsed !== undefined) fuel = (fuel ?? 0) + r.fuelUsed;
  return {
    duration_ms: ms(duration),
    cpu_ms: ms(cpu),
    queued_ms: ms(queued),
    compile_cached: compileCached,
    memory_pages: one ? (one.memoryPages ?? null) : null,
    // Wasm memory never shrinks: the size at the end of a call is its peak.
    peak_memory_pages: pages,
    ...(fuel === undefined ? {} : { fuel_used: fuel }),
    version: target.version,
  };
}

const ms = (value: number): number => Math.round(value * 1000) / 1000;

/** A call's cost as a run answer and the accounting read it: a runner result (it succeeded) or a batch item. */
type RunReceipt = Receipt & { ok?: boolean; memoryPages?: number | null };

/** stdout/stderr of a function call on a module that imports WASI (a reactor that prints), when it printed. */
function printed(wasi: RunResult['wasi']): Record<string, unknown> {
  if (!wasi || (wasi.stdout.length === 0 && wasi.stderr.length === 0)) return {};
  const { exit_code: _exit, ...streams } = wasiOutputBody(wasi);
  return streams;
}

function batchItem(fn: FunctionExport, item: BatchItem): Record<string, unknown> {
  const output = printed(item.wasi);
  if (!item.ok) return { error: { code: item.code, message: item.message }, ...output };
  return { results: encodeResults(fn.results, item.results), ...output };
}

/** A WASI program that trapped or timed out still shows what it wrote before, in the error's details. */
function withOutput(err: unknown): never {
  const output = wasiOutputOf(err);
  if (output && hasErrorCode(err)) {
    const wrapped = wessError(err.code, err.message, wasiOutputBody(output));
    const receipt = receiptOf(err);
    if (receipt) Object.defineProperty(wrapped, 'receipt', { value: receipt, enumerable: false });
    Object.defineProperty(wrapped, 'wasiOutput', { value: output, enumerable: false });
    throw wrapped;
  }
  throw err;
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

interface Executed {
  body: Record<string, unknown>;
  receipts: RunReceipt[];
  fn: string;
  compileCached: boolean;
  /** What the guest wrote to stderr (a WASI program, or a function of a module that prints). */
  stderr?: Uint8Array | undefined;
  memoryPages?: number | null | undefined;
}

/** The fuel of a run: what it asks for, up to its tier's (or the global) max_fuel; else the tier's default, if any. */
function runFuel(requested: number | undefined, limits: EffectiveLimits): number | undefined {
  if (requested === undefined) return limits.defaultFuel;
  if (requested > limits.maxFuel) {
    throw wessError('VALIDATION', `body.fuel: ${requested} is over the limit of ${limits.maxFuel}${tierSuffix(limits.tier)}`, { limit: limits.maxFuel, tier: limits.tier });
  }
  return requested;
}

/** Registers POST /modules/:id/run: one call, a batch of calls, or a WASI program's run. */
export function runRoutes(app: FastifyInstance, services: Services): void {
  const { metrics, runner, usage, cpuBudget } = services;
  const images = new ImageCache(services.store.modules);

  /** A version's files for its WASI runs: the image from the cache, and the bytes a run may write over it. */
  async function filesOf(summary: FilesSummary): Promise<RunFiles> {
    return { files: await images.get(summary), maxScratchBytes: services.config.limits.max_scratch_bytes };
  }

  async function execute(target: Target, body: RunBody, request: FastifyRequest, scope: CallScope): Promise<Executed> {
    const { config } = services;
    // A version without files costs this one check: no lookup, no await, no allocation.
    const files = target.files === undefined ? undefined : await filesOf(target.files);
    if (isCommandRun(target, body)) {
      const wasi = wasiInput(services, target, body);
      const outcome = await runner.run({ sha256: target.sha256, fn: '_start', params: [], results: [], args: [], wasi, files, ...scope }).catch(withOutput);
      const output = wasiOutputBody(outcome.wasi ?? { exitCode: 0, stdout: new Uint8Array(), stderr: new Uint8Array(), stdoutTruncated: false, stderrTruncated: false });
      const receipts = [outcome];
      return { body: { ...output, stats: stats(receipts, true, outcome.compileCached, target) }, receipts, fn: '_start', compileCached: outcome.compileCached, stderr: outcome.wasi?.stderr };
    }
    if (body.stdin !== undefined || body.stdin_base64 !== undefined || body.env !== undefined) {
      throw wessError('VALIDATION', 'stdin, stdin_base64 and env are for WASI programs (modules that import wasi_snapshot_preview1 and export _start)');
    }

    const fn = pickFunction(target, body.function);
    if (body.batch !== undefined) {
      // An item whose arguments do not fit fails alone, like an item that traps.
      const parsed = body.batch.map((args): WasmArg[] | BatchItem => {
        try {
          return parseArgs(fn.params, args, { maxArgs: config.limits.max_args });
        } catch (err) {
          return { ok: false, code: 'INVALID_ARGUMENT', message: (err as Error).message, durationMs: 0, cpuMs: 0, queuedMs: 0 };
        }
      });
      const runnable = parsed.filter((p): p is WasmArg[] => Array.isArray(p));
      // The items of a batch share one run's output allowance, so a batch answer is no bigger than a run's.
      const itemOutputBytes = Math.floor(config.runner.max_output / Math.max(1, runnable.length));
      const outcome = runnable.length
        ? await runner.runBatch({ sha256: target.sha256, fn: fn.name, params: fn.params, results: fn.results, argsList: runnable, itemOutputBytes, files, ...scope })
        : { items: [], compileCached: true };
      let next = 0;
      const items = parsed.map((p) => (Array.isArray(p) ? (outcome.items[next++] as BatchItem) : p));
      const answers = items.map((item) => batchItem(fn, item));
      const failed = answers.filter((i) => 'error' in i).length;
      return {
        body: { batch: answers, stats: { ...stats(outcome.items, false, outcome.compileCached, target), ok: answers.length - failed, failed } },
        receipts: outcome.items,
        fn: fn.name,
        compileCached: outcome.compileCached,
      };
    }

    const args = parseArgs(fn.params, body.args ?? [], { maxArgs: config.limits.max_args });
    request.log.debug({ function: fn.name, args: args.length, sha256: target.sha256 }, 'run');
    const outcome = await runner.run({ sha256: target.sha256, fn: fn.name, params: fn.params, results: fn.results, args, files, ...scope });
    request.log.debug({ compile_cached: outcome.compileCached, duration_ms: outcome.durationMs }, 'run done');
    const receipts = [outcome];
    return { body: { results: encodeResults(fn.results, outcome.results), ...printed(outcome.wasi), stats: stats(receipts, true, outcome.compileCached, target) }, receipts, fn: fn.name, compileCached: outcome.compileCached, stderr: outcome.wasi?.stderr, memoryPages: outcome.memoryPages };
  }

  const account = runAccounting(services);

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
    const scope: CallScope = { lane, maxConcurrency: limits.maxConcurrency, maxMemoryPages: limits.maxMemoryPages, timeoutMs, fuel, requestId: request.id };
    try {
      const { body: answer, receipts, fn, compileCached, stderr, memoryPages } = await execute(target, body, request, scope);
      note.fn = fn;
      noteAnswer(note, receipts, compileCached, stderr, memoryPages);
      account(request.principal?.keyId, limits, lane, 'ok', receipts);
      return answer;
    } catch (err) {
      const receipt = receiptOf(err);
      if (receipt) noteAnswer(note, [receipt], undefined, wasiOutputOf(err)?.stderr);
      account(request.principal?.keyId, limits, lane, 'error', receipt ? [receipt] : []);
      throw err;
    }
  });
}
