import type { Command } from 'commander';
import type { CliDeps } from '../context.js';

/** Registers `wess serve`: the server itself, exactly as `npm start` runs it. */
export function registerServeCommand(program: Command, deps: CliDeps): void {
  program
    .command('serve')
    .description('run the Wess server (same as npm start); stops on SIGTERM or SIGINT')
    .option('--config <file>', 'config file (env WESS_CONFIG; default ./wess.toml when present)')
    .action(
      deps.action(async (_ctx, command) => {
        const { config } = command.opts<{ config?: string }>();
        // Loaded on demand: the other commands should not pay for importing the whole server.
        const { serve } = await import('../../main.js');
        await serve(config === undefined ? [] : ['--config', config]);
      }),
    );
}
