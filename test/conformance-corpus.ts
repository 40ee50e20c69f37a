/**
 * The spec conformance corpus (../shared/conformance or WESS_CONFORMANCE_DIR), under the rule of
 * shared-data.ts: run on it, or skip loudly outside CI, or fail under CI.
 */
import { CONFORMANCE_CORPUS, sharedData, sharedDataDir, sharedDataRequired, type SharedData } from './shared-data.js';

/** Where the spec conformance corpus is, or undefined when this clone has none. */
export function conformanceDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return sharedDataDir(CONFORMANCE_CORPUS, env);
}

/** True where a missing corpus must fail the run: under CI, unless WESS_CONFORMANCE_OPTIONAL is set (GitHub Actions). */
export function corpusRequired(env: NodeJS.ProcessEnv = process.env): boolean {
  return sharedDataRequired(CONFORMANCE_CORPUS, env);
}

export type Corpus = SharedData;

/** The corpus for the tests of this file, announcing loudly when it is missing. */
export function conformanceCorpus(env: NodeJS.ProcessEnv = process.env): Corpus {
  return sharedData(CONFORMANCE_CORPUS, env);
}
