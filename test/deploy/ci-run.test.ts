/**
 * .ci/run, executed: a copy of it in a temp tree whose `npm` is a stub that reports the environment
 * it was given and stops the script. CI's own guarantees do not depend on who calls it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { repoPath } from './helpers.js';

const top = mkdtempSync(join(tmpdir(), 'wess-ci-run-'));
after(() => rmSync(top, { recursive: true, force: true }));

/** Runs a copy of .ci/run from `<top>/<name>/repo` (with or without a corpus beside it) and a stub npm. */
function ciRun(name: string, withCorpus: boolean, env: Record<string, string> = {}): { status: number | null; out: string; npm: string } {
  const dir = join(top, name);
  mkdirSync(join(dir, 'repo', '.ci'), { recursive: true });
  copyFileSync(repoPath('.ci/run'), join(dir, 'repo', '.ci', 'run'));
  if (withCorpus) {
    mkdirSync(join(dir, 'shared', 'conformance'), { recursive: true });
    writeFileSync(join(dir, 'shared', 'conformance', 'index.json'), '{}');
  }
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  const report = join(dir, 'npm-saw');
  // The stub records what the first npm call saw, then fails so the script stops there.
  writeFileSync(join(bin, 'npm'), `#!/bin/sh\n[ "$1" = --version ] && { echo 0.0.0; exit 0; }\necho "args=$* CI=\${CI:-} OPTIONAL=\${WESS_CONFORMANCE_OPTIONAL:-} WASI_OPTIONAL=\${WESS_WASI_TESTSUITE_OPTIONAL:-} DIR=\${WESS_CONFORMANCE_DIR:-}" > '${report}'\nexit 42\n`);
  chmodSync(join(bin, 'npm'), 0o755);
  const base: Record<string, string> = { PATH: `${bin}:${process.env.PATH ?? ''}`, HOME: dir };
  const res = spawnSync('bash', [join(dir, 'repo', '.ci', 'run')], { env: { ...base, ...env }, encoding: 'utf8', timeout: 30_000 });
  return { status: res.status, out: res.stdout + res.stderr, npm: existsSync(report) ? readFileSync(report, 'utf8') : '' };
}

test('.ci/run sets CI=true and drops WESS_CONFORMANCE_OPTIONAL and WESS_WASI_TESTSUITE_OPTIONAL, whatever its caller exported', () => {
  const run = ciRun('env', true, { WESS_CONFORMANCE_OPTIONAL: '1', WESS_WASI_TESTSUITE_OPTIONAL: '1' });
  assert.equal(run.status, 42, `the script should stop at the stub npm: ${run.out}`);
  assert.match(run.npm, /^args=ci /, 'the first npm call is npm ci');
  assert.match(run.npm, /CI=true /);
  assert.match(run.npm, / OPTIONAL= /, 'WESS_CONFORMANCE_OPTIONAL must not reach the tests');
  assert.match(run.npm, / WASI_OPTIONAL= /, 'WESS_WASI_TESTSUITE_OPTIONAL must not reach the tests');
  assert.match(run.npm, /DIR=\/.*\/shared\/conformance$/m, 'the corpus beside the clone is found');
});

test('.ci/run fails before installing anything when the conformance corpus is missing', () => {
  const run = ciRun('missing', false);
  assert.equal(run.status, 1, run.out);
  assert.match(run.out, /conformance corpus MISSING/);
  assert.equal(run.npm, '', 'npm ci must not run without the corpus');
});

test('.ci/run fails when WESS_CONFORMANCE_DIR names a directory without the corpus', () => {
  const run = ciRun('wrong-dir', true, { WESS_CONFORMANCE_DIR: join(top, 'nowhere') });
  assert.equal(run.status, 1, run.out);
  assert.match(run.out, /conformance corpus MISSING/);
});
