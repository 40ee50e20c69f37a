import type { Command } from 'commander';
import { stringify as toToml } from 'smol-toml';
import type { CliDeps } from '../context.js';
import { EXIT, cliError } from '../errors.js';
import { serverLoadOptions } from '../server-config.js';

const MASK = '********';

/** Keys whose values are secrets wherever they appear (auth.secret, backup.key, a future db password, ...). */
const SECRET_KEY = /secret|password|passwd|token|credential|api_?key|admin_key|^key$/i;
/** tls_key names a file, not a secret: the path is worth showing. */
const PATH_KEYS = new Set(['tls_key', 'tls_cert']);

/** `wess_<id>_<secret>` keeps its public id, so an operator can tell which key is configured. */
function maskApiKey(value: string): string {
  const match = /^(wess_[0-9a-z]{4,32})_/.exec(value);
  return match ? `${match[1]}_${MASK}` : MASK;
}

/** user:password@ in any URL (rate_limit.redis_url, and whatever store URLs come later). */
export function maskUrl(value: string): string {
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/)([^/@\s]*)@/i, (_all, scheme: string, auth: string) => {
    const colon = auth.indexOf(':');
    return colon === -1 ? `${scheme}${MASK}@` : `${scheme}${auth.slice(0, colon)}:${MASK}@`;
  });
}

/** A copy of the config with every secret replaced; unset (undefined) keys left out. */
export function maskSecrets(value: unknown, key = ''): unknown {
  if (Array.isArray(value)) return value.map((item) => maskSecrets(item, key));
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [name, inner] of Object.entries(value)) if (inner !== undefined) out[name] = maskSecrets(inner, name);
    return out;
  }
  if (typeof value !== 'string') return value;
  if (key === 'admin_key') return maskApiKey(value);
  if (SECRET_KEY.test(key) && !PATH_KEYS.has(key)) return MASK;
  return maskUrl(value);
}

/** Registers `wess config check`. */
export function registerConfigCommands(program: Command, deps: CliDeps): void {
  const config = program.command('config').description('inspect the server configuration');
  config
    .command('check')
    .description('validate the config exactly as the server loads it, and print the effective config with secrets masked')
    .option('--config <file>', 'config file (env WESS_CONFIG; default ./wess.toml when present)')
    .action(
      deps.action(async (ctx, command) => {
        const { config: file } = command.opts<{ config?: string }>();
        const { ConfigError, configPath, loadConfig } = await import('../../config/load.js');
        // The same inputs as main.ts's serve(): flag, then WESS_CONFIG, then ./wess.toml.
        const options = serverLoadOptions(ctx, file);
        let loaded: unknown;
        try {
          loaded = loadConfig(options);
        } catch (err) {
          if (!(err instanceof ConfigError)) throw err;
          if (ctx.json) ctx.out.document({ valid: false, problems: err.problems });
          // One line per problem, each on its own: every problem is shown, none hides another.
          for (const problem of err.problems.slice(0, -1)) ctx.io.stderr.write(`wess: invalid config: ${problem}\n`);
          throw cliError('CONFIG_INVALID', `invalid config: ${err.problems[err.problems.length - 1] ?? 'unknown problem'}`, EXIT.USAGE);
        }
        const masked = maskSecrets(loaded) as Record<string, unknown>;
        const source = configPath(options.argv ?? [], ctx.io.env) ?? options.defaultPath;
        ctx.out.emit(masked, () => {
          ctx.out.line(`# effective config: ${source ?? 'defaults (no file)'} + WESS_* environment; secrets masked`);
          ctx.out.raw('stdout', `${toToml(masked).trimEnd()}\n`);
        });
      }),
    );
}
