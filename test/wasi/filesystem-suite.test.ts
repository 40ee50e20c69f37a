/**
 * The official WASI preview-1 test suite's filesystem tests (the 49 whose spec preopens a `root`
 * directory), run straight through WasiProcess in this thread: the root directory packed into a files
 * image as a version's files would be, the program's `_start` run with the spec's args and env, its
 * exit code and (when given) stdout compared. Each test runs twice on the same image, as two calls of
 * one version would: the second sees the pristine files again and the image's bytes never change.
 * The same tests over HTTP are in testsuite.test.ts.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { WasiFiles } from '../../src/wasi/types.js';
import { WASI_TESTSUITE, sharedData, sharedDataDir } from '../shared-data.js';
import { filesOf, packEntries, runProgram, type RunResult } from './helpers.js';

interface TestSpec {
  args: string[];
  env: Record<string, string>;
  exit_code: number;
  stdout?: string;
  root: string | null;
}

interface FsTest {
  name: string;
  wasm: string;
  root: string;
  spec: TestSpec;
}

const LANGUAGES = ['assemblyscript', 'c', 'rust'] as const;

function discover(dir: string): FsTest[] {
  const tests: FsTest[] = [];
  for (const language of LANGUAGES) {
    const at = join(dir, 'tests', language, 'testsuite', 'wasm32-wasip1');
    for (const file of readdirSync(at).filter((f) => f.endsWith('.json') && f !== 'manifest.json').sort()) {
      const base = file.slice(0, -'.json'.length);
      const given = JSON.parse(readFileSync(join(at, file), 'utf8')) as Partial<TestSpec>;
      const spec: TestSpec = { args: [], env: {}, exit_code: 0, root: null, ...given };
      if (spec.root === null || !existsSync(join(at, `${base}.wasm`))) continue;
      tests.push({ name: `${language}/${base}`, wasm: join(at, `${base}.wasm`), root: join(at, spec.root), spec });
    }
  }
  return tests;
}

const suite = sharedData(WASI_TESTSUITE);
const suiteDir = sharedDataDir(WASI_TESTSUITE);
const tests = suiteDir === undefined ? [] : discover(suiteDir);
const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

describe('the WASI test suite\'s filesystem tests, in process', suite.options, () => {
  const images = new Map<string, WasiFiles>();
  const filesFor = (root: string): WasiFiles => {
    let files = images.get(root);
    if (files === undefined) {
      files = filesOf(packEntries(root));
      images.set(root, files);
    }
    return files;
  };

  test('the suite has its 49 filesystem tests', () => {
    suite.dir();
    assert.equal(tests.length, 49, tests.map((t) => t.name).join(', '));
  });

  for (const { name, wasm, root, spec } of tests) {
    test(name, () => {
      const files = filesFor(root);
      const before = sha256(files.image);
      const module = new WebAssembly.Module(readFileSync(wasm));
      const run = (): RunResult => runProgram(name.split('/')[1] as string, { args: spec.args, env: Object.entries(spec.env), files }, module);
      for (const round of ['first run', 'second run, on the same image']) {
        const r = run();
        const shown = `${round}: stdout ${JSON.stringify(r.out)}, stderr ${JSON.stringify(r.err)}`;
        assert.equal(r.exitCode, spec.exit_code, `exit code; ${shown}`);
        if (spec.stdout !== undefined) assert.equal(r.out, spec.stdout, shown);
      }
      assert.equal(sha256(files.image), before, 'the image is only ever read');
    });
  }
});
