import type { Applied } from '../group-writer.js';
import type { InvocationStore } from '../store.js';
import type { InvocationPage, InvocationRecord, WriteMessage } from '../types.js';
import { decodeJson, encodeJson } from './codec.js';
import type { Db } from './db.js';
import { invocationKey, invocationRange, invocationSeqKey, moduleKey } from './keys.js';
import type { Overlay } from './overlay.js';

type AppendInvocations = Extract<WriteMessage, { kind: 'append-invocations' }>;

/**
 * Each module's last calls as a ring of `keep` slots under `iv!<module>!<slot>`: a call takes slot
 * seq % keep, so writing it overwrites the oldest and nothing is ever deleted to keep the bound. A ring
 * written with a larger `keep` (before a config change) may hold older calls in higher slots; reads
 * sort by seq, so they only show after every newer one.
 */
export class LevelInvocationStore implements InvocationStore {
  constructor(private readonly db: Db) {}

  async page(module: string, options: Parameters<InvocationStore['page']>[1]): Promise<InvocationPage> {
    const all: InvocationRecord[] = [];
    for await (const [, value] of this.db.entries(invocationRange(module))) all.push(decodeJson<InvocationRecord>(value));
    all.sort((a, b) => b.seq - a.seq);
    const { before, status, since, limit } = options;
    const items: InvocationRecord[] = [];
    for (const record of all) {
      if (before !== undefined && record.seq >= before) continue;
      if (since !== undefined && record.time < since) break;
      if (status !== undefined && (record.code === null) !== (status === 'ok')) continue;
      if (items.length === limit) return { items, next_cursor: String((items.at(-1) as InvocationRecord).seq) };
      items.push(record);
    }
    return { items, next_cursor: null };
  }
}

/** The keys applyInvocations reads: each module's record (is it still there?) and its next seq. */
export function invocationReadsOf(msg: AppendInvocations): string[] {
  return msg.modules.flatMap(({ module }) => [moduleKey(module), invocationSeqKey(module)]);
}

/** Stages a flush of the invocation log: each module's records in its ring, with its seq moved on. */
export async function applyInvocations(msg: AppendInvocations, overlay: Overlay): Promise<Applied> {
  for (const { module, records } of msg.modules) {
    // Deleted since the calls: its log went with it, and must not come back.
    if (!(await overlay.has(moduleKey(module)))) continue;
    const stored = await overlay.get(invocationSeqKey(module));
    // Only the last `keep` can survive this write: the others get their numbers, and no slot.
    const skipped = Math.max(0, records.length - msg.keep);
    let seq = (stored === undefined ? 1 : Number(Buffer.from(stored).toString('ascii'))) + skipped;
    for (const draft of records.slice(skipped)) {
      const record: InvocationRecord = { seq, ...draft };
      overlay.put(invocationKey(module, seq % msg.keep), encodeJson(record));
      seq++;
    }
    overlay.put(invocationSeqKey(module), Buffer.from(String(seq), 'ascii'));
  }
  return { result: null, moduleDelta: 0, events: [] };
}

/** Stages the removal of a deleted module's invocation log. */
export async function dropInvocations(module: string, overlay: Overlay): Promise<void> {
  for (const [key] of await overlay.entries(invocationRange(module).gt)) overlay.del(key);
  overlay.del(invocationSeqKey(module));
}
