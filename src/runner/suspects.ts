/**
 * (module, function) pairs whose calls ran past their deadline recently. Their calls run one per batch
 * on at most all workers but one, so a module that loops again and again cannot take every worker
 * from healthy calls or stall their batches. A call of the pair that finishes in time clears it.
 */
export class Suspects {
  private readonly until = new Map<string, number>();

  constructor(
    private readonly ttlMs: number,
    private readonly max: number,
  ) {}

  /** How many pairs are suspected (0 on the hot path, so callers can skip the lookup). */
  get size(): number {
    return this.until.size;
  }

  /** Suspects `fn` of `sha256` for the next ttlMs. */
  mark(sha256: string, fn: string, now: number): void {
    const key = keyOf(sha256, fn);
    this.until.delete(key); // re-insert: Map order is then oldest first
    this.until.set(key, now + this.ttlMs);
    if (this.until.size > this.max) this.until.delete(this.until.keys().next().value as string);
  }

  /** True while `fn` of `sha256` is suspected. */
  has(sha256: string, fn: string, now: number): boolean {
    if (this.until.size === 0) return false;
    const key = keyOf(sha256, fn);
    const until = this.until.get(key);
    if (until === undefined) return false;
    if (until > now) return true;
    this.until.delete(key);
    return false;
  }

  /** Clears the suspicion (a call finished in time). */
  clear(sha256: string, fn: string): void {
    if (this.until.size > 0) this.until.delete(keyOf(sha256, fn));
  }
}

function keyOf(sha256: string, fn: string): string {
  return `${sha256}\u0000${fn}`;
}
