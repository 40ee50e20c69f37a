import { randomBytes } from 'node:crypto';
import type { WessApp } from '../../src/app.js';
import { admitModule } from '../../src/modules/admission.js';
import { readBlob } from '../../src/store/level/blobs.js';
import type { Db } from '../../src/store/level/db.js';
import { uleb } from '../reliability/wasm-builder.js';

/** The key prefixes that make up modules: records, versions, blobs, blob references, tenant index. */
export const MODULE_PREFIXES = ['m!', 'v!', 'b!', 'r!', 't!'];

/** The same, with the `c!` keys that hold blob bytes: a store and its restored copy agree on these byte for byte. */
export const STORED_MODULE_PREFIXES = [...MODULE_PREFIXES, 'c!'];

/** A distinct, valid module for every `n`: `(func (export "f") (result i32) i32.const n)`. */
export function constModule(n: number): Uint8Array {
  const body = [0x00, 0x41, ...sleb(n), 0x0b];
  const code = [0x01, body.length, ...body];
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f, // type: () -> i32
    0x03, 0x02, 0x01, 0x00, // function 0 has type 0
    0x07, 0x05, 0x01, 0x01, 0x66, 0x00, 0x00, // export "f" = function 0
    0x0a, code.length, ...code,
  ]);
}

function sleb(value: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = value & 0x7f;
    value >>= 7;
    if ((value === 0 && (byte & 0x40) === 0) || (value === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

/**
 * Creates `count` modules through the writer (group-committed, no HTTP): every third gets a second
 * version, every seventh a third under a new name; tenants alternate between "default" and "acme".
 * Module i uses constModule(i), its later versions constModule(i + 1e6) and (i + 2e6).
 */
export async function seedModules(app: WessApp, count: number, offset = 0): Promise<string[]> {
  const { runner } = app.services;
  const { writer } = app.services.store;
  const admit = (n: number) => admitModule(constModule(n), runner, { maxModuleSize: 1 << 20, maxMemoryPages: 16, maxTableElements: 1_000_000 });
  const ids: string[] = [];
  for (let start = 0; start < count; start += 100) {
    const batch = Array.from({ length: Math.min(100, count - start) }, (_, k) => start + k + offset);
    await Promise.all(
      batch.map(async (i) => {
        const id = `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
        ids.push(id);
        await writer.submit({ kind: 'create-module', id, tenant: i % 2 ? 'acme' : 'default', name: `m${i}`, content: await admit(i) });
        if (i % 3 === 0) await writer.submit({ kind: 'update-module', id, content: await admit(i + 1e6) });
        if (i % 7 === 0) await writer.submit({ kind: 'update-module', id, name: `m${i}-renamed`, content: await admit(i + 2e6) });
      }),
    );
  }
  return ids.sort();
}

/**
 * Every entry under `prefixes`, key → bytes as hex, for comparing two stores byte for byte. Blob
 * pointers are followed (`b!<sha256>` → the bytes) and `c!` keys left out, since two stores given
 * the same content at different times name it by different content ids; `raw` dumps what is stored.
 */
export async function dump(db: Db, prefixes: readonly string[] = MODULE_PREFIXES, options: { raw?: boolean } = {}): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const [key, value] of db.entries({})) {
    if (!prefixes.some((p) => key.startsWith(p))) continue;
    if (options.raw) out.set(key, Buffer.from(value).toString('hex'));
    else if (key.startsWith('b!')) out.set(key, Buffer.from((await readBlob(db, key.slice(2))) ?? []).toString('hex'));
    else if (!key.startsWith('c!')) out.set(key, Buffer.from(value).toString('hex'));
  }
  return out;
}

/** constModule(n) with a custom section of `padding` random bytes: big, incompressible blobs. */
export function paddedModule(n: number, padding: number): Uint8Array {
  const name = [0x03, 0x70, 0x61, 0x64]; // "pad"
  const payload = Buffer.concat([Buffer.from(name), randomBytes(padding)]);
  return Buffer.concat([constModule(n), Buffer.from([0x00, ...uleb(payload.length)]), payload]);
}
