import { wessError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { ModuleWriter, UsageStore } from '../store/store.js';
import { tierSuffix } from './policy.js';
import type { KeyUsage } from './types.js';
import type { UsageAdded, WriteResult } from '../store/types.js';

export interface UsageDelta {
  runs?: number;
  errors?: number;
  cpu_ms?: number;
  fuel?: number;
  bytes_in?: number;
  bytes_out?: number;
}

interface Entry {
  usage: KeyUsage;
  dirty: boolean;
  /** The counters as the store holds them, as far as this node knows: what the next flush adds to. */
  stored: KeyUsage;
}

/** The day utcDay() last computed and the ms at which it ends (the next UTC midnight). */
let cachedDay = '';
let cachedDayEnds = 0;

/**
 * Today in UTC, as usage records name days. Memoised until the next midnight: it runs up to three
 * times per /run request, and `new Date().toISOString()` each time was ~1.6 µs (bench, issue 6).
 */
function utcDay(): string {
  const now = Date.now();
  if (now >= cachedDayEnds || now < cachedDayEnds - 86_400_000) {
    const date = new Date(now);
    cachedDay = date.toISOString().slice(0, 10);
    cachedDayEnds = Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate() + 1);
  }
  return cachedDay;
}

/** Seconds until the next UTC midnight, when runs_today starts again. */
function secondsToMidnight(now = new Date()): number {
  const next = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1);
  return Math.max(1, Math.ceil((next - now.getTime()) / 1000));
}

function emptyUsage(day: string): KeyUsage {
  return { runs: 0, errors: 0, cpu_ms: 0, fuel: 0, bytes_in: 0, bytes_out: 0, day, runs_today: 0, updated_at: null };
}

/** What `now` counts beyond `before` (a day later, all of now's runs_today are new). */
function added(now: KeyUsage, before: KeyUsage): UsageAdded {
  return {
    runs: now.runs - before.runs,
    errors: now.errors - before.errors,
    cpu_ms: now.cpu_ms - before.cpu_ms,
    fuel: (now.fuel ?? 0) - (before.fuel ?? 0),
    bytes_in: now.bytes_in - before.bytes_in,
    bytes_out: now.bytes_out - before.bytes_out,
    day: now.day,
    runs_today: now.day === before.day ? now.runs_today - before.runs_today : now.runs_today,
  };
}

/** `base` with `more` counted on top, both of `base`'s day. */
function plus(base: KeyUsage, more: UsageAdded, updatedAt: string | null): KeyUsage {
  return {
    runs: base.runs + more.runs,
    errors: base.errors + more.errors,
    cpu_ms: base.cpu_ms + more.cpu_ms,
    fuel: (base.fuel ?? 0) + more.fuel,
    bytes_in: base.bytes_in + more.bytes_in,
    bytes_out: base.bytes_out + more.bytes_out,
    day: base.day,
    runs_today: base.runs_today + more.runs_today,
    updated_at: updatedAt,
  };
}

/**
 * Per-key counters, counted in memory on the request path and written to the database every
 * `flushMs` (and at close) through the writer: one durable batch for all keys, instead of a sync
 * write per request. A crash loses at most the last interval's counts, never a quota reset: the
 * daily count read back is the one last flushed.
 */
export class UsageTracker {
  readonly #entries = new Map<string, Entry>();
  readonly #loading = new Map<string, Promise<Entry>>();
  #timer: NodeJS.Timeout;
  #flushMs: number;
  #closed = false;
  #flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly stored: UsageStore,
    private readonly writer: ModuleWriter,
    private readonly logger: Logger,
    flushMs: number,
  ) {
    this.#flushMs = flushMs;
    this.#timer = setInterval(() => void this.flush(), flushMs).unref();
  }

  /** Writes counters every `flushMs` from now on (auth.usage_flush changed by a config reload). */
  setFlushInterval(flushMs: number): void {
    if (flushMs === this.#flushMs || this.#closed) return;
    this.#flushMs = flushMs;
    clearInterval(this.#timer);
    this.#timer = setInterval(() => void this.flush(), flushMs).unref();
  }

  /**
   * Counts `runs` runs (a batch's items) against the key's daily quota, or throws QUOTA_EXCEEDED
   * (with the seconds until the quota resets) when they do not fit in what the key has left today.
   * Counted when admitted, so concurrent runs cannot overshoot the quota. Synchronous (returns
   * undefined, may throw) once the key's counters are loaded, which is every run but a key's first:
   * no promise on the hot path.
   */
  admitRun(keyId: string, runsPerDay: number | undefined, tier: string | null, metrics: Metrics, runs = 1): Promise<void> | undefined {
    const loaded = this.#entries.get(keyId);
    if (loaded) {
      this.#admit(loaded, runsPerDay, tier, metrics, runs);
      return undefined;
    }
    return this.#entry(keyId).then((entry) => this.#admit(entry, runsPerDay, tier, metrics, runs));
  }

  #admit(entry: Entry, runsPerDay: number | undefined, tier: string | null, metrics: Metrics, runs: number): void {
    const usage = this.#today(entry);
    if (runsPerDay !== undefined && usage.runs_today + runs > runsPerDay) {
      metrics.quotaRejections.inc({ tier: tier ?? 'none', quota: 'runs_per_day' });
      const retry = secondsToMidnight();
      const left = Math.max(0, runsPerDay - usage.runs_today);
      const asked = runs === 1 ? '' : `; this batch needs ${runs} and ${left} are left`;
      throw wessError(
        'QUOTA_EXCEEDED',
        `this key has used its ${runsPerDay} runs for ${usage.day}${tierSuffix(tier)}${asked}; runs start again at 00:00 UTC`,
        { quota: 'runs_per_day', limit: runsPerDay, tier, retry_after_s: retry },
      );
    }
    usage.runs += runs;
    usage.runs_today += runs;
    entry.dirty = true;
  }

  /**
   * Adds to a key's counters (errors, CPU time, fuel, bytes, and runs charged after the fact: a long
   * call's worker-seconds); cheap when the key is already loaded.
   */
  record(keyId: string, delta: UsageDelta): void {
    const apply = (entry: Entry) => {
      const usage = this.#today(entry);
      usage.errors += delta.errors ?? 0;
      usage.cpu_ms += delta.cpu_ms ?? 0;
      usage.fuel = (usage.fuel ?? 0) + (delta.fuel ?? 0);
      usage.bytes_in += delta.bytes_in ?? 0;
      usage.bytes_out += delta.bytes_out ?? 0;
      usage.runs += delta.runs ?? 0;
      usage.runs_today += delta.runs ?? 0;
      entry.dirty = true;
    };
    const loaded = this.#entries.get(keyId);
    if (loaded) apply(loaded);
    else this.#entry(keyId).then(apply, (err: unknown) => this.logger.warn({ err, key_id: keyId }, 'usage could not be loaded'));
  }

  /** A key's counters as of now (flushed or not). */
  async get(keyId: string): Promise<KeyUsage> {
    const usage = this.#today(await this.#entry(keyId));
    return { ...usage, cpu_ms: Math.round(usage.cpu_ms * 1000) / 1000, fuel: usage.fuel ?? 0 };
  }

  /** Writes every changed key's counters in one durable batch. */
  flush(): Promise<void> {
    this.#flushing = this.#flushing.then(() => this.#flushNow());
    return this.#flushing;
  }

  /** Stops the timer and writes what is left; call before the writer closes. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    await this.flush();
  }

  async #flushNow(): Promise<void> {
    const now = new Date().toISOString();
    const dirty = [...this.#entries].filter(([, entry]) => entry.dirty);
    if (dirty.length === 0) return;
    const sent = new Map<string, KeyUsage>();
    for (const [keyId, entry] of dirty) {
      entry.dirty = false;
      entry.usage.updated_at = now;
      sent.set(keyId, { ...entry.usage });
    }
    let stored: WriteResult['put-usage'];
    try {
      stored = await this.writer.submit({
        kind: 'put-usage',
        usage: dirty.map(([keyId, entry]) => {
          const usage = sent.get(keyId) as KeyUsage;
          return { keyId, usage, added: added(usage, entry.stored) };
        }),
      });
    } catch (err) {
      for (const [, entry] of dirty) entry.dirty = true;
      this.logger.warn({ err, keys: dirty.length }, 'usage counters could not be written; retrying at the next flush');
      return;
    }
    const totals = new Map((stored ?? []).map(({ keyId, usage }) => [keyId, usage]));
    for (const [keyId, entry] of dirty) {
      const at = sent.get(keyId) as KeyUsage;
      const total = totals.get(keyId);
      if (total === undefined) {
        entry.stored = at;
        continue;
      }
      // Other nodes counted too: take the stored totals, plus what this node counted since the flush began.
      entry.stored = total;
      if (total.day === at.day && entry.usage.day === at.day) entry.usage = plus(total, added(entry.usage, at), entry.usage.updated_at);
    }
  }

  /** The entry, rolled over to today when the stored day is over. */
  #today(entry: Entry): KeyUsage {
    const day = utcDay();
    if (entry.usage.day !== day) {
      entry.usage.day = day;
      entry.usage.runs_today = 0;
      entry.dirty = true;
    }
    return entry.usage;
  }

  /** The key's entry, read from the database the first time it is needed; concurrent loads share one read. */
  async #entry(keyId: string): Promise<Entry> {
    const loaded = this.#entries.get(keyId);
    if (loaded) return loaded;
    let loading = this.#loading.get(keyId);
    if (!loading) {
      loading = this.#load(keyId).finally(() => this.#loading.delete(keyId));
      this.#loading.set(keyId, loading);
    }
    return loading;
  }

  async #load(keyId: string): Promise<Entry> {
    const usage = (await this.stored.get(keyId)) ?? emptyUsage(utcDay());
    const entry: Entry = { usage, dirty: false, stored: { ...usage } };
    this.#entries.set(keyId, entry);
    return entry;
  }
}
