import { wessError } from '../errors.js';
import { clockFunctions } from './clock.js';
import { fdFunctions } from './fd.js';
import { DEFAULT_SCRATCH_BYTES, FileSystem, fsFunctions } from './fs/index.js';
import { GuestMemory } from './memory.js';
import { OutputSink } from './output.js';
import { pollFunctions } from './poll.js';
import { Stream, type WasiFunctions, type WasiState } from './state.js';
import { stringFunctions, stringList, stringsProblem } from './strings.js';
import { unsupportedFunctions } from './unsupported.js';
import { WASI_MODULE, type WasiInput, type WasiOutput, type WasiProcessLike } from './types.js';

/**
 * What proc_exit throws to unwind the guest back to `run`. Not an Error: there is no stack worth
 * capturing. `run` recognises it with instanceof, which is safe here because it never leaves this
 * thread (only `WasiOutput` crosses to the main thread).
 */
const NO_BYTES = new Uint8Array(0);

class ProcExit {
  constructor(readonly code: number) {}
}

/** Why `input` cannot start a process, or null when it can. The HTTP layer may call this to answer 400 early. */
export function wasiInputProblem(input: WasiInput): string | null {
  if (!Number.isSafeInteger(input.maxOutputBytes) || input.maxOutputBytes < 0) {
    return `maxOutputBytes must be a non-negative integer, got ${input.maxOutputBytes}`;
  }
  const scratch = input.maxScratchBytes;
  if (scratch !== undefined && (!Number.isSafeInteger(scratch) || scratch < 0)) {
    return `maxScratchBytes must be a non-negative integer, got ${scratch}`;
  }
  return stringsProblem(input.args, input.env);
}

/**
 * One WASI preview-1 process, all in memory: argv and env from the input (never the host's), stdin from
 * a buffer, stdout and stderr into capped buffers, clocks and randomness, no sockets, and files only
 * when the input has them: then the version's files are preopened as `/` at fd 3, writable through a
 * layer the process drops when it ends (src/wasi/fs/). One process per instance; see
 * `WasiProcessLike` for the call order.
 */
export class WasiProcess implements WasiProcessLike {
  private readonly state: WasiState;
  private readonly importObject: WebAssembly.Imports;
  private exitCode = 0;

  /** Throws VALIDATION when args or env cannot be handed to a C program (see `wasiInputProblem`). */
  constructor(input: WasiInput) {
    const problem = wasiInputProblem(input);
    if (problem !== null) throw wessError('VALIDATION', problem);
    const fs = input.files === undefined ? null : new FileSystem(input.files, input.maxScratchBytes ?? DEFAULT_SCRATCH_BYTES);
    const state: WasiState = {
      memory: new GuestMemory(),
      args: stringList(input.args),
      env: stringList(input.env.map(([name, value]) => `${name}=${value}`)),
      stdin: input.stdin ?? NO_BYTES,
      stdinAt: 0,
      stdout: new OutputSink(input.maxOutputBytes),
      stderr: new OutputSink(input.maxOutputBytes, input.stderrMirror),
      fds: [Stream.STDIN, Stream.STDOUT, Stream.STDERR],
      fs,
    };
    if (fs !== null) state.fds.push(fs.preopen());
    this.state = state;
    // Object.assign, not one literal of spreads: V8 builds a literal of five ~10-key spreads on a slow
    // path (measured: ~160 µs per process against ~2 µs, on every WASI call and HTTP handler request).
    const stdio: WasiFunctions = Object.assign(
      {},
      stringFunctions(state.memory, state.args, state.env),
      clockFunctions(state.memory),
      fdFunctions(state),
      pollFunctions(state),
      unsupportedFunctions(state),
      {
        proc_exit: (code: number): void => {
          throw new ProcExit(code >>> 0);
        },
      },
    );
    const functions = fs === null ? stdio : Object.assign({}, stdio, fsFunctions(state, fs, stdio));
    this.importObject = { [WASI_MODULE]: functions };
  }

  /** The import object to instantiate with: `{wasi_snapshot_preview1: {...every preview-1 function}}`. */
  imports(): WebAssembly.Imports {
    return this.importObject;
  }

  /** Points the process at the instance's exported memory; call before the guest runs. */
  bind(memory: WebAssembly.Memory): void {
    this.state.memory.bind(memory);
  }

  /**
   * Runs `body` (usually the `_start` export) and returns its value with the output. proc_exit ends it
   * normally with that exit code; anything else the guest throws (a trap) is rethrown, and `output()`
   * still has what was written before it.
   */
  run<T>(body: () => T): { value: T | undefined; output: WasiOutput } {
    let value: T | undefined;
    try {
      value = body();
    } catch (err) {
      if (!(err instanceof ProcExit)) throw err;
      this.exitCode = err.code;
    }
    return { value, output: this.output() };
  }

  /** Appends host-written text (a guest's trace lines) to stderr, under the same cap as the guest's own writes. */
  writeStderr(text: string): void {
    const bytes = Buffer.from(text, 'utf8');
    this.state.stderr.write(bytes, 0, bytes.length);
  }

  /** The exit code (0 until proc_exit says otherwise) and everything written so far. */
  output(): WasiOutput {
    const { stdout, stderr } = this.state;
    return {
      exitCode: this.exitCode,
      stdout: stdout.bytes(),
      stderr: stderr.bytes(),
      stdoutTruncated: stdout.truncated,
      stderrTruncated: stderr.truncated,
    };
  }
}
