import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { freePort, repoPath, repoText } from './helpers.js';

interface ScrapeConfig {
  job_name: string;
  static_configs?: { targets: string[] }[];
}
interface PromConfig {
  global?: Record<string, unknown>;
  rule_files?: string[];
  scrape_configs: ScrapeConfig[];
}

/**
 * The repository's prometheus.yml with only what a test must change: the wess job's target (the
 * test's Wess), a 1 s scrape and evaluation interval, and rule files made absolute (they are
 * relative to the config file, which the test writes elsewhere).
 */
export function testConfig(wessTarget: string): PromConfig {
  const config = parseYaml(repoText('prometheus.yml')) as PromConfig;
  const wess = config.scrape_configs.find((job) => job.job_name === 'wess');
  if (!wess?.static_configs?.length) throw new Error('prometheus.yml has no static wess scrape job');
  wess.static_configs = [{ targets: [wessTarget] }];
  config.global = { ...config.global, scrape_interval: '1s', evaluation_interval: '1s' };
  config.rule_files = (config.rule_files ?? []).map((file) => repoPath(file));
  return config;
}

/** A Prometheus server started for a test; `stop` kills it and removes its storage. */
export interface PrometheusServer {
  url: string;
  stop(): Promise<void>;
  /** GETs a Prometheus HTTP API path and returns its `data`; throws unless status is "success". */
  api<T>(path: string, params?: Record<string, string>): Promise<T>;
}

const running = new Set<ChildProcess>();
// Belt and braces: a test process that dies without running its after() hooks leaves no server.
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** Starts `binary` on a free port of 127.0.0.1 with `config`; resolves once it serves requests. */
export async function startPrometheus(binary: string, config: PromConfig): Promise<PrometheusServer> {
  const dir = await mkdtemp(join(tmpdir(), 'wess-prometheus-'));
  const configFile = join(dir, 'prometheus.yml');
  await writeFile(configFile, stringifyYaml(config));
  const port = await freePort();
  const child = spawn(
    binary,
    [`--config.file=${configFile}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=info'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  running.add(child);
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    }
    running.delete(child);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await ready(child);
  } catch (err) {
    await stop();
    throw err;
  }
  const url = `http://127.0.0.1:${port}`;
  return { url, stop, api: (path, params) => apiGet(url, path, params) };
}

/** Resolves when Prometheus logs that it serves web requests; rejects if it exits or takes 20 s. */
function ready(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let log = '';
    const timer = setTimeout(() => fail(new Error(`prometheus did not become ready in 20 s:\n${log}`)), 20_000);
    const onData = (chunk: Buffer) => {
      log += chunk.toString('utf8');
      if (log.includes('Server is ready to receive web requests')) done();
    };
    const onExit = (code: number | null) => fail(new Error(`prometheus exited with ${code}:\n${log}`));
    const cleanup = () => {
      clearTimeout(timer);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
      // Keep draining stderr so a chatty server never blocks on a full pipe.
      child.stderr?.resume();
    };
    const done = () => {
      cleanup();
      resolve();
    };
    const fail = (err: Error) => {
      cleanup();
      reject(err);
    };
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
  });
}

async function apiGet<T>(url: string, path: string, params: Record<string, string> = {}): Promise<T> {
  const query = new URLSearchParams(params).toString();
  const res = await fetch(`${url}${path}${query ? `?${query}` : ''}`);
  const body = (await res.json()) as { status: string; data: T; error?: string; errorType?: string };
  if (body.status !== 'success') throw new Error(`${path} ${JSON.stringify(params)}: ${body.errorType}: ${body.error}`);
  return body.data;
}

/** Polls `probe` every 100 ms until it returns a value (not undefined); fails after `ms`. */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not so after ${ms} ms${last ? ` (last error: ${String(last)})` : ''}`);
    // An external process has no event to wait on; Prometheus scrapes once a second.
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
