/**
 * .github/workflows/ci.yml, parsed: lint, type check and the tests on Node 20 and 22 with a Redis
 * service and Prometheus installed, and every npm script it runs exists.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { repoText, repoYaml } from './helpers.js';

interface Step { uses?: string; run?: string; with?: Record<string, unknown>; env?: Record<string, string> }
interface Job {
  'runs-on': string;
  strategy?: { matrix: Record<string, unknown[]> };
  services?: Record<string, { image: string; ports?: string[] }>;
  steps: Step[];
}
interface Workflow { on: unknown; jobs: Record<string, Job> }

const workflow = repoYaml<Workflow>('.github/workflows/ci.yml');
const job = (name: string): Job => {
  const found = workflow.jobs[name];
  assert.ok(found, `no ${name} job`);
  return found;
};
const runs = (j: Job): string => j.steps.map((s) => s.run ?? '').join('\n');

test('lint, typecheck and test jobs run the npm scripts', () => {
  assert.ok(workflow.on, 'the workflow has triggers');
  assert.match(runs(job('lint')), /^npm run lint$/m);
  assert.match(runs(job('typecheck')), /^npm run typecheck$/m);
  assert.match(runs(job('test')), /^npm test$/m);
  for (const j of Object.values(workflow.jobs)) {
    assert.match(j['runs-on'], /^ubuntu-/);
    assert.ok(j.steps.some((s) => s.uses?.startsWith('actions/checkout@')), 'every job checks out the code');
  }
});

test('every npm script the workflow runs exists in package.json', () => {
  const scripts = (JSON.parse(repoText('package.json')) as { scripts: Record<string, string> }).scripts;
  const named = Object.values(workflow.jobs).flatMap((j) => [...runs(j).matchAll(/npm run (\S+)/g)].map((m) => m[1] ?? ''));
  assert.ok(named.length >= 2);
  for (const script of named) assert.ok(scripts[script], `the workflow runs "npm run ${script}", which package.json lacks`);
  assert.ok(scripts.test);
});

test('tests run on Node 20 and 22, with a Redis service on 6379 and Prometheus installed', () => {
  const tests = job('test');
  assert.deepEqual(tests.strategy?.matrix.node, [20, 22]);
  const setup = tests.steps.find((s) => s.uses?.startsWith('actions/setup-node@'));
  assert.equal(setup?.with?.['node-version'], '${{ matrix.node }}');
  const redis = Object.values(tests.services ?? {}).find((s) => s.image.startsWith('redis'));
  assert.deepEqual(redis?.ports, ['6379:6379']);
  assert.match(runs(tests), /apt-get install -y .*\bprometheus\b/);
  assert.match(runs(tests), /apt-get install -y .*\bredis-server\b/, 'the rate-limit tests start /usr/bin/redis-server');
  // The install must come before the tests.
  const install = tests.steps.findIndex((s) => /apt-get install/.test(s.run ?? ''));
  const npmTest = tests.steps.findIndex((s) => s.run === 'npm test');
  assert.ok(install !== -1 && install < npmTest);
  // No conformance corpus or WASI test suite on GitHub: they skip loudly there. CI stays set, so Prometheus stays required.
  const testEnv = tests.steps[npmTest]?.env ?? {};
  assert.equal(testEnv.WESS_CONFORMANCE_OPTIONAL, '1');
  assert.equal(testEnv.WESS_WASI_TESTSUITE_OPTIONAL, '1');
  assert.equal(testEnv.CI, undefined);
});

test('lint and typecheck use Node 20 too, with the npm cache', () => {
  for (const name of ['lint', 'typecheck']) {
    const setup = job(name).steps.find((s) => s.uses?.startsWith('actions/setup-node@'));
    assert.equal(setup?.with?.['node-version'], 20);
    assert.equal(setup?.with?.cache, 'npm');
    assert.match(runs(job(name)), /^npm ci/m);
  }
});
