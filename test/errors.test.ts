/** The error list and its documentation stay in step: every code is in the README's table with its status. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ERROR_CODES, WessError, hasErrorCode } from '../src/errors.js';
import { ROOT } from './helper.js';

const readme = readFileSync(new URL('README.md', ROOT), 'utf8');
const table = readme.slice(readme.indexOf('### Errors'), readme.indexOf('## Configuration'));

test('every error code is documented in the README with its status, and nothing else is', () => {
  const documented = new Map<string, number>();
  for (const row of table.split('\n').filter((line) => /^\| \d{3} \|/.test(line))) {
    const status = Number(row.slice(2, 5));
    for (const [, code] of row.matchAll(/`([A-Z_]+)`/g)) if (code) documented.set(code, status);
  }
  for (const [code, { status }] of Object.entries(ERROR_CODES)) {
    assert.equal(documented.get(code), status, `${code} (${status}) is not in the README's error table with that status`);
  }
  for (const code of documented.keys()) assert.ok(Object.hasOwn(ERROR_CODES, code), `README documents ${code}, which src/errors.ts does not define`);
});

test('coded errors survive a structured clone (as across a worker thread)', () => {
  const cloned: unknown = structuredClone({ code: 'WASM_TRAP', message: 'unreachable' });
  assert.ok(hasErrorCode(cloned));
  const err = new WessError('EXECUTION_TIMEOUT', 'late');
  assert.equal(err.statusCode, 408);
  assert.equal(hasErrorCode({ code: 'NOPE', message: 'x' }), false);
});
