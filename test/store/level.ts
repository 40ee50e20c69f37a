import type { FastifyInstance } from 'fastify';
import type { Db } from '../../src/store/level/db.js';
import { levelDbOf } from '../../src/store/level/level-store.js';

/**
 * The LevelDB under an app's store, for tests that check the stored key layout itself (blobs,
 * dumps, backups). Everything else goes through app.services.store.
 */
export function levelDb(app: FastifyInstance): Db {
  return levelDbOf(app.services.store);
}
