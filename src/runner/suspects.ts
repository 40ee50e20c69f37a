/**
 * Lanes (tenants) whose calls ran past their deadline recently. A suspected lane runs one call at a
 * time, one call per batch, so a tenant whose code loops holds at most one worker however many
 * modules, exports or versions it spreads the loops over. Suspicion lasts ttlMs from the latest
 * timeout and nothing else clears it: a quick call in between proves nothing about the next one.
 */
export class Suspects {
  private readonly until = new Map<string, number>();

  constructor(
    private readonly ttlMs: number,
    private readonly max: number,
  ) {}

  /** How many lanes are suspected (0 on the hot path, so callers can skip the lookup). */
  get size(): number {
    return this.until.size;
  }

  /** Suspects `lane` for the next ttlMs. */
  mark(lane: string, now: number): void {
    this.until.delete(lane); // re-insert: Map order is then oldest first
    this.until.set(lane, now + this.ttlMs);
    if (this.until.size > this.max) this.until.delete(this.until.keys().next().value as string);
  }

  /** True while `lane` is suspected. */
  has(lane: string, now: number): boolean {
    if (this.until.size === 0) return false;
    const until = this.until.get(lane);
    if (until === undefined) return false;
    if (until > now) return true;
    this.until.delete(lane);
    return false;
  }
}
