import type { Command } from 'commander';
import { hasErrorCode } from '../../errors.js';
import type { ValType } from '../../wasm/types.js';
import { parseArgs } from '../../wasm/values.js';
import { positiveInt } from '../args.js';
import type { CliContext, CliDeps } from '../context.js';
import { CliError, EXIT, cliError } from '../errors.js';
import type { ModuleView } from './modules.js';

type Export = ModuleView['exports'][number];

interface RunOptions {
  stdin?: boolean;
  exitCode?: boolean;
  timeout?: number;
  version?: number;
}

/** What the CLI sends: a function call, or a WASI program's argv and stdin. */
type RunRequest = { function: string; args: string[] } | { args: string[]; stdin?: string; stdin_base64?: string };

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

async function readStdin(ctx: CliContext): Promise<{ stdin: string } | { stdin_base64: string }> {
  const chunks: Buffer[] = [];
  for await (const chunk of ctx.io.stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  const all = Buffer.concat(chunks);
  try {
    return { stdin: strictUtf8.decode(all) };
  } catch {
    return { stdin_base64: all.toString('base64') };
  }
}

const exportNames = (module: ModuleView) => module.exports.map((e) => e.name).join(', ') || 'none';

/** Whether `word` is a value `type` accepts (by the server's rules, src/wasm/values.ts). */
function fits(type: string, word: string): boolean {
  try {
    parseArgs([type as ValType], [word], { maxArgs: 1 });
    return true;
  } catch (err) {
    if (!hasErrorCode(err)) throw err;
    return false;
  }
}

/**
 * The function a call names and its arguments. FUNCTION may be left out when the module exports
 * exactly one function; then a first word that names no export is that function's first argument,
 * unless it cannot be one and reads as a name: `run ID sub 1 2` on a module with only `add` means
 * "run sub", and is answered as such rather than as a bad first argument of add.
 */
function pickCall(module: ModuleView, words: string[]): { fn: Export; args: string[] } {
  const [first, ...rest] = words;
  const named = first === undefined ? undefined : module.exports.find((e) => e.name === first);
  if (named) return { fn: named, args: rest };
  const only = module.exports.length === 1 ? module.exports[0] : undefined;
  const meantAsName = first !== undefined && /^[A-Za-z_$]/.test(first) && !(only?.params[0] !== undefined && fits(only.params[0], first));
  if (only && !meantAsName) return { fn: only, args: words };
  if (first === undefined) {
    throw cliError('USAGE', `name the function to run: module ${module.id} exports ${module.exports.length} functions (${exportNames(module)})`, EXIT.USAGE);
  }
  throw cliError('UNKNOWN_FUNCTION', `module ${module.id} exports no function ${JSON.stringify(first)}; it exports ${exportNames(module)}`, EXIT.USAGE);
}

/** The same conversion the server does (src/wasm/values.ts), run here first so a bad argument is never sent. */
function checkArgs(fn: Export, args: string[]): void {
  try {
    // The server enforces its own limits.max_args; locally only the types are checked.
    parseArgs(fn.params as ValType[], args, { maxArgs: Number.MAX_SAFE_INTEGER });
  } catch (err) {
    if (!hasErrorCode(err)) throw err;
    throw cliError('INVALID_ARGUMENT', `${fn.name}(${fn.params.join(', ')}): ${err.message}`, EXIT.USAGE);
  }
}

const isWasiProgram = (module: ModuleView) => module.kind === 'wasi' && module.exports.some((e) => e.name === '_start');

/** Writes what a WASI program (or a printing reactor) wrote, as it wrote it. */
function forwardOutput(ctx: CliContext, body: Record<string, unknown>): void {
  for (const stream of ['stdout', 'stderr'] as const) {
    const text = body[stream];
    const b64 = body[`${stream}_base64`];
    if (typeof text === 'string') ctx.out.raw(stream, text);
    else if (typeof b64 === 'string') ctx.out.raw(stream, Buffer.from(b64, 'base64'));
    if (body[`${stream}_truncated`] === true) ctx.io.stderr.write(`wess: the program's ${stream} was cut at the server's runner.max_output\n`);
  }
}

async function runModule(ctx: CliContext, id: string, words: string[], opts: RunOptions): Promise<number> {
  const base = `/modules/${encodeURIComponent(id)}`;
  // A pinned version may have other exports than the current one: check against what will run.
  const module = (await ctx.client.get<ModuleView>(opts.version === undefined ? base : `${base}/versions/${opts.version}`)).body;
  let request: RunRequest;
  if (isWasiProgram(module)) {
    request = { args: words, ...(opts.stdin ? await readStdin(ctx) : {}) };
  } else {
    if (opts.stdin) throw cliError('USAGE', `--stdin is for WASI programs; module ${module.id} is not one (it exports ${exportNames(module)})`, EXIT.USAGE);
    const { fn, args } = pickCall(module, words);
    checkArgs(fn, args);
    request = { function: fn.name, args };
  }
  let body: Record<string, unknown>;
  try {
    const json = opts.timeout === undefined ? request : { ...request, timeout_ms: opts.timeout };
    body = (await ctx.client.request<Record<string, unknown>>('POST', `${base}/run`, { json, query: { version: opts.version } })).body;
  } catch (err) {
    // A program that trapped or timed out still shows what it wrote before.
    const details = err instanceof CliError ? (err.body as { error?: { details?: Record<string, unknown> } } | undefined)?.error?.details : undefined;
    if (details && !ctx.json) forwardOutput(ctx, details);
    throw err;
  }
  if (ctx.json) ctx.out.document(body);
  else {
    for (const value of Array.isArray(body.results) ? body.results : []) ctx.out.line(String(value));
    forwardOutput(ctx, body);
  }
  return typeof body.exit_code === 'number' ? programExit(ctx, body.exit_code, opts) : EXIT.OK;
}

/**
 * What wess exits with after a WASI program exited with `code`. By default wess keeps to its own table
 * (0, or PROGRAM_FAILED naming the code), so a script can tell the program's failure from wess's;
 * --exit-code passes the code through, as far as a process exit status can carry it.
 */
function programExit(ctx: CliContext, code: number, opts: RunOptions): number {
  if (opts.exitCode) return Math.min(code, MAX_EXIT_STATUS);
  if (code === 0) return EXIT.OK;
  ctx.io.stderr.write(`wess: the program exited with code ${code}\n`);
  return EXIT.PROGRAM_FAILED;
}

/** An exit status is 8 bits: a larger code would wrap, 256 to 0 ("success"). */
const MAX_EXIT_STATUS = 255;

/**
 * Whether `argv` (wess's arguments) is a `wess run --exit-code`: then every failure of wess's own exits
 * 125 or 126, even one commander finds while parsing, before any action runs. A `--exit-code` after
 * `--` is a program argument.
 */
export function passesExitCode(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  const own = end === -1 ? argv : argv.slice(0, end);
  return own.includes('run') && own.includes('--exit-code');
}

/** Registers `wess run ID [FUNCTION] [ARGS...]`. */
export function registerRunCommand(program: Command, deps: CliDeps): void {
  program
    .command('run <id> [words...]')
    .usage('[options] <id> [function] [args...]')
    .description(
      'run an exported function: args are checked against its signature before sending, results print one per line; ' +
        'FUNCTION may be left out when the module exports exactly one. For a WASI program, args are its argv ' +
        '(put -- before any that start with a dash) and its stdout and stderr are ours; a non-zero exit code ' +
        'exits 6, naming the code (--exit-code: exit with it).',
    )
    .option('--stdin', "send our stdin to the WASI program's stdin")
    .option('--exit-code', "exit with the WASI program's own exit code; wess's own failures then exit 125, a trap or timeout 126")
    .option('--timeout <ms>', 'deadline of the call in ms (at most the server allows)', positiveInt('--timeout'))
    .option('--version <n>', 'run this version of the module', positiveInt('--version'))
    .action(
      deps.action(async (ctx, command) => {
        const [id, words] = command.processedArgs as [string, string[]];
        return runModule(ctx, id, words, command.opts<RunOptions>());
      }),
    );
}
