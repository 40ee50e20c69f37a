import type { WasiOutput } from '../wasi/types.js';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** One output stream as JSON: `stdout` as text when it is valid UTF-8, else `stdout_base64`. */
function stream(name: 'stdout' | 'stderr', bytes: Uint8Array, truncated: boolean): Record<string, unknown> {
  let text: string | undefined;
  try {
    text = strictUtf8.decode(bytes);
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
