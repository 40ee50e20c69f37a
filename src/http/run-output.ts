import type { WasiOutput } from '../wasi/types.js';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Bytes JSON.stringify adds to UTF-8 text of these bytes: 1 for a quote, a backslash and the five
 * controls with a short escape, 5 for any other control (\u00XX); other bytes are written as they are.
 */
function escapeCost(bytes: Uint8Array): number {
  let extra = 0;
  for (const b of bytes) {
    if (b >= 0x20) extra += b === 0x22 || b === 0x5c ? 1 : 0;
    else extra += b === 0x0a || b === 0x0d || b === 0x09 || b === 0x08 || b === 0x0c ? 1 : 5;
  }
  return extra;
}

/**
 * One output stream as JSON: `stdout` as text when it is valid UTF-8 and escaping does not double it,
 * else `stdout_base64`. A megabyte of control bytes is valid UTF-8 but six megabytes of JSON text;
 * as base64 it is 1.33 MB, so no stream ever costs more than twice its bytes in the answer.
 */
function stream(name: 'stdout' | 'stderr', bytes: Uint8Array, truncated: boolean): Record<string, unknown> {
  let text: string | undefined;
  try {
    text = escapeCost(bytes) > bytes.length ? undefined : strictUtf8.decode(bytes);
  } catch {
    text = undefined;
  }
  const body = text === undefined ? { [`${name}_base64`]: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64') } : { [name]: text };
  return truncated ? { ...body, [`${name}_truncated`]: true } : body;
}

/** A WASI run's exit code and output in the contract's shape. */
export function wasiOutputBody(output: WasiOutput): Record<string, unknown> {
  return {
    exit_code: output.exitCode,
    ...stream('stdout', output.stdout, output.stdoutTruncated),
    ...stream('stderr', output.stderr, output.stderrTruncated),
  };
}
