/**
 * Migration 1: the whole schema of the PostgreSQL store. Records are JSON in exactly the shapes of
 * store/types.ts and auth/types.ts (one JSON shape for every engine, and for export), stored as
 * `json`, not `jsonb`: jsonb reorders an object's keys (shortest first), so a record would come back
 * with other bytes than were written, and export/import must be byte-identical; nothing here queries
 * inside a record except through the generated columns, which are computed once, on write. The columns
 * beside them are GENERATED from the record where a constraint, an index or a lock needs them, so
 * a column can never disagree with the record it was read from.
 *
 *   wess_blobs          sha256 → bytes          content-addressed: one row per hash (dedup)
 *   wess_modules        id → current record     tenant, name, version generated from it
 *   wess_versions       (module, version) → record; sha256 and files_sha256 reference wess_blobs
 *   wess_tenants        tenant → bytes held     the max_storage count, changed with the versions
 *   wess_keys           id → KeyRecord          tenant generated from it
 *   wess_key_usage      key id → counters       columns, not JSON: nodes add to them with one upsert
 *   wess_audit          id → AuditEntry         time-ordered ids; tenant generated, indexed for pages
 *   wess_settings       name → value            the server secret, inserted once
 *
 * Blob liveness is computed from wess_versions, not kept as reference rows: a version names its
 * binary and files image already, two indexes answer "does any version still use this blob", and
 * the foreign keys make "a version whose blob is gone" impossible (a delete of a blob some version
 * still uses fails instead of losing content). LevelDB needs r! keys because it cannot ask that.
 *
 * max_modules is counted from wess_modules while the tenant's wess_tenants row is locked (FOR UPDATE),
 * so two nodes creating a tenant's last module are serialised on that row and only one gets it; the
 * row's bytes change in the same transactions as the versions they count, as LevelDB's tb! does.
 *
 * Ids and hashes are `COLLATE "C"`: byte order, as LevelDB's keys sort, so id-ordered pages and
 * cursors are the same on both engines whatever the database's default collation.
 */
export const SCHEMA_SQL = `
CREATE TABLE wess_blobs (
  sha256     text COLLATE "C" PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  bytes      bytea NOT NULL,
  size       bigint NOT NULL CHECK (size = octet_length(bytes)),
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE wess_modules (
  id      text COLLATE "C" PRIMARY KEY CHECK (id <> '' AND strpos(id, '!') = 0),
  record  json NOT NULL CHECK (record->>'id' = id),
  tenant  text COLLATE "C" NOT NULL GENERATED ALWAYS AS (record->>'tenant') STORED,
  name    text NOT NULL GENERATED ALWAYS AS (record->>'name') STORED,
  version bigint NOT NULL GENERATED ALWAYS AS ((record->>'version')::bigint) STORED
          CHECK (version BETWEEN 1 AND 9999999999),
  stored_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX wess_modules_tenant ON wess_modules (tenant, id);

CREATE TABLE wess_versions (
  module_id    text COLLATE "C" NOT NULL REFERENCES wess_modules (id) ON DELETE CASCADE,
  version      bigint NOT NULL CHECK (version BETWEEN 1 AND 9999999999),
  record       json NOT NULL CHECK (record->>'id' = module_id AND (record->>'version')::bigint = version),
  sha256       text COLLATE "C" NOT NULL GENERATED ALWAYS AS (record->>'sha256') STORED REFERENCES wess_blobs (sha256),
  files_sha256 text COLLATE "C" GENERATED ALWAYS AS (record->'files'->>'sha256') STORED REFERENCES wess_blobs (sha256),
  held         bigint NOT NULL GENERATED ALWAYS AS (
                 (record->>'size')::bigint + coalesce((record->'files'->>'size')::bigint, 0)) STORED,
  PRIMARY KEY (module_id, version)
);
CREATE INDEX wess_versions_sha256 ON wess_versions (sha256);
CREATE INDEX wess_versions_files_sha256 ON wess_versions (files_sha256) WHERE files_sha256 IS NOT NULL;

-- The current version is always in the history: pruning can never drop it. Deferred, because a new
-- version and the record pointing at it are written in one transaction, in either order.
ALTER TABLE wess_modules ADD CONSTRAINT wess_modules_current_version
  FOREIGN KEY (id, version) REFERENCES wess_versions (module_id, version) DEFERRABLE INITIALLY DEFERRED;

CREATE TABLE wess_tenants (
  tenant text COLLATE "C" PRIMARY KEY,
  bytes  bigint NOT NULL DEFAULT 0 CHECK (bytes >= 0)
);

CREATE TABLE wess_keys (
  id     text COLLATE "C" PRIMARY KEY,
  record json NOT NULL CHECK (record->>'id' = id),
  tenant text COLLATE "C" NOT NULL GENERATED ALWAYS AS (record->>'tenant') STORED,
  stored_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX wess_keys_tenant ON wess_keys (tenant);

CREATE TABLE wess_key_usage (
  key_id     text COLLATE "C" PRIMARY KEY,
  runs       bigint NOT NULL DEFAULT 0,
  errors     bigint NOT NULL DEFAULT 0,
  cpu_ms     double precision NOT NULL DEFAULT 0,
  fuel       double precision,
  bytes_in   bigint NOT NULL DEFAULT 0,
  bytes_out  bigint NOT NULL DEFAULT 0,
  day        text NOT NULL,
  runs_today bigint NOT NULL DEFAULT 0,
  updated_at text
);

CREATE TABLE wess_audit (
  id     text COLLATE "C" PRIMARY KEY CHECK (id ~ '^[0-9]{15}-[0-9]{6}$'),
  entry  json NOT NULL CHECK (entry->>'id' = id),
  tenant text COLLATE "C" GENERATED ALWAYS AS (entry->>'tenant') STORED
);
CREATE INDEX wess_audit_tenant ON wess_audit (tenant, id) WHERE tenant IS NOT NULL;

CREATE TABLE wess_settings (
  name  text COLLATE "C" PRIMARY KEY,
  value text NOT NULL
);
`;
