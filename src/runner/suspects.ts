/**
 * What ran past its deadline recently, kept for ttlMs from the latest timeout; nothing else clears it:
 * a quick call in between proves nothing about the next one. The dispatcher keeps two:
 * - tenants (lanes): a suspected tenant never takes the last thread that is up and idle, so however
 *   many modules, exports or versions it spreads its loops over, the thread another tenant's next call
 *   needs is there;
 * - runaways, by (tenant, module, function): their calls go one per bundle, so a loop never holds the
 *   tenant's other calls of a bundle behind it (they would be taken back, or re-run after the kill).
 */
export class Suspects {
  private readonly until = new Map<string, number>();

  constructor(
    private readonly ttlMs: number,
    private readonly max: number,
  ) {}

  /** How many keys are suspected, expired ones included until looked at (0 on the hot path, so callers can skip the lookup). */
  get size(): number {
    return this.until.size;
  }

  /** Suspects `key` for the next ttlMs. */
  mark(key: string, now: number): void {
    this.until.delete(key); // re-insert: Map order is then oldest first
    this.until.set(key, now + this.ttlMs);
    if (this.until.size > this.max) this.until.delete(this.until.keys().next().value as string);
  }

  /** When `key` stops being suspected (Date.now() ms), or undefined when it is not. */
  expiry(key: string, now: number): number | undefined {
    const until = this.until.get(key);
    if (until === undefined) return undefined;
    if (until > now) return until;
    this.until.delete(key);
    return undefined;
  }

  /** True while `key` is suspected. */
  has(key: string, now: number): boolean {
    return this.until.size > 0 && this.expiry(key, now) !== undefined;
  }

  /** Keys suspected now (drops the expired ones). */
  count(now: number): number {
    for (const [key, until] of this.until) if (until <= now) this.until.delete(key);
    return this.until.size;
  }
}

/** The key of a (tenant, module, function) runaway. */
export function runawayKey(lane: string, sha256: string, fn: string): string {
  return `${lane}\u0000${sha256}\u0000${fn}`;
}
