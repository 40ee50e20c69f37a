import type { CliIo } from './context.js';

/** A column of a human table: its header and how a row shows in it. */
export interface Column<T> {
  header: string;
  value(row: T): string;
  /** Right-align (numbers). */
  right?: boolean;
}

/**
 * Writes command output: with --json exactly one JSON document on stdout and nothing else;
 * otherwise aligned tables and `key: value` lines for people.
 */
export class Output {
  constructor(
    private readonly io: CliIo,
    readonly json: boolean,
  ) {}

  /** With --json, `document`; otherwise whatever `human` prints. */
  emit(document: unknown, human: () => void): void {
    if (this.json) this.document(document);
    else human();
  }

  /** One JSON document on a line of its own. */
  document(value: unknown): void {
    this.io.stdout.write(`${JSON.stringify(value)}\n`);
  }

  line(text = ''): void {
    this.io.stdout.write(`${text}\n`);
  }

  /** Raw bytes or text to stdout / stderr, as a program wrote them. */
  raw(stream: 'stdout' | 'stderr', chunk: string | Uint8Array): void {
    this.io[stream].write(chunk);
  }

  /** Rows under aligned headers; an empty list prints `empty` instead. */
  table<T>(rows: readonly T[], columns: readonly Column<T>[], empty = '(none)'): void {
    if (rows.length === 0) {
      this.line(empty);
      return;
    }
    const cells = rows.map((row) => columns.map((column) => clean(column.value(row))));
    const widths = columns.map((column, i) => Math.max(column.header.length, ...cells.map((row) => (row[i] as string).length)));
    const render = (values: string[]) =>
      values
        .map((value, i) => (columns[i]?.right ? value.padStart(widths[i] as number) : value.padEnd(widths[i] as number)))
        .join('  ')
        .trimEnd();
    this.line(render(columns.map((c) => c.header)));
    for (const row of cells) this.line(render(row));
  }

  /** `key: value` lines with the values aligned; an empty key continues the line above (a list, one item a line). */
  fields(pairs: ReadonlyArray<readonly [string, string]>): void {
    const width = Math.max(0, ...pairs.map(([key]) => key.length)) + 1;
    for (const [key, value] of pairs) this.line(`${(key === '' ? '' : `${key}:`).padEnd(width)} ${clean(value)}`.trimEnd());
  }
}

/** Control characters in names would break the columns (or the terminal): show them escaped. */
function clean(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f]/g, (c) => JSON.stringify(c).slice(1, -1));
}

/** A byte count for people: 41 B, 2.0 KiB, 1.5 MiB. */
export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
}

/** A value for a `key: value` line: '-' for null/undefined, lists joined. */
export function show(value: unknown): string {
  if (value === null || value === undefined) return '-';
  if (Array.isArray(value)) return value.length ? value.map(show).join(', ') : '-';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}
