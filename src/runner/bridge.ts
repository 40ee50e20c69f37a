import { wessError } from '../errors.js';
import { argsForBridge, bridgeModuleBytes } from '../wasm/nan-bridge.js';
import type { ValType, WasmArg } from '../wasm/types.js';
import type { GuestFunction } from './guest.js';
import type { BridgeSignature } from './protocol.js';

/** Bridge modules by signature; a worker sees few distinct signatures with NaN arguments. */
const bridges = new Map<string, WebAssembly.Module>();
const MAX_BRIDGES = 256;

/** Calls `target` wasm → wasm through a module that takes floats as bits, so NaN signs and payloads survive. */
export function callThroughBridge(target: GuestFunction, sig: BridgeSignature, args: WasmArg[]): unknown {
  let instance: WebAssembly.Instance;
  try {
    instance = new WebAssembly.Instance(bridgeFor(sig.params, sig.results), { m: { f: target } });
  } catch (err) {
    // A LinkError here means the signature we were given is not the export's: our bug, not the guest's.
    throw wessError('INTERNAL', `NaN bridge does not fit the export: ${err instanceof Error ? err.message : String(err)}`);
  }
  return (instance.exports['f'] as GuestFunction)(...argsForBridge(sig.params, args));
}

function bridgeFor(params: ValType[], results: ValType[]): WebAssembly.Module {
  const key = `${params.join(',')}>${results.join(',')}`;
  let module = bridges.get(key);
  if (module === undefined) {
    if (bridges.size >= MAX_BRIDGES) bridges.clear();
    module = new WebAssembly.Module(bridgeModuleBytes(params, results));
    bridges.set(key, module);
  }
  return module;
}
