/**
 * Migration 2: the shared event log, so that every node hears every node's changes.
 *
 *   wess_events     seq → one announced change   topic, tenant, payload (the event as the bus carries it)
 *   wess_counters   name → value                 'events': the last seq given out
 *   wess_tenants.events                          the last tenant_seq given out to that tenant
 *
 * Numbers are given out by UPDATEs of the counter rows as the last step of a writer's transaction:
 * the row lock is held until COMMIT, so events are numbered in commit order, without gaps, across
 * every node. A listener that has read up to seq N can then read `seq > N` and never miss a change
 * committed later under a smaller number, which a sequence (numbered at insert, committed in any
 * order) would allow. The cost is that the last instant of every writer's commit is serialised, once
 * per group, not per message.
 *
 * tenant_seq numbers one tenant's module events (the id a tenant's event stream gives them, so a
 * tenant sees no gaps made by other tenants' activity). Old rows are trimmed by the nodes; the log is
 * for coherence and replay, not an archive (the audit log is that).
 */
export const EVENTS_SQL = `
CREATE TABLE wess_counters (
  name  text COLLATE "C" PRIMARY KEY,
  value bigint NOT NULL
);
INSERT INTO wess_counters (name, value) VALUES ('events', 0);

ALTER TABLE wess_tenants ADD COLUMN events bigint NOT NULL DEFAULT 0;

CREATE TABLE wess_events (
  seq        bigint PRIMARY KEY,
  topic      text NOT NULL,
  tenant     text COLLATE "C",
  tenant_seq bigint,
  payload    json NOT NULL,
  node       text NOT NULL,
  at         timestamptz NOT NULL DEFAULT now(),
  CHECK ((tenant IS NULL) = (tenant_seq IS NULL))
);
CREATE INDEX wess_events_tenant ON wess_events (tenant, tenant_seq) WHERE tenant IS NOT NULL;
`;
