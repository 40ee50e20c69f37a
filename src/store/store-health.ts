import type { VerifyReport } from './types.js';

/** How many damaged blobs are remembered between verifications (each is a few dozen bytes). */
const MAX_REMEMBERED = 10_000;
/** Module ids /health lists; the full list is what `wess doctor` prints. */
const LISTED = 20;

/** A verification's figures, with the damaged versions counted rather than listed. */
export type VerifySummary = Omit<VerifyReport, 'damaged'> & { damaged: number };

interface Seen {
  module_id: string | null;
  seen_at: string;
}

/**
 * What this server knows about damaged stored content: blobs a read found damaged (CONTENT_CORRUPT
 * answers), and the last full verification (GET /admin/verify, `wess doctor`). /health reports it.
 */
export class StoreHealth {
  /** By sha256, or `record:<module>/<version>` for a version record that could not be read. */
  readonly #damaged = new Map<string, Seen>();
  #lastVerify: VerifySummary | null = null;

  /** A read found the content of `sha256` damaged (from module `moduleId`, when known). */
  noteDamaged(sha256: string, moduleId: string | null): void {
    if (this.#damaged.has(sha256)) return;
    if (this.#damaged.size >= MAX_REMEMBERED) return;
    this.#damaged.set(sha256, { module_id: moduleId, seen_at: new Date().toISOString() });
  }

  /** A full verification ran: its findings replace what reads had noted before it started. */
  verified(report: VerifyReport): void {
    const { damaged, ...figures } = report;
    for (const [sha256, seen] of this.#damaged) if (seen.seen_at < report.started_at) this.#damaged.delete(sha256);
    for (const damage of damaged) {
      const key = damage.sha256 || `record:${damage.module_id}/${damage.version}`;
      if (!this.#damaged.has(key) && this.#damaged.size < MAX_REMEMBERED) this.#damaged.set(key, { module_id: damage.module_id, seen_at: report.finished_at });
    }
    this.#lastVerify = { ...figures, damaged: damaged.length };
  }

  /** For /health. */
  summary(): { status: 'ok' | 'damaged'; damaged_blobs: number; damaged_modules: string[]; last_verify: VerifySummary | null } {
    const modules = new Set<string>();
    for (const seen of this.#damaged.values()) if (seen.module_id && modules.size < LISTED) modules.add(seen.module_id);
    return { status: this.#damaged.size > 0 ? 'damaged' : 'ok', damaged_blobs: this.#damaged.size, damaged_modules: [...modules], last_verify: this.#lastVerify };
  }
}
