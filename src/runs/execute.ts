import type { EffectiveLimits } from '../auth/policy.js';
import { tierSuffix } from '../auth/policy.js';
import { echo, listNames } from '../echo.js';
import { hasErrorCode, wessError } from '../errors.js';
import { receiptOf, wasiOutputOf, type BatchItem, type CallScope, type Receipt, type RunFiles, type RunResult } from '../runner/pool.js';
import type { FilesSummary, ModuleRecord } from '../store/types.js';
import { wasiInputProblem } from '../wasi/index.js';
import type { WasiInput } from '../wasi/types.js';
import type { FunctionExport, WasmArg } from '../wasm/types.js';
import { encodeResults, parseArgs } from '../wasm/values.js';
import { wasiOutputBody } from '../http/run-output.js';
import type { runBody } from '../http/schemas.js';
import { parseWith, wasiArgs, wasiEnv } from '../http/schemas.js';
import { runAccounting, type Account } from '../http/run-accounting.js';
import type { Services } from '../services.js';

/*
 * A run as POST /modules/{id}/run and jobs both make it: the body checked against the module's
 * exports, the call (one, a batch, or a WASI program's _start) on the runner, the answer's body, and
 * the run counted for its key, tenant and tier.
 */

const JSON_TYPES = new Set(['i32', 'i64', 'f32', 'f64']);
const LISTED_NAMES = 20;

/** What a run needs of a module or of one of its versions. */
export type Target = Pick<ModuleRecord, 'id' | 'tenant' | 'name' | 'version' | 'sha256' | 'exports' | 'kind' | 'files'>;
export type RunBody = ReturnType<typeof runBody.parse>;

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
export type RunReceipt = Receipt & { ok?: boolean; memoryPages?: number | null };

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
    // What the program wrote before it failed, for its stderr lines in the log and the invocation log.
    Object.defineProperty(wrapped, 'wasiOutput', { value: output, enumerable: false });
    throw wrapped;
  }
  throw err;
}


export interface Executed {
  body: Record<string, unknown>;
  receipts: RunReceipt[];
  /** The export called (`_start` for a WASI program). */
  fn: string;
  compileCached: boolean;
  /** What the guest wrote to stderr (a WASI program, or a function of a module that prints). */
  stderr?: Uint8Array | undefined;
  memoryPages?: number | null | undefined;
}

/** The fuel of a run: what it asks for, up to its tier's (or the global) max_fuel; else the tier's default, if any. */
export function runFuel(requested: number | undefined, limits: EffectiveLimits): number | undefined {
  if (requested === undefined) return limits.defaultFuel;
  if (requested > limits.maxFuel) {
    throw wessError('VALIDATION', `body.fuel: ${requested} is over the limit of ${limits.maxFuel}${tierSuffix(limits.tier)}`, { limit: limits.maxFuel, tier: limits.tier });
  }
  return requested;
}


/** What a call was given (its arguments, a batch's tuples, a WASI program's args, env and stdin), for the invocation log. */
export function callInput(body: RunBody): unknown {
  const { args, batch, env, stdin, stdin_base64: stdinBase64 } = body;
  if (env === undefined && stdin === undefined && stdinBase64 === undefined) return batch ?? args ?? [];
  return { args, env, stdin, stdin_base64: stdinBase64 };
}

/** stdin and env are a WASI program's: a function call with them is refused. */
function refuseWasiInput(body: RunBody): void {
  if (body.stdin !== undefined || body.stdin_base64 !== undefined || body.env !== undefined) {
    throw wessError('VALIDATION', 'stdin, stdin_base64 and env are for WASI programs (modules that import wasi_snapshot_preview1 and export _start)');
  }
}

/**
 * Checks a run's body against its target without running it (a job is refused at submission for
 * what would fail every attempt): the function, and the arguments of a single call.
 */
export function checkRun(services: Services, target: Target, body: RunBody): void {
  if (isCommandRun(target, body)) {
    wasiInput(services, target, body);
    return;
  }
  refuseWasiInput(body);
  const fn = pickFunction(target, body.function);
  if (body.batch === undefined) parseArgs(fn.params, body.args ?? [], { maxArgs: services.config.limits.max_args });
}

/** Where a run's debug lines go: the request's logger, or the job engine's. */
export interface RunLog {
  debug(obj: object, msg: string): void;
}

/** Who a run is counted for: its key (usage), and the limits of its tier. */
export interface RunAccount {
  keyId: string | null | undefined;
  limits: EffectiveLimits;
  lane: string;
}

/** Makes runs and counts them; one per app, shared by the run route and the job engine. */
export class RunExecutor {
  readonly #account: Account;

  constructor(private readonly services: Services) {
    this.#account = runAccounting(services);
  }

  /** A version's files for its WASI runs: the image from the cache, and the bytes a run may write over it. */
  async #filesOf(summary: FilesSummary): Promise<RunFiles> {
    return { files: await this.services.images.get(summary), maxScratchBytes: this.services.config.limits.max_scratch_bytes };
  }

  /** Runs `body` on `target` under `scope`; throws the run's coded error (a trap, a timeout, bad arguments). */
  async execute(target: Target, body: RunBody, scope: CallScope, log: RunLog): Promise<Executed> {
    const { config, runner } = this.services;
    // A version without files costs this one check: no lookup, no await, no allocation.
    const files = target.files === undefined ? undefined : await this.#filesOf(target.files);
    if (isCommandRun(target, body)) {
      const wasi = wasiInput(this.services, target, body);
      const outcome = await runner.run({ sha256: target.sha256, fn: '_start', params: [], results: [], args: [], wasi, files, ...scope }).catch(withOutput);
      const output = wasiOutputBody(outcome.wasi ?? { exitCode: 0, stdout: new Uint8Array(), stderr: new Uint8Array(), stdoutTruncated: false, stderrTruncated: false });
      const receipts = [outcome];
      return { body: { ...output, stats: stats(receipts, true, outcome.compileCached, target) }, receipts, fn: '_start', compileCached: outcome.compileCached, stderr: outcome.wasi?.stderr };
    }
    refuseWasiInput(body);

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
    log.debug({ function: fn.name, args: args.length, sha256: target.sha256 }, 'run');
    const outcome = await runner.run({ sha256: target.sha256, fn: fn.name, params: fn.params, results: fn.results, args, files, ...scope });
    log.debug({ compile_cached: outcome.compileCached, duration_ms: outcome.durationMs }, 'run done');
    const receipts = [outcome];
    return { body: { results: encodeResults(fn.results, outcome.results), ...printed(outcome.wasi), stats: stats(receipts, true, outcome.compileCached, target) }, receipts, fn: fn.name, compileCached: outcome.compileCached, stderr: outcome.wasi?.stderr, memoryPages: outcome.memoryPages };
  }

  /** Counts a finished run for its key (usage), its tenant (CPU budget) and its tier (metrics). */
  account(who: RunAccount, outcome: 'ok' | 'error', receipts: readonly Receipt[]): void {
    this.#account(who.keyId, who.limits, who.lane, outcome, receipts);
  }


}
