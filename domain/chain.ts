/**
 * Chain rules. A chain is one committed full backup plus committed increments linked by `parent`,
 * each increment's fromLsn equal to its parent's toLsn. Only committed backups (those with a
 * manifest) exist for these rules: a folder without a manifest is a failed or running backup.
 */
import { compareLsn, type BinlogPosition, type Checkpoints } from './checkpoints.js';
import type { FailureTypeName } from './failures.js';
import type { Manifest, VerificationRecord } from './manifest.js';
import { toolFilesOf } from './layout.js';
import { backupsOf, belongsTo, owningCluster } from './ownership.js';

export interface StoredObject {
  key: string;
  size: number;
  lastModified: string;
}

/** What storage holds for one backup folder. */
export interface StoredBackup {
  name: string;
  base: string;
  folder: string;
  manifest: Manifest | null;
  /**
   * Why the manifest could not be used, when a manifest object exists but is unreadable, unparsable,
   * of an unknown format version, or disagrees with its folder. Such a backup is not committed, and
   * its whole chain is left alone by retention and the orphan sweep: only a person can judge it.
   */
  manifestProblem?: string;
  /** Set when the manifest is refused by its signature: signed with a key this worker lacks, or failing its check (anything else: tampering). */
  manifestUnauthentic?: 'missing-key' | 'fails';
  /** Committed by the cluster's ledger, but gone from the store: removed by something other than chainbackup (domain/ledger.ts). */
  vanished?: true;
  /** Its chain carries a deletion marker: a deletion is under way (or was interrupted) and hides it. */
  deleting?: boolean;
  objects: StoredObject[];
  /** The outcome of its newest verification by a real server (absent: never verified). */
  verification?: VerificationRecord;
  /** Why a stored verification record could not be read (the backup then counts as unverified). */
  verificationProblem?: string;
  /** Pinned by an operator: retention keeps it and its chain up to it; a deletion refuses it. */
  pinned?: PinRecord;
  /**
   * Its records that fail authentication (activities/records.ts): a manifest (the backup is then
   * uncommitted), a verification (unverified), a pin (it still keeps the backup), its chain's
   * deletion marker (ignored).
   */
  recordProblems?: string[];
}

export interface PinRecord {
  pinnedAt: string;
  note?: string;
}

export type CommittedBackup = StoredBackup & { manifest: Manifest };

export function isCommitted(backup: StoredBackup): backup is CommittedBackup {
  return backup.manifest !== null;
}

/** A decision that may be refused; `reason` is a sentence for the operator. */
export type Decision<T> = { ok: true; value: T } | { ok: false; code: RefusalCode; reason: string };
export type RefusalCode = FailureTypeName;

const refuse = <T>(code: RefusalCode, reason: string): Decision<T> => ({ ok: false, code, reason });

function newestFirst(a: CommittedBackup, b: CommittedBackup): number {
  return b.manifest.finishedAt.localeCompare(a.manifest.finishedAt) || b.name.localeCompare(a.name);
}

/** The base of a new increment: the named full backup, or the newest committed full backup of the cluster. */
export function chooseBase(backups: StoredBackup[], cluster: string, storageLabel: string, baseBackupName?: string): Decision<CommittedBackup> {
  if (baseBackupName !== undefined) {
    const named = backups.find((backup) => backup.name === baseBackupName);
    if (!named) return refuse('InvalidBaseBackup', `baseBackupName "${baseBackupName}" does not exist in ${storageLabel}`);
    if (!isCommitted(named)) {
      return refuse('InvalidBaseBackup', `baseBackupName "${baseBackupName}" is not committed (no manifest: it failed or is still running); name a committed full backup`);
    }
    if (named.manifest.type !== 'full') {
      return refuse('InvalidBaseBackup', `baseBackupName "${baseBackupName}" is an incremental backup; the base of a chain must be a full backup`);
    }
    if (!belongsTo(named, cluster)) {
      return refuse('InvalidBaseBackup', `baseBackupName "${baseBackupName}" belongs to cluster "${owningCluster(named.name) ?? '?'}", not "${cluster}"`);
    }
    return { ok: true, value: named };
  }
  const fulls = backupsOf(backups, cluster)
    .filter(isCommitted)
    .filter((backup) => backup.manifest.type === 'full');
  const newest = fulls.sort(newestFirst)[0];
  if (!newest) {
    return refuse('NoFullBackup', `cluster "${cluster}" has no committed full backup in ${storageLabel}; take a full backup first to start a chain`);
  }
  return { ok: true, value: newest };
}

/** The committed increments of a chain, in order from the base, following parent links. */
export function orderChain(backups: StoredBackup[], baseName: string): Decision<CommittedBackup[]> {
  const members = backups.filter(isCommitted).filter((backup) => backup.manifest.type === 'incremental' && backup.manifest.base === baseName);
  const ordered: CommittedBackup[] = [];
  let parent = baseName;
  for (;;) {
    const children = members.filter((backup) => backup.manifest.parent === parent);
    if (children.length > 1) {
      return refuse('BrokenChain', `chain ${baseName} forks: ${children.map((child) => child.name).join(' and ')} both continue ${parent}`);
    }
    const next = children[0];
    if (!next) break;
    ordered.push(next);
    parent = next.name;
  }
  const unreachable = members.filter((member) => !ordered.includes(member));
  if (unreachable.length > 0) {
    return refuse('BrokenChain', `chain ${baseName} has increments not linked to it: ${unreachable.map((backup) => `${backup.name} (parent ${backup.manifest.parent ?? 'none'} missing)`).join(', ')}`);
  }
  return { ok: true, value: ordered };
}

/** The parent of a new increment of this base's chain: its newest increment, or the base itself. */
export function chooseParent(backups: StoredBackup[], base: CommittedBackup): Decision<CommittedBackup> {
  // An increment taken from an older member than the newest would fork the chain silently.
  const vanished = backups.filter((backup) => backup.base === base.name && backup.vanished).map((backup) => backup.name);
  if (vanished.length > 0) return refuse('BrokenChain', `the chain of ${base.name} lost ${vanished.join(', ')}: committed, but removed from the store by something other than chainbackup; start a new chain with a full backup`);
  const chain = orderChain(backups, base.name);
  if (!chain.ok) return chain;
  return { ok: true, value: chain.value.at(-1) ?? base };
}

/**
 * Checks a parent's recorded toLsn against its stored checkpoints file before a new increment
 * starts from it, so that a missing or damaged checkpoint fails at once instead of hanging.
 */
export function validateParentCheckpoints(parent: CommittedBackup, checkpoints: Checkpoints | { problem: string }): Decision<string> {
  const fix = `start a new chain with a full backup`;
  if ('problem' in checkpoints) {
    return refuse('CorruptCheckpoints', `backup ${parent.name}: ${checkpoints.problem}; its to_lsn cannot be trusted to continue the chain: ${fix}`);
  }
  if (checkpoints.toLsn !== parent.manifest.toLsn) {
    return refuse(
      'CorruptCheckpoints',
      `backup ${parent.name}: stored ${toolFilesOf(parent.manifest).checkpoints} says to_lsn ${checkpoints.toLsn} but its manifest says ${parent.manifest.toLsn}: ${fix}`,
    );
  }
  return { ok: true, value: parent.manifest.toLsn };
}

/** A new increment must start exactly where its parent ended. */
export function checkContinuity(parent: { name: string; toLsn: string }, increment: Checkpoints): Decision<void> {
  if (compareLsn(increment.fromLsn, parent.toLsn) !== 0) {
    return refuse('LsnMismatch', `LSN gap: the new increment starts at from_lsn ${increment.fromLsn} but its parent ${parent.name} ends at to_lsn ${parent.toLsn}`);
  }
  return { ok: true, value: undefined };
}

/**
 * The backups to restore, in order, to reach `targetName`: the full backup, then each increment up
 * to and including the target. Every problem found is listed, not only the first.
 */
export function resolveRestoreChain(backups: StoredBackup[], targetName: string, storageLabel: string): Decision<CommittedBackup[]> {
  const owner = owningCluster(targetName);
  // Only the chain's own cluster's folders can be links of it: never another cluster's look-alike.
  const byName = new Map(backups.filter((backup) => owner !== undefined && belongsTo(backup, owner)).map((backup) => [backup.name, backup]));
  const target = byName.get(targetName);
  if (!target) return refuse('BackupNotFound', `backup "${targetName}" does not exist in ${storageLabel}`);
  const problems: string[] = [];
  const path: CommittedBackup[] = [];
  let current: StoredBackup | undefined = target;
  let expectedChild: CommittedBackup | undefined;
  let refusedBy: StoredBackup['manifestUnauthentic'];
  while (current) {
    if (!isCommitted(current)) {
      problems.push(`${current.name} is not committed (${current.manifestProblem ?? 'no manifest: the backup failed or never finished'})`);
      refusedBy = current.manifestUnauthentic;
      break;
    }
    if (expectedChild && compareLsn(expectedChild.manifest.fromLsn, current.manifest.toLsn) !== 0) {
      problems.push(`LSN gap between ${current.name} (to_lsn ${current.manifest.toLsn}) and ${expectedChild.name} (from_lsn ${expectedChild.manifest.fromLsn})`);
    }
    path.unshift(current);
    const parentName: string | null = current.manifest.parent;
    if (parentName === null) break;
    const parent = byName.get(parentName);
    if (!parent) {
      problems.push(`${parentName}, the parent of ${current.name}, is missing: the chain has a gap`);
      break;
    }
    expectedChild = current;
    current = parent;
  }
  const first = path[0];
  if (problems.length === 0 && first && first.manifest.type !== 'full') {
    problems.push(`the chain of ${targetName} does not start with a full backup`);
  }
  if (problems.length > 0) return refuse(refusedBy === 'missing-key' ? 'KeyUnavailable' : refusedBy ? 'Unauthenticated' : 'BrokenChain', `cannot restore ${targetName}: ${problems.join('; ')}`);
  return { ok: true, value: path };
}

/**
 * A restore by backup name takes only the restored cluster's own backups: restoring another
 * cluster's data over this one must be asked for explicitly, by naming its storage.
 */
export function checkOwnBackup(targetName: string, cluster: string): Decision<void> {
  const owner = owningCluster(targetName);
  if (owner === cluster) return { ok: true, value: undefined };
  return refuse(
    'ForeignBackup',
    `backupName "${targetName}" is a backup of cluster "${owner ?? '?'}", not of "${cluster}": a restore by backupName takes only the restored cluster's own backups. To restore another cluster's backup into "${cluster}", name it as a source ({"source": {"storage": …, "path": "<backup folder>"}}; CLI: --from-cluster ${owner ?? '<cluster>'})`,
  );
}

/**
 * What the data itself says, read back after extraction (and after the last prepare), must match
 * every manifest of the chain: a manifest whose LSNs were altered would otherwise pass for good.
 * `stage` is "extracted" (a piece as stored) or "prepared" (the whole chain applied).
 */
export function checkRecordedLsns(backup: CommittedBackup, found: Checkpoints | { problem: string }, stage: 'extracted' | 'prepared'): Decision<void> {
  const where = `${backup.name} (${stage})`;
  if ('problem' in found) return refuse('ChecksumMismatch', `${where}: ${found.problem}`);
  const expected = stage === 'prepared' ? { toLsn: backup.manifest.toLsn } : { fromLsn: backup.manifest.fromLsn, toLsn: backup.manifest.toLsn, lastLsn: backup.manifest.lastLsn };
  const mismatches = Object.entries(expected)
    .filter(([field, value]) => found[field as keyof typeof expected] !== value)
    .map(([field, value]) => `${field} is ${found[field as keyof typeof expected]} in the data but ${value} in the manifest`);
  if (stage === 'extracted' && (found.backupType === 'incremental') !== (backup.manifest.type === 'incremental')) {
    mismatches.push(`the data is a ${found.backupType} backup but the manifest says ${backup.manifest.type}`);
  }
  if (mismatches.length === 0) return { ok: true, value: undefined };
  return refuse('ChecksumMismatch', `${where}: ${toolFilesOf(backup.manifest).checkpoints} disagrees with the manifest: ${mismatches.join('; ')}; the manifest or the data was altered`);
}

/**
 * The binary log position the data's own info file records (sealed inside the stream, written by the
 * tool) must be the manifest's: the manifest's drives a point-in-time replay and seeds the restored
 * server's GTID state, and a manifest whose position was altered would silently skip or repeat
 * transactions. `found` is the info file's position, null when it records none.
 */
export function checkRecordedBinlog(backup: CommittedBackup, found: BinlogPosition | null | { problem: string }): Decision<void> {
  const where = `${backup.name} (extracted)`;
  const info = toolFilesOf(backup.manifest).info;
  if (found !== null && 'problem' in found) return refuse('ChecksumMismatch', `${where}: ${found.problem}`);
  const recorded = backup.manifest.binlog;
  const shown = (position: BinlogPosition | null) => (position ? `${position.file}:${position.position}${position.gtid ? ` (GTID ${position.gtid})` : ''}` : 'none');
  const same = found === null || recorded === null ? found === recorded : found.file === recorded.file && found.position === recorded.position && (found.gtid ?? '') === (recorded.gtid ?? '');
  if (same) return { ok: true, value: undefined };
  return refuse('ChecksumMismatch', `${where}: ${info} disagrees with the manifest: the binary log position is ${shown(found)} in the data but ${shown(recorded)} in the manifest; the manifest or the data was altered`);
}

/** What an in-place restore leaves in the cluster's storage, so later increments know the pages moved. */
export interface RestoreRecord {
  restoredAt: string;
  /** The backup the cluster was restored to. */
  backup: string;
  workflowId: string;
  /**
   * The cluster's history number: 1 for the first in-place restore, one more for each after it
   * (PostgreSQL's timelines are the model), so that binlogs of two histories are never taken for one.
   */
  history?: number;
  /** The GTID position the restored server's binlog history starts from. */
  gtid?: string;
}

/**
 * After an in-place restore to any point but the parent itself, the server's pages no longer follow
 * the parent's chain: an increment from the parent's to_lsn would miss changes, so it is refused.
 */
export function checkNotRestoredSince(parent: CommittedBackup, restored: RestoreRecord | null): Decision<void> {
  if (restored === null || restored.restoredAt < parent.manifest.finishedAt || restored.backup === parent.name) return { ok: true, value: undefined };
  return refuse(
    'RestoredSinceParent',
    `cluster ${parent.manifest.cluster} was restored in place to ${restored.backup} at ${restored.restoredAt}, after ${parent.name} was taken; its data no longer continues that chain: take a full backup to start a new chain`,
  );
}

/**
 * Refuses to build on, or restore, a chain one of whose backups failed its verification by a real
 * server, unless the caller accepts that explicitly. `use` says what was asked ("restore", "take an
 * increment on"); the reason tells the person what to do instead.
 */
export function checkVerifiedChain(chain: CommittedBackup[], use: 'restore' | 'continue', acceptFailedVerification: boolean): Decision<void> {
  const failed = chain.filter((backup) => backup.verification?.result === 'failed');
  if (failed.length === 0 || acceptFailedVerification) return { ok: true, value: undefined };
  const which = failed.map((backup) => `${backup.name} (verified ${backup.verification?.verifiedAt ?? '?'}: ${backup.verification?.problems.join('; ') ?? ''})`).join(', ');
  const base = chain[0] as CommittedBackup;
  const cluster = owningCluster(base.name) ?? base.manifest.cluster;
  return refuse(
    'FailedVerification',
    use === 'restore'
      ? `refusing to restore from a chain that failed verification: ${which}. Restore an older chain, or accept the failure explicitly (acceptFailedVerification: true, CLI --accept-failed-verification)`
      : `refusing to continue the chain of ${base.name}: ${which} failed verification, so increments on it would not restore either. Start a new chain (chainbackup backup ${cluster} --type full), or accept the failure explicitly (acceptFailedVerification: true, CLI --accept-failed-verification)`,
  );
}
