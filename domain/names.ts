/** Naming of clusters and backups. A backup's name says which cluster, when and what kind. */

export type BackupType = 'full' | 'incremental';

const CLUSTER_NAME = /^[a-z0-9](?:[a-z0-9_-]{0,61}[a-z0-9])?$/;
const BACKUP_NAME = /^(?<cluster>[a-z0-9](?:[a-z0-9_-]{0,61}[a-z0-9])?)-(?<stamp>\d{4}-\d{2}-\d{2}T\d{6}\.\d{3}Z)-(?<kind>full|incr)$/;

export const CLUSTER_NAME_RULE = 'lowercase letters, digits, "-" and "_", 1 to 63 characters, starting and ending with a letter or digit';

export function isValidClusterName(name: string): boolean {
  return CLUSTER_NAME.test(name);
}

/** UTC timestamp with milliseconds, e.g. 2026-04-06T120000.123Z: sortable, and safe in paths and ids. */
export function formatTimestamp(epochMs: number): string {
  const iso = new Date(epochMs).toISOString(); // 2026-04-06T12:00:00.123Z
  return `${iso.slice(0, 10)}T${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}.${iso.slice(20, 23)}Z`;
}

export function backupName(cluster: string, type: BackupType, epochMs: number): string {
  return `${cluster}-${formatTimestamp(epochMs)}-${type === 'full' ? 'full' : 'incr'}`;
}

export interface ParsedBackupName {
  cluster: string;
  type: BackupType;
  /** Milliseconds since the epoch, from the name's timestamp. */
  takenAt: number;
}

export function parseBackupName(name: string): ParsedBackupName | undefined {
  const match = BACKUP_NAME.exec(name);
  if (!match?.groups) return undefined;
  const { cluster, stamp, kind } = match.groups as { cluster: string; stamp: string; kind: string };
  const iso = `${stamp.slice(0, 11)}${stamp.slice(11, 13)}:${stamp.slice(13, 15)}:${stamp.slice(15)}`;
  const takenAt = Date.parse(iso);
  // Date.parse rolls impossible dates over (02-30 becomes 03-02, 24:00 the next day): such a name
  // was never made by backupName and its time would not be the one it shows.
  if (Number.isNaN(takenAt) || formatTimestamp(takenAt) !== stamp) return undefined;
  return { cluster, type: kind === 'full' ? 'full' : 'incremental', takenAt };
}
