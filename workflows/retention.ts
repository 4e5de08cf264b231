import { log, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import { z } from 'zod';
import { isCommitted, orderChain, type CommittedBackup, type StoredBackup } from '../domain/chain.js';
import { clusterName } from '../domain/config.js';
import { backupsOf } from '../domain/ownership.js';
import type { BinlogRetention } from '../activities/binlogs/retention.js';
import type { ClusterSettings } from '../domain/config.js';
import { businessFailure, FailureType } from '../domain/failures.js';
import { chainDeletion, planDeletion, planRetention, type DeletionPlan, type UntouchableChain } from '../domain/retention.js';
import type { LockWait } from '../domain/object-lock.js';
import { deleteRequestSchema, retentionRequestSchema, type DeleteRequestInput, type RetentionRequestInput } from '../domain/requests.js';
import { BackupChainBaseKey, BackupNameKey, LedgerSeqKey } from '../domain/search-attributes.js';
import { hostActivities, orchestrator } from './activities.js';
import { withClusterLock } from './cluster-lock.js';
import { beginClusterWork } from './cluster-work.js';
import { reportPhase } from './progress.js';
import { formatBytes } from '../domain/units.js';

export interface DeletionResult {
  cluster: string;
  /** Backups removed (with `dryRun`: that would be), newest first. */
  removed: string[];
  freedBytes: number;
  /** A plan only: nothing was removed. */
  dryRun?: boolean;
}

export interface RetentionResult extends DeletionResult {
  dryRun: boolean;
  /** The moment ages were measured from. */
  checkedAt: string;
  keptChains: string[];
  /** Of the kept chains, those the rules would have removed but a pinned backup keeps (absent when none does). */
  keptByPin?: string[];
  /** Folders of uncommitted backups removed by the sweep. */
  orphans: string[];
  /** Chains the rules would remove, and orphan folders, that the storage's Object Lock keeps until the time given (absent without a lock). */
  keptByLock?: LockWait[];
  /** Chains with an unreadable manifest: nothing of them was removed, by policy or by the sweep. */
  leftAlone: UntouchableChain[];
  /** Archived binlogs no kept backup needs any more, removed after the chains. */
  binlogs: BinlogRetention;
}

/** The backups a deletion removes, in the order it removes them. */
function deletedMembers(plan: DeletionPlan): CommittedBackup[] {
  return plan.kind === 'chain' ? plan.members : [plan.backup];
}

/**
 * Carries out a deletion so that no intermediate state looks like a valid backup: a chain is first
 * marked (one object makes it all invisible), then each manifest goes, newest increment first, then
 * the data, the marker last. Every step is idempotent: a worker that dies mid-way is replaced and the
 * workflow goes on from the step it reached.
 */
async function carryOut(cluster: ClusterSettings, plan: DeletionPlan): Promise<DeletionResult> {
  const host = hostActivities(cluster, '1 hour');
  const members = deletedMembers(plan);
  if (plan.kind === 'chain') await host.removal.markChainDeleting({ cluster: cluster.name, base: plan.base.name, workflowId: workflowInfo().workflowId });
  for (const member of members) {
    reportPhase(`Hiding ${member.name}`);
    const hidden = await host.removal.hideBackup({ cluster: cluster.name, location: member });
    upsertSearchAttributes([{ key: LedgerSeqKey, value: hidden.ledgerSeq }]);
  }
  for (const member of members) {
    reportPhase(`Removing the data of ${member.name}`);
    await host.removal.removeBackupData({ cluster: cluster.name, location: member, removeMarker: false });
  }
  if (plan.kind === 'chain') await host.removal.removeBackupData({ cluster: cluster.name, location: plan.base, removeMarker: true });
  const removed = members.map((member) => member.name);
  log.info('backups deleted', { cluster: cluster.name, removed });
  return { cluster: cluster.name, removed, freedBytes: members.reduce((sum, member) => sum + member.manifest.sizeBytes, 0) };
}

/** Deletes a full backup with its whole chain, or the last increment of a chain. A middle increment is refused. */
export async function deleteBackup(input: DeleteRequestInput): Promise<DeletionResult> {
  const { request, cluster } = await beginClusterWork(deleteRequestSchema, input, 'delete request', (request) => (request.dryRun ? 'deletion-plan' : 'delete'));
  upsertSearchAttributes([{ key: BackupNameKey, value: request.backupName }]);
  // The same planner as the deletion, so a plan says what the deletion itself would do or why it would refuse.
  const planFrom = (backups: StoredBackup[]) => {
    const plan = planDeletion(backups, cluster.name, request.backupName, cluster.storageLabel, cluster.objectLockDays === undefined ? undefined : { days: cluster.objectLockDays, nowMs: Date.now() });
    if (!plan.ok) throw businessFailure(plan.code, plan.reason);
    return plan.value;
  };
  if (request.dryRun) {
    const members = deletedMembers(planFrom(await hostActivities(cluster, '1 hour').quick.listBackups({ cluster: cluster.name })));
    return { cluster: cluster.name, removed: members.map((member) => member.name), freedBytes: members.reduce((sum, member) => sum + member.manifest.sizeBytes, 0), dryRun: true };
  }
  // Under the cluster's lock: no backup or restore of this cluster is using the chain meanwhile.
  return withClusterLock(cluster.name, `delete ${request.backupName}`, async () => {
    const host = hostActivities(cluster, '1 hour');
    const plan = planFrom(await host.quick.listBackups({ cluster: cluster.name }));
    const base = plan.kind === 'chain' ? plan.base.name : plan.backup.manifest.base;
    const [reader] = await orchestrator.restoresReading({ bases: [base] });
    if (reader) throw businessFailure(FailureType.ChainInUse, `chain ${base} is being restored by workflow ${reader.workflowId}; delete once that restore has finished`);
    upsertSearchAttributes([{ key: BackupChainBaseKey, value: base }]);
    const result = await carryOut(cluster, plan);
    reportPhase(`Deleted ${result.removed.join(', ')}`);
    return result;
  });
}

/**
 * Applies the cluster's retention: removes whole chains that no rule keeps, then sweeps the objects
 * of uncommitted backups older than the orphan age. Runs after every committed full backup and on demand.
 */
export async function retention(input: RetentionRequestInput): Promise<RetentionResult> {
  const { request, cluster } = await beginClusterWork(retentionRequestSchema, input, 'retention request', () => 'retention');
  return withClusterLock(cluster.name, 'retention', () => applyRetention(cluster, request.dryRun));
}

/**
 * The retention itself, for a run that holds the cluster's lock: a retention run, and a full backup
 * that applies it right after its commit without letting the lock go (workflows/backup.ts).
 */
export async function applyRetention(cluster: ClusterSettings, dryRun: boolean): Promise<RetentionResult> {
  const host = hostActivities(cluster, '1 hour');
  const backups = await host.quick.listBackups({ cluster: cluster.name });
  const now = Date.now();
  const plan = planRetention(backups, cluster.name, { ...cluster.retention, objectLockDays: cluster.objectLockDays }, now);
  const { chains, orphans, leftAlone } = plan;
  for (const chain of leftAlone) log.warn('chain left alone: a manifest cannot be read', { cluster: cluster.name, base: chain.base, reasons: chain.reasons });
  // A chain being restored (perhaps by another cluster) waits for the next retention run. Nothing expired: nothing to ask.
  const asked = plan.expired.length > 0 ? await orchestrator.restoresReading({ bases: plan.expired.map((chain) => chain.base.name) }) : [];
  const inUse = new Set(asked.map((reader) => reader.base));
  const expired = plan.expired.filter((chain) => !inUse.has(chain.base.name));
  const result: Omit<RetentionResult, 'binlogs'> = {
    cluster: cluster.name,
    dryRun,
    checkedAt: new Date(now).toISOString(),
    removed: expired.flatMap((chain) => chainDeletion(chain).members.map((member) => member.name)),
    freedBytes: expired.reduce((sum, chain) => sum + chain.sizeBytes, 0) + orphans.reduce((sum, orphan) => sum + orphan.objects.reduce((total, object) => total + object.size, 0), 0),
    keptChains: chains.filter((chain) => !expired.includes(chain)).map((chain) => chain.base.name),
    ...(plan.pinned.length > 0 ? { keptByPin: plan.pinned.map((chain) => chain.base.name) } : {}),
    ...(plan.locked.length > 0 ? { keptByLock: plan.locked } : {}),
    orphans: orphans.map((orphan) => orphan.folder),
    leftAlone,
  };
  // Binlog retention follows: what no kept backup needs, the chains above counted as gone.
  const pruneBinlogs = () => host.removal.pruneBinlogArchive({ cluster: cluster.name, removedBackups: result.removed, dryRun });
  if (dryRun) return { ...result, binlogs: await pruneBinlogs() };
  for (const chain of expired) {
    reportPhase(`Removing chain ${chain.base.name} (${chain.increments.length} increments)`);
    await carryOut(cluster, chainDeletion(chain));
  }
  for (const orphan of orphans) {
    reportPhase(`Sweeping uncommitted ${orphan.folder}`);
    await host.removal.removeBackupData({ cluster: cluster.name, location: orphan, removeMarker: true });
  }
  reportPhase('Removing archived binlogs no kept backup needs');
  const binlogs = await pruneBinlogs();
  reportPhase(`Removed ${result.removed.length} backups, ${result.orphans.length} orphan folders and ${binlogs.removed.length} archived binlogs, ${formatBytes(result.freedBytes + binlogs.freedBytes)} freed`);
  return { ...result, binlogs };
}

export const pinRequestSchema = z.strictObject({
  cluster: clusterName,
  backupName: z.string().min(1),
  /** true pins, false unpins. */
  pinned: z.boolean(),
  /** Why it is kept, shown by `list` and in refusals ("legal hold until 2027"). */
  note: z.string().max(200).optional(),
});

export interface PinResult {
  cluster: string;
  backupName: string;
  pinned: boolean;
  /** The chain up to the backup, which the pin keeps (base first). */
  keeps: string[];
}

/**
 * Pins or unpins a committed backup: a pinned backup, and everything it needs (its chain up to it,
 * so the whole chain, and the binlogs from it), is never removed by retention, and a deletion of it
 * is refused. Under the cluster's lock, so that no retention or deletion runs in between.
 */
export async function pinBackup(input: z.input<typeof pinRequestSchema>): Promise<PinResult> {
  const { request, cluster } = await beginClusterWork(pinRequestSchema, input, 'pin request', (pin) => (pin.pinned ? 'pin' : 'unpin'));
  upsertSearchAttributes([{ key: BackupNameKey, value: request.backupName }]);
  return withClusterLock(cluster.name, `${request.pinned ? 'pin' : 'unpin'} ${request.backupName}`, async () => {
    const host = hostActivities(cluster, '10 minutes');
    const backups = await host.quick.listBackups({ cluster: cluster.name });
    const target = backupsOf(backups, cluster.name).find((backup) => backup.name === request.backupName);
    if (!target || !isCommitted(target)) throw businessFailure(FailureType.BackupNotFound, `backup "${request.backupName}" is not a committed backup of ${cluster.name} in ${cluster.storageLabel}`);
    const base = backups.find((backup) => backup.name === target.manifest.base);
    const increments = orderChain(backups, target.manifest.base);
    const members = [...(base && isCommitted(base) ? [base] : []), ...(increments.ok ? increments.value : [])];
    const keeps = members.slice(0, members.findIndex((backup) => backup.name === target.name) + 1).map((backup) => backup.name);
    reportPhase(`${request.pinned ? 'Pinning' : 'Unpinning'} ${target.name}`);
    await host.quick.setPin({ cluster: cluster.name, folder: target.folder, pin: request.pinned ? { pinnedAt: new Date().toISOString(), ...(request.note ? { note: request.note } : {}) } : null });
    return { cluster: cluster.name, backupName: target.name, pinned: request.pinned, keeps: keeps.length > 0 ? keeps : [target.name] };
  });
}
