/**
 * Migration 4: jobs, schedules and webhook secrets.
 *
 *   wess_jobs             id → JobRecord (record)        the columns a query selects on, copied out of it
 *   wess_schedules        id → ScheduleRecord (record)   next_at: its next tick
 *   wess_webhook_secrets  tenant → secret
 *
 * Nodes claim due jobs with SELECT … FOR UPDATE SKIP LOCKED on wess_jobs_due, so two nodes never
 * take the same job and neither waits for the other's rows. A create locks the tenant's
 * wess_tenants row, so the max_queued_jobs count and the idempotency look-up are serialised per tenant;
 * so does a new schedule (max_schedules). A due schedule is fired under its row lock (SKIP LOCKED too),
 * its job inserted and next_at moved in the same transaction: one job per tick, whatever the nodes.
 */
export const JOBS_SQL = `
CREATE TABLE wess_jobs (
  id              text COLLATE "C" PRIMARY KEY,
  tenant          text COLLATE "C" NOT NULL,
  module          text COLLATE "C" NOT NULL,
  status          text NOT NULL,
  due_at          timestamptz,
  idempotency_key text,
  created_at      timestamptz NOT NULL,
  record          jsonb NOT NULL
);
CREATE INDEX wess_jobs_due ON wess_jobs (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX wess_jobs_tenant ON wess_jobs (tenant, id);
CREATE INDEX wess_jobs_active ON wess_jobs (tenant) WHERE status IN ('queued', 'running');
CREATE INDEX wess_jobs_ended ON wess_jobs (created_at) WHERE due_at IS NULL;
CREATE INDEX wess_jobs_idempotency ON wess_jobs (tenant, idempotency_key, created_at) WHERE idempotency_key IS NOT NULL;

CREATE TABLE wess_schedules (
  id      text COLLATE "C" PRIMARY KEY,
  tenant  text COLLATE "C" NOT NULL,
  module  text COLLATE "C" NOT NULL,
  next_at timestamptz NOT NULL,
  record  jsonb NOT NULL
);
CREATE INDEX wess_schedules_due ON wess_schedules (next_at);
CREATE INDEX wess_schedules_tenant ON wess_schedules (tenant, id);

CREATE TABLE wess_webhook_secrets (
  tenant text COLLATE "C" PRIMARY KEY,
  secret text NOT NULL
);
`;
