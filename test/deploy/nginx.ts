/**
 * deploy/nginx/wess.conf run by a real nginx for a test: the repository's file, with only what a
 * test must change (the upstream servers, the listen address, the log directory), inside a main
 * config whose pid, logs and temporary files are in a directory of its own.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, repoText } from './helpers.js';

/** The `server host:port …;` lines of the `upstream wess { … }` block, as host:port. */
export function upstreamServers(conf: string): string[] {
  const block = /upstream\s+wess\s*\{([^}]*)\}/.exec(conf)?.[1];
  if (block === undefined) throw new Error('no upstream wess block');
  return [...block.matchAll(/^\s*server\s+(\S+?)[\s;]/gm)].map((match) => match[1] as string);
}

/** The repository's file for a test: these upstream servers, this listen address, logs in `dir`. */
export function siteConfig(upstreams: string[], listen: string, dir: string): string {
  const conf = repoText('deploy/nginx/wess.conf');
  const servers = upstreamServers(conf);
  if (servers.length !== upstreams.length) throw new Error(`the repo config has ${servers.length} upstream servers, the test ${upstreams.length}`);
  let out = conf;
  servers.forEach((server, i) => (out = out.replace(new RegExp(`(\\n\\s*server\\s+)${server.replace(/[.]/g, '\\.')}(?=[\\s;])`), `$1${upstreams[i] as string}`)));
  out = out.replace(/\n(\s*)listen\s+80;/, `\n$1listen ${listen};`);
  return out.replaceAll('/var/log/nginx/', `${dir}/`);
}

/** A main config around `site`: in the foreground, everything it writes in `dir`. */
export function mainConfig(sitePath: string, dir: string): string {
  // Run as root, nginx hands its workers to an unprivileged user that cannot write a mkdtemp dir.
  const user = process.getuid?.() === 0 ? 'user root;\n' : '';
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((kind) => `  ${kind}_temp_path ${dir}/${kind};`).join('\n');
  return `${user}daemon off;\nworker_processes 1;\npid ${dir}/nginx.pid;\nerror_log stderr notice;\nevents {}\nhttp {\n${temp}\n  include ${sitePath};\n}\n`;
}

export interface Nginx {
  base: string;
  dir: string;
  /** The access log's lines so far. */
  accessLog(): Promise<string>;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** Writes the configs to a temp dir and runs `nginx -t` on them; the dir and the main config's path. */
export async function writeConfigs(upstreams: string[], listen: string): Promise<{ dir: string; main: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'wess-nginx-'));
  const site = join(dir, 'wess.conf');
  await writeFile(site, siteConfig(upstreams, listen, dir));
  const main = join(dir, 'nginx.conf');
  await writeFile(main, mainConfig(site, dir));
  return { dir, main };
}

/** Starts `binary` in front of `upstreams` on a free port; resolves once it has started its worker. */
export async function startNginx(binary: string, upstreams: string[]): Promise<Nginx> {
  const port = await freePort();
  const { dir, main } = await writeConfigs(upstreams, `127.0.0.1:${port}`);
  const child = spawn(binary, ['-c', main, '-p', `${dir}/`, '-e', 'stderr'], { stdio: ['ignore', 'ignore', 'pipe'] });
  running.add(child);
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      // SIGTERM: nginx's fast shutdown, which also ends its worker (a SIGKILL would orphan it).
      child.kill('SIGTERM');
      await exited;
    }
    running.delete(child);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await started(child);
  } catch (err) {
    await stop();
    throw err;
  }
  return { base: `http://127.0.0.1:${port}`, dir, stop, accessLog: () => readFile(join(dir, 'access.log'), 'utf8').catch(() => '') };
}

/** Resolves when nginx logs that it started a worker (its socket is bound before that); rejects if it exits or takes 20 s. */
function started(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let log = '';
    const timer = setTimeout(() => finish(new Error(`nginx did not start in 20 s:\n${log}`)), 20_000);
    const onData = (chunk: Buffer) => {
      log += chunk.toString('utf8');
      if (log.includes('start worker process')) finish();
    };
    const onExit = (code: number | null) => finish(new Error(`nginx exited with ${code}:\n${log}`));
    const finish = (err?: Error) => {
      clearTimeout(timer);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
      child.stderr?.resume();
      if (err) reject(err);
      else resolve();
    };
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
  });
}
