/**
 * Which cluster a stored backup belongs to: the one rule that listing, the catalog, retention, the
 * orphan sweep, restore and deletion all use. It parses the folder's name exactly (a cluster named
 * "shop" never owns "shop-copy-…"); the catalog refuses a manifest that names another cluster than
 * its folder, so a committed backup's manifest always agrees with this.
 */
import { parseBackupName } from './names.js';

/** The cluster named by a backup's (or backup folder's) name, or undefined for a name outside the layout. */
export function owningCluster(backupName: string): string | undefined {
  return parseBackupName(backupName)?.cluster;
}

export function belongsTo(backup: { name: string }, cluster: string): boolean {
  return owningCluster(backup.name) === cluster;
}

export function backupsOf<T extends { name: string }>(backups: T[], cluster: string): T[] {
  return backups.filter((backup) => belongsTo(backup, cluster));
}
