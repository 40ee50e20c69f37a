import { Op, readInstruction, VALUE_TYPE_BYTES, type Instruction } from './instructions.js';
import { readSections, sectionReader, SectionId, type Section } from './sections.js';

/*
 * Whether an instance of a module can carry anything from one call to the next. Wess promises every
 * call a fresh instance; for a module whose instances hold no state at all, one instance per worker
 * keeps that promise (no call can tell it apart from a fresh one) and saves the instantiation, which
 * also fills V8's old space: a worker instantiating per call paused for a 4-7 ms mark-compact every
 * ~25,000 calls, a tail latency of every call waiting behind it.
 *
 * State an instance could hold, and where it comes from:
 *   memory, and data segments read back through it   memory section (or an imported memory)
 *   table entries (table.set/grow/fill/init)         table section (or an imported table)
 *   mutable globals                                  global section, mutability byte 1
 *   anything behind a host function                  import section
 *   what a start function did at instantiation       start section
 *   exception tags (identity per instance)           tag section
 * A module with none of these sections and only immutable globals has no state; passive element or
 * data segments dropped by a call are unobservable without a table or memory to initialise.
 */

/** True when instances of `bytes` (bytes V8 compiled, so well formed; `sections` when already read) can hold no state between calls. */
export function holdsNoState(bytes: Uint8Array, sections: readonly Section[] = readSections(bytes)): boolean {
  for (const section of sections) {
    switch (section.id) {
      case SectionId.import:
      case SectionId.table:
      case SectionId.memory:
      case SectionId.start:
      case SectionId.tag:
        return false;
      case SectionId.global:
        if (!globalsImmutable(bytes, section)) return false;
        break;
    }
  }
  return true;
}

/*
 * Global section:  count:u32  (type:u8 mut:u8 init-expr... 0x0b)*
 * A type this reader does not know (a multi-byte reference type) counts as possibly mutable.
 */
function globalsImmutable(bytes: Uint8Array, section: Section): boolean {
  const r = sectionReader(bytes, section);
  const ins: Instruction = { op: 0, a: 0, b: 0 };
  for (let count = r.u32('global count'); count > 0; count--) {
    if (!VALUE_TYPE_BYTES.has(r.u8('global type'))) return false;
    if (r.u8('global mutability') !== 0) return false;
    do readInstruction(r, ins);
    while (ins.op !== Op.end);
  }
  return true;
}
