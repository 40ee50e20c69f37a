import { InvalidArgumentError } from 'commander';
import type { CliContext } from './context.js';

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
