import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** test/fixtures/wasm, found from the compiled dist/test/wasm/*.js (tests run from dist). */
export const FIXTURES_DIR = fileURLToPath(new URL('../../../test/fixtures/wasm/', import.meta.url));

export function fixture(name: string): Uint8Array {
  return new Uint8Array(readFileSync(`${FIXTURES_DIR}${name}.wasm`));
}

/** Asserts `fn` throws an error with `code` (and a message matching `message`, when given); returns it. */
export function throwsCode(fn: () => unknown, code: string, message?: RegExp): { code: string; message: string; details?: unknown } {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught !== undefined, `expected a ${code} error, nothing was thrown`);
  const err = caught as { code?: unknown; message?: unknown };
  assert.equal(err.code, code, `expected ${code}, got ${String(err.code)}: ${String(err.message)}`);
  if (message !== undefined) assert.match(String(err.message), message);
  return err as { code: string; message: string };
}
