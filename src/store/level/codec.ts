import { validate as isUuid, version as uuidVersion } from 'uuid';
import type { ModuleRecord, VersionRecord } from '../types.js';

/** How values above the byte-level db facade are encoded: records as UTF-8 JSON. */

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });
/** For messages about bytes that may not be text at all. */
const lenient = new TextDecoder();

/** A module record as stored under `m!<id>`. */
export function encodeRecord(record: ModuleRecord): Uint8Array {
  return encoder.encode(JSON.stringify(record));
}

/** Parses a stored module record; one written before `kind` existed reads as 'functions'. */
export function decodeRecord(bytes: Uint8Array): ModuleRecord {
  return withKind(JSON.parse(decoder.decode(bytes)) as ModuleRecord);
}

/** Any other stored JSON value (keys, usage, audit entries). */
export function encodeJson(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

/** Parses a value stored by encodeJson. */
export function decodeJson<T>(bytes: Uint8Array): T {
  return JSON.parse(decoder.decode(bytes)) as T;
}

/** A version record as stored under `v!<id>!<version>`. */
export function encodeVersion(record: VersionRecord): Uint8Array {
  return encoder.encode(JSON.stringify(record));
}

/** Parses a stored version record. */
export function decodeVersion(bytes: Uint8Array): VersionRecord {
  return withKind(JSON.parse(decoder.decode(bytes)) as VersionRecord);
}

/** What a `b!<sha256>` key holds (schema 4): where the blob's bytes are, and how many there are. */
export interface BlobPointer {
  /** The content id: a UUIDv7, the bytes are under `c!<c>`. */
  c: string;
  size: number;
}

/** Far above any pointer we write (~60 bytes): a longer value is not read as one. */
const MAX_POINTER_BYTES = 256;
const OPEN_BRACE = 0x7b;

/** A blob pointer as stored under `b!<sha256>`: ASCII JSON `{"c":"<content id>","size":N}`. */
export function encodeBlobPointer(pointer: BlobPointer): Uint8Array {
  return encoder.encode(JSON.stringify({ c: pointer.c, size: pointer.size }));
}

/**
 * The pointer in a `b!` value, or undefined when the value is none: schema 3's bytes (wasm starts
 * with "\0asm", a pointer with "{", so they are told apart by the first byte) or damage.
 */
export function decodeBlobPointer(value: Uint8Array): BlobPointer | undefined {
  if (value[0] !== OPEN_BRACE || value.byteLength > MAX_POINTER_BYTES) return undefined;
  let parsed: Partial<Record<keyof BlobPointer, unknown>> | null;
  try {
    parsed = JSON.parse(decoder.decode(value)) as typeof parsed;
  } catch {
    return undefined;
  }
  const { c, size } = parsed ?? {};
  if (typeof c !== 'string' || !isUuid(c) || uuidVersion(c) !== 7) return undefined;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) return undefined;
  return { c, size };
}

/** The schema version as stored under `meta!schema`. */
export function encodeSchemaVersion(version: number): Uint8Array {
  return encoder.encode(String(version));
}

/** Parses the stored schema version (NaN when unreadable). */
export function decodeSchemaVersion(bytes: Uint8Array): number {
  return Number(decoder.decode(bytes));
}

/** A stored count (a tenant's bytes held): ASCII decimal. */
export function encodeCount(n: number): Uint8Array {
  return encoder.encode(String(n));
}

/** Parses a stored count; throws when it does not parse (it would silently lift or block every upload it limits). */
export function decodeCount(value: Uint8Array): number {
  const text = lenient.decode(value);
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`unreadable byte count ${JSON.stringify(text.slice(0, 40))}`);
  return n;
}


function withKind<T extends { kind?: unknown }>(record: T): T {
  if (record.kind === undefined) record.kind = 'functions';
  return record;
}
