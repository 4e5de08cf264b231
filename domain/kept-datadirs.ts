/**
 * The datadirs in-place restores kept: `<datadir>.before-restore-<restore id>/`, beside the datadir
 * (with the replaced server's files from outside it in `.chainbackup-kept/`). Never removed by a
 * restore; listed and removed on request (`chainbackup kept`), and weighed by `status`.
 */
export const KEPT_DATADIR_INFIX = '.before-restore-';

/** A restore id, as `formatTimestamp` makes it: 2026-12-04T012000.123Z. */
const RESTORE_ID = /^(\d{4})-(\d{2})-(\d{2})T(\d{2})(\d{2})(\d{2})\.(\d{3})Z$/;

export interface KeptDatadir {
  /** The folder's name, beside the datadir. */
  name: string;
  path: string;
  sizeBytes: number;
  /** When the restore that kept it ran (from its name). */
  keptAt: string;
  ageSeconds: number;
}

export interface KeptDatadirs {
  cluster: string;
  datadir: string;
  kept: KeptDatadir[];
  /** The filesystem that holds the datadir and the kept ones. */
  disk: { totalBytes: number; freeBytes: number };
}

function lastSegment(path: string): string {
  return path.replace(/\/+$/, '').split('/').at(-1) ?? '';
}

/** When the restore that kept `name` ran, if `name` is a datadir kept by an in-place restore of `datadir`; undefined otherwise. */
export function keptDatadirTime(datadir: string, name: string): string | undefined {
  const prefix = `${lastSegment(datadir)}${KEPT_DATADIR_INFIX}`;
  if (!name.startsWith(prefix) || name.includes('/')) return undefined;
  const match = RESTORE_ID.exec(name.slice(prefix.length));
  if (!match) return undefined;
  const [, year, month, day, hour, minute, second, ms] = match;
  const iso = `${year}-${month}-${day}T${hour}:${minute}:${second}.${ms}Z`;
  return Number.isNaN(Date.parse(iso)) ? undefined : iso;
}

/** The share of the disk the kept datadirs take (0 when the disk's size is unknown). */
export function keptShare(kept: KeptDatadirs): number {
  const bytes = kept.kept.reduce((sum, entry) => sum + entry.sizeBytes, 0);
  return kept.disk.totalBytes > 0 ? bytes / kept.disk.totalBytes : 0;
}
