/**
 * The WebAssembly text compiler's thread: wabt (WABT's wat2wasm, itself compiled to wasm) turns
 * text into a binary here, so that a large text (~0.4 s for 2 MB) never holds the main thread.
 * One request at a time, in order; text.ts is the other end.
 */
import { parentPort } from 'node:worker_threads';
import wabtFactory from 'wabt';
import { DIAGNOSTIC, WAT_FILE, type TextReply, type TextRequest } from './text.js';

type Wabt = Awaited<ReturnType<typeof wabtFactory>>;

// Emscripten's own console lines ("failed to asynchronously prepare wasm") would reach the
// server's stderr unformatted; the failure is answered to the caller instead.
const quiet = { print: () => undefined, printErr: () => undefined };
const load = () => (wabtFactory as unknown as (module: typeof quiet) => Promise<Wabt>)(quiet);
// Loaded when a request needs it, never ahead: a load that fails with no request awaiting it would be
// an unhandled rejection, which ends this thread.
let loading: Promise<Wabt> | undefined;

async function compile(text: Uint8Array): Promise<TextReply> {
  let wabt: Wabt;
  try {
    wabt = await (loading ??= load());
  } catch (err) {
    // Most likely the process-wide wasm memory cap (runner.max_memory) is below what wabt needs.
    loading = undefined;
    return { kind: 'unavailable', message: String((err as Error).message ?? err) };
  }
  let parsed: ReturnType<Wabt['parseWat']> | undefined;
  try {
    parsed = wabt.parseWat(WAT_FILE, text);
    parsed.validate();
    return { kind: 'binary', binary: parsed.toBinary({}).buffer.slice() };
  } catch (err) {
    const message = String((err as Error).message ?? err);
    if (message.split('\n').some((line) => DIAGNOSTIC.test(line))) return { kind: 'refused', message };
    // Not about the text: wabt itself failed (an abort leaves its instance unusable), so a fresh one.
    parsed = undefined;
    loading = undefined;
    return { kind: 'unavailable', message };
  } finally {
    parsed?.destroy();
  }
}

parentPort?.on('message', (request: TextRequest) => {
  void compile(request.text).then((reply) => {
    const transfer = reply.kind === 'binary' ? [reply.binary.buffer as ArrayBuffer] : [];
    parentPort?.postMessage({ ...reply, id: request.id }, transfer);
  });
});
