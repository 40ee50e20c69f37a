import { Chunks } from './chunks.js';
import { FUEL_EXPORT } from './fuel.js';
import { isCodeMetadata, remapCodeMetadata } from './code-metadata.js';
import { meterCode, type MeteredCode } from './metering-code.js';
import { readLayout, type Layout } from './metering-layout.js';
import { SectionId, type Section } from './sections.js';

/*
 * Deterministic fuel metering by rewriting the binary (the cost model is in metering-code.ts).
 *
 * The metered module differs from the original only in this:
 *   - globals: one mutable i64 appended after all others, exported as FUEL_EXPORT: fuel left; and,
 *     when the code has bulk memory or table ops, one more (unexported) holding an op's size;
 *   - code: every body charges fuel at its entry and at each loop header, and traps (unreachable)
 *     when fuel goes below zero; bulk ops charge their size after they succeed;
 *   - start: no start section; the start function is exported as START_EXPORT instead, so the host
 *     can set the fuel before it runs.
 * Types, functions, locals and every existing index stay as they were, so the name section holds.
 *
 * Runtime protocol: instantiate; setFuel; call START_EXPORT when present; call the export. After a
 * trap, fuelLeft < 0 means the run ran out of fuel; fuel used is given - max(left, 0).
 */

/** Bump when the cost model or the rewrite changes: cached metered variants key on it. */
export const METERING_VERSION = 1;
export const START_EXPORT = '__wess_start';
export { FUEL_EXPORT, fuelLeft, fuelUsed, MAX_FUEL, setFuel } from './fuel.js';

export interface Metered {
  bytes: Uint8Array;
  /** The export that runs the module's start function, or null when it has none. */
  startExport: string | null;
  /** The exported fuel global: FUEL_EXPORT, or FUEL_EXPORT with a suffix when the module used that name. */
  fuelExport: string;
}

// The fuel (and scratch) global: i64, mutable, initialised by `i64.const 0; end`.
const FUEL_GLOBAL = Uint8Array.of(0x7e, 0x01, 0x42, 0x00, 0x0b);
const EXPORT_GLOBAL = 0x03;
const EXPORT_FUNCTION = 0x00;
// Sections a new global (export) section must come before, in section order.
const AFTER_GLOBAL: ReadonlySet<number> = new Set([SectionId.export, SectionId.start, SectionId.element, SectionId.dataCount, SectionId.code, SectionId.data]);
const AFTER_EXPORT: ReadonlySet<number> = new Set([SectionId.start, SectionId.element, SectionId.dataCount, SectionId.code, SectionId.data]);

/** Rewrites a valid module so that it charges fuel as it runs and traps once fuel runs out; throws INVALID_WASM when malformed. */
export function meter(bytes: Uint8Array): Metered {
  const layout = readLayout(bytes);
  const fuelGlobal = layout.globals;
  const keepShifts = layout.sections.some((s) => isCodeMetadata(bytes, s));
  const code = layout.code === null ? null : meterCode(bytes, layout.code, {
    fuelGlobal, globals: layout.globals, memory64: layout.memory64, table64: layout.table64, keepShifts,
  });
  const taken = layout.export?.names ?? new Set<string>();
  const fuelExport = unique(FUEL_EXPORT, taken);
  const startExport = layout.start === null ? null : unique(START_EXPORT, new Set([...taken, fuelExport]));

  const globals = globalSection(bytes, layout, code?.usesScratch === true ? 2 : 1);
  const exports = exportSection(bytes, layout, [[fuelExport, EXPORT_GLOBAL, fuelGlobal], [startExport, EXPORT_FUNCTION, layout.start]]);
  const out = new Chunks();
  out.push(bytes.subarray(0, 8)); // magic and version
  let globalsDone = false;
  let exportsDone = false;
  for (const section of layout.sections) {
    if (!globalsDone && AFTER_GLOBAL.has(section.id)) { out.section(SectionId.global, globals); globalsDone = true; }
    if (!exportsDone && AFTER_EXPORT.has(section.id)) { out.section(SectionId.export, exports); exportsDone = true; }
    if (section.id === SectionId.global) globalsDone = true;
    if (section.id === SectionId.export) exportsDone = true;
    emitSection(out, bytes, section, { globals, exports, code, importedFuncs: layout.importedFuncs });
  }
  if (!globalsDone) out.section(SectionId.global, globals);
  if (!exportsDone) out.section(SectionId.export, exports);
  return { bytes: out.concat(), startExport, fuelExport };
}

interface Rewritten {
  globals: Chunks;
  exports: Chunks;
  code: MeteredCode | null;
  importedFuncs: number;
}

function emitSection(out: Chunks, bytes: Uint8Array, section: Section, rewritten: Rewritten): void {
  const { code } = rewritten;
  switch (section.id) {
    case SectionId.global: out.section(section.id, rewritten.globals); return;
    case SectionId.export: out.section(section.id, rewritten.exports); return;
    case SectionId.start: return; // exported instead
    case SectionId.code: {
      const content = new Chunks();
      if (code !== null) content.push(code.content);
      out.section(section.id, content);
      return;
    }
    default: {
      // Code metadata (branch hints) points into bodies by offset: it moves with the instructions.
      const remapped = code !== null && isCodeMetadata(bytes, section) ? remapCodeMetadata(bytes, section, rewritten.importedFuncs, code.shifts) : null;
      if (remapped !== null) out.section(section.id, remapped);
      else out.push(bytes.subarray(section.headerStart, section.end));
    }
  }
}

/** The global section's content with `added` fuel-shaped globals after the module's own. */
function globalSection(bytes: Uint8Array, layout: Layout, added: number): Chunks {
  const content = new Chunks();
  const own = layout.global;
  content.uleb((own?.count ?? 0) + added);
  if (own !== null) content.push(bytes.subarray(own.entries, own.section.end));
  for (let i = 0; i < added; i++) content.push(FUEL_GLOBAL);
  return content;
}

type NewExport = [name: string | null, kind: number, index: number | null];

/*
 * Export entry:  name-length:u32  name:utf8  kind:u8  index:u32
 */
function exportSection(bytes: Uint8Array, layout: Layout, added: NewExport[]): Chunks {
  const content = new Chunks();
  const own = layout.export;
  const entries = added.filter((e): e is [string, number, number] => e[0] !== null && e[2] !== null);
  content.uleb((own?.count ?? 0) + entries.length);
  if (own !== null) content.push(bytes.subarray(own.entries, own.section.end));
  for (const [name, kind, index] of entries) {
    const utf8 = new TextEncoder().encode(name);
    content.uleb(utf8.length);
    content.push(utf8);
    content.push(Uint8Array.of(kind));
    content.uleb(index);
  }
  return content;
}

/** `name`, or `name_1`, `name_2`, ... whichever the module does not export yet. */
function unique(name: string, taken: ReadonlySet<string>): string {
  let candidate = name;
  for (let i = 1; taken.has(candidate); i++) candidate = `${name}_${i}`;
  return candidate;
}
