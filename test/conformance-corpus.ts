/**
 * Finding the spec conformance corpus, and the one rule for tests that need it: run on it, or skip
 * loudly outside CI, or fail under CI. Kept apart from helper.ts so that tests of src/wasm can use
 * it without loading the whole app.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** ../shared/conformance beside the repository root (tests run from dist/test/). */
const BESIDE_REPO = fileURLToPath(new URL('../../../shared/conformance', import.meta.url));

/**
 * Where the spec conformance corpus is, or undefined when this clone has none. A WESS_CONFORMANCE_DIR
 * that is set is the only place looked at: falling back to another corpus would test something other
 * than what was asked for, and would hide a wrong path.
 */
export function conformanceDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const dir = env.WESS_CONFORMANCE_DIR || BESIDE_REPO;
  return existsSync(join(dir, 'index.json')) ? dir : undefined;
}

/** True where a missing corpus must fail the run: under CI, unless the workflow says it cannot have one (GitHub Actions). */
export function corpusRequired(env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(env.CI) && !env.WESS_CONFORMANCE_OPTIONAL;
}

export interface Corpus {
  /** node:test options for a test or suite on the corpus: skipped (a reported skip, never a pass) when it is missing and not required. */
  readonly options: { skip: string | false };
  /** The corpus directory; fails the running test when there is none (reached only when the corpus is required). */
  dir(): string;
}

/** The corpus for the tests of this file, announcing loudly when it is missing. */
export function conformanceCorpus(env: NodeJS.ProcessEnv = process.env): Corpus {
  const dir = conformanceDir(env);
  const required = corpusRequired(env);
  const missing = `SPEC CONFORMANCE CORPUS NOT FOUND${env.WESS_CONFORMANCE_DIR ? ` at WESS_CONFORMANCE_DIR=${env.WESS_CONFORMANCE_DIR}` : ''}: `
    + 'set WESS_CONFORMANCE_DIR or place it at ../shared/conformance. '
    + (required ? 'Under CI (CI set, WESS_CONFORMANCE_OPTIONAL unset) its tests FAIL.' : 'Conformance tests are SKIPPED.');
  if (dir === undefined) console.warn(`\n${'!'.repeat(missing.length)}\n${missing}\n${'!'.repeat(missing.length)}\n`);
  return {
    options: { skip: dir === undefined && !required ? missing : false },
    dir() {
      if (dir === undefined) assert.fail(missing);
      return dir;
    },
  };
}
