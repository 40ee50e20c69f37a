import { existsSync } from 'node:fs';
import type { LoadOptions } from '../config/load.js';
import type { Config } from '../config/schema.js';
import type { CliContext } from './context.js';
import { EXIT, cliError } from './errors.js';

/** What a server started here would load: --config, else WESS_CONFIG, else ./wess.toml when present; the WESS_* environment on top. */
export function serverLoadOptions(ctx: Pick<CliContext, 'io'>, file: string | undefined): LoadOptions {
  return { argv: file === undefined ? [] : ['--config', file], env: ctx.io.env, defaultPath: existsSync('wess.toml') ? 'wess.toml' : undefined };
}

/**
 * The config a server started here would load; an invalid one is a usage error (exit 2) whose
 * message starts with `invalid` and lists every problem. The loader is imported only when needed,
 * so commands that talk to a server start without it.
 */
export async function serverConfig(ctx: Pick<CliContext, 'io'>, file: string | undefined, invalid = 'invalid config'): Promise<Config> {
  const { ConfigError, loadConfig } = await import('../config/load.js');
  try {
    return loadConfig(serverLoadOptions(ctx, file));
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    throw cliError('CONFIG_INVALID', `${invalid}: ${err.problems.join('; ')}`, EXIT.USAGE);
  }
}
