import { createReadStream } from 'node:fs';

/*
 * An export (src/store/transfer.ts has its format) as `wess export` and `wess import` watch it go by:
 * lines counted by kind for the progress bar, the header and the end line kept, module lines (which
 * can be hundreds of megabytes) never held or parsed.
 */

/** How many lines of each kind `file` holds: the import's progress totals. */
export async function countLines(file: string): Promise<LineKinds> {
  const kinds = new LineKinds();
  for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) kinds.push(chunk);
  return kinds;
}

/** Line kinds by their first bytes, as transfer.ts writes them: never parsing a (possibly huge) module line. */
const KEY_LINE = '{"key":';
const AUDIT_LINE = '{"audit":';
const FORMAT_LINE = '{"format":';
const PREFIX_BYTES = Math.max(KEY_LINE.length, AUDIT_LINE.length, FORMAT_LINE.length);

/** Counts the complete lines of an export stream by kind, from the first bytes of each. */
export class LineKinds {
  modules = 0;
  keys = 0;
  audit = 0;
  lines = 0;
  #start = '';

  push(chunk: Uint8Array): void {
    const buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    for (let from = 0; ; ) {
      const at = buf.indexOf(0x0a, from);
      if (this.#start.length < PREFIX_BYTES) this.#start += buf.toString('latin1', from, Math.min(at === -1 ? buf.length : at, from + PREFIX_BYTES - this.#start.length));
      if (at === -1) return;
      this.#finish();
      from = at + 1;
    }
  }

  #finish(): void {
    this.lines++;
    const start = this.#start;
    this.#start = '';
    // Line 1 is the header; a later {"format": line is the end line.
    if (this.lines === 1 || start.startsWith(FORMAT_LINE) || start.trim() === '') return;
    if (start.startsWith(KEY_LINE)) this.keys++;
    else if (start.startsWith(AUDIT_LINE)) this.audit++;
    else this.modules++;
  }
}

/** Counts the lines of a stream by kind and keeps its first and last one (both short: header and end line). */
export class LineWatch {
  readonly kinds = new LineKinds();
  header: unknown;
  last: unknown;
  #head: Buffer[] = [];
  #tail = Buffer.alloc(0);

  push(chunk: Uint8Array): void {
    const buf = Buffer.from(chunk);
    this.kinds.push(buf);
    if (this.header === undefined) {
      this.#head.push(buf);
      const joined = Buffer.concat(this.#head);
      const end = joined.indexOf(0x0a);
      if (end !== -1) this.header = parseOr(joined.subarray(0, end).toString());
    }
    // A module line can be megabytes; only the last 4 KiB are kept, enough for the end line.
    this.#tail = Buffer.concat([this.#tail, buf]).subarray(-4096);
    const text = this.#tail.toString().trimEnd();
    this.last = parseOr(text.slice(text.lastIndexOf('\n') + 1));
  }
}

function parseOr(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
