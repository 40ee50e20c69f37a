/** One row of the results table. `pass` is null when the scenario has no target or failed to run. */
export interface Row {
  scenario: string;
  metric: string;
  wess: number | null;
  baseline: number | null;
  ratio: number | null;
  target: string;
  /**
   * Which figure the target is judged on and how, in words (e.g. "p95 of 60 server times, nearest
   * rank"); absent for rows without a target. `wess` must be that figure, so the table shows what passed.
   */
  judges?: string;
  pass: boolean | null;
  /** Per-round numbers and anything else worth a footnote. */
  detail: string;
}

export interface Results {
  command: string;
  date: string;
  machine: { nproc: number; cpu: string; node: string; platform: string };
  /** The node flags Wess ran with (npm start's); absent in results written before they were recorded. */
  wessNodeFlags?: string[];
  settings: Record<string, number | boolean>;
  rows: Row[];
  notes: string[];
}

/** A row for a scenario that threw: the others still run and print. */
export function failedRow(scenario: string, err: unknown): Row {
  const message = err instanceof Error ? err.message : String(err);
  return { scenario, metric: '-', wess: null, baseline: null, ratio: null, target: '-', pass: null, detail: `ERROR: ${message.slice(0, 300)}` };
}

/** Runs a scenario, turning a throw into a failed row. */
export async function guarded(scenario: string, body: () => Promise<Row[]>): Promise<Row[]> {
  try {
    return await body();
  } catch (err) {
    process.stderr.write(`[bench] ${scenario} failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    return [failedRow(scenario, err)];
  }
}
