/** The README tells a newcomer to run the CLI as `npx wess …` from the clone: it must find the package's own bin. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { VERSION } from '../../src/version.js';
import { closedPort, runProcess, type CliResult } from './helper.js';

const haveNpx = spawnSync('npx', ['--version']).status === 0;

/** `npx ...args` in the clone, offline: a bin npx did not find locally must fail, not be fetched from a registry. */
function npx(args: string[]): Promise<CliResult> {
  const env: Record<string, string | undefined> = { ...process.env, npm_config_offline: 'true', npm_config_update_notifier: 'false' };
  for (const name of Object.keys(env)) if (name.startsWith('WESS_')) delete env[name];
  return runProcess('npx', ['--no', ...args], { env });
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
