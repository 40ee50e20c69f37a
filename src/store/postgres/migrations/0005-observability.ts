/**
 * Migration 5: the invocation log, each module's last calls as a ring of slots.
 *
 *   wess_invocation_seq   module_id → the module's next invocation seq (its row lock orders nodes' flushes)
 *   wess_invocations      (module_id, slot) → the call with seq ≡ slot (mod keep), as InvocationRecord JSON
 *
 * Both go with their module (ON DELETE CASCADE). And tenants' own settings (PUT /settings):
 *
 *   wess_tenant_settings  tenant → TenantSettings JSON   (nodes hold them in memory and follow tenant.settings events)
 */
export const OBSERVABILITY_SQL = `
CREATE TABLE wess_invocation_seq (
  module_id text COLLATE "C" PRIMARY KEY REFERENCES wess_modules (id) ON DELETE CASCADE,
  next      bigint NOT NULL
);

CREATE TABLE wess_invocations (
  module_id text COLLATE "C" NOT NULL REFERENCES wess_modules (id) ON DELETE CASCADE,
  slot      integer NOT NULL,
  seq       bigint NOT NULL,
  at        timestamptz NOT NULL,
  ok        boolean NOT NULL,
  record    json NOT NULL,
  PRIMARY KEY (module_id, slot)
);
CREATE INDEX wess_invocations_seq ON wess_invocations (module_id, seq DESC);

CREATE TABLE wess_tenant_settings (
  tenant text COLLATE "C" PRIMARY KEY,
  record json NOT NULL
);
`;
