// `npm test`: the node:test suites (unit, HTTP, conformance) and the cucumber features on the
// embedded LevelDB store, then everything that runs against a Wess app again on the PostgreSQL
// store, with one closing line that counts all of it: "N passed, N failed, N skipped".
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

const reports = mkdtempSync(join(tmpdir(), 'wess-test-report-'));

function run(command, args, { capture = false, env = {} } = {}) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', capture ? 'pipe' : 'inherit', 'inherit'], env: { ...process.env, ...env } });
    let out = '';
    child.stdout?.on('data', (chunk) => {
      out += chunk;
      process.stdout.write(chunk);
    });
    child.on('close', (code) => resolve({ code: code ?? 1, out }));
  });
}

// Only *.test.js files: given the folder, node --test would also run every helper module in it
// and count each as a passing test.
const files = readdirSync('dist/test', { recursive: true })
  .filter((file) => file.endsWith('.test.js'))
  .sort()
  .map((file) => join('dist/test', file));

/**
 * The files that test Wess through an app (HTTP, CLI, jobs, the conformance corpus, WASI): these run on
 * both stores. The rest test one engine's internals, config or processes, and run once.
 */
const onBothStores = files.filter((file) => /^dist\/test\/(http|cli|wasi|jobs)\//.test(file) || /^dist\/test\/(conformance|echo)\.test\.js$/.test(file));

/** One pass of node:test over `list` and cucumber, with `env`; its counts. */
async function pass(name, list, env) {
  console.log(`\n=== ${name} ===\n`);
  const tap = join(reports, `${name.replace(/\W+/g, '-')}.tap`);
  const unit = await run(process.execPath, [
    '--test',
    '--test-reporter=spec', '--test-reporter-destination=stdout',
    '--test-reporter=tap', `--test-reporter-destination=${tap}`,
    ...list,
  ], { env });
  const report = readFileSync(tap, 'utf8');
  const count = (label) => Number(report.match(new RegExp(`^# ${label} (\\d+)$`, 'm'))?.[1] ?? 0);
  const totals = { passed: count('pass'), failed: count('fail') + count('cancelled'), skipped: count('skipped') + count('todo') };

  const features = await run(process.execPath, ['node_modules/@cucumber/cucumber/bin/cucumber.js'], { capture: true, env });
  const scenarios = /(\d+) scenarios? \(([^)]*)\)/.exec(features.out);
  if (scenarios) {
    for (const part of (scenarios[2] ?? '').split(',')) {
      const [n, kind] = part.trim().split(' ');
      if (kind === 'passed') totals.passed += Number(n);
      else if (kind === 'skipped' || kind === 'pending') totals.skipped += Number(n);
      else totals.failed += Number(n);
    }
  } else if (features.code !== 0) {
    totals.failed += 1;
  }
  if (unit.code !== 0 && totals.failed === 0) totals.failed += 1;
  totals.ok = unit.code === 0 && features.code === 0;
  console.log(`\n${name}: node:test ${unit.code === 0 ? 'ok' : 'FAILED'}, cucumber ${features.code === 0 ? 'ok' : 'FAILED'}; ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
  return totals;
}

/** Whether the PostgreSQL the store's tests use answers (test/store/postgres/pg-helper.ts has the same URL). */
async function postgresUp() {
  const client = new pg.Client({ connectionString: process.env.WESS_TEST_PG_URL || 'postgres://postgres@127.0.0.1:5432/postgres', connectionTimeoutMillis: 2_000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

const results = [await pass('LevelDB store', files, { WESS_TEST_STORE: 'leveldb' })];
if (await postgresUp()) {
  results.push(await pass('PostgreSQL store', onBothStores, { WESS_TEST_STORE: 'postgres' }));
} else if (process.env.CI) {
  console.log('\nPostgreSQL store: POSTGRESQL NOT REACHABLE; under CI this FAILS');
  results.push({ passed: 0, failed: 1, skipped: 0, ok: false });
} else {
  console.log(`\n${'!'.repeat(72)}\nPostgreSQL store: POSTGRESQL NOT REACHABLE; the second pass (${onBothStores.length} files and the features) is SKIPPED\n${'!'.repeat(72)}`);
}

const sum = (key) => results.reduce((total, r) => total + r[key], 0);
console.log(`\n${results.length === 2 ? 'both stores' : 'LevelDB only'}: ${results.every((r) => r.ok) ? 'ok' : 'FAILED'}`);
console.log(`${sum('passed')} passed, ${sum('failed')} failed, ${sum('skipped')} skipped`);
process.exit(results.every((r) => r.ok) ? 0 : 1);
