/** A cluster's storage as `list`, `show` and `status` read it: chains, uncommitted folders, verifications, the recoverable window. */
import { isCommitted, type StoredBackup } from './chain.js';
import type { Manifest, VerificationRecord } from './manifest.js';
import { backupsOf } from './ownership.js';
import { recoverableWindow, type ArchiveSummary, type PointInTimeWindow } from './point-in-time.js';
import { committedChains } from './retention.js';

export interface BackupListing {
  name: string;
  type: 'full' | 'incremental' | 'unknown';
  base: string;
  parent: string | null;
  path: string;
  state: 'committed' | 'uncommitted';
  fromLsn?: string;
  toLsn?: string;
  sizeBytes: number;
  startedAt?: string;
  finishedAt?: string;
  /** Its newest verification by a real server: passed or failed, when, and every problem found. */
  verification?: { result: 'passed' | 'failed'; verifiedAt: string; problems: string[] };
  /** Why a stored verification record could not be read. */
  verificationProblem?: string;
  /** Pinned by an operator: retention keeps it and its chain; a deletion refuses it. */
  pinned?: { pinnedAt: string; note?: string };
  /** Why an uncommitted folder is not a backup (no manifest, its chain being deleted, a broken manifest), or what is wrong with a committed one's records. */
  problem?: string;
}

export interface ClusterCatalog {
  cluster: string;
  storage: string;
  chains: { base: BackupListing; increments: BackupListing[] }[];
  uncommitted: BackupListing[];
  manifest?: Manifest;
  /** With the manifest: the backup's newest verification record, whole. */
  verification?: VerificationRecord;
  /** For a cluster that archives its binary log: the times a point-in-time restore can reach (null: none yet). */
  pointInTime?: PointInTimeWindow | null;
}

function listing(backup: StoredBackup): BackupListing {
  const size = backup.objects.reduce((sum, object) => sum + object.size, 0);
  if (!isCommitted(backup)) {
    return { name: backup.name, type: 'unknown', base: backup.base, parent: null, path: backup.folder, state: 'uncommitted', sizeBytes: size, problem: backup.manifestProblem ?? (backup.deleting ? 'its chain is being deleted' : 'no manifest: failed, running, or partly deleted') };
  }
  const { manifest, verification } = backup;
  return {
    name: backup.name,
    type: manifest.type,
    base: manifest.base,
    parent: manifest.parent,
    path: backup.folder,
    state: 'committed',
    fromLsn: manifest.fromLsn,
    toLsn: manifest.toLsn,
    sizeBytes: manifest.sizeBytes,
    startedAt: manifest.startedAt,
    finishedAt: manifest.finishedAt,
    ...(verification ? { verification: { result: verification.result, verifiedAt: verification.verifiedAt, problems: verification.problems } } : {}),
    ...(backup.verificationProblem ? { verificationProblem: backup.verificationProblem } : {}),
    ...(backup.pinned ? { pinned: backup.pinned } : {}),
    ...(backup.recordProblems?.length ? { problem: backup.recordProblems.join('; ') } : {}),
  };
}

/** The listing of a cluster's backups (and the named one's manifest and verification), from what its storage holds. */
export function describeCatalog(backups: StoredBackup[], cluster: string, storage: string, archive?: ArchiveSummary, backupName?: string): ClusterCatalog {
  const mine = backupsOf(backups, cluster);
  const named = backupName === undefined ? undefined : mine.find((backup) => backup.name === backupName);
  return {
    cluster,
    storage,
    chains: committedChains(mine, cluster).map((chain) => ({ base: listing(chain.base), increments: chain.increments.map(listing) })),
    uncommitted: mine.filter((backup) => !isCommitted(backup)).map(listing),
    ...(named?.manifest ? { manifest: named.manifest, ...(named.verification ? { verification: named.verification } : {}) } : {}),
    ...(archive ? { pointInTime: recoverableWindow(mine, archive) ?? null } : {}),
  };
}
