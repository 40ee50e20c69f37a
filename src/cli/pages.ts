import { InvalidArgumentError, type Command } from 'commander';
import type { CliContext, CliDeps } from './context.js';
import type { Column } from './output.js';

/** A paginated list as the server answers it. */
export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

/** `--limit`: a whole number of 1-100, refused by commander (exit 2) otherwise. */
export function pageLimit(value: string): number {
  const n = Number(value);
  if (!/^[0-9]+$/.test(value) || n < 1 || n > 100) throw new InvalidArgumentError('must be a whole number from 1 to 100');
  return n;
}

/** One page, or with `all` every page (following next_cursor) merged into one list of the same shape. */
export async function listPages<T>(ctx: CliContext, path: string, query: Record<string, string | number | undefined>, all: boolean): Promise<Page<T>> {
  const first = (await ctx.client.get<Page<T>>(path, query)).body;
  const items = [...first.items];
  let cursor = first.next_cursor;
  while (all && cursor !== null) {
    const page = (await ctx.client.get<Page<T>>(path, { ...query, cursor })).body;
    items.push(...page.items);
    cursor = page.next_cursor;
  }
  return { items, next_cursor: cursor };
}

/** What an `ls` command lists: `noun` ("modules"), the route, the table's columns. */
export interface ListSpec<T> {
  noun: string;
  path: string;
  columns: Column<T>[];
  description: string;
}

/** The options of every list command. */
export interface PageOptions {
  limit?: number;
  cursor?: string;
  all?: boolean;
}

/** Adds `--limit N`, `--cursor C` and `--all` to a command that lists `noun`. */
export function pageOptions(command: Command, noun: string): Command {
  return command
    .option('--limit <n>', `${noun} per page (1-100)`, pageLimit)
    .option('--cursor <cursor>', 'start after this cursor (from a previous page)')
    .option('--all', `follow next_cursor and list every one of the ${noun}`);
}

/** A page as a table (with a pointer to the next one), or the server's page with --json. */
export function printPage<T>(ctx: CliContext, page: Page<T>, columns: readonly Column<T>[], noun: string): void {
  ctx.out.emit(page, () => {
    ctx.out.table(page.items, columns, `(no ${noun})`);
    if (page.next_cursor !== null) ctx.out.line(`(more: --cursor ${page.next_cursor}, or --all)`);
  });
}

/** Adds `<parent> ls [--limit N] [--cursor C] [--all] [--tenant T]`: a table, or the server's page with --json. */
export function addListCommand<T>(parent: Command, deps: CliDeps, spec: ListSpec<T>): void {
  pageOptions(parent.command('ls').description(spec.description), spec.noun)
    .option('--tenant <tenant>', `one tenant's ${spec.noun} (admin keys only)`)
    .action(
      deps.action(async (ctx, command) => {
        const opts = command.opts<PageOptions & { tenant?: string }>();
        const page = await listPages<T>(ctx, spec.path, { limit: opts.limit, cursor: opts.cursor, tenant: opts.tenant }, opts.all === true);
        printPage(ctx, page, spec.columns, spec.noun);
      }),
    );
}
