import { Worker } from 'node:worker_threads';
import { wessError } from '../errors.js';

/**
 * WebAssembly text (.wat) → binary. The compiling happens on a thread of its own (text-worker.ts),
 * started on the first text upload (most servers never see one; it costs ~20 MB) and kept for the
 * next ones. Requests are answered in order, one at a time.
 */

/** What crosses to the compiler thread. */
export interface TextRequest {
  id: number;
  text: Uint8Array;
}

/** What comes back: the binary, wabt's diagnostics about the text, or why wabt itself failed. */
export type TextReply =
  | { kind: 'binary'; binary: Uint8Array }
  | { kind: 'refused'; message: string }
  | { kind: 'unavailable'; message: string };

const WORKER_URL = new URL('./text-worker.js', import.meta.url);

/** The binary format's first four bytes: "\0asm". */
const MAGIC = [0x00, 0x61, 0x73, 0x6d];
/** Diagnostics quoted at most; the first one is the one that matters. */
const MAX_ERRORS = 3;
/** Characters of one diagnostic passed on: it may quote a token of the text, of any length. */
const MAX_MESSAGE = 200;
/** The name wabt's diagnostics give the text; only line and column are passed on. */
export const WAT_FILE = 'module.wat';
/** One of wabt's diagnostics: `module.wat:3:7: error: unexpected token "i33.const", expected an instr.` */
export const DIAGNOSTIC = /^module\.wat:(\d+):(\d+): error: (.*)$/;

/**
 * True when `bytes` are not a binary module but text starting with `(module` (after blanks and
 * comments): WebAssembly text sent as application/wasm, which would otherwise fail as "bad magic".
 */
export function looksLikeWat(bytes: Uint8Array): boolean {
  if (MAGIC.every((byte, i) => bytes[i] === byte)) return false;
  const head = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.length, 4096)).toString('utf8');
  // Blanks, ";; line" and "(; block ;)" comments (not nested: enough to find the first form).
  const start = head.replace(/^(?:\s+|;;[^\n]*(?:\n|$)|\(;[\s\S]*?;\))*/, '');
  return /^\(module(?=[\s()$;]|$)/.test(start);
}

/** The compiler thread and the callers waiting on it, by request id. */
interface Compiler {
  worker: Worker;
  waiting: Map<number, { resolve: (reply: TextReply) => void; reject: (err: Error) => void }>;
}

let compiler: Compiler | undefined;
let nextId = 0;

function startCompiler(): Compiler {
  const worker = new Worker(WORKER_URL);
  // Idle, it must not keep a process alive that is otherwise done (a CLI, a test, a server that closed).
  worker.unref();
  const started: Compiler = { worker, waiting: new Map() };
  worker.on('message', (reply: TextReply & { id: number }) => {
    started.waiting.get(reply.id)?.resolve(reply);
    started.waiting.delete(reply.id);
    if (started.waiting.size === 0) worker.unref();
  });
  const fail = (err: Error) => {
    if (compiler === started) compiler = undefined;
    for (const { reject } of started.waiting.values()) reject(err);
    started.waiting.clear();
  };
  worker.on('error', fail);
  worker.on('exit', (code) => fail(new Error(`the WebAssembly text compiler stopped (exit code ${code})`)));
  return started;
}

function ask(text: Uint8Array): Promise<TextReply> {
  compiler ??= startCompiler();
  const { worker, waiting } = compiler;
  const id = nextId++;
  // Busy, it keeps the process alive until it answers.
  worker.ref();
  // A copy of exactly the text: an upload's bytes are often a view into a larger pooled buffer, and
  // wabt reads a view's whole underlying buffer (its allocateBuffer takes buffer.byteLength).
  const exact = new Uint8Array(text);
  return new Promise((resolve, reject) => {
    waiting.set(id, { resolve, reject });
    worker.postMessage({ id, text: exact } satisfies TextRequest, [exact.buffer]);
  });
}

/**
 * Compiles WebAssembly text to the binary format. Text wabt refuses (syntax, unknown names, type
 * errors) is a 400 INVALID_WASM naming the line and column of the first problem; a compiler that
 * cannot run here (e.g. runner.max_memory leaves it too little memory) is a 415 that says to send
 * the binary instead.
 */
export async function watToWasm(text: Uint8Array): Promise<Uint8Array> {
  // A compiler thread that died answers like one that cannot start: the next text starts a new one.
  const reply = await ask(text).catch((err: Error): TextReply => ({ kind: 'unavailable', message: err.message }));
  if (reply.kind === 'binary') return reply.binary;
  const found = reply.message
    .split('\n')
    .map((line) => DIAGNOSTIC.exec(line))
    .filter((match): match is RegExpExecArray => match !== null);
  const first = found[0];
  if (reply.kind === 'unavailable' || first === undefined) {
    throw wessError(
      'UNSUPPORTED_MEDIA_TYPE',
      `WebAssembly text cannot be compiled on this server (${reply.message.split('\n')[0]?.slice(0, MAX_MESSAGE)}); compile it to a binary (e.g. wat2wasm) and upload that as application/wasm`,
    );
  }
  const where = (m: RegExpExecArray) => `line ${m[1]}, column ${m[2]}: ${(m[3] ?? '').slice(0, MAX_MESSAGE)}`;
  const rest = found.length > MAX_ERRORS ? `; and ${found.length - MAX_ERRORS} more` : '';
  throw wessError('INVALID_WASM', `WebAssembly text: ${found.slice(0, MAX_ERRORS).map(where).join('; ')}${rest}`, {
    line: Number(first[1]),
    column: Number(first[2]),
  });
}
