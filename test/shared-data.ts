/**
 * Finding third-party test data that lives beside the repository in ../shared/ (the spec conformance
 * corpus, the WASI test suite), and the one rule for tests that need it: run on it, or skip loudly
 * outside CI, or fail under CI. Kept apart from helper.ts so that tests of src/wasm can use it
 * without loading the whole app.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One data set: where it is looked for and what proves a directory holds it. */
export interface SharedDataSpec {
  /** What the warning calls it, e.g. "spec conformance corpus". */
  readonly title: string;
  /** The directory name under ../shared/ beside the repository root. */
  readonly besideRepo: string;
  /** The env variable that names its directory; when set, the only place looked at. */
  readonly dirEnv: string;
  /** The env variable that lets a CI run without it (GitHub Actions, which has no ../shared). */
  readonly optionalEnv: string;
  /** A path inside the directory that exists only when the data is there. */
  readonly marker: string;
}

export const CONFORMANCE_CORPUS: SharedDataSpec = {
  title: 'spec conformance corpus',
  besideRepo: 'conformance',
  dirEnv: 'WESS_CONFORMANCE_DIR',
  optionalEnv: 'WESS_CONFORMANCE_OPTIONAL',
  marker: 'index.json',
};

export const WASI_TESTSUITE: SharedDataSpec = {
  title: 'WASI test suite',
  besideRepo: 'wasi-testsuite',
  dirEnv: 'WESS_WASI_TESTSUITE_DIR',
  optionalEnv: 'WESS_WASI_TESTSUITE_OPTIONAL',
  marker: 'tests',
};

/**
 * Where the data set is, or undefined when this clone has none. A directory named by its env
 * variable is the only place looked at: falling back to another copy would test something other
 * than what was asked for, and would hide a wrong path.
 */
export function sharedDataDir(spec: SharedDataSpec, env: NodeJS.ProcessEnv = process.env): string | undefined {
  // ../shared/<name> beside the repository root (tests run from dist/test/).
  const dir = env[spec.dirEnv] || fileURLToPath(new URL(`../../../shared/${spec.besideRepo}`, import.meta.url));
  return existsSync(join(dir, spec.marker)) ? dir : undefined;
}

/** True where a missing data set must fail the run: under CI, unless the workflow says it cannot have one. */
export function sharedDataRequired(spec: SharedDataSpec, env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(env.CI) && !env[spec.optionalEnv];
}

export interface SharedData {
  /** node:test options for a test or suite on the data: skipped (a reported skip, never a pass) when it is missing and not required. */
  readonly options: { skip: string | false };
  /** The data's directory; fails the running test when there is none (reached only when the data is required). */
  dir(): string;
}

/** The data set for the tests of this file, announcing loudly when it is missing. */
export function sharedData(spec: SharedDataSpec, env: NodeJS.ProcessEnv = process.env): SharedData {
  const dir = sharedDataDir(spec, env);
  const required = sharedDataRequired(spec, env);
  const named = env[spec.dirEnv];
  const missing = `${spec.title.toUpperCase()} NOT FOUND${named ? ` at ${spec.dirEnv}=${named}` : ''}: `
    + `set ${spec.dirEnv} or place it at ../shared/${spec.besideRepo}. `
    + (required ? `Under CI (CI set, ${spec.optionalEnv} unset) its tests FAIL.` : `Tests on the ${spec.title} are SKIPPED.`);
  if (dir === undefined) console.warn(`\n${'!'.repeat(missing.length)}\n${missing}\n${'!'.repeat(missing.length)}\n`);
  return {
    options: { skip: dir === undefined && !required ? missing : false },
    dir() {
      if (dir === undefined) assert.fail(missing);
      return dir;
    },
  };
}
