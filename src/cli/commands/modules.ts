import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Command } from 'commander';
import type { CliContext, CliDeps } from '../context.js';
import { EXIT, cliError } from '../errors.js';
import { packFilesDir } from '../files.js';
import { bytes, show, type Column } from '../output.js';
import { addListCommand } from '../pages.js';

/** A module as the server shows it (the fields the CLI prints). */
export interface ModuleView {
  id: string;
  tenant?: string;
  name: string;
  version: number;
  kind?: string;
  sha256: string;
  size: number;
  exports: { name: string; params: string[]; results: string[] }[];
  memory: { min_pages: number; max_pages: number } | null;
  files?: { count: number; bytes: number; sha256: string };
  created_at: string;
  updated_at: string;
}

/** `add(i32, i32) -> i32` */
export function signature(fn: ModuleView['exports'][number]): string {
  const results = fn.results.length === 0 ? '' : ` -> ${fn.results.length === 1 ? fn.results[0] : `(${fn.results.join(', ')})`}`;
  return `${fn.name}(${fn.params.join(', ')})${results}`;
}

/** A module as `key: value` lines, one line per export. */
export function printModule(ctx: CliContext, module: ModuleView): void {
  const [first, ...rest] = module.exports;
  ctx.out.fields([
    ['id', module.id],
    ['name', module.name],
    ['tenant', show(module.tenant)],
    ['kind', show(module.kind)],
    ['version', String(module.version)],
    ['size', `${bytes(module.size)} (${module.size} bytes)`],
    ['sha256', module.sha256],
    ['memory', module.memory ? `${module.memory.min_pages}-${module.memory.max_pages} pages` : '-'],
    ['files', module.files ? `${module.files.count} files, ${bytes(module.files.bytes)}, sha256 ${module.files.sha256}` : '-'],
    ['exports', first ? signature(first) : '-'],
    ...rest.map((fn) => ['', signature(fn)] as const),
    ['created', module.created_at],
    ['updated', module.updated_at],
  ]);
}

const MODULE_COLUMNS: Column<ModuleView>[] = [
  { header: 'ID', value: (m) => m.id },
  { header: 'NAME', value: (m) => m.name },
  // An admin's list spans tenants; a developer's shows its own, which costs a column but keeps one layout for scripts.
  { header: 'TENANT', value: (m) => show(m.tenant) },
  { header: 'VERSION', value: (m) => String(m.version), right: true },
  { header: 'KIND', value: (m) => m.kind ?? 'functions' },
  { header: 'SIZE', value: (m) => bytes(m.size), right: true },
  { header: 'EXPORTS', value: (m) => abbreviate(m.exports.map((e) => e.name).join(', '), 40) },
  { header: 'UPDATED', value: (m) => m.updated_at },
];

function abbreviate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 3)}...` : text || '-';
}

async function readModuleFile(file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    throw cliError('IO', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, EXIT.USAGE);
  }
}

/**
 * What an upload sends: the file raw (`.wat` as text/wat) or, with --files, JSON carrying the module
 * and the directory's tar as base64 (the server tells text from a binary by its bytes then).
 */
async function uploadBody(file: string, filesDir: string | undefined, name: string | undefined): Promise<{ body?: Uint8Array; json?: unknown; contentType?: string }> {
  const content = await readModuleFile(file);
  if (filesDir === undefined) return { body: content, contentType: contentTypeOf(file) };
  const files = await packFilesDir(filesDir);
  return { json: { ...(name === undefined ? {} : { name }), content: content.toString('base64'), files: files.toString('base64') } };
}

const moduleName = (file: string) => basename(file).replace(/\.(wasm|wat)$/i, '');
/** A .wat file is WebAssembly text: the server compiles it. */
const contentTypeOf = (file: string) => (/\.wat$/i.test(file) ? 'text/wat' : 'application/wasm');

/** Registers `wess modules upload|ls|get|update|rm`. */
export function registerModuleCommands(program: Command, deps: CliDeps): void {
  const modules = program.command('modules').description('upload, list, inspect and remove modules');
  const path = (id: string) => `/modules/${encodeURIComponent(id)}`;

  modules
    .command('upload <file>')
    .description('upload a .wasm file (sent raw, as application/wasm), or a .wat text file (compiled by the server)')
    .option('--name <name>', 'module name (default: the file name without .wasm or .wat)')
    .option('--tenant <tenant>', "tenant to upload for (admin keys only), held to that tenant's tier")
    .option('--force', "with --tenant: skip the tenant's tier (admin keys only); audited as forced")
    .option('--files <dir>', "files the module's WASI runs see as / (the directory's contents, sent as a tar)")
    .action(
      deps.action(async (ctx, command) => {
        const [file] = command.processedArgs as [string];
        const opts = command.opts<{ name?: string; tenant?: string; force?: boolean; files?: string }>();
        const name = opts.name ?? moduleName(file);
        const { body, json, contentType } = await uploadBody(file, opts.files, name);
        const query = { name: json === undefined ? name : undefined, tenant: opts.tenant, force: opts.force ? 'true' : undefined };
        const answer = await ctx.client.request<ModuleView>('POST', '/modules', { query, body, json, contentType });
        ctx.out.emit(answer.body, () => printModule(ctx, answer.body));
      }),
    );

  addListCommand(modules, deps, { noun: 'modules', path: '/modules', columns: MODULE_COLUMNS, description: 'list modules' });

  modules
    .command('get <id>')
    .description("show a module's metadata and exports")
    .action(
      deps.action(async (ctx, command) => {
        const [id] = command.processedArgs as [string];
        const answer = await ctx.client.get<ModuleView>(path(id));
        ctx.out.emit(answer.body, () => printModule(ctx, answer.body));
      }),
    );

  modules
    .command('update <id> <file>')
    .description("replace a module's content (a new version); a bad module leaves the old one in place")
    .option('--name <name>', 'rename it too')
    .option('--files <dir>', "files the new version's WASI runs see as / (a version without --files has none)")
    .action(
      deps.action(async (ctx, command) => {
        const [id, file] = command.processedArgs as [string, string];
        const { name, files } = command.opts<{ name?: string; files?: string }>();
        const { body, json, contentType } = await uploadBody(file, files, name);
        const query = { name: json === undefined ? name : undefined };
        const answer = await ctx.client.request<ModuleView>('PUT', path(id), { query, body, json, contentType });
        ctx.out.emit(answer.body, () => printModule(ctx, answer.body));
      }),
    );

  modules
    .command('rm <id>')
    .description('remove a module and all its versions (prints nothing with --json)')
    .action(
      deps.action(async (ctx, command) => {
        const [id] = command.processedArgs as [string];
        await ctx.client.delete(path(id));
        if (!ctx.json) ctx.out.line(`removed module ${id}`);
      }),
    );
}
