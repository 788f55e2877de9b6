/**
 * A store image directory that a backup client writes into carries this note, written by the
 * server: who sends it and what it may use. `lifeboat images list` reads it to show the quota
 * beside the versions; the server's database stays the authority.
 */
export const BACKUP_CLIENT_FILE = '.backup-client.json';

export interface BackupClientNote {
  client: string;
  address: string;
  quotaBytes: number | null;
  /** The server's rules, as RetentionPolicy words them (the store does not import retention). */
  retention: { keepLast?: number; keepDaily?: number; keepWeekly?: number; keepMonthly?: number };
}
