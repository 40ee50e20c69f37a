import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ClassicLevel } from 'classic-level';
import { writerStats } from '../lib/client.js';
import { alternate, drive, type Round } from '../lib/load.js';
import type { Row } from '../lib/result.js';
import { withKey, type Server } from '../lib/servers.js';
import { round } from '../lib/stats.js';
import { paddedAddModule } from '../lib/wasm.js';

export interface UploadSettings { rounds: number; seconds: number; concurrency: number; size: number }

/**
 * The baseline: `concurrency` writers each awaiting its own put of `size` bytes, group-committed the way
 * Wess's writer is meant to (whatever is queued goes into one batch written with sync: true).
 */
async function rawLevel(db: ClassicLevel<string, Uint8Array>, stamp: (n: number) => Buffer, s: UploadSettings, count: { writes: number; batches: number }): Promise<Round> {
  type Waiting = { key: string; value: Buffer; done: () => void };
  let queue: Waiting[] = [];
  let writing = false;
  let failed: unknown;
  const flush = async (): Promise<void> => {
    if (writing || queue.length === 0) return;
    writing = true;
    const batch = queue;
    queue = [];
    try {
      count.batches++;
      await db.batch(batch.map((w) => ({ type: 'put' as const, key: w.key, value: w.value })), { sync: true });
    } catch (err) {
      failed = err;
    }
    writing = false;
    for (const w of batch) w.done();
    setImmediate(() => void flush());
  };
  let written = 0;
  const deadline = performance.now() + s.seconds * 1000;
  const writer = async (): Promise<void> => {
    while (performance.now() < deadline && failed === undefined) {
      const n = count.writes++;
      const key = `blob:${String(n).padStart(12, '0')}`;
      const value = stamp(n);
      await new Promise<void>((done) => {
        queue.push({ key, value, done });
        // Once per turn, so every writer answered by the last batch joins the next one.
        if (queue.length === 1) setImmediate(() => void flush());
      });
      written++;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: s.concurrency }, writer));
  if (failed !== undefined) throw failed;
  return { rps: Math.round(written / ((performance.now() - t0) / 1000)), p99: 0, non2xx: 0, errors: 0 };
}

/** Durable uploads of `size`-byte modules (each unique) through POST /modules vs the raw classic-level baseline. */
export async function uploads(wess: Server, s: UploadSettings): Promise<Row[]> {
  const mod = paddedAddModule(s.size);
  const dir = mkdtempSync(join(tmpdir(), 'wess-bench-level-'));
  const db = new ClassicLevel<string, Uint8Array>(join(dir, 'db'), { valueEncoding: 'view' });
  await db.open();
  let counter = 0;
  const raw = { writes: 0, batches: 0 };
  try {
    const before = await writerStats(wess.url);
    const c = await alternate(
      'uploads',
      s.rounds,
      () => rawLevel(db, mod.stamp, s, raw),
      () =>
        drive({
          url: `${wess.url}/modules?name=bench-upload`,
          method: 'POST',
          headers: withKey({ 'content-type': 'application/wasm' }),
          body: mod.bytes,
          setupRequest: (req) => ({ ...req, body: mod.stamp(counter++) }),
          connections: s.concurrency,
          seconds: s.seconds,
        }),
    );
    const after = await writerStats(wess.url);
    const perBatch = round((after.modules - before.modules) / Math.max(1, after.batches - before.batches), 1);
    const list = (side: typeof c.base) => side.rounds.map((r) => r.rps).join(' / ');
    return [
      {
        scenario: `durable uploads, ${Math.round(s.size / 1024)} KiB, concurrency ${s.concurrency}`,
        metric: 'writes/s',
        wess: c.wess.rps,
        baseline: c.base.rps,
        ratio: c.ratio,
        target: '≥ 0.7× raw classic-level',
        judges: `the median writes/s of ${s.rounds} alternating ${s.seconds} s rounds on each side (Wess: 201 answers only), Wess over raw classic-level`,
        pass: c.ratio >= 0.7,
        detail: `rounds raw ${list(c.base)}; wess ${list(c.wess)}; wess p99 ${c.wess.p99} ms; uploads per durable batch: wess ${perBatch}, raw ${round(raw.writes / Math.max(1, raw.batches), 1)}`,
      },
    ];
  } finally {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
