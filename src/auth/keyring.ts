import type { EventBus } from '../events.js';
import type { KeyStore } from '../store/store.js';
import { parseKey, secretMatches } from './secrets.js';
import type { KeyRecord, KeyView } from './types.js';

export type Authentication = { ok: true; key: KeyRecord } | { ok: false; reason: 'invalid' | 'revoked' };

const INVALID: Authentication = Object.freeze({ ok: false, reason: 'invalid' });
const REVOKED: Authentication = Object.freeze({ ok: false, reason: 'revoked' });

/**
 * Every API key, in memory: there are few of them, and a request must not wait on the disk to be
 * authenticated. Loaded at start; kept current by the writer's key events, which fire once a change
 * is durable and before its caller is answered, so a revocation holds from the very next request.
 */
/** Presented keys remembered as verified; past this many the memo starts over (it is only a shortcut). */
const VERIFIED_MEMO_SIZE = 10_000;

/**
 * Store reads per second for keys this node does not hold (a shared store only), and the burst. A
 * key made on another node is looked up once, when first presented here before its event arrived;
 * a storm of made-up keys costs the database at most this, then is refused as invalid unread.
 */
const LOOKUPS_PER_SECOND = 20;
const LOOKUP_BURST = 50;

export class Keyring {
  readonly #keys = new Map<string, KeyRecord>();
  /** tiersOf's answers by tenant; cleared whenever a key is added or changes. */
  readonly #tiers = new Map<string, ReadonlyArray<string | null>>();
  /**
   * Presented key → its id and the hash it was verified against. Saves parsing and the HMAC on every
   * request of a busy key; the record is still looked up each time, so a revocation or a new hash
   * applies at once.
   */
  readonly #verified = new Map<string, { id: string; hash: string }>();
  /** The answer for a valid key, one per record (records are replaced, never changed, by key events). */
  readonly #valid = new WeakMap<KeyRecord, Authentication>();
  readonly #unsubscribe: Array<() => void>;
  /** Set when other nodes add keys (a shared store): an unknown id may be one of theirs. */
  readonly #stored: KeyStore | undefined;
  readonly #lookups = new Map<string, Promise<void>>();
  #tokens = LOOKUP_BURST;
  #refilled = Date.now();

  private constructor(
    keys: KeyRecord[],
    bus: EventBus,
    /** The HMAC secret new keys are hashed with. */
    readonly secret: string,
    stored?: KeyStore,
  ) {
    this.#stored = stored;
    for (const key of keys) this.#keys.set(key.id, key);
    const store = ({ key }: { key: KeyRecord }) => this.#put(key);
    this.#unsubscribe = [bus.on('key.stored', store), bus.on('key.revoked', store)];
  }

  /** `shared`: the store is shared with other nodes, whose new keys this node may be shown before it hears of them. */
  static async load(stored: KeyStore, bus: EventBus, serverSecret: string, shared = false): Promise<Keyring> {
    return new Keyring(await stored.all(), bus, serverSecret, shared ? stored : undefined);
  }

  /**
   * Whether `presented` might be a key another node made that this node has not heard of yet: a
   * well-formed key with an id this node does not hold, on a shared store. authenticateFresh reads it.
   */
  mayBeNew(presented: string): boolean {
    if (this.#stored === undefined) return false;
    const parsed = parseKey(presented);
    return parsed !== undefined && !this.#keys.has(parsed.id);
  }

  /**
   * authenticate, after reading the key's record from the store when this node does not hold it
   * (within the lookup budget; one read per id at a time). A key made on another node then works on
   * this one from its first request, not only once its event arrives.
   */
  async authenticateFresh(presented: string): Promise<Authentication> {
    const parsed = parseKey(presented);
    const stored = this.#stored;
    if (parsed && stored && !this.#keys.has(parsed.id)) {
      let lookup = this.#lookups.get(parsed.id);
      if (lookup === undefined && this.#takeToken()) {
        lookup = stored
          .get(parsed.id)
          .then(
            (record) => {
              // An event may have brought the record (or its revocation) meanwhile: that one is newer.
              if (record !== undefined && !this.#keys.has(record.id)) this.#put(record);
            },
            () => undefined,
          )
          .finally(() => this.#lookups.delete(parsed.id));
        this.#lookups.set(parsed.id, lookup);
      }
      await lookup;
    }
    return this.authenticate(presented);
  }

  #takeToken(): boolean {
    const now = Date.now();
    this.#tokens = Math.min(LOOKUP_BURST, this.#tokens + ((now - this.#refilled) / 1000) * LOOKUPS_PER_SECOND);
    this.#refilled = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /**
   * The key a client presented, if it is one of ours and not revoked. A wrong secret and an
   * unknown id answer the same, so ids cannot be probed.
   */
  authenticate(presented: string): Authentication {
    const known = this.#verified.get(presented);
    if (known !== undefined) {
      const key = this.#keys.get(known.id);
      if (key !== undefined && key.hash === known.hash) return this.#answer(key);
    }
    const parsed = parseKey(presented);
    const key = parsed && this.#keys.get(parsed.id);
    if (!parsed || !key) return INVALID;
    if (!secretMatches(this.secret, parsed, key.hash)) return INVALID;
    if (this.#verified.size >= VERIFIED_MEMO_SIZE) this.#verified.clear();
    this.#verified.set(presented, { id: key.id, hash: key.hash });
    return this.#answer(key);
  }

  #answer(key: KeyRecord): Authentication {
    if (key.revoked_at !== null) return REVOKED;
    let answer = this.#valid.get(key);
    if (answer === undefined) this.#valid.set(key, (answer = Object.freeze({ ok: true, key })));
    return answer;
  }

  get(id: string): KeyRecord | undefined {
    return this.#keys.get(id);
  }

  /** Keys in id order, optionally one tenant's; never with their hashes. */
  /**
   * The distinct tiers of `tenant`'s keys that are not revoked (a public HTTP handler's limits come
   * from them on every request): worked out once per tenant, and again after any key changes, not by
   * a walk over every key per request.
   */
  tiersOf(tenant: string): ReadonlyArray<string | null> {
    let tiers = this.#tiers.get(tenant);
    if (tiers === undefined) {
      const found = new Set<string | null>();
      for (const key of this.#keys.values()) if (key.tenant === tenant && key.revoked_at === null) found.add(key.tier);
      this.#tiers.set(tenant, (tiers = Object.freeze([...found])));
    }
    return tiers;
  }

  #put(key: KeyRecord): void {
    this.#keys.set(key.id, key);
    this.#tiers.clear();
  }

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
