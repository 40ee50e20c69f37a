import { Chunks } from './chunks.js';
import type { Shifts } from './metering-code.js';
import { sectionReader, SectionId, type Section } from './sections.js';

/*
 * Code metadata (custom sections named "metadata.code.<format>", e.g. metadata.code.branch_hint):
 *
 *   name  count:u32  ( funcidx:u32  count:u32  ( offset:u32  size:u32  data[size] )* )*
 *
 * An offset points at an instruction, counted from the start of its function body (locals
 * included, as wasm-tools and wabt write it). Rewriting a body moves its instructions, so the
 * offsets move with them; nothing else in the section changes.
 */

const PREFIX = 'metadata.code.';

/** Whether `section` is a code metadata custom section. */
export function isCodeMetadata(bytes: Uint8Array, section: Section): boolean {
  if (section.id !== SectionId.custom) return false;
  try {
    return sectionReader(bytes, section).name('custom section name').startsWith(PREFIX);
  } catch {
    return false; // a custom section's bytes are only advice: a malformed one is left as it is
  }
}

/**
 * The content of a code metadata section with every offset moved past the bytes inserted before
 * it (`shifts[i]` for defined function i), or null when the section is malformed or names a
 * function without a body: it is only advice, so the caller keeps it as it was.
 */
export function remapCodeMetadata(bytes: Uint8Array, section: Section, importedFuncs: number, shifts: readonly Shifts[]): Chunks | null {
  const r = sectionReader(bytes, section);
  const out = new Chunks();
  try {
    const nameStart = r.pos;
    r.name('custom section name');
    out.push(bytes.subarray(nameStart, r.pos));
    const funcs = r.u32('code metadata function count');
    out.uleb(funcs);
    for (let f = 0; f < funcs; f++) {
      const index = r.u32('function index');
      const shift = shifts[index - importedFuncs];
      if (shift === undefined) return null;
      out.uleb(index);
      const items = r.u32('code metadata count');
      out.uleb(items);
      for (let i = 0; i < items; i++) {
        const offset = r.u32('code metadata offset');
        const dataStart = r.pos;
        r.skip(r.u32('code metadata size'), 'code metadata');
        out.uleb(offset + grownBefore(shift, offset));
        out.push(bytes.subarray(dataStart, r.pos)); // size and data, unchanged
      }
    }
  } catch {
    return null;
  }
  return r.pos === section.end ? out : null;
}

/** Bytes inserted at or before body offset `offset` (an insertion at an offset goes before its instruction). */
function grownBefore(shift: Shifts, offset: number): number {
  let lo = 0;
  let hi = shift.at.length; // find the first insertion after `offset`
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((shift.at[mid] ?? 0) <= offset) lo = mid + 1;
    else hi = mid;
  }
  return lo === 0 ? 0 : shift.grown[lo - 1] ?? 0;
}
