import type { EventBus } from '../events.js';
import type { KeyStore } from '../store/store.js';
import { parseKey, secretMatches } from './secrets.js';
import type { KeyRecord, KeyView } from './types.js';

export type Authentication = { ok: true; key: KeyRecord } | { ok: false; reason: 'invalid' | 'revoked' };

/**
 * Every API key, in memory: there are few of them, and a request must not wait on the disk to be
 * authenticated. Loaded at start; kept current by the writer's key events, which fire once a change
 * is durable and before its caller is answered, so a revocation holds from the very next request.
 */
/** Presented keys remembered as verified; past this many the memo starts over (it is only a shortcut). */
const VERIFIED_MEMO_SIZE = 10_000;

export class Keyring {
  readonly #keys = new Map<string, KeyRecord>();
  /**
   * Presented key → the hash it was verified against. Saves the HMAC on every request of a busy
   * key; the record is still looked up each time, so a revocation or a new hash applies at once.
   */
  readonly #verified = new Map<string, string>();
  readonly #unsubscribe: Array<() => void>;

  private constructor(
    keys: KeyRecord[],
    bus: EventBus,
    /** The HMAC secret new keys are hashed with. */
    readonly secret: string,
  ) {
    for (const key of keys) this.#keys.set(key.id, key);
    const store = ({ key }: { key: KeyRecord }) => this.#keys.set(key.id, key);
    this.#unsubscribe = [bus.on('key.stored', store), bus.on('key.revoked', store)];
  }

  static async load(stored: KeyStore, bus: EventBus, serverSecret: string): Promise<Keyring> {
    return new Keyring(await stored.all(), bus, serverSecret);
  }

  /**
   * The key a client presented, if it is one of ours and not revoked. A wrong secret and an
   * unknown id answer the same, so ids cannot be probed.
   */
  authenticate(presented: string): Authentication {
    const parsed = parseKey(presented);
    const key = parsed && this.#keys.get(parsed.id);
    if (!parsed || !key) return { ok: false, reason: 'invalid' };
    if (this.#verified.get(presented) !== key.hash) {
      if (!secretMatches(this.secret, parsed, key.hash)) return { ok: false, reason: 'invalid' };
      if (this.#verified.size >= VERIFIED_MEMO_SIZE) this.#verified.clear();
      this.#verified.set(presented, key.hash);
    }
    if (key.revoked_at !== null) return { ok: false, reason: 'revoked' };
    return { ok: true, key };
  }

  get(id: string): KeyRecord | undefined {
    return this.#keys.get(id);
  }

  /** Keys in id order, optionally one tenant's; never with their hashes. */
  list(tenant?: string): KeyView[] {
    return [...this.#keys.values()]
      .filter((key) => tenant === undefined || key.tenant === tenant)
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map(toView);
  }

  get size(): number {
    return this.#keys.size;
  }

  close(): void {
    for (const off of this.#unsubscribe) off();
  }
}

/** A key as the API shows it. */
export function toView(key: KeyRecord): KeyView {
  const { hash: _hash, ...view } = key;
  return view;
}
