/** The in-memory WASI preview-1 shim: all the runner and the policy need from src/wasi/. */
export { WasiProcess, wasiInputProblem } from './process.js';
export { WASI_SIGNATURES, formatSignature, wasiSignature } from './signatures.js';
export { Errno } from './errno.js';
export { DEFAULT_SCRATCH_BYTES } from './fs/index.js';
export { StderrMirror } from './output.js';
export { WASI_MODULE, type WasiFiles, type WasiInput, type WasiOutput, type WasiProcessLike } from './types.js';
