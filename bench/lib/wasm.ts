import { randomBytes } from 'node:crypto';

/* Valid modules built byte by byte, so the harness needs no toolchain. Layout: the spec's binary format. */

function uleb(value: number): number[] {
  const out: number[] = [];
  do {
    let byte = value & 0x7f;
    value >>>= 7;
    if (value !== 0) byte |= 0x80;
    out.push(byte);
  } while (value !== 0);
  return out;
}

function section(id: number, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from([id, ...uleb(payload.length)]), payload]);
}

const HEADER = Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
const TYPE_ADD = Buffer.from([0x01, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f]); // one type: (i32, i32) -> i32
const EXPORT_ADD = Buffer.from([0x01, 0x03, ...Buffer.from('add'), 0x00, 0x00]); // "add" = func 0

/**
 * About `codeBytes` of code: function 0 is `add` (exported), the others are (i32, i32) -> i32 bodies of
 * `i32.const c; i32.add` chains whose constants depend on `seed`, so every seed gives new bytes (a new sha256).
 */
export function bigCodeModule(seed: number, codeBytes = 1024 * 1024): Buffer {
  const addBody = Buffer.from([0x00, 0x20, 0x00, 0x20, 0x01, 0x6a, 0x0b]);
  const chain = 330; // ~1 KiB per body
  const bodies: Buffer[] = [Buffer.concat([Buffer.from(uleb(addBody.length)), addBody])];
  let total = bodies[0]!.length;
  for (let f = 1; total < codeBytes; f++) {
    const ops = [0x00, 0x20, 0x00];
    for (let i = 0; i < chain; i++) ops.push(0x41, (seed * 31 + f * 7 + i) & 0x3f, 0x6a);
    ops.push(0x20, 0x01, 0x6a, 0x0b);
    const body = Buffer.concat([Buffer.from(uleb(ops.length)), Buffer.from(ops)]);
    bodies.push(body);
    total += body.length;
  }
  const count = bodies.length;
  return Buffer.concat([
    HEADER,
    section(1, TYPE_ADD),
    section(3, Buffer.from([...uleb(count), ...new Array<number>(count).fill(0)])),
    section(7, EXPORT_ADD),
    section(10, Buffer.concat([Buffer.from(uleb(count)), ...bodies])),
  ]);
}

/** `add` plus a custom section of random bytes, `size` bytes in all; stamp(n) gives a copy unique to n. */
export function paddedAddModule(size = 100 * 1024): { bytes: Buffer; stamp(n: number): Buffer } {
  const code = [
    section(1, TYPE_ADD),
    section(3, Buffer.from([0x01, 0x00])),
    section(7, EXPORT_ADD),
    section(10, Buffer.from([0x01, 0x07, 0x00, 0x20, 0x00, 0x20, 0x01, 0x6a, 0x0b])),
  ];
  const name = Buffer.from([0x03, ...Buffer.from('pad')]);
  const fixed = HEADER.length + code.reduce((n, s) => n + s.length, 0);
  // Section id + a 3-byte LEB size + name: what remains of `size` is payload.
  const payload = randomBytes(size - fixed - 1 - 3 - name.length);
  const custom = Buffer.concat([Buffer.from([0x00, ...uleb(name.length + payload.length)]), name, payload]);
  const bytes = Buffer.concat([HEADER, ...code, custom]);
  const stampAt = bytes.length - payload.length;
  return {
    bytes,
    stamp(n: number) {
      const copy = Buffer.from(bytes);
      copy.writeDoubleLE(n, stampAt);
      copy.writeUInt32LE(process.pid, stampAt + 8);
      return copy;
    },
  };
}
