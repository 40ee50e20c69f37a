/** The README tells a newcomer to run the CLI as `npx wess …` from the clone: it must find the package's own bin. */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { VERSION } from '../../src/version.js';
import { ROOT } from '../helper.js';
import { closedPort } from './helper.js';

const haveNpx = spawnSync('npx', ['--version']).status === 0;

/** `npx ...args` in the clone, offline: a bin npx did not find locally must fail, not be fetched from a registry. */
function npx(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env: Record<string, string | undefined> = { ...process.env, npm_config_offline: 'true', npm_config_update_notifier: 'false' };
  for (const name of Object.keys(env)) if (name.startsWith('WESS_')) delete env[name];
  return new Promise((resolve, reject) => {
    const child = spawn('npx', ['--no', ...args], { cwd: fileURLToPath(ROOT), env });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('regression (issue 15, item 13): npx wess runs the package\'s own bin in a clone', { skip: !haveNpx && 'npx is not installed' }, async () => {
  // npm keeps --version for itself: after `--` it is wess's.
  const version = await npx(['--', 'wess', '--version']);
  assert.deepEqual([version.code, version.stdout], [0, `${VERSION}\n`], version.stderr);
  const url = `http://127.0.0.1:${await closedPort()}`;
  const ls = await npx(['wess', 'modules', 'ls', '--url', url]);
  assert.equal(ls.code, 3, ls.stderr);
  assert.match(ls.stderr, new RegExp(`^wess: cannot reach ${url.replaceAll('.', '\\.')}: connection refused$`, 'm'));
});
