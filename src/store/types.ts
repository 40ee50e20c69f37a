import type { FunctionExport } from '../wasm/types.js';

/** A module as the HTTP API shows it (content bytes live apart, by sha256). */
export interface ModuleRecord {
  id: string;
  name: string;
  version: number;
  sha256: string;
  size: number;
  exports: FunctionExport[];
  /** Limits of the module's memory as Wess enforces them; null when it has none. */
  memory: { min_pages: number; max_pages: number } | null;
  created_at: string;
  updated_at: string;
}

/** What a create or update carries: everything the route learned from the binary. */
export interface ModuleContent {
  sha256: string;
  content: Uint8Array;
  exports: FunctionExport[];
  memory: ModuleRecord['memory'];
}

/** The typed messages the writer accepts; nothing else writes LevelDB. */
export type WriteMessage =
  | ({ kind: 'create-module'; id: string; name: string } & ModuleContent)
  | ({ kind: 'update-module'; id: string; name?: string } & ModuleContent)
  | { kind: 'delete-module'; id: string };

/** What the writer answers for each message kind, once the batch holding it is on disk. */
export interface WriteResult {
  'create-module': ModuleRecord;
  'update-module': ModuleRecord;
  'delete-module': ModuleRecord;
}

export interface ModulePage {
  items: ModuleRecord[];
  next_cursor: string | null;
}
