/**
 * `npm run build` (which `npm start` runs first) in a copy of the sources: a fresh tree builds, a
 * second build with nothing changed emits nothing, and a changed source file is emitted again.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { repoPath } from './helpers.js';

const top = mkdtempSync(join(tmpdir(), 'wess-build-'));
after(() => rmSync(top, { recursive: true, force: true }));

function build(dir: string): void {
  const res = spawnSync('npm', ['run', 'build'], { cwd: dir, encoding: 'utf8', timeout: 300_000 });
  assert.equal(res.status, 0, `npm run build failed:\n${res.stdout}\n${res.stderr}`);
}

test('regression (issue 15, item 20): the build is incremental: nothing changed, nothing emitted; a changed file is emitted again', { timeout: 600_000 }, () => {
  // The sources only (not test/ or bench/): what `npm start` needs, and a quicker full build.
  for (const path of ['package.json', 'tsconfig.json', 'src']) cpSync(repoPath(path), join(top, path), { recursive: true });
  symlinkSync(repoPath('node_modules'), join(top, 'node_modules'));
  const main = join(top, 'dist', 'src', 'main.js');
  const version = join(top, 'dist', 'src', 'version.js');

  build(top);
  assert.ok(existsSync(main), 'a fresh tree is built');
  const built = statSync(main).mtimeMs;
  const before = readFileSync(version, 'utf8');

  build(top);
  assert.equal(statSync(main).mtimeMs, built, 'nothing changed: main.js was not written again');

  const source = join(top, 'src', 'version.ts');
  writeFileSync(source, `${readFileSync(source, 'utf8')}\n// build probe: changed\n`);
  build(top);
  assert.notEqual(readFileSync(version, 'utf8'), before, 'the changed file was emitted again');
  assert.match(readFileSync(version, 'utf8'), /build probe: changed/);
});
