import type { Command } from 'commander';
import type { Config } from '../../config/schema.js';
import type { CliContext, CliDeps } from '../context.js';
import { EXIT, cliError, oneLine } from '../errors.js';
import { serverConfig } from '../server-config.js';
import { maskUrl } from './config.js';
import { SchemaError, levelSchemaStatus, migrateLevel, migratePostgres, postgresSchemaStatus } from '../../store/offline.js';

interface MigrateOptions {
  status?: boolean;
  config?: string;
  databaseUrl?: string;
  data?: string;
}

/** The store a server started with `config` would use: database.url, else database.path. */
function storeOf(config: Config): { url: string } | { path: string } {
  const { url, path } = config.database;
  return url !== undefined ? { url } : { path };
}

/**
 * `wess migrate [--status]`, offline: the schema of the store the config names. PostgreSQL: the
 * migrations applied and pending, or apply the pending ones under the advisory lock a starting node
 * takes. LevelDB: the stored schema beside this Wess's, or migrate the directory as a server does at open.
 */
async function migrateCommand(ctx: CliContext, opts: MigrateOptions): Promise<number> {
  if (opts.databaseUrl !== undefined && opts.data !== undefined) throw cliError('USAGE', '--database-url and --data name two stores; give one', EXIT.USAGE);
  const store = opts.databaseUrl !== undefined ? { url: opts.databaseUrl } : opts.data !== undefined ? { path: opts.data } : storeOf(await serverConfig(ctx, opts.config));
  try {
    if ('url' in store) return opts.status === true ? await postgresStatus(ctx, store.url) : await postgresMigrate(ctx, store.url);
    return opts.status === true ? await levelStatus(ctx, store.path) : await levelMigrate(ctx, store.path);
  } catch (err) {
    if (err instanceof SchemaError) throw cliError(err.unreachable ? 'UNREACHABLE' : 'STORE', oneLine(err.message), err.unreachable ? EXIT.UNREACHABLE : EXIT.REFUSED);
    throw err;
  }
}

async function postgresStatus(ctx: CliContext, url: string): Promise<number> {
  const status = await postgresSchemaStatus(url);
  ctx.out.emit({ ...status, database: maskUrl(url) }, () => {
    ctx.out.line(`PostgreSQL ${maskUrl(url)}`);
    ctx.out.table(status.migrations, [
      { header: 'VERSION', value: (m) => String(m.version), right: true },
      { header: 'NAME', value: (m) => m.name },
      { header: 'STATUS', value: (m) => (m.applied_at === null ? 'pending' : m.known ? 'applied' : 'applied (unknown to this wess)') },
      { header: 'APPLIED AT', value: (m) => m.applied_at ?? '-' },
    ]);
    const applied = status.migrations.length - status.pending.length;
    ctx.out.line(status.pending.length === 0 ? `schema: up to date (${applied} applied)` : `schema: ${status.pending.length} pending; run wess migrate, or start a server (it migrates at start)`);
  });
  return EXIT.OK;
}

async function postgresMigrate(ctx: CliContext, url: string): Promise<number> {
  const applied = await migratePostgres(url);
  ctx.out.emit({ database: maskUrl(url), applied }, () =>
    ctx.out.line(applied.length === 0 ? `migrate: ${maskUrl(url)} is up to date; nothing applied` : `migrate: applied migration${applied.length > 1 ? 's' : ''} ${applied.join(', ')} to ${maskUrl(url)}`),
  );
  return EXIT.OK;
}

async function levelStatus(ctx: CliContext, path: string): Promise<number> {
  const status = await levelSchemaStatus(path);
  ctx.out.emit(status, () => {
    const stored = status.stored ?? 'none';
    const state = status.stored === status.current ? 'up to date' : status.stored !== null && status.stored > status.current ? 'NEWER than this wess reads: run a newer wess' : 'migrated when a server next opens it (or by wess migrate)';
    ctx.out.fields([
      ['LevelDB', path],
      ['stored schema', String(stored)],
      ["this wess's", String(status.current)],
      ['state', state],
    ]);
  });
  return EXIT.OK;
}

async function levelMigrate(ctx: CliContext, path: string): Promise<number> {
  const before = await migrateLevel(path);
  const after = (await levelSchemaStatus(path)).current;
  ctx.out.emit({ path, from: before, to: after }, () =>
    ctx.out.line(before === after ? `migrate: ${path} is at schema ${after}; nothing to do` : `migrate: ${path} migrated from schema ${before ?? 'none'} to ${after}`),
  );
  return EXIT.OK;
}

/** Registers `wess migrate`. */
export function registerMigrateCommand(program: Command, deps: CliDeps): void {
  program
    .command('migrate')
    .description('bring the store the config names to this wess\'s schema (no server needed), or with --status show where it stands')
    .option('--status', 'only show: PostgreSQL migrations applied and pending, or the LevelDB schema stored beside this wess\'s; changes nothing')
    .option('--config <file>', 'config file naming the store: database.url, else database.path (env WESS_CONFIG; default ./wess.toml when present; WESS_* env on top)')
    .option('--database-url <url>', 'this PostgreSQL database instead of the config\'s')
    .option('--data <dir>', 'this LevelDB data directory instead of the config\'s (it must not be in use)')
    .action(deps.action(async (ctx, command) => migrateCommand(ctx, command.opts<MigrateOptions>())));
}
