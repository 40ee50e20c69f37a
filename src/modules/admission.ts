import { tierSuffix } from '../auth/policy.js';
import { hasErrorCode, wessError } from '../errors.js';
import type { Runner } from '../runner/pool.js';
import { contentSha256 } from '../hash.js';
import type { ModuleContent } from '../store/types.js';
import { checkPolicy, effectiveMemory, inspect, moduleKind } from '../wasm/binary.js';

export interface AdmissionLimits {
  maxModuleSize: number;
  maxMemoryPages: number;
  maxTableElements: number;
  /** The key tier these limits come from, named in refusals; null or absent for the global limits. */
  tier?: string | null;
}

/**
 * Decides whether a module may be stored, cheapest checks first: size, structure and policy from
 * our own section reader, then V8's full validation (which also warms the compile cache).
 */
export async function admitModule(bytes: Uint8Array, runner: Runner, limits: AdmissionLimits): Promise<ModuleContent> {
  const info = checkModule(bytes, limits);
  const sha256 = contentSha256(bytes);
  // Under the uploader's memory cap: the compile its own first run will find cached.
  await runner.compile(sha256, bytes, limits.maxMemoryPages);
  return { sha256, content: bytes, exports: info.exports, memory: effectiveMemory(info, limits.maxMemoryPages), kind: moduleKind(info) };
}

/**
 * Admission without a runner, for content that comes back from a backup (restore): the same size,
 * structure and policy checks as an upload, then V8's validation instead of a compile. Content that
 * was admitted once can still be refused here: the archive may be forged, or the limits lower now.
 */
export async function admitStoredModule(bytes: Uint8Array, limits: AdmissionLimits): Promise<void> {
  checkModule(bytes, limits);
  if (WebAssembly.validate(bytes)) return;
  try {
    await WebAssembly.compile(bytes);
  } catch (err) {
    // V8's own words for what is wrong, without its call site.
    throw wessError('INVALID_WASM', (err as Error).message.replace(/^WebAssembly\.(compile|Module)\(\): /, ''));
  }
  throw wessError('INVALID_WASM', 'V8 does not accept it as valid WebAssembly');
}

/** The checks of our own section reader: size, structure, imports and memory policy. */
function checkModule(bytes: Uint8Array, limits: AdmissionLimits): ReturnType<typeof inspect> {
  const tier = tierSuffix(limits.tier);
  if (bytes.length > limits.maxModuleSize) {
    throw wessError(
      'PAYLOAD_TOO_LARGE',
      `module is ${bytes.length} bytes; the limit is ${limits.maxModuleSize} bytes${tier}`,
      { size: bytes.length, limit: limits.maxModuleSize, tier: limits.tier ?? null },
    );
  }
  if (bytes.length === 0) throw wessError('INVALID_WASM', 'module is empty');
  const info = inspect(bytes);
  try {
    checkPolicy(info, { maxMemoryPages: limits.maxMemoryPages, maxTableElements: limits.maxTableElements });
  } catch (err) {
    if (tier && hasErrorCode(err) && err.code === 'MEMORY_LIMIT') throw wessError('MEMORY_LIMIT', `${err.message}${tier}`, { ...(err as { details?: object }).details, tier: limits.tier });
    throw err;
  }
  return info;
}
