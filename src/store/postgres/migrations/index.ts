import { SCHEMA_SQL } from './0001-schema.js';
import { EVENTS_SQL } from './0002-events.js';
import { ROUTES_SQL } from './0003-routes.js';
import { JOBS_SQL } from './0004-jobs.js';
import { OBSERVABILITY_SQL } from './0005-observability.js';

/** One step of the schema: applied once, in one transaction, in version order. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/**
 * Every migration, oldest first. A released migration is never edited: a change to the schema is a
 * new migration with the next version, so a database at any version reaches the newest one.
 */
export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: 'schema', sql: SCHEMA_SQL },
  { version: 2, name: 'events', sql: EVENTS_SQL },
  { version: 3, name: 'routes', sql: ROUTES_SQL },
  { version: 4, name: 'jobs', sql: JOBS_SQL },
  { version: 5, name: 'observability', sql: OBSERVABILITY_SQL },
];
