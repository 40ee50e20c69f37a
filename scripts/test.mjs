// `npm test`: the node:test suites (unit, HTTP, conformance) and then the cucumber features,
// with one closing line that counts both: "N passed, N failed, N skipped".
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const tap = join(mkdtempSync(join(tmpdir(), 'wess-test-report-')), 'report.tap');

function run(command, args, { capture = false } = {}) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', capture ? 'pipe' : 'inherit', 'inherit'] });
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
const unit = await run(process.execPath, [
  '--test',
  '--test-reporter=spec', '--test-reporter-destination=stdout',
  '--test-reporter=tap', `--test-reporter-destination=${tap}`,
  ...files,
]);
const report = readFileSync(tap, 'utf8');
const count = (name) => Number(report.match(new RegExp(`^# ${name} (\\d+)$`, 'm'))?.[1] ?? 0);
let passed = count('pass');
let failed = count('fail') + count('cancelled');
let skipped = count('skipped') + count('todo');

const features = await run(process.execPath, ['node_modules/@cucumber/cucumber/bin/cucumber.js'], { capture: true });
const scenarios = /(\d+) scenarios? \(([^)]*)\)/.exec(features.out);
if (scenarios) {
  for (const part of (scenarios[2] ?? '').split(',')) {
    const [n, kind] = part.trim().split(' ');
    if (kind === 'passed') passed += Number(n);
    else if (kind === 'skipped' || kind === 'pending') skipped += Number(n);
    else failed += Number(n);
  }
} else if (features.code !== 0) {
  failed += 1;
}
if (unit.code !== 0 && failed === 0) failed += 1;
console.log(`\nnode:test ${unit.code === 0 ? 'ok' : 'FAILED'}, cucumber ${features.code === 0 ? 'ok' : 'FAILED'}`);
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(unit.code === 0 && features.code === 0 ? 0 : 1);
