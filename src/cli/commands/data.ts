import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { maxMemoryPages, type Config } from '../../config/schema.js';
import { admitStoredModule } from '../../modules/admission.js';
import { ArchiveError, BackupFileError, backupDataDir, readArchive, restoreArchive, verifyDataDir, withAtomicFile, type ArchiveSummary } from '../../store/offline.js';
import { SCHEMA_VERSION } from '../../store/index.js';
import type { CliContext, CliDeps, CliIo } from '../context.js';
import { CliError, EXIT, cliError, exitForServerCode, oneLine } from '../errors.js';
import { bytes } from '../output.js';
import { serverConfig } from '../server-config.js';
import { backupKey, type BackupKey } from '../../store/backup-key.js';
import { countLines, LineKinds, LineWatch } from '../export-lines.js';
import type { VerifyReport } from '../../store/types.js';

const NDJSON = 'application/x-ndjson';

/** A progress bar on stderr when it is a terminal; nothing at all otherwise (scripts, tests, pipes). */
class Progress {
  readonly #bar: SingleBar | undefined;
  #started = false;
  #unit: string;

  constructor(io: CliIo, unit: string) {
    const stream = io.stderr as NodeJS.WritableStream & { isTTY?: boolean };
    this.#unit = unit;
    this.#bar = stream.isTTY ? new SingleBar({ stream, format: '{bar} {value}/{total} {unit} {extra}', hideCursor: true, clearOnComplete: true }) : undefined;
  }

  start(total: number): void {
    this.#bar?.start(Math.max(total, 1), 0, { unit: this.#unit, extra: '' });
    this.#started = true;
  }

  update(value: number, extra = ''): void {
    if (!this.#started || !this.#bar) return;
    // An estimate can be passed: the total grows with the count rather than the bar overflowing.
    if (value > this.#bar.getTotal()) this.#bar.setTotal(value);
    this.#bar.update(value, { extra });
  }

  /** The same bar counting something else from 0 (a whole export's keys, then its audit entries). */
  phase(unit: string, total: number): void {
    if (unit === this.#unit) return;
    this.#unit = unit;
    if (!this.#started || !this.#bar) return;
    this.#bar.setTotal(Math.max(total, 1));
    this.#bar.update(0, { unit, extra: '' });
  }

  stop(): void {
    if (this.#started) this.#bar?.stop();
  }

  async around<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } finally {
      this.stop();
    }
  }
}

/** Failures of the archive and file layer become one-line CLI errors (exit 1); the rest pass through. */
function fileErrors(err: unknown): never {
  if (err instanceof ArchiveError || err instanceof BackupFileError) throw cliError('IO', err.message, EXIT.REFUSED);
  const code = (err as NodeJS.ErrnoException).code;
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) throw cliError('IO', oneLine((err as Error).message), EXIT.REFUSED);
  // undici's way of saying the connection broke while a body was streaming.
  if (err instanceof TypeError && /terminated|fetch failed/.test(err.message)) throw cliError('UNREACHABLE', `the connection broke mid-transfer (${err.message}); nothing was written`, EXIT.UNREACHABLE);
  throw err;
}

/** Sends a request whose answer (or body) streams; a non-2xx becomes the same one-line error as every command's. */
async function streaming(ctx: CliContext, method: string, path: string, init: { query?: Record<string, string | undefined>; body?: Readable; contentType?: string } = {}): Promise<Response> {
  const headers: Record<string, string> = {};
  if (ctx.key) headers.authorization = `Bearer ${ctx.key}`;
  if (init.contentType) headers['content-type'] = init.contentType;
  let res: Response;
  try {
    const body = init.body ? (Readable.toWeb(init.body) as ReadableStream<Uint8Array>) : undefined;
    // duplex: 'half' is what fetch needs to send a stream body (Node's types predate it).
    res = await fetch(ctx.client.href(path, init.query), { method, headers, body, duplex: 'half' } as RequestInit);
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw cliError('UNREACHABLE', `cannot reach ${ctx.url}: ${oneLine(((err as { cause?: Error }).cause ?? (err as Error)).message)}`, EXIT.UNREACHABLE);
  }
  if (res.ok && res.body) return res;
  const text = await res.text().catch(() => '');
  let error: { code?: unknown; message?: unknown } | undefined;
  try {
    error = (JSON.parse(text) as { error?: typeof error }).error;
  } catch {
    error = undefined;
  }
  if (typeof error?.code !== 'string' || typeof error.message !== 'string') {
    throw cliError('BAD_RESPONSE', `${ctx.url} answered HTTP ${res.status} without a Wess error body; is it a Wess server?`, EXIT.UNREACHABLE);
  }
  throw cliError(error.code, `${error.code}: ${oneLine(error.message)} (HTTP ${res.status})`, exitForServerCode(error.code), { body: JSON.parse(text), status: res.status });
}

/** `wess doctor`: online through GET /admin/verify, or offline with --data; exit 5 when anything is damaged. */
async function doctor(ctx: CliContext, opts: { data?: string }): Promise<number> {
  const dir = opts.data;
  const report = dir !== undefined
    ? await verifyDataDir(dir).catch(fileErrors)
    : (await ctx.client.get<VerifyReport>('/admin/verify')).body;
  ctx.out.emit(report, () => {
    ctx.out.line(`doctor: ${report.modules} modules, ${report.versions} versions, ${report.blobs} contents (${bytes(report.bytes)}) read and hashed; ${report.damaged.length} damaged`);
    for (const d of report.damaged) ctx.out.line(`  module ${d.module_id} version ${d.version}: ${d.problem}: ${oneLine(d.message)}`);
    if (report.damaged.length > 0) ctx.out.line('  upload each damaged module again (wess modules update ID FILE), or restore it from a backup');
  });
  return report.damaged.length > 0 ? EXIT.DAMAGED : EXIT.OK;
}

/** The configured backup key; without one, `doing` is refused (exit 2) with what to set. */
function requireBackupKey(config: Config, doing: string, orElse = ''): BackupKey {
  if (config.backup.key !== undefined) return backupKey(config.backup.key);
  throw cliError('BACKUP_KEY_REQUIRED', `${doing} needs the backup key: set backup.key in the config or WESS_BACKUP_KEY (32+ characters)${orElse}`, EXIT.USAGE);
}

/** `wess backup`: online through the server, or offline with --data when no server holds the directory. */
async function backup(ctx: CliContext, opts: { out: string; data?: string; config?: string }): Promise<void> {
  const bar = new Progress(ctx.io, 'entries');
  const handlers = { onHeader: (h: { entries_estimate: number }) => bar.start(h.entries_estimate), onProgress: (entries: number) => bar.update(entries) };
  let summary: { entries: number; bytes: number };
  if (opts.data !== undefined) {
    const dir = opts.data;
    const key = requireBackupKey(await serverConfig(ctx, opts.config), 'an offline backup (it is signed here)');
    summary = await bar.around(() => backupDataDir(dir, opts.out, key, handlers)).catch(fileErrors);
  } else {
    const res = await streaming(ctx, 'GET', '/admin/backup');
    // Written and verified in one pass: every byte goes to the temp file and through the verifier,
    // which must find the trailer's count and checksum before the file is renamed into place. The
    // signature is the restore's to check: it needs the key, which this machine need not hold.
    summary = await bar
      .around(() =>
        withAtomicFile<ArchiveSummary>(opts.out, async (write) => {
          async function* tapped(): AsyncGenerator<Uint8Array> {
            for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
              await write(chunk);
              yield chunk;
            }
          }
          return readArchive(tapped(), handlers, { skipSignature: true });
        }),
      )
      .catch(fileErrors);
  }
  const size = (await stat(opts.out)).size;
  ctx.out.emit({ out: opts.out, entries: summary.entries, bytes: size }, () =>
    ctx.out.line(`backup: ${summary.entries} entries (${bytes(summary.bytes)} of data) written to ${opts.out} (${bytes(size)}, verified, synced)`),
  );
}

/**
 * `wess restore`: verifies the archive's signature with the configured backup key and admits every
 * module in it under the config's limits before writing anything (restoreArchive).
 */
async function restore(ctx: CliContext, file: string, opts: { data: string; config?: string; skipSignature?: boolean }): Promise<void> {
  const config = await serverConfig(ctx, opts.config);
  const skipSignature = opts.skipSignature === true;
  const key = skipSignature ? undefined : requireBackupKey(config, 'a restore (it checks the archive\'s signature)', ', or --skip-signature for an archive you kept yourself');
  const limits = { maxModuleSize: config.limits.max_module_size, maxMemoryPages: maxMemoryPages(config), maxTableElements: config.limits.max_table_elements };
  const bar = new Progress(ctx.io, 'entries');
  const handlers = { onHeader: (h: { entries_estimate: number }) => bar.start(h.entries_estimate), onProgress: (entries: number) => bar.update(entries) };
  const summary = await bar
    .around(() => restoreArchive(file, opts.data, { key, skipSignature, admit: (bytes) => admitStoredModule(bytes, limits) }, handlers))
    .catch(fileErrors);
  const schema = summary.header.schema;
  const migrate = schema < SCHEMA_VERSION ? `; schema ${schema} is migrated to ${SCHEMA_VERSION} when a server next opens it` : '';
  const signature = key ? `signed with backup key ${key.id}` : 'signature NOT checked';
  ctx.out.emit({ data: opts.data, entries: summary.entries, schema, sha256: summary.sha256, signature_checked: key !== undefined }, () =>
    ctx.out.line(`restore: ${summary.entries} entries verified (sha256 ${summary.sha256.slice(0, 12)}…, ${signature}) and restored into ${opts.data}${migrate}`),
  );
}

/** Shows on `bar` how far a stream of export lines has come: modules, then keys, then audit entries. */
function showProgress(bar: Progress, seen: LineKinds, totals: { modules: number; keys: number; audit: number }, sent = 'exported'): void {
  if (seen.audit > 0) {
    bar.phase(`audit entries ${sent}`, totals.audit);
    bar.update(seen.audit);
  } else if (seen.keys > 0) {
    bar.phase(`keys ${sent}`, totals.keys);
    bar.update(seen.keys);
  } else {
    bar.update(seen.modules);
  }
}

async function exportTo(ctx: CliContext, opts: { out: string; tenant?: string; all?: boolean }): Promise<void> {
  const res = await streaming(ctx, 'GET', '/admin/export', { query: { tenant: opts.tenant, all: opts.all === true ? 'true' : undefined } });
  const bar = new Progress(ctx.io, 'modules exported');
  const end = await bar
    .around(() =>
      withAtomicFile(opts.out, async (write) => {
        const lines = new LineWatch();
        let started = false;
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          await write(chunk);
          lines.push(chunk);
          const header = lines.header as { modules_estimate?: unknown; keys?: unknown } | undefined;
          if (!started && header !== undefined) {
            bar.start(Number(header.modules_estimate) || 0);
            started = true;
          }
          // The audit log's length is not known ahead: its bar's total grows with its count.
          showProgress(bar, lines.kinds, { modules: Number(header?.modules_estimate) || 0, keys: Number(header?.keys) || 0, audit: 0 });
        }
        // Without its end line the export was cut off (the server failed half-way, or the connection broke).
        const last = lines.last as { format?: unknown; modules?: unknown; keys?: unknown; audit?: unknown } | undefined;
        if (last?.format !== 'wess-export-end') throw cliError('IO', `the export from ${ctx.url} was cut off before its end line; ${opts.out} was not written`, EXIT.REFUSED);
        return last;
      }),
    )
    .catch(fileErrors);
  const modules = Number(end.modules);
  if (end.keys === undefined) {
    ctx.out.emit({ out: opts.out, modules }, () => ctx.out.line(`export: ${modules} modules written to ${opts.out}`));
    return;
  }
  const [keys, audit] = [Number(end.keys), Number(end.audit)];
  ctx.out.emit({ out: opts.out, modules, keys, audit }, () => ctx.out.line(`export: ${modules} modules, ${keys} keys and ${audit} audit entries written to ${opts.out}`));
}

interface ImportSummary {
  imported: number;
  skipped: number;
  failed: Array<{ line: number; id?: string; code: string; error: string }>;
  failed_count: number;
  keys?: { imported: number; skipped: number };
  audit?: { imported: number };
}

async function importFrom(ctx: CliContext, file: string, force: boolean): Promise<number> {
  const totals = await countLines(file).catch(fileErrors);
  const bar = new Progress(ctx.io, 'modules sent');
  bar.start(totals.modules);
  const sent = new LineKinds();
  const source = Readable.from(
    (async function* () {
      for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) {
        sent.push(chunk);
        showProgress(bar, sent, totals, 'sent');
        yield chunk;
      }
    })(),
  );
  const query = force ? { force: 'true' } : undefined;
  const res = await bar.around(() => streaming(ctx, 'POST', '/admin/import', { query, body: source, contentType: NDJSON }));
  const summary = (await res.json()) as ImportSummary;
  ctx.out.emit(summary, () => {
    ctx.out.line(`import: ${summary.imported} imported, ${summary.skipped} skipped (already there), ${summary.failed_count} failed`);
    if (summary.keys) ctx.out.line(`  keys: ${summary.keys.imported} imported, ${summary.keys.skipped} skipped (already there)`);
    if (summary.audit) ctx.out.line(`  audit entries: ${summary.audit.imported} imported (ids kept: one already there stays as it is)`);
    for (const f of summary.failed) ctx.out.line(`  line ${f.line}${f.id ? ` (${f.id})` : ''}: ${f.code}: ${oneLine(f.error)}`);
  });
  return summary.failed_count > 0 ? EXIT.REFUSED : EXIT.OK;
}

/** Registers `wess backup`, `doctor`, `restore`, `export` and `import`. */
export function registerDataCommands(program: Command, deps: CliDeps): void {
  program
    .command('backup')
    .description('write a consistent, checksummed backup of the whole database (admin key; or --data DIR offline)')
    .requiredOption('--out <file>', 'archive to write (appears only once complete, verified and synced)')
    .option('--data <dir>', 'back up this data directory directly, without a server (it must not be in use); signed with backup.key')
    .option('--config <file>', 'with --data: config file holding backup.key (env WESS_CONFIG; default ./wess.toml when present; or WESS_BACKUP_KEY)')
    .action(deps.action(async (ctx, command) => backup(ctx, command.opts<{ out: string; data?: string; config?: string }>())));

  program
    .command('doctor')
    .description('read back and hash every stored module version and list the damaged ones (admin key; or --data DIR offline); exit 5 if any')
    .option('--data <dir>', 'check this data directory directly, without a server (it must not be in use)')
    .action(deps.action(async (ctx, command) => doctor(ctx, command.opts<{ data?: string }>())));

  program
    .command('restore <file>')
    .description("restore a backup into a missing or empty data directory (no server needed); its signature is checked with backup.key and every module admitted under the config's limits before anything is written")
    .requiredOption('--data <dir>', 'data directory to create; refused unless missing or empty')
    .option('--config <file>', 'config file holding backup.key and the limits (env WESS_CONFIG; default ./wess.toml when present; or WESS_BACKUP_KEY)')
    .option('--skip-signature', 'restore without checking who made the archive (an unsigned archive from before signing, or a lost key): only for an archive you kept yourself')
    .action(
      deps.action(async (ctx, command) => {
        const [file] = command.processedArgs as [string];
        await restore(ctx, file, command.opts<{ data: string; config?: string; skipSignature?: boolean }>());
      }),
    );

  program
    .command('export')
    .description('export modules with their whole history as NDJSON, or with --all the whole deployment (admin key)')
    .requiredOption('--out <file>', 'file to write')
    .option('--tenant <tenant>', "only this tenant's modules")
    .option('--all', 'the whole deployment: modules, every API key (hashes, never secrets) and the audit log; importing the keys needs the same auth.secret (not with --tenant)')
    .action(deps.action(async (ctx, command) => exportTo(ctx, command.opts<{ out: string; tenant?: string; all?: boolean }>())));

  program
    .command('import <file>')
    .description("import an NDJSON export (admin key); each module is held to its tenant's tier; modules, keys and audit entries that exist are skipped, bad lines reported (exit 1)")
    .option('--force', "skip the tenants' tiers (only the server's global limits apply); audited as forced")
    .action(
      deps.action(async (ctx, command) => {
        const [file] = command.processedArgs as [string];
        return importFrom(ctx, file, command.opts<{ force?: boolean }>().force === true);
      }),
    );
}
