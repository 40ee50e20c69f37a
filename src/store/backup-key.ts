import { createHmac } from 'node:crypto';

/** The key archives are signed with: its bytes, and a short public id naming it in headers and refusals. */
export interface BackupKey {
  secret: Buffer;
  id: string;
}

/** The backup key from its configured text (backup.key / WESS_BACKUP_KEY). */
export function backupKey(secret: string): BackupKey {
  const bytes = Buffer.from(secret, 'utf8');
  // An HMAC of a fixed label: it tells keys apart without revealing anything that helps forge.
  const id = createHmac('sha256', bytes).update('wess backup key id').digest('hex').slice(0, 16);
  return { secret: bytes, id };
}
