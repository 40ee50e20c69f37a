import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { ROOT } from '../helper.js';

/** The built CLI, run the way a user's shell runs the package's bin. */
export const WESS_BIN = fileURLToPath(new URL('dist/src/cli/wess.js', ROOT));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** WESS_* variables for the child; the parent's own WESS_* never leak in. */
  env?: Record<string, string>;
  /** Bytes for the child's stdin (closed at once when absent). */
  input?: string;
  cwd?: string;
}

function childEnv(options: CliOptions): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('WESS_')) env[name] = value;
  return Object.assign(env, options.env);
}

/** Runs `node dist/src/cli/wess.js ...args` and resolves when it exits. */
export function wess(args: string[], options: CliOptions = {}): Promise<CliResult> {
  return runProcess(process.execPath, [WESS_BIN, ...args], { env: childEnv(options), cwd: options.cwd, input: options.input });
}

/** Runs `command` in the clone (unless `cwd` says otherwise) with exactly `env`, and resolves with its exit code and output. */
export function runProcess(command: string, args: string[], options: { env: Record<string, string | undefined>; cwd?: string; input?: string }): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: options.env, cwd: options.cwd ?? fileURLToPath(ROOT) });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}

/** A port on 127.0.0.1 that nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (!address || typeof address !== 'object') throw new Error('no port');
  return address.port;
}

/** Asserts-friendly view of stderr: its lines, without the trailing empty one. */
export function lines(text: string): string[] {
  return text.split('\n').filter((line) => line !== '');
}

/** A `wess` that keeps running (`wess events`): its stdout lines as they come, and its end. */
export interface Following {
  child: ChildProcess;
  /** Resolves with the first stdout line, from now on or already seen, that `match` accepts. */
  nextLine(match: (line: string) => boolean): Promise<string>;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `wess ...args` without waiting for it to end. */
export function follow(args: string[], options: CliOptions = {}): Following {
  const child = spawn(process.execPath, [WESS_BIN, ...args], { env: childEnv(options), cwd: options.cwd ?? fileURLToPath(ROOT), stdio: ['ignore', 'pipe', 'pipe'] });
  const seen: string[] = [];
  const waiters: Array<{ match: (line: string) => boolean; resolve: (line: string) => void }> = [];
  let pending = '';
  let stderr = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    pending += chunk;
    const parts = pending.split('\n');
    pending = parts.pop() ?? '';
    for (const line of parts) {
      seen.push(line);
      for (const waiter of waiters.splice(0)) {
        if (waiter.match(line)) waiter.resolve(line);
        else waiters.push(waiter);
      }
    }
  });
  return {
    child,
    stderr: () => stderr,
    exited,
    nextLine(match) {
      const found = seen.find(match);
      if (found !== undefined) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        waiters.push({ match, resolve });
        void exited.then(() => reject(new Error(`wess exited before the expected line; stderr: ${stderr}`)));
      });
    },
  };
}
