import { Option, type Command } from 'commander';
import type { CliDeps } from '../context.js';
import { show, type Column } from '../output.js';
import { addListCommand } from '../pages.js';

/** A key as the server shows it (never its hash; the secret only in the answer to create). */
interface KeyView {
  key?: string;
  id: string;
  name: string;
  role: string;
  tenant: string;
  tier: string | null;
  modules: string[] | null;
  created_at: string;
  created_by: string | null;
  revoked_at: string | null;
}

const KEY_COLUMNS: Column<KeyView>[] = [
  { header: 'ID', value: (k) => k.id },
  { header: 'NAME', value: (k) => k.name },
  { header: 'ROLE', value: (k) => k.role },
  { header: 'TENANT', value: (k) => k.tenant },
  { header: 'TIER', value: (k) => show(k.tier) },
  { header: 'MODULES', value: (k) => (k.modules ? String(k.modules.length) : 'all') },
  { header: 'CREATED', value: (k) => k.created_at },
  { header: 'REVOKED', value: (k) => show(k.revoked_at) },
];

function keyFields(key: KeyView): [string, string][] {
  return [
    ['id', key.id],
    ['name', key.name],
    ['role', key.role],
    ['tenant', key.tenant],
    ['tier', show(key.tier)],
    ['modules', key.modules ? key.modules.join(', ') : 'all of its tenant'],
    ['created', key.created_at],
    ['created by', show(key.created_by)],
    ['revoked', show(key.revoked_at)],
  ];
}

/** `{a: {b: 1}}` → `a.b: 1`, for the usage answer's nested counters. */
function flatten(value: unknown, prefix = ''): [string, string][] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return [[prefix, show(value)]];
  return Object.entries(value).flatMap(([name, inner]) => flatten(inner, prefix ? `${prefix}.${name}` : name));
}

/** Registers `wess keys create|ls|revoke|usage`. */
export function registerKeyCommands(program: Command, deps: CliDeps): void {
  const keys = program.command('keys').description('create, list and revoke API keys');
  const path = (id: string) => `/keys/${encodeURIComponent(id)}`;

  keys
    .command('create')
    .description('create a key (admin); its secret is printed this once')
    .requiredOption('--name <name>', 'what the key is for')
    .addOption(new Option('--role <role>', 'what it may do').choices(['admin', 'developer', 'runner']).makeOptionMandatory())
    .option('--tenant <tenant>', "the key's tenant (default: yours)")
    .option('--tier <tier>', 'a [tiers.<name>] of the server config (default: auth.default_tier)')
    .option('--module <id...>', 'limit the key to these modules')
    .action(
      deps.action(async (ctx, command) => {
        const opts = command.opts<{ name: string; role: string; tenant?: string; tier?: string; module?: string[] }>();
        const json = { name: opts.name, role: opts.role, tenant: opts.tenant, tier: opts.tier, modules: opts.module };
        const made = (await ctx.client.request<KeyView>('POST', '/keys', { json })).body;
        ctx.out.emit(made, () => {
          ctx.out.fields([['key', made.key ?? '-'], ...keyFields(made)]);
          ctx.out.line();
          ctx.out.line('Copy the key now: it is shown only this once (the server keeps only its hash).');
        });
      }),
    );

  addListCommand(keys, deps, { noun: 'keys', path: '/keys', columns: KEY_COLUMNS, description: 'list keys (admin: all, or --tenant; developer: its tenant)' });

  keys
    .command('revoke <id>')
    .description('revoke a key: refused from the next request on (prints nothing with --json)')
    .action(
      deps.action(async (ctx, command) => {
        const [id] = command.processedArgs as [string];
        await ctx.client.delete(path(id));
        if (!ctx.json) ctx.out.line(`revoked key ${id}`);
      }),
    );

  keys
    .command('usage <id>')
    .description("a key's counters (runs, errors, cpu, bytes) and its limits")
    .action(
      deps.action(async (ctx, command) => {
        const [id] = command.processedArgs as [string];
        const answer = await ctx.client.get(`${path(id)}/usage`);
        ctx.out.emit(answer.body, () => ctx.out.fields(flatten(answer.body)));
      }),
    );
}
