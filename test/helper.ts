import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { buildApp, type WessApp } from '../src/app.js';
import { validateConfig } from '../src/config/load.js';
import type { ConfigInput } from '../src/config/schema.js';
import { loggerOptions } from '../src/logger.js';
import { testDatabase, type TestDatabase } from './store/postgres/pg-helper.js';

export { conformanceCorpus, conformanceDir } from './conformance-corpus.js';

/** The repository root (tests run from dist/test/). */
export const ROOT = new URL('../../', import.meta.url);

/** Bytes of a fixture module in test/fixtures/wasm/. */
export function fixture(name: string): Buffer {
  return readFileSync(new URL(`test/fixtures/wasm/${name}.wasm`, ROOT));
}

/** The admin key every test app is started with (WESS_ADMIN_KEY's config key); not a real secret. */
export const TEST_ADMIN_KEY = 'wess_testadmin_TESTONLYtestonlyTESTONLYtestonly0123';
/** The HMAC secret of test apps, fixed so tests do not each generate and store one. */
export const TEST_AUTH_SECRET = 'test-only-hmac-secret-0123456789abcdef';
/** The backup.key of test apps (WESS_BACKUP_KEY): their backups are signed with it. */
export const TEST_BACKUP_KEY = 'test-only-backup-key-0123456789abcdefgh';

/** Headers that authenticate a fetch as the test admin (or as `key`). */
export function authHeaders(extra: Record<string, string> = {}, key = TEST_ADMIN_KEY): Record<string, string> {
  return { authorization: `Bearer ${key}`, ...extra };
}

/**
 * Headers that send no key at all. `app.inject` adds the admin key unless `authorization` is `in`
 * the headers, and light-my-request refuses an undefined header value it iterates over: a
 * non-enumerable property satisfies the first and is skipped by the second.
 */
export function noKey(extra: Record<string, string> = {}): Record<string, string> {
  const headers: Record<string, string> = { ...extra };
  Object.defineProperty(headers, 'authorization', { value: undefined, enumerable: false });
  return headers;
}

/** A key as POST /keys answers it (the secret included, shown this once). */
export interface MadeKey {
  key: string;
  id: string;
  role: 'admin' | 'developer' | 'runner';
  tenant: string;
  tier: string | null;
  modules: string[] | null;
}

/** Creates a key as the test admin; fails the test unless the answer is 201. */
export async function makeKey(
  app: WessApp,
  body: { name: string; role: string; tenant?: string; tier?: string | null; modules?: string[] },
): Promise<MadeKey> {
  const res = await app.inject({ method: 'POST', url: '/keys', payload: body });
  if (res.statusCode !== 201) throw new Error(`POST /keys ${JSON.stringify(body)} answered ${res.statusCode}: ${res.body}`);
  return res.json() as MadeKey;
}

export interface TestApp {
  app: WessApp;
  dataDir: string;
  /** Every log line the app wrote, parsed. */
  logs: Record<string, unknown>[];
  close(): Promise<void>;
}

type Overrides = { [S in keyof ConfigInput]?: Partial<NonNullable<ConfigInput[S]>> };

/**
 * Which store test apps run on: `WESS_TEST_STORE=postgres` puts every app of the run on PostgreSQL
 * (a fresh database per data directory, dropped when the test file ends), so the same HTTP suites
 * check both engines; unset, the embedded LevelDB in a temp dir.
 */
export const TEST_STORE: 'leveldb' | 'postgres' = process.env.WESS_TEST_STORE === 'postgres' ? 'postgres' : 'leveldb';

/**
 * node:test options for a test of the LevelDB store's own layout or its backup archive (a dump of
 * LevelDB's keys): skipped, with the reason, when the run is on PostgreSQL, whose tests of the same
 * things are in test/store/postgres/.
 */
export const levelOnly: { skip: string | false } = {
  skip: TEST_STORE === 'postgres' ? 'reads the LevelDB key layout or its backup archive; test/store/postgres/ covers the PostgreSQL store' : false,
};

/** Whether the store holds content under `sha256`, asked through the store interface, whichever the engine. */
export async function blobStored(app: WessApp, sha256: string): Promise<boolean> {
  const inspected = await app.services.store.modules.inspectBlob(sha256);
  return inspected.ok || inspected.problem !== 'missing';
}

/** The PostgreSQL database standing for each data directory: an app restarted on the same directory finds its data. */
const databases = new Map<string, TestDatabase>();
if (TEST_STORE === 'postgres') {
  // Once the file's apps are closed and nothing else is left to run: an `after` hook here would run
  // before the test file's own, dropping databases under apps still open.
  process.once('beforeExit', () => {
    void Promise.all([...databases.values()].map((db) => db.close())).then(() => databases.clear());
  });
}

/** database.url for the app on `dir` when the run is on PostgreSQL. */
async function databaseFor(dir: string): Promise<{ url?: string }> {
  if (TEST_STORE !== 'postgres') return {};
  let db = databases.get(dir);
  if (db === undefined) databases.set(dir, (db = await testDatabase()));
  return { url: db.url };
}

/** Builds an app on a fresh temp data dir with a small pool; `close` removes the dir. */
export async function startApp(overrides: Overrides = {}, dataDir?: string): Promise<TestApp> {
  const dir = dataDir ?? (await mkdtemp(join(tmpdir(), 'wess-test-')));
  const config = validateConfig({
    ...overrides,
    server: { workers: 2, ...overrides.server },
    database: { path: dir, ...(await databaseFor(dir)), ...overrides.database },
    rate_limit: { max: 1_000_000, anonymous_max: 1_000_000, ...overrides.rate_limit },
    log: { level: 'info', ...overrides.log },
    auth: { admin_key: TEST_ADMIN_KEY, secret: TEST_AUTH_SECRET, ...overrides.auth },
    backup: { key: TEST_BACKUP_KEY, ...overrides.backup },
  });
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const app = await buildApp(config, { logger: pino(loggerOptions(config.log.level), sink) });
  actAsAdmin(app);
  let closed = false;
  return {
    app,
    dataDir: dir,
    logs,
    async close() {
      if (closed) return;
      closed = true;
      await app.close();
      if (!dataDir) await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Makes `app.inject` send the test admin key unless the call sets `authorization` or `x-api-key`
 * itself (even to undefined): tests that are not about auth act as the admin; tests about auth
 * say which key they use.
 */
function actAsAdmin(app: WessApp): void {
  const inject = app.inject.bind(app) as (opts?: unknown) => unknown;
  const withKey = (opts: unknown): unknown => {
    if (typeof opts !== 'object' || opts === null) return opts;
    const headers = ((opts as { headers?: Record<string, unknown> }).headers ?? {}) as Record<string, unknown>;
    if ('authorization' in headers || 'x-api-key' in headers) return opts;
    return { ...opts, headers: { ...headers, authorization: `Bearer ${TEST_ADMIN_KEY}` } };
  };
  (app as { inject: unknown }).inject = (opts?: unknown) => (opts === undefined ? inject() : inject(withKey(opts)));
}

/** Uploads a fixture as JSON/base64 and returns the created module. */
export async function upload(app: WessApp, name: string, bytes: Uint8Array = fixture(name)): Promise<{ id: string } & Record<string, unknown>> {
  const res = await app.inject({ method: 'POST', url: '/modules', payload: { name, content: Buffer.from(bytes).toString('base64') } });
  if (res.statusCode !== 201) throw new Error(`upload of ${name} failed: ${res.statusCode} ${res.body}`);
  return res.json();
}

/** Resolves once `condition` holds, checking each event-loop turn; fails after `ms`. */
export async function waitFor(condition: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('waitFor: condition not met in time');
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Bytes of a WASI program in test/fixtures/wasi/ (built from the .c beside it). */
export function wasiFixture(name: string): Buffer {
  return readFileSync(new URL(`test/fixtures/wasi/${name}.wasm`, ROOT));
}

/** Listens on a free port of 127.0.0.1 and returns the base URL, for tests that need a real socket. */
export async function listen(app: WessApp): Promise<string> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (!address || typeof address !== 'object') throw new Error('server has no TCP address');
  return `http://127.0.0.1:${address.port}`;
}
