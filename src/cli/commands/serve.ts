import { join } from 'node:path';
import type { Command } from 'commander';
import type { CliContext, CliDeps } from '../context.js';
import { EXIT, cliError } from '../errors.js';
import { serverConfig } from '../server-config.js';

/**
 * Registers `wess serve` (the server itself, exactly as `npm start` runs it) and `wess reload`
 * (signals that server, on this machine): the commands about the server process, not its API.
 */
export function registerServeCommand(program: Command, deps: CliDeps): void {
  program
    .command('serve')
    .description('run the Wess server (same as npm start); stops on SIGTERM or SIGINT')
    .option('--config <file>', 'config file (env WESS_CONFIG; default ./wess.toml when present)')
    .option('--processes <n>', 'node processes serving the one port, 0 = one per core (server.processes; needs the PostgreSQL store when not 1)')
    .action(
      deps.action(async (_ctx, command) => {
        const { config, processes } = command.opts<{ config?: string; processes?: string }>();
        // Loaded on demand: the other commands should not pay for importing the whole server.
        const { serve } = await import('../../main.js');
        // As main.js's own arguments, so the config loader reads them (and a reload, and each worker, the same).
        await serve([...(config === undefined ? [] : ['--config', config]), ...(processes === undefined ? [] : ['--processes', processes])]);
      }),
    );

  program
    .command('reload')
    .description("make the server running on this machine read its config again: sends SIGHUP to the pid in the data directory's wess.pid")
    .option('--config <file>', 'config file whose database.path is the data directory (env WESS_CONFIG; default ./wess.toml when present)')
    .option('--data <dir>', 'the data directory of the server (default: database.path of the config)')
    .action(deps.action(async (ctx, command) => reload(ctx, command.opts<{ config?: string; data?: string }>())));
}

/** `wess reload`: SIGHUP to the server holding the data directory; what it made of it is in its log. */
async function reload(ctx: CliContext, opts: { config?: string; data?: string }): Promise<void> {
  const dir = opts.data ?? (await dataDirOf(ctx, opts.config));
  const { PID_FILE, serverPid } = await import('../../store/index.js');
  const pid = await serverPid(dir);
  if (pid === undefined) {
    throw cliError('UNREACHABLE', `no running Wess server found for the data directory ${dir} (no live pid in ${join(dir, PID_FILE)}); give its --data DIR or --config FILE`, EXIT.UNREACHABLE);
  }
  process.kill(pid, 'SIGHUP');
  ctx.out.emit({ pid, signal: 'SIGHUP' }, () =>
    ctx.out.line(`sent SIGHUP to the Wess server (pid ${pid}); its log says "config reloaded: …" or "config reload rejected, …"`),
  );
}

/** database.path of the config the server would load (flag, WESS_CONFIG, ./wess.toml), env included. */
async function dataDirOf(ctx: CliContext, file: string | undefined): Promise<string> {
  return (await serverConfig(ctx, file, 'cannot tell the data directory, the config is invalid')).database.path;
}
