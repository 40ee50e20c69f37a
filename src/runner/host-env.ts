import { wessError } from '../errors.js';
import { HOST_ENV_MODULE } from '../wasm/host-env.js';
import { TRACE_LOG_LINES, type TraceLog } from './protocol.js';

/*
 * AssemblyScript's host functions (signatures in wasm/host-env.ts), one set per call, worker side.
 * The guest hands us pointers into its own memory: any of them may be null, out of bounds or point at
 * a header claiming an absurd length, so every read is checked against the memory's size and clipped,
 * and nothing here can throw except the trap abort() is meant to raise.
 */

/** UTF-16 code units of an abort message and of a file name (or a trace message) kept; the rest is cut and said so. */
const MESSAGE_UNITS = 400;
const FILE_UNITS = 160;
/** Bytes of an AssemblyScript object header before its data; the data's byte length is its last u32 (rtSize). */
const RT_SIZE_OFFSET = 4;

const utf16 = new TextDecoder('utf-16le');

/**
 * The AssemblyScript string at `ptr`, at most `maxUnits` code units, or null for a null pointer.
 *
 *   ptr - 20            ptr - 4        ptr
 *   | mmInfo gcInfo gcInfo2 rtId | rtSize | UTF-16LE data (rtSize bytes) |
 */
export function readAsString(memory: WebAssembly.Memory | undefined, pointer: number, maxUnits: number): string | null {
  const ptr = pointer >>> 0;
  if (ptr === 0) return null;
  if (memory === undefined) return `<string at ${ptr}: memory not readable yet>`;
  const size = memory.buffer.byteLength;
  if (ptr < RT_SIZE_OFFSET || ptr > size) return `<string at ${ptr}: outside memory of ${size} bytes>`;
  const bytes = new DataView(memory.buffer).getUint32(ptr - RT_SIZE_OFFSET, true);
  const inMemory = Math.min(bytes, size - ptr);
  const shown = Math.min(inMemory, maxUnits * 2) & ~1;
  const text = utf16.decode(new Uint8Array(memory.buffer, ptr, shown));
  if (shown === bytes) return text;
  if (shown < inMemory) return `${text}… (${bytes / 2 | 0} characters)`;
  return `${text}… (says ${bytes} bytes, past the end of memory)`;
}

/** The env imports of one call; `bind` gives them the instance's memory once it exists. */
export class HostEnv {
  private memory: WebAssembly.Memory | undefined;
  readonly imports: WebAssembly.Imports;
  /** The first trace lines, for the log; undefined until the guest traces. */
  private logged: TraceLog | undefined;

  /** `trace` receives each env.trace line, without its newline. */
  constructor(trace: (line: string) => void) {
    this.imports = {
      [HOST_ENV_MODULE]: {
        abort: (message: number, file: number, line: number, column: number): never => {
          throw wessError('WASM_TRAP', this.abortText(message, file, line, column));
        },
        trace: (message: number, n: number, ...values: number[]): void => {
          const text = readAsString(this.memory, message, MESSAGE_UNITS) ?? 'null';
          const shown = values.slice(0, Math.max(0, Math.min(n, values.length)));
          const line = `trace: ${text}${shown.length > 0 ? ` ${shown.join(', ')}` : ''}`;
          this.keep(line);
          trace(line);
        },
        // Seeds AssemblyScript's Math.random; any f64 will do, a fresh one per instance.
        seed: (): number => Math.random() * Number.MAX_SAFE_INTEGER,
      },
    };
  }

  bind(memory: WebAssembly.Memory | undefined): void {
    this.memory = memory;
  }

  /** The trace lines for the log (the first TRACE_LOG_LINES and how many more), or undefined when the guest never traced. */
  get traceLog(): TraceLog | undefined {
    return this.logged;
  }

  private keep(line: string): void {
    const log = (this.logged ??= { lines: [], more: 0 });
    if (log.lines.length < TRACE_LOG_LINES) log.lines.push(line);
    else log.more++;
  }

  /** `abort: <message> at <file>:<line>:<column>`, as AssemblyScript's own loader words it. */
  private abortText(message: number, file: number, line: number, column: number): string {
    // Before the instance exists (an abort in the start function) its memory cannot be read.
    if (this.memory === undefined && (message !== 0 || file !== 0)) {
      return `abort while the module was starting (its message cannot be read before instantiation ends) at line ${line >>> 0}:${column >>> 0}`;
    }
    const text = readAsString(this.memory, message, MESSAGE_UNITS);
    const where = readAsString(this.memory, file, FILE_UNITS);
    const at = where === null && line === 0 ? '' : ` at ${where ?? '<unknown file>'}:${line >>> 0}:${column >>> 0}`;
    return `abort${text === null ? '' : `: ${text}`}${at}`;
  }
}
