/**
 * Chain rules. A chain is one committed full backup plus committed increments linked by `parent`,
 * each increment's fromLsn equal to its parent's toLsn. Only committed backups (those with a
 * manifest) exist for these rules: a folder without a manifest is a failed or running backup.
 */
import { compareLsn, type Checkpoints } from './checkpoints.js';
import type { Manifest } from './manifest.js';

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
  /** Why the manifest could not be read, when a manifest object exists but is broken. */
  manifestProblem?: string;
  objects: StoredObject[];
}

export type CommittedBackup = StoredBackup & { manifest: Manifest };

export function isCommitted(backup: StoredBackup): backup is CommittedBackup {
  return backup.manifest !== null;
}

/** A decision that may be refused; `reason` is a sentence for the operator. */
export type Decision<T> = { ok: true; value: T } | { ok: false; code: RefusalCode; reason: string };
export type RefusalCode = 'NoFullBackup' | 'InvalidBaseBackup' | 'BackupNotFound' | 'BrokenChain' | 'LsnMismatch' | 'CorruptCheckpoints' | 'RestoredSinceParent';

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
    if (named.manifest.cluster !== cluster) {
      return refuse('InvalidBaseBackup', `baseBackupName "${baseBackupName}" belongs to cluster "${named.manifest.cluster}", not "${cluster}"`);
    }
    return { ok: true, value: named };
  }
  const fulls = backups.filter(isCommitted).filter((backup) => backup.manifest.type === 'full' && backup.manifest.cluster === cluster);
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
      `backup ${parent.name}: stored xtrabackup_checkpoints says to_lsn ${checkpoints.toLsn} but its manifest says ${parent.manifest.toLsn}: ${fix}`,
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
  const byName = new Map(backups.map((backup) => [backup.name, backup]));
  const target = byName.get(targetName);
  if (!target) return refuse('BackupNotFound', `backup "${targetName}" does not exist in ${storageLabel}`);
  const problems: string[] = [];
  const path: CommittedBackup[] = [];
  let current: StoredBackup | undefined = target;
  let expectedChild: CommittedBackup | undefined;
  while (current) {
    if (!isCommitted(current)) {
      problems.push(`${current.name} is not committed (${current.manifestProblem ?? 'no manifest: the backup failed or never finished'})`);
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
  if (problems.length > 0) return refuse('BrokenChain', `cannot restore ${targetName}: ${problems.join('; ')}`);
  return { ok: true, value: path };
}

/** What an in-place restore leaves in the cluster's storage, so later increments know the pages moved. */
export interface RestoreRecord {
  restoredAt: string;
  /** The backup the cluster was restored to. */
  backup: string;
  workflowId: string;
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
