/**
 * Lines of `source` with their 1-based numbers, a trailing CR dropped. A line over `max` bytes comes
 * back without text, and is skipped over rather than collected.
 */
export async function* splitLines(source: AsyncIterable<Uint8Array>, max: number): AsyncGenerator<{ line: number; text?: string }> {
  let parts: Buffer[] = [];
  let held = 0;
  let discarding = false;
  let line = 0;
  const finish = (piece: Buffer): { line: number; text?: string } => {
    line++;
    const whole = discarding || held + piece.length > max ? undefined : Buffer.concat([...parts, piece]);
    parts = [];
    held = 0;
    discarding = false;
    if (whole === undefined) return { line };
    const end = whole.length > 0 && whole[whole.length - 1] === 0x0d ? whole.length - 1 : whole.length;
    return { line, text: whole.toString('utf8', 0, end) };
  };
  for await (const data of source) {
    const chunk = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    let start = 0;
    for (let at = chunk.indexOf(0x0a, start); at !== -1; at = chunk.indexOf(0x0a, start)) {
      yield finish(chunk.subarray(start, at));
      start = at + 1;
    }
    const rest = chunk.subarray(start);
    if (discarding || rest.length === 0) continue;
    // Copied: the stream may reuse its buffer, and `rest` is kept across chunks.
    parts.push(Buffer.from(rest));
    held += rest.length;
    if (held > max) {
      parts = [];
      discarding = true;
    }
  }
  if (held > 0 || discarding) yield finish(Buffer.alloc(0));
}
