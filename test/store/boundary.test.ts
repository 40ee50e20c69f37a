import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { posix } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

/**
 * The store boundary: code outside src/store/ sees the store through its interfaces (src/store/index.ts,
 * store.ts) and never an engine or the LevelDB key layout, so that another engine can replace it.
 */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** Engine drivers: only src/store/ may load them. */
const FORBIDDEN_PACKAGES = ['classic-level', 'pg', 'postgres'];
/** The engines' stores: LevelDB's (facade, key layout, value encoding, writer, reader) and PostgreSQL's. */
const LEVEL_DIR = 'src/store/level/';
const POSTGRES_DIR = 'src/store/postgres/';
const ENGINE_DIRS = [LEVEL_DIR, POSTGRES_DIR];

/** Static imports, re-exports, side-effect imports and dynamic import() calls. */
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"]([^'"]+)['"]/gm;

/** The forbidden specifiers `source` (a file at `path`, relative to the repository) imports: `packages`, and files under `dirs`. */
function violations(path: string, source: string, packages: readonly string[] = FORBIDDEN_PACKAGES, dirs: readonly string[] = ENGINE_DIRS): string[] {
  const found: string[] = [];
  for (const [, specifier = ''] of source.matchAll(SPECIFIER)) {
    if (specifier.startsWith('.')) {
      const target = posix.join(posix.dirname(path), specifier).replace(/\.(js|ts)$/, '');
      if (dirs.some((dir) => target.startsWith(dir))) found.push(specifier);
    } else if (packages.some((name) => specifier === name || specifier.startsWith(`${name}/`))) {
      found.push(specifier);
    }
  }
  return found;
}

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(posix.join(ROOT, dir), { withFileTypes: true });
  const files: string[] = [];
  for (const entry of entries) {
    const path = posix.join(dir, entry.name);
    if (entry.isDirectory()) files.push(...(await sourceFiles(path)));
    else if (entry.name.endsWith('.ts')) files.push(path);
  }
  return files;
}

test('the boundary check catches each kind of import it forbids', () => {
  const source = [
    "import { ClassicLevel } from 'classic-level';",
    "import type { Db } from '../store/level/db.js';",
    "export { MAX_VERSION } from '../store/level/keys.js';",
    "const { PID_FILE } = await import('../store/level/codec.js');",
    "import '../store/level/db.js';",
    "import { openStore } from '../store/index.js';",
    "import { sha256Hex } from '../hash.js';",
  ].join('\n');
  assert.deepEqual(violations('src/auth/example.ts', source), ['classic-level', '../store/level/db.js', '../store/level/keys.js', '../store/level/codec.js', '../store/level/db.js']);
  assert.deepEqual(violations('src/cli/commands/example.ts', "import { prefixRange } from '../../store/level/keys.js';"), ['../../store/level/keys.js'], 'resolved from the importing file');
  assert.deepEqual(violations('src/cli/commands/example.ts', "import { readArchive } from '../../store/offline.js';"), []);
  assert.deepEqual(violations('src/http/example.ts', "import pg from 'pg';\nimport { connectPool } from '../store/postgres/connect.js';"), ['pg', '../store/postgres/connect.js']);
});

test('nothing outside src/store/ imports an engine or an engine\'s store (LevelDB\'s facade, key layout, codec, writer, reader; PostgreSQL\'s)', async () => {
  const files = (await sourceFiles('src')).filter((path) => !path.startsWith('src/store/'));
  assert.ok(files.length > 50, `found the sources (${files.length} files under src/)`);
  const found: string[] = [];
  for (const path of files) {
    for (const specifier of violations(path, await readFile(posix.join(ROOT, path), 'utf8'))) found.push(`${path} imports ${specifier}`);
  }
  assert.deepEqual(found, [], 'go through the store interfaces (src/store/index.ts) instead');
});

test('the engine-neutral store files (interfaces, shapes, the export format) import no engine; only the doors choose one', async () => {
  const DOORS = new Set(['src/store/index.ts', 'src/store/offline.ts']);
  const files = (await sourceFiles('src/store')).filter((path) => !ENGINE_DIRS.some((dir) => path.startsWith(dir)) && !DOORS.has(path));
  assert.ok(files.some((path) => path === 'src/store/store.ts'), 'found the interfaces');
  const found: string[] = [];
  for (const path of files) {
    for (const specifier of violations(path, await readFile(posix.join(ROOT, path), 'utf8'))) found.push(`${path} imports ${specifier}`);
  }
  assert.deepEqual(found, []);
});

test('the PostgreSQL store loads no LevelDB: neither classic-level nor the LevelDB store', async () => {
  const files = await sourceFiles(POSTGRES_DIR.slice(0, -1));
  assert.ok(files.some((path) => path === 'src/store/postgres/migrate.ts'), 'found the PostgreSQL store');
  const found: string[] = [];
  for (const path of files) {
    for (const specifier of violations(path, await readFile(posix.join(ROOT, path), 'utf8'), ['classic-level'], [LEVEL_DIR])) found.push(`${path} imports ${specifier}`);
  }
  assert.deepEqual(found, []);
});
