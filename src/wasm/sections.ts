import { ByteReader, malformed } from './byte-reader.js';

/*
 * Module layout (core spec, "Binary Format > Modules"):
 *
 *   00 61 73 6d  01 00 00 00            magic "\0asm", version 1 (little-endian u32)
 *   id:u8  size:u32-LEB  content[size]  a section; repeated to the end of the buffer
 *
 * Non-custom sections (id 1..13) appear at most once each, in the order of SECTION_RANK.
 * Custom sections (id 0) may appear anywhere and start with a UTF-8 name.
 */

export const SectionId = {
  custom: 0,
  type: 1,
  import: 2,
  function: 3,
  table: 4,
  memory: 5,
  global: 6,
  export: 7,
  start: 8,
  element: 9,
  code: 10,
  data: 11,
  dataCount: 12,
  tag: 13,
} as const;

// Where each known section id may appear; the tag and data-count sections sit out of numeric order.
const SECTION_RANK: readonly number[] = [0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 12, 13, 11, 6];

export interface Section {
  id: number;
  /** Offset of the id byte. */
  headerStart: number;
  /** Offset of the first content byte. */
  start: number;
  /** Offset just past the content. */
  end: number;
}

const MAGIC = [0x00, 0x61, 0x73, 0x6d] as const;

/** Checks the preamble and every section header (sizes inside the buffer, ids known, order), then lists them. */
export function readSections(bytes: Uint8Array): Section[] {
  checkPreamble(bytes);
  const reader = new ByteReader(bytes, 8, bytes.length);
  const sections: Section[] = [];
  let lastRank = 0;
  while (!reader.done) {
    const headerStart = reader.pos;
    const id = reader.u8('section id');
    const rank = SECTION_RANK[id];
    if (rank === undefined) throw malformed(`unknown section id ${id}`, headerStart);
    const size = reader.u32('section size');
    const start = reader.pos;
    reader.skip(size, `section ${id} content`);
    if (id !== SectionId.custom) {
      if (rank <= lastRank) throw malformed(`section ${id} is duplicated or out of order`, headerStart);
      lastRank = rank;
    } else {
      // A custom section's name must fit inside it.
      new ByteReader(bytes, start, reader.pos).name('custom section name');
    }
    sections.push({ id, headerStart, start, end: reader.pos });
  }
  return sections;
}

function checkPreamble(bytes: Uint8Array): void {
  if (bytes.length < 8) throw malformed(`module is ${bytes.length} bytes, shorter than the 8-byte preamble`, bytes.length);
  for (let i = 0; i < 4; i++) {
    if (bytes[i] !== MAGIC[i]) throw malformed('bad magic number (expected \\0asm)', i);
  }
  const version = (bytes[4] ?? 0) | ((bytes[5] ?? 0) << 8) | ((bytes[6] ?? 0) << 16) | ((bytes[7] ?? 0) << 24);
  if (version !== 1) {
    const hint = version === 0x1000d ? ' (a component, not a core module)' : '';
    throw malformed(`unsupported binary version 0x${(version >>> 0).toString(16)}${hint}`, 4);
  }
}

/** A reader over one section's content, plus a check that the content was consumed exactly. */
export function sectionReader(bytes: Uint8Array, section: Section): ByteReader {
  return new ByteReader(bytes, section.start, section.end);
}

export function expectSectionEnd(reader: ByteReader, section: Section): void {
  if (reader.pos !== section.end) {
    throw malformed(`section ${section.id} size mismatch: content ends before its declared size`, reader.pos);
  }
}
