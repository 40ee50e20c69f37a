import { WASI_MODULE } from '../wasi/types.js';
import { HOST_ENV_MODULE, hostEnvSignature } from './host-env.js';
import type { ImportInfo } from './types.js';

/*
 * Which toolchain a refused module probably came from, told by the imports it emits for a JavaScript
 * host, and how to build it for Wess instead. One fixed sentence per toolchain, so a refusal stays
 * short whatever the module imports.
 */

export interface ToolchainHint {
  toolchain: 'wasm-bindgen' | 'emscripten' | 'go' | 'assemblyscript' | 'wasi-unstable';
  hint: string;
}

/** Recognisers in order: the first that matches any refused import names the toolchain. */
const RECOGNISERS: { matches: (imp: ImportInfo, importsAbort: boolean) => boolean; result: ToolchainHint }[] = [
  {
    // wasm-bindgen puts its glue under __wbindgen_placeholder__ (or ./<crate>_bg.js, "wbg") with these name prefixes.
    matches: (imp) => imp.name.startsWith('__wbindgen_') || imp.name.startsWith('__wbg_') || imp.module === '__wbindgen_placeholder__' || imp.module === 'wbg',
    result: {
      toolchain: 'wasm-bindgen',
      hint: 'built with wasm-bindgen, whose imports are JavaScript glue: build with cargo build --target wasm32-unknown-unknown without wasm-bindgen, or --target wasm32-wasip1',
    },
  },
  {
    // Go's js/wasm port imports its runtime from "gojs" (Go 1.21+) or "go" (older); so does TinyGo's wasm target.
    matches: (imp) => imp.module === 'gojs' || imp.module === 'go',
    result: { toolchain: 'go', hint: 'built with GOOS=js, for a browser: build with GOOS=wasip1 GOARCH=wasm go build (TinyGo: -target=wasip1)' },
  },
  {
    // Emscripten's JavaScript runtime: emscripten_* and __syscall_* helpers under env, often beside WASI.
    matches: (imp) => imp.module === HOST_ENV_MODULE && /^(_?emscripten_|__syscall_|invoke_|_embind_|__cxa_|_tzset_js|_abort_js|[sg]etTempRet0$)/.test(imp.name),
    result: { toolchain: 'emscripten', hint: 'built with Emscripten for its JavaScript runtime: link with emcc -sSTANDALONE_WASM (and no JS library calls) so it imports only WASI' },
  },
  {
    // AssemblyScript's std bindings to JavaScript: env."console.log", env."Date.now", env."process.exit"…,
    // or one of its three host functions with another signature.
    matches: (imp, importsAbort) => importsAbort && imp.module === HOST_ENV_MODULE && (/^[A-Za-z]+\.[A-Za-z]+$/.test(imp.name) || hostEnvSignature(imp.name) !== undefined),
    result: {
      toolchain: 'assemblyscript',
      hint: 'built with AssemblyScript using JavaScript bindings (console, Date, process…): Wess provides only env.abort, env.trace and env.seed; drop those calls, or build for WASI with @assemblyscript/wasi-shim',
    },
  },
  {
    matches: (imp) => imp.module === 'wasi_unstable',
    result: { toolchain: 'wasi-unstable', hint: `built for the old WASI snapshot wasi_unstable: rebuild against ${WASI_MODULE} (a current wasi-sdk or Rust --target wasm32-wasip1)` },
  },
];

/** The toolchain the refused imports point to and how to build for Wess, or null when none is recognisable. */
export function toolchainHint(refused: readonly ImportInfo[], all: readonly ImportInfo[]): ToolchainHint | null {
  // Once, not per refused import: a 2 MiB module may hold ~150k imports, and this runs on the main thread.
  const importsAbort = all.some((i) => i.module === HOST_ENV_MODULE && i.name === 'abort');
  for (const { matches, result } of RECOGNISERS) {
    if (refused.some((imp) => matches(imp, importsAbort))) return result;
  }
  return null;
}
