/**
 * The Dockerfile, without a Docker engine: its stages and runtime settings, its HEALTHCHECK command
 * run for real against a live Wess and against a closed port, and the runtime stage's file set
 * (package*.json, dist/src, production-only node_modules, wess.toml) started as the image would.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { copyFile, cp, link, mkdir, mkdtemp, readdir, readlink, rm, symlink } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TEST_ADMIN_KEY, fixture, listen, startApp, type TestApp } from '../helper.js';
import { copies, env, healthcheck, instructions, parseDockerfile, type Stage } from './dockerfile.js';
import { freePort, repoPath, repoText } from './helpers.js';

const dockerfile = parseDockerfile(repoText('Dockerfile'));
const runtime = dockerfile.stages.at(-1) as Stage;
/** The runtime stage's exec-form CMD. */
const command = JSON.parse(instructions(runtime, 'CMD')[0]?.args ?? '[]') as string[];

/**
 * Runs the HEALTHCHECK's exec-form command as Docker would, with `port` as the server's port. Not
 * spawnSync: the Wess it checks may live in this very process and must keep answering.
 */
async function runHealthcheck(port: number): Promise<number | null> {
  const [command = '', ...args] = healthcheck(runtime).command;
  const child = spawn(command === 'node' ? process.execPath : command, args, {
    env: { ...process.env, ...env(runtime), WESS_SERVER_PORT: String(port) },
    stdio: 'ignore',
    timeout: 10_000,
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  return code;
}

test('multi-stage, and the runtime stage is non-root with a volume, a port and a health check', () => {
  assert.ok(dockerfile.stages.length >= 2, 'a build stage and a runtime stage');
  assert.match(dockerfile.globalArgs.NODE_IMAGE ?? '', /^node:20-\S*slim$/);
  const build = dockerfile.stages[0] as Stage;
  const buildRuns = instructions(build, 'RUN').map((i) => i.args).join('\n');
  for (const step of ['npm ci', 'npm run build', 'npm prune --omit=dev']) assert.ok(buildRuns.includes(step), `build stage lacks ${step}`);

  const users = instructions(runtime, 'USER').map((i) => i.args);
  assert.equal(users.length, 1);
  assert.ok(!['root', '0', '0:0'].includes(users[0] ?? ''), `runtime USER is ${users[0]}`);
  const volumes = instructions(runtime, 'VOLUME').flatMap((i) => JSON.parse(i.args) as string[]);
  assert.deepEqual(volumes, ['/data']);
  assert.equal(env(runtime).WESS_DB_PATH, '/data', 'the database lives in the volume');
  assert.ok(instructions(runtime, 'RUN').some((i) => /chown (\S+) \/data/.test(i.args) && i.args.includes(`chown ${users[0]}:`)), 'the non-root user owns /data');
  assert.deepEqual(instructions(runtime, 'EXPOSE').map((i) => i.args), ['8080']);
  assert.equal(env(runtime).WESS_SERVER_PORT, '8080');
  // The image runs what `npm start` runs, its node flags included (node is PID 1, so not through npm).
  const start = (JSON.parse(repoText('package.json')) as { scripts: Record<string, string> }).scripts.start ?? '';
  assert.deepEqual(command, start.split(' '));
  assert.deepEqual([command[0], command.at(-1)], ['node', 'dist/src/main.js']);
  const check = healthcheck(runtime);
  assert.equal(check.command[0], 'node', 'no curl in slim images');
  assert.ok(check.command.join(' ').includes('/health/live'));
  assert.ok(check.options.interval && check.options.timeout && check.options['start-period']);
  // Only built output, production modules, the config and the web console's files (served as they are) reach the runtime image.
  const sources = copies(runtime).flatMap((c) => c.sources);
  assert.deepEqual(sources.sort(), ['/app/dist/src', '/app/node_modules', '/app/package-lock.json', '/app/package.json', 'web', 'wess.toml']);
});

describe('the HEALTHCHECK command, executed', () => {
  let wess: TestApp;
  let port: number;
  before(async () => {
    wess = await startApp({ server: { workers: 1 }, log: { level: 'warn' } });
    port = Number(new URL(await listen(wess.app)).port);
  });
  after(() => wess.close());

  test('exits 0 against a live Wess', async () => {
    assert.equal(await runHealthcheck(port), 0);
  });

  test('exits non-zero when nothing listens', async () => {
    assert.equal(await runHealthcheck(await freePort()), 1);
  });
});

/** Package directories `npm ci --omit=dev` installs, read from package-lock.json. */
function productionPackages(): string[] {
  const lock = JSON.parse(readFileSync(repoPath('package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean; link?: boolean }> };
  return Object.entries(lock.packages)
    .filter(([path, meta]) => path.startsWith('node_modules/') && !meta.dev && !meta.link)
    .map(([path]) => path)
    .filter((path) => existsSync(repoPath(path))); // optional packages for other platforms are absent
}

/**
 * Hard-links a package directory's files (copies across file systems), leaving out its nested
 * node_modules: linking is what keeps this test within a second or two, copying took several.
 */
async function linkTree(src: string, dest: string): Promise<void> {
  await mkdir(dest, { recursive: true });
  for (const entry of await readdir(src, { withFileTypes: true })) {
    const from = join(src, entry.name);
    const to = join(dest, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'node_modules') await linkTree(from, to);
    } else if (entry.isSymbolicLink()) {
      await symlink(await readlink(from), to);
    } else {
      await link(from, to).catch((err: NodeJS.ErrnoException) => (err.code === 'EXDEV' ? copyFile(from, to) : Promise.reject(err)));
    }
  }
}

/** Copies what the runtime stage's COPY lines bring into /app, node_modules pruned to production. */
async function assembleRuntime(dir: string): Promise<void> {
  for (const { from, sources } of copies(runtime)) {
    for (const source of sources) {
      const rel = from ? source.replace(/^\/app\//, '') : source;
      if (rel !== 'node_modules') {
        await cp(repoPath(rel), join(dir, rel), { recursive: true });
        continue;
      }
      // Nested node_modules are lockfile entries of their own, linked (or not) on their own.
      for (const pkg of productionPackages()) await linkTree(repoPath(pkg), join(dir, pkg));
    }
  }
}

test('the runtime file set starts, answers /health/live, runs a module and stops cleanly', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'wess-image-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await assembleRuntime(dir);
  for (const dev of ['typescript', 'eslint', '@cucumber/cucumber', 'autocannon']) assert.ok(!existsSync(join(dir, 'node_modules', dev)), `${dev} (dev) left out`);
  assert.ok(existsSync(join(dir, 'node_modules/classic-level')));

  const port = await freePort();
  // Started as the image's CMD starts it.
  const child = spawn(process.execPath, command.slice(1), {
    cwd: dir,
    env: { PATH: process.env.PATH, ...env(runtime), WESS_DB_PATH: join(dir, 'data'), WESS_SERVER_HOST: '127.0.0.1', WESS_SERVER_PORT: String(port), WESS_ADMIN_KEY: TEST_ADMIN_KEY },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      if (out.includes('wess is ready')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`wess exited with ${code}:\n${out}`)));
  });

  assert.equal(await runHealthcheck(port), 0);
  const base = `http://127.0.0.1:${port}`;
  const auth = { authorization: `Bearer ${TEST_ADMIN_KEY}` };
  const created = await fetch(`${base}/modules?name=add`, { method: 'POST', headers: { ...auth, 'content-type': 'application/wasm' }, body: fixture('add') });
  assert.equal(created.status, 201, await created.clone().text());
  const { id } = (await created.json()) as { id: string };
  const ran = await fetch(`${base}/modules/${id}/run`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ function: 'add', args: [2, 3] }) });
  assert.deepEqual(((await ran.json()) as { results: unknown[] }).results, [5]);

  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  assert.deepEqual(await exited, [0, null], out);
});
