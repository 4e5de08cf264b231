/**
 * S3 Object Lock: which stored objects are written with a retention date, and until when a chain,
 * a folder or an archived binlog is kept by it. Backups and archived binlogs are locked; the
 * markers chainbackup rewrites (verification, pin, deletion, start, the ledger, restore records) are
 * not, so the bucket must have no default retention.
 */
import { BINLOG_FOLDER } from './binlog-archive.js';
import type { StoredBackup } from './chain.js';
import { CHECK_PROBE_FOLDER, DELETING_OBJECT, PIN_OBJECT, STARTED_OBJECT, VERIFICATION_OBJECT } from './layout.js';

const DAY_MS = 86_400_000;
const MUTABLE_MARKERS = new Set([VERIFICATION_OBJECT, PIN_OBJECT, DELETING_OBJECT, STARTED_OBJECT]);

/** Whether an object at this key (relative to the store's root) is written locked. */
export function isLockedKey(key: string): boolean {
  const parts = key.split('/');
  const name = parts.at(-1) ?? '';
  if (parts[0] === BINLOG_FOLDER) return parts.length === 4 && !name.startsWith('gap-');
  if (parts[0] === 'ledger' || parts[0] === 'restores' || parts[0] === CHECK_PROBE_FOLDER || parts.length < 2) return false;
  return !MUTABLE_MARKERS.has(name);
}

/** When a lock taken at `at` ends. */
export function lockEnd(at: string | number, days: number): number {
  return (typeof at === 'number' ? at : Date.parse(at)) + days * DAY_MS;
}

/**
 * Until when a chain's lock keeps it: each increment's commit extends every earlier member to its
 * own lock, so the chain is kept until the newest object any member wrote, plus the lock's days.
 */
export function chainLockedUntil(members: Pick<StoredBackup, 'objects'>[], days: number): number {
  const newest = Math.max(0, ...members.flatMap((member) => member.objects.map((object) => Date.parse(object.lastModified))));
  return lockEnd(newest, days);
}

/** A chain or a folder its lock keeps from removal until a moment after now, for reports. */
export interface LockWait {
  base: string;
  until: string;
}
