import type { Command } from 'commander';
import { WessClient } from './client.js';
import { Output } from './output.js';

/** Where the CLI reads and writes: the real process in `wess.ts`, buffers in tests. */
export interface CliIo {
  stdout: { write(chunk: string | Uint8Array): unknown };
  stderr: { write(chunk: string | Uint8Array): unknown };
  stdin: AsyncIterable<Buffer | string>;
  /** The environment, read only while resolving options (here and in `config check`). */
  env: Record<string, string | undefined>;
}

/** Everything a command needs once the global options are resolved. */
export interface CliContext {
  /** Base URL of the server, without a trailing slash. */
  url: string;
  key: string | undefined;
  json: boolean;
  io: CliIo;
  client: WessClient;
  out: Output;
}

/** A command's work: resolves to the exit code (0 when it returns nothing); failures throw CliError. */
export type Handler = (ctx: CliContext, command: Command) => Promise<number | void>;

/**
 * What a module registering commands gets from the program builder (commands/*.ts). A command is
 * `group.command('name <arg>').option(...).action(deps.action(async (ctx, command) => { ... }))`:
 * read args from `command.processedArgs` and options from `command.opts()`, talk to the server with
 * `ctx.client`, print with `ctx.out` (it honours --json), throw `cliError(code, message, EXIT.X)` to
 * fail with one line on stderr. `--url`, `--key` and `--json` are added to every command for you.
 */
export interface CliDeps {
  io: CliIo;
  /** Resolves the global options (`--url`/WESS_URL, `--key`/WESS_KEY, `--json`) for the running command. */
  contextOf(command: Command): CliContext;
  /** Wraps a handler as a commander action: resolves the context, records the exit code. */
  action(handler: Handler): (...args: unknown[]) => Promise<void>;
}

export const DEFAULT_URL = 'http://127.0.0.1:8080';

interface GlobalOptions {
  url?: string;
  key?: string;
  json?: boolean;
}

/** Flags win over the environment, which wins over the defaults. */
export function contextOf(command: Command, io: CliIo): CliContext {
  const opts = command.optsWithGlobals<GlobalOptions>();
  const url = (opts.url ?? io.env.WESS_URL ?? DEFAULT_URL).replace(/\/+$/, '');
  const key = opts.key ?? (io.env.WESS_KEY || undefined);
  const json = opts.json === true;
  return { url, key, json, io, client: new WessClient(url, key), out: new Output(io, json) };
}
