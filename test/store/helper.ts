import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { EventBus } from '../../src/events.js';
import { createLogger } from '../../src/logger.js';
import { createMetrics, type Metrics } from '../../src/metrics.js';
import { sha256Hex } from '../../src/hash.js';
import { openDb, type Db } from '../../src/store/level/db.js';
import { Reader } from '../../src/store/reader.js';
import { LevelRecordSource } from '../../src/store/level/record-source.js';
import type { ModuleContent } from '../../src/store/types.js';
import { Writer } from '../../src/store/level/writer.js';
import type { GroupWriter } from '../../src/store/group-writer.js';

/** A writer and reader over a real LevelDB in a temp dir; `reopen` simulates a process restart. */
export interface Store {
  dir: string;
  db: Db;
  bus: EventBus;
  metrics: Metrics;
  writer: GroupWriter;
  reader: Reader;
  reopen(): Promise<void>;
  close(): Promise<void>;
}

export interface StoreOptions {
  queueLimit?: number;
  cacheSize?: number;
  ttlSeconds?: number;
}

/** Opens a fresh store in its own temp dir; call `close()` (it also removes the dir). */
export async function openStore(options: StoreOptions = {}): Promise<Store> {
  const dir = await mkdtemp(join(tmpdir(), 'wess-store-'));
  const store = { dir } as Store;
  const start = async (): Promise<void> => {
    store.db = await openDb(join(dir, 'db'), { maxOpenFiles: 50 });
    store.bus = new EventBus();
    store.metrics = createMetrics();
    const logger = createLogger('silent');
    const { db, bus, metrics } = store;
    store.writer = await Writer.start({ db, bus, queueLimit: options.queueLimit ?? 1000, metrics, logger });
    store.reader = new Reader({
      source: new LevelRecordSource(db),
      bus,
      cacheSize: options.cacheSize ?? 100,
      ttlSeconds: options.ttlSeconds ?? 3600,
      metrics,
    });
  };
  const stop = async (): Promise<void> => {
    await store.writer.close();
    store.reader.close();
    await store.db.close();
  };
  await start();
  store.reopen = async () => {
    await stop();
    await start();
  };
  store.close = async () => {
    await stop();
    await rm(dir, { recursive: true, force: true });
  };
  return store;
}

/** Content for a module; the bytes need not be valid wasm, the store never parses them. */
export function content(label: string): ModuleContent {
  const bytes = new TextEncoder().encode(`\0asm fixture ${label}`);
  return {
    sha256: sha256Hex(bytes),
    content: bytes,
    exports: [{ name: 'add', params: ['i32', 'i32'], results: ['i32'] }],
    memory: { min_pages: 1, max_pages: 2 },
  };
}

/** Creates a module named `name` with content `label` and returns its record. */
export function createModule(store: Store, name: string, label = name) {
  return store.writer.submit({ kind: 'create-module', id: randomUUID(), tenant: 'default', name, content: content(label) });
}

/** Sum and count of a histogram, read from its metric values. */
export async function histogram(metric: Metrics['writerBatchSize']): Promise<{ count: number; sum: number }> {
  const { values } = await metric.get();
  const pick = (suffix: string) => values.find((v) => v.metricName?.endsWith(suffix))?.value ?? 0;
  return { count: pick('_count'), sum: pick('_sum') };
}

/** A counter's value for one label set. */
export async function counter(metric: Metrics['cacheHits'], cache: 'module' | 'version' | 'content'): Promise<number> {
  const { values } = await metric.get();
  return values.find((v) => v.labels.cache === cache)?.value ?? 0;
}

/** Every key in the database with `prefix`, in order. */
export async function keysWithPrefix(db: Db, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const key of db.keys({ gte: prefix, lt: `${prefix}\uffff` })) out.push(key);
  return out;
}
