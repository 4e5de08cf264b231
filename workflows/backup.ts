import { CancellationScope, executeChild, log, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import { checkContinuity, checkNotRestoredSince, checkVerifiedChain, chooseBase, chooseParent, orderChain, validateParentCheckpoints, type CommittedBackup } from '../domain/chain.js';
import type { ClusterSettings } from '../domain/config.js';
import { businessFailure, businessFailureIn, describeFailure, FailureType, rootMessage } from '../domain/failures.js';
import { backupFolder, type BackupLocation } from '../domain/layout.js';
import type { Manifest } from '../domain/manifest.js';
import { backupName } from '../domain/names.js';
import { backupRequestSchema, type BackupRequest, type BackupRequestInput } from '../domain/requests.js';
import { BackupChainBaseKey, BackupNameKey, LedgerSeqKey, VerificationResultKey } from '../domain/search-attributes.js';
import type { VerificationReport } from '../activities/index.js';
import { WorkflowId } from '../domain/workflow-contract.js';
import { hostActivities } from './activities.js';
import { withClusterLock } from './cluster-lock.js';
import { beginClusterWork, deploymentOfRun } from './cluster-work.js';
import { reportPhase } from './progress.js';
import { formatBytes } from '../domain/units.js';
import { restore } from './restore.js';
import { applyRetention, type RetentionResult } from './retention.js';

export interface BackupResult {
  name: string;
  cluster: string;
  type: BackupRequest['type'];
  base: string;
  parent: string | null;
  path: string;
  storage: string;
  fromLsn: string;
  toLsn: string;
  /** The end of the redo log the backup carries: changes up to here are restored, and the next increment starts again at toLsn. */
  lastLsn: string;
  sizeBytes: number;
  streamBytes: number;
  compression: Manifest['compression'];
  startedAt: string;
  finishedAt: string;
  durationSeconds: number;
  /** What the backup could not record, and how to fix it (a missing grant). */
  warnings?: string[];
  /** A scheduled increment that took a full backup instead: why its chain could not continue. */
  newChainBecause?: string;
  /** With `verification.afterBackup`: what the verification by a real restore found. */
  verification?: VerificationReport;
  /** After a full backup: what the retention it applied right after its commit removed (or why it failed); `workflowId` is the backup's own run. */
  retention?: Pick<RetentionResult, 'removed' | 'freedBytes' | 'keptChains' | 'orphans'> & { workflowId: string; keptByPin?: string[]; binlogs?: RetentionResult['binlogs']; failed?: string };
}

/** Takes one backup of a cluster: a full backup, or an increment of a chain. */
export async function backup(input: BackupRequestInput): Promise<BackupResult> {
  const { request, cluster } = await beginClusterWork(backupRequestSchema, input, 'backup request', (backup) => backup.type);
  // The chain is read only once the lock is held: a backup that waited continues from the one before it.
  const result = await withClusterLock(cluster.name, `${request.type} backup`, async () => {
    try {
      return await takeChainBackup(request, cluster);
    } catch (error) {
      // A scheduled increment whose chain the server has outgrown (upgraded to another release series) starts a new chain.
      const cause = businessFailureIn(error, FailureType.ToolVersionMismatch);
      if (request.type !== 'incremental' || !request.newChainWhenNeeded || !cause) throw error;
      log.warn('the chain cannot continue; starting a new one with a full backup', { cluster: cluster.name, reason: cause.message });
      reportPhase(`The chain cannot continue (${cause.message}); taking a full backup instead`);
      const full = await takeChainBackup({ ...request, type: 'full' }, cluster);
      return { ...full, newChainBecause: cause.message };
    }
  });
  // Verified once the lock is free: the verification is a restore of its own, which takes the lock.
  if (cluster.verification.afterBackup) return { ...result, verification: await verifyAfterBackup(cluster, result) };
  return result;
}

/** What the retention after a full backup removed, or why it failed: part of the backup's result. */
function retentionReport(workflowId: string, outcome: Promise<RetentionResult>): Promise<NonNullable<BackupResult['retention']>> {
  return outcome.then(
    (removed) => ({ workflowId, removed: removed.removed, freedBytes: removed.freedBytes, keptChains: removed.keptChains, orphans: removed.orphans, ...(removed.keptByPin ? { keptByPin: removed.keptByPin } : {}), binlogs: removed.binlogs }),
    (error: unknown) => ({ workflowId, removed: [], freedBytes: 0, keptChains: [], orphans: [], failed: rootMessage(error) }),
  );
}

function reportRetention(result: BackupResult, retention: NonNullable<BackupResult['retention']>): void {
  reportPhase(`Committed ${result.name} (LSN ${result.fromLsn} to ${result.toLsn}, ${formatBytes(result.sizeBytes)} stored); ${retention.failed ? `the retention after it failed: ${retention.failed}` : `the retention after it removed ${retention.removed.length} backups`}`);
}

/** Verifies a just-committed backup by a real restore; a failure fails the backup's workflow too, saying the backup is committed. */
async function verifyAfterBackup(cluster: ClusterSettings, result: BackupResult): Promise<VerificationReport | undefined> {
  reportPhase(`Verifying ${result.name} by restoring it into a scratch folder and starting a server on it`);
  try {
    const verified = await executeChild(restore, {
      workflowId: WorkflowId.verifyAfter(deploymentOfRun(), cluster.name, result.name),
      args: [{ cluster: cluster.name, backupName: result.name, target: { kind: 'verify' } }],
      staticSummary: `Verify ${result.name} after it was taken`,
    });
    upsertSearchAttributes([{ key: VerificationResultKey, value: 'passed' }]);
    reportPhase(`Committed and verified ${result.name}`);
    return verified.verification;
  } catch (error) {
    // The verification's own failure, however deep (the child's activity raised it); anything else means it did not complete.
    const cause = businessFailureIn(error, FailureType.VerificationFailed);
    if (!cause) {
      throw businessFailure(FailureType.VerificationFailed, `${result.name} is committed, but its verification did not complete: ${describeFailure(error)}; verify it again (chainbackup verify ${cluster.name} ${result.name})`, error instanceof Error ? { cause: error } : {});
    }
    upsertSearchAttributes([{ key: VerificationResultKey, value: 'failed' }]);
    throw businessFailure(FailureType.VerificationFailed, `${result.name} is committed, but failed its verification: ${cause.message}. Restores and increments refuse it: start a new chain (chainbackup backup ${cluster.name} --type full)`, { cause });
  }
}

async function takeChainBackup(request: BackupRequest, cluster: ClusterSettings): Promise<BackupResult> {
  const host = hostActivities(cluster, cluster.backup.timeout);

  reportPhase(`Reading the backups of ${cluster.name} in ${cluster.storageLabel}`);
  const stored = await host.quick.listBackups({ cluster: cluster.name });
  const now = Date.now();
  let location: BackupLocation;
  let parent: CommittedBackup | undefined;
  if (request.type === 'full') {
    const name = backupName(cluster.name, 'full', now);
    location = { name, base: name };
  } else {
    const base = chooseBase(stored, cluster.name, cluster.storageLabel, request.baseBackupName);
    if (!base.ok) throw businessFailure(base.code, base.reason);
    const chainTip = chooseParent(stored, base.value);
    if (!chainTip.ok) throw businessFailure(chainTip.code, chainTip.reason);
    parent = chainTip.value;
    const chain = orderChain(stored, base.value.name);
    const verified = checkVerifiedChain([base.value, ...(chain.ok ? chain.value : [parent])], 'continue', request.acceptFailedVerification);
    if (!verified.ok) throw businessFailure(verified.code, verified.reason);
    const restoredSince = checkNotRestoredSince(parent, await host.quick.readInPlaceRestore({ cluster: cluster.name }));
    if (!restoredSince.ok) throw businessFailure(restoredSince.code, restoredSince.reason);
    const recorded = await host.quick.readStoredCheckpoints({ cluster: cluster.name, location: parent });
    const trusted = validateParentCheckpoints(parent, recorded);
    if (!trusted.ok) throw businessFailure(trusted.code, trusted.reason);
    location = { name: backupName(cluster.name, 'incremental', now), base: base.value.name };
  }
  upsertSearchAttributes([
    { key: BackupNameKey, value: location.name },
    { key: BackupChainBaseKey, value: location.base },
  ]);

  let result: BackupResult;
  try {
    reportPhase(`Streaming ${request.type} backup ${location.name} to ${cluster.storageLabel}${parent ? ` from LSN ${parent.manifest.toLsn} (${parent.name})` : ''}`);
    const taken = await host.long.takeBackup.executeWithOptions({ summary: `stream ${location.name}` }, [
      { cluster: cluster.name, location, ...(parent ? { incrementalLsn: parent.manifest.toLsn, parent: { name: parent.name, manifest: { tool: parent.manifest.tool, ...(parent.manifest.serverVersion ? { serverVersion: parent.manifest.serverVersion } : {}) } } } : {}) },
    ]);
    if (parent) {
      const continuous = checkContinuity({ name: parent.name, toLsn: parent.manifest.toLsn }, taken.checkpoints);
      if (!continuous.ok) throw businessFailure(continuous.code, continuous.reason);
    }
    const info = workflowInfo();
    const manifest: Manifest = {
      formatVersion: 1,
      name: location.name,
      cluster: cluster.name,
      type: request.type,
      base: location.base,
      parent: parent?.name ?? null,
      fromLsn: taken.checkpoints.fromLsn,
      toLsn: taken.checkpoints.toLsn,
      lastLsn: taken.checkpoints.lastLsn,
      flavour: cluster.flavour,
      tool: { name: taken.toolName, ...(taken.info.toolVersion ? { version: taken.info.toolVersion } : {}) },
      // Workers from before the 11.x names return none: they only knew the old ones.
      ...(taken.toolFiles && taken.toolFiles !== 'xtrabackup' ? { toolFiles: taken.toolFiles } : {}),
      serverVersion: taken.serverVersion,
      binlog: taken.info.binlog ?? null,
      startedAt: taken.startedAt,
      finishedAt: taken.finishedAt,
      sizeBytes: taken.objects.reduce((sum, object) => sum + object.size, 0),
      streamBytes: taken.streamBytes,
      objects: taken.objects,
      dataObject: taken.dataObject,
      compression: taken.compression,
      encryption: taken.encryption?.scheme ?? 'none',
      ...(taken.encryption ? { encryptionKeyId: taken.encryption.keyId } : {}),
      parallel: taken.parallel,
      takenBy: { workflowId: info.workflowId, runId: info.runId },
      ...(taken.layout ? { layout: taken.layout } : {}),
      ...(taken.remoteTablespaces ? { remoteTablespaces: taken.remoteTablespaces } : {}),
      ...(taken.inventory ? { inventory: taken.inventory } : {}),
      ...(taken.inventoryProblem ? { inventoryProblem: taken.inventoryProblem } : {}),
    };
    reportPhase(`Committing ${location.name}: writing its manifest`);
    const committed = await host.quick.commitBackup({ cluster: cluster.name, manifest });
    upsertSearchAttributes([{ key: LedgerSeqKey, value: committed.ledgerSeq }]);
    log.info('backup committed', { backup: manifest.name, type: manifest.type, fromLsn: manifest.fromLsn, toLsn: manifest.toLsn, sizeBytes: manifest.sizeBytes });
    reportPhase(`Committed ${location.name} (LSN ${manifest.fromLsn} to ${manifest.toLsn}, ${formatBytes(manifest.sizeBytes)} stored)`);
    result = {
      name: manifest.name,
      cluster: manifest.cluster,
      type: manifest.type,
      base: manifest.base,
      parent: manifest.parent,
      path: backupFolder(location),
      storage: cluster.storageLabel,
      fromLsn: manifest.fromLsn,
      toLsn: manifest.toLsn,
      lastLsn: manifest.lastLsn,
      sizeBytes: manifest.sizeBytes,
      streamBytes: manifest.streamBytes,
      compression: manifest.compression,
      startedAt: manifest.startedAt,
      finishedAt: manifest.finishedAt,
      durationSeconds: (Date.parse(manifest.finishedAt) - Date.parse(manifest.startedAt)) / 1000,
      ...(manifest.inventoryProblem ? { warnings: [manifest.inventoryProblem] } : {}),
    };
  } catch (error) {
    // An uncommitted backup must leave nothing behind, whatever stopped it (failure or cancellation).
    reportPhase(`Discarding the uncommitted backup ${location.name}`);
    // A discard that fails too (storage down for good) must not hide why the backup failed; the sweep removes the rest later.
    await CancellationScope.nonCancellable(() => host.quick.discardBackup({ cluster: cluster.name, location })).catch((discardError: unknown) =>
      log.warn('could not discard an uncommitted backup; the orphan sweep will remove it', { backup: location.name, error: String(discardError) }),
    );
    throw error;
  }
  if (result.type === 'full') {
    // A new chain may let an old one go: the retention runs now, under the lock this backup holds. A committed
    // backup is not undone by a cancellation, and neither is the retention that follows it; its failure is reported.
    reportPhase(`Applying the retention of ${cluster.name} after ${result.name}`);
    const applied = await retentionReport(workflowInfo().workflowId, CancellationScope.nonCancellable(() => applyRetention(cluster, false)));
    reportRetention(result, applied);
    return { ...result, retention: applied };
  }
  return result;
}
