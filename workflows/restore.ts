import { CancellationScope, getExternalWorkflowHandle, log, sleep, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import { checkOwnBackup, checkVerifiedChain, isCommitted, resolveRestoreChain, type CommittedBackup } from '../domain/chain.js';
import { durationMs, type ClusterSettings } from '../domain/config.js';
import { businessFailure, businessFailureIn, FailureType, rootMessage } from '../domain/failures.js';
import { locateSource } from '../domain/layout.js';
import { formatTimestamp } from '../domain/names.js';
import { gtidRestartStatements } from '../domain/server-layout.js';
import { chainObjects, recordedProof } from '../domain/verification.js';
import { restoreRequestSchema, type RestoreRequest, type RestoreRequestInput } from '../domain/requests.js';
import { coverArchiveSignal, WorkflowId } from '../domain/workflow-contract.js';
import { backupsOf } from '../domain/ownership.js';
import { BackupChainBaseKey, BackupNameKey, VerificationResultKey } from '../domain/search-attributes.js';
import type { ArchiveSource, RestoreSource, TargetServer, VerificationReport } from '../activities/index.js';
import type { ReplayPlan } from '../domain/point-in-time.js';
import { hostActivities } from './activities.js';
import { withClusterLock } from './cluster-lock.js';
import { beginClusterWork, deploymentOfRun } from './cluster-work.js';
import { reportPhase } from './progress.js';

/** Pieces of a chain downloading at once: the piece being applied next and the one after it. */
const DOWNLOADS_AT_ONCE = 2;

export interface RestoreResult {
  cluster: string;
  restored: string;
  chain: string[];
  target: RestoreRequest['target'];
  /** In-place restores: where the datadir that was replaced now lives (with every other file it had, under .chainbackup-kept/). */
  previousDatadir?: string;
  /** In-place restores with binary logging: the GTID position the restored server's history starts again from; re-point replicas here. */
  gtidPosition?: string;
  toLsn: string;
  downloadedBytes: number;
  /** A restore to a point or a GTID: the point (or the GTID), and how many archived binlogs were replayed up to it. */
  pointInTime?: string;
  /** A restore to a time: the whole second it was taken to mean (every transaction logged in or before it; binlog times are whole seconds). */
  pointTakenAs?: string;
  toGtid?: string;
  replayedBinlogs?: number;
  /** The last transaction replayed, as the archive's records tell it (absent: none after the backup's own). */
  lastApplied?: { gtids: string; loggedAt: string };
  /** A plan only (`dryRun`): nothing was downloaded or changed; `restored` is the backup it would start from. */
  dryRun?: true;
  /** A plan only: the archived binlogs it would replay, in order. */
  replayFiles?: string[];
  /** A verification: what the throw-away server found. */
  verification?: VerificationReport;
  /** In-place restores: how the data was proven before the pause (now, by a recorded verification of the same objects, or skipped by the request). */
  verifiedBeforePause?: { by: 'now'; tables: number } | { by: 'recorded'; verifiedAt: string } | { by: 'skipped' };
}

/** Lists what is wrong with the stored objects of a chain before anything is downloaded. */
function missingObjects(chain: CommittedBackup[]): string[] {
  return chain.flatMap((backup) =>
    backup.manifest.objects.flatMap((object) => {
      const stored = backup.objects.find((candidate) => candidate.key === `${backup.folder}${object.name}`);
      if (!stored) return [`${backup.folder}${object.name} is missing`];
      if (stored.size !== object.size) return [`${backup.folder}${object.name} has ${stored.size} bytes, its manifest says ${object.size}`];
      return [];
    }),
  );
}

/**
 * Restores a cluster to a backup: resolves and checks the chain, downloads and verifies every piece
 * (the next one downloading while the previous one is applied) and prepares the data while the
 * server still runs; only then pauses the cluster, swaps the datadir (keeping the old one), unpauses
 * and checks the server answers. Any failure after the pause puts the old datadir back and unpauses.
 */
export async function restore(input: RestoreRequestInput): Promise<RestoreResult> {
  // Verifications carry a type of their own, so that the Web UI does not count them as restores.
  const { request, cluster } = await beginClusterWork(restoreRequestSchema, input, 'restore request', (request) => (request.target.kind === 'verify' ? 'verify' : 'restore'));
  const { pointInTime, gtid } = request;
  if (pointInTime !== undefined || gtid !== undefined) {
    const label = gtid !== undefined ? `GTID ${gtid}` : (pointInTime as string);
    // Another cluster's backups and archive: the whole storage it is configured with.
    const from: ArchiveSource = { cluster: cluster.name, ...(request.source?.cluster ? { source: { storage: request.source.storage, prefix: '' }, sourceCluster: request.source.cluster } : {}) };
    const point = gtid !== undefined ? { gtid } : { pointInTime };
    if (request.dryRun) {
      // Read-only: planned without the lock, so that it never waits behind a running backup.
      reportPhase(`Planning a restore of ${cluster.name} to ${label}`);
      const plan = await hostActivities(cluster, cluster.restore.timeout).quick.planPointInTimeRestore({ ...from, ...point });
      if ('notYetArchived' in plan) throw businessFailure(FailureType.NotYetArchived, plan.notYetArchived);
      const toPoint: PointInTime = { label, from, ...point, replay: plan.replay, ...(plan.pointTakenAs ? { pointTakenAs: plan.pointTakenAs } : {}) };
      return { cluster: cluster.name, restored: plan.backupName, chain: [], target: request.target, toLsn: '', downloadedBytes: 0, dryRun: true, replayFiles: plan.replay.files.map((file) => file.file), ...pointFields(toPoint) };
    }
    // Waiting holds no lock: backups and the archiver go on meanwhile.
    if (request.waitForArchive !== undefined) await untilArchived(cluster, from, point, label, request.waitForArchive);
    // The backup and the binlogs are chosen holding the lock: no backup or deletion changes them meanwhile.
    return withClusterLock(cluster.name, gtid !== undefined ? 'restore to a GTID' : 'restore to a point in time', async () => {
      reportPhase(`Finding the backup and the archived binlogs that reach ${label}${from.sourceCluster ? ` in the storage of ${from.sourceCluster}` : ''}`);
      const plan = await hostActivities(cluster, cluster.restore.timeout).quick.planPointInTimeRestore({ ...from, ...point });
      if ('notYetArchived' in plan) throw businessFailure(FailureType.NotYetArchived, plan.notYetArchived);
      return restoreChain(
        request,
        cluster,
        { targetName: plan.backupName, ...(from.source ? { source: from.source } : {}) },
        { label, from, ...(pointInTime !== undefined ? { pointInTime } : {}), ...(gtid !== undefined ? { gtid } : {}), replay: plan.replay, ...(plan.pointTakenAs ? { pointTakenAs: plan.pointTakenAs } : {}) },
      );
    });
  }
  // What the request asks for is checked before the lock is taken: a refusal never waits, nor holds it.
  const from = restoreSource(request, cluster.name);
  // Holding the cluster's lock keeps its backups and deletions from running under the restore.
  return withClusterLock(cluster.name, 'restore', () => restoreChain(request, cluster, from));
}

/**
 * Waits until the binlog archive wholly covers the point (or holds the GTID), asking the cluster's
 * archiver to close the server's binlog at once when that is what it lacks; refused as
 * NotYetArchived when `wait` passes first, or when no archiver runs to cover it.
 */
async function untilArchived(cluster: ClusterSettings, from: ArchiveSource, point: { gtid: string } | { pointInTime: string | undefined }, label: string, wait: string): Promise<void> {
  const quick = hostActivities(cluster, cluster.restore.timeout).quick;
  const deadline = Date.now() + durationMs(wait);
  let asked = false;
  for (;;) {
    const planned = await quick.planPointInTimeRestore({ ...from, ...point, waitForArchive: true });
    if (!('notYetArchived' in planned)) return;
    if (Date.now() >= deadline) throw businessFailure(FailureType.NotYetArchived, `cannot restore ${cluster.name} to ${label}: waited ${wait} for the binlog archive, which still does not cover it: ${planned.notYetArchived}`);
    reportPhase(`Waiting for the binlog archive to cover ${label} (until ${new Date(deadline).toISOString()})`);
    // Only the cluster's own archiver can be asked; another cluster's archive is waited for as it goes.
    // A streamed archive covers a second on its own: it is asked once, which tells whether it runs at all.
    if (planned.coverSecond !== undefined && from.sourceCluster === undefined && !(cluster.binlogs.rpo !== undefined && asked)) {
      asked = true;
      try {
        await getExternalWorkflowHandle(WorkflowId.binlogArchiver(deploymentOfRun(), cluster.name)).signal(coverArchiveSignal, planned.coverSecond);
      } catch (error) {
        throw businessFailure(FailureType.NotYetArchived, `cannot restore ${cluster.name} to ${label}: the binlog archive does not cover it yet, and no archiver of ${cluster.name} runs to cover it (${rootMessage(error)}): start it (chainbackup schedules apply)`);
      }
    }
    await sleep(Math.max(1000, Math.min(durationMs(cluster.binlogs.rpo ?? cluster.binlogs.interval), 10_000, deadline - Date.now())));
  }
}

interface ResolvedSource {
  source?: RestoreSource;
  /** Absent: a verification of the cluster's newest backup. */
  targetName?: string;
}

function restoreSource(request: RestoreRequest, cluster: string): ResolvedSource {
  if (request.source) {
    const located = locateSource(request.source.storage, request.source.path ?? '');
    if (!located.ok) throw businessFailure(FailureType.InvalidRequest, `invalid restore request: ${located.reason}`);
    return { source: { storage: located.storage, prefix: located.prefix }, targetName: located.location.name };
  }
  const targetName = request.backupName;
  if (targetName === undefined) return {};
  const own = checkOwnBackup(targetName, cluster);
  if (!own.ok) throw businessFailure(own.code, own.reason);
  return { targetName };
}

/** A prepare cut short by a dead worker is started again from a clean extraction at most this often. */
const PREPARE_ROUNDS = 3;

type Host = ReturnType<typeof hostActivities>;

/** A restore once its chain is prepared in the workspace: what each kind of target finishes from. */
interface PreparedRestore {
  host: Host;
  /** The same steps for the work from the pause on: they wait for the host's worker however long it is gone. */
  replacing: Host;
  cluster: ClusterSettings;
  request: RestoreRequest;
  /** The chain, full backup first. */
  chain: CommittedBackup[];
  source?: RestoreSource;
  target: CommittedBackup;
  restoreId: string;
  workDir: string;
  fullDir: string;
  result: RestoreResult;
  toPoint?: PointInTime;
}

/** A restore to a point or a GTID: the binlogs replayed on top of the restored backup. */
interface PointInTime {
  /** The point as a person reads it: the time, or "GTID <gtid>". */
  label: string;
  /** Where its backups and archived binlogs are read. */
  from: ArchiveSource;
  pointInTime?: string;
  gtid?: string;
  replay: ReplayPlan;
  /** A restore to a time: the second it was taken to mean. */
  pointTakenAs?: string;
}

/** What a restore to a point reports: the point, and how many archived binlogs were applied. */
function pointFields(toPoint: PointInTime | undefined): Pick<RestoreResult, 'pointInTime' | 'pointTakenAs' | 'toGtid' | 'replayedBinlogs' | 'lastApplied'> {
  if (!toPoint) return {};
  return {
    ...(toPoint.pointInTime !== undefined ? { pointInTime: toPoint.pointInTime } : {}),
    ...(toPoint.pointTakenAs !== undefined ? { pointTakenAs: toPoint.pointTakenAs } : {}),
    ...(toPoint.gtid !== undefined ? { toGtid: toPoint.gtid } : {}),
    replayedBinlogs: toPoint.replay.files.length,
    ...(toPoint.replay.lastApplied ? { lastApplied: toPoint.replay.lastApplied } : {}),
  };
}

async function restoreChain(request: RestoreRequest, cluster: ClusterSettings, { source, targetName }: ResolvedSource, toPoint?: PointInTime): Promise<RestoreResult> {
  const host = hostActivities(cluster, cluster.restore.timeout);
  const chain = await resolveChain(host, cluster, targetName ?? (await newestBackup(host, cluster)), source);
  // A chain that failed its verification restores only when the caller accepts that (verifying it again is always allowed).
  if (request.target.kind !== 'verify') {
    const verified = checkVerifiedChain(chain, 'restore', request.acceptFailedVerification);
    if (!verified.ok) throw businessFailure(verified.code, verified.reason);
  }
  if (request.target.kind === 'new-datadir') {
    reportPhase(`Checking the clone target ${request.target.path}`);
    await host.quick.checkCloneTarget({ cluster: cluster.name, path: request.target.path });
  }

  const restoreId = formatTimestamp(Date.now());
  const requiredBytes = chain.reduce((sum, backup) => sum + backup.manifest.streamBytes, 0);
  const versions = chain.map(({ name, manifest }) => ({ name, manifest: { flavour: manifest.flavour, tool: manifest.tool, ...(manifest.serverVersion ? { serverVersion: manifest.serverVersion } : {}) } }));
  const { workDir } = await host.quick.prepareRestoreWorkspace({ cluster: cluster.name, restoreId, requiredBytes, chain: versions });
  const { fullDir, downloadedBytes } = await prepareInWorkspace(host, cluster, chain, source, workDir);
  const target = chain.at(-1) as CommittedBackup;
  const prepared: PreparedRestore = {
    host,
    replacing: hostActivities(cluster, cluster.restore.timeout, { waitsForHost: true }),
    cluster,
    request,
    chain,
    ...(source ? { source } : {}),
    target,
    restoreId,
    workDir,
    fullDir,
    ...(toPoint ? { toPoint } : {}),
    result: { cluster: cluster.name, restored: target.name, chain: chain.map((backup) => backup.name), target: request.target, toLsn: target.manifest.toLsn, downloadedBytes },
  };

  switch (request.target.kind) {
    case 'verify': {
      // A throw-away server on the prepared data proves it restores. The outcome is stored beside a backup
      // of the cluster's own storage (a source's is read-only here), and tagged as a search attribute, so
      // that the Web UI lists failed verifications.
      const recorded = source === undefined;
      const startedAt = Date.now();
      const record = verificationRecorder(host, cluster, chain);
      let verification: VerificationReport;
      try {
        reportPhase(`Starting a throw-away server on the prepared data of ${target.name} and checking every table`);
        verification = await host.serverDown.verifyPreparedData.executeWithOptions({ summary: `check every table of ${target.name}` }, [
          { cluster: cluster.name, backup: target.name, preparedDir: fullDir, lastLsn: target.manifest.lastLsn, ...(target.manifest.inventory ? { inventory: target.manifest.inventory } : {}), ...(target.manifest.inventoryProblem ? { inventoryProblem: target.manifest.inventoryProblem } : {}) },
        ]);
        if (recorded) await record({ result: 'passed', problems: [], ...verification });
        upsertSearchAttributes([{ key: VerificationResultKey, value: 'passed' }]);
      } catch (error) {
        const failure = businessFailureIn(error, FailureType.VerificationFailed);
        if (recorded && failure) await CancellationScope.nonCancellable(() => record({ result: 'failed', problems: [failure.message], durationSeconds: Math.round((Date.now() - startedAt) / 1000) }));
        if (failure) upsertSearchAttributes([{ key: VerificationResultKey, value: 'failed' }]);
        throw error;
      } finally {
        await CancellationScope.nonCancellable(() => host.quick.removeRestoreWorkspace({ workDir }));
      }
      reportPhase(`Verified ${target.name}: every object matched its sha256, the data's LSNs matched every manifest, the chain prepared cleanly, and a server started on it found ${verification.tables} tables, each checked and read end to end`);
      return { ...prepared.result, verification };
    }
    case 'new-datadir':
      return placeClone(prepared, request.target.path);
    case 'in-place':
      return replaceInPlace(prepared);
  }
}

/** The cluster's newest committed backup, for a verification that names none. */
async function newestBackup(host: Host, cluster: ClusterSettings): Promise<string> {
  reportPhase(`Finding the newest backup of ${cluster.name}`);
  const backups = backupsOf(await host.quick.listBackups({ cluster: cluster.name }), cluster.name);
  // The newest the store holds may not be the newest committed.
  const vanished = backups.filter((backup) => backup.vanished).map((backup) => backup.name);
  if (vanished.length > 0) throw businessFailure(FailureType.BrokenChain, `backups of ${cluster.name} were committed but removed from ${cluster.storageLabel} by something other than chainbackup: ${vanished.join(', ')}; name the backup to use`);
  const committed = backups.filter(isCommitted);
  const newest = committed.sort((a, b) => a.manifest.finishedAt.localeCompare(b.manifest.finishedAt)).at(-1);
  if (!newest) throw businessFailure(FailureType.BackupNotFound, `cluster ${cluster.name} has no committed backup in ${cluster.storageLabel} to verify`);
  return newest.name;
}

/** Resolves the chain that ends at the target and checks every stored object before anything is downloaded. */
async function resolveChain(host: Host, cluster: ClusterSettings, targetName: string, source: RestoreSource | undefined): Promise<CommittedBackup[]> {
  reportPhase(`Resolving the chain of ${targetName}`);
  const { backups, storageLabel } = await host.listing.listSourceBackups({ cluster: cluster.name, backupName: targetName, ...(source ? { source } : {}) });
  const resolved = resolveRestoreChain(backups, targetName, storageLabel);
  if (!resolved.ok) throw businessFailure(resolved.code, resolved.reason);
  const chain = resolved.value;
  const problems = missingObjects(chain);
  if (problems.length > 0) throw businessFailure(FailureType.BrokenChain, `cannot restore ${targetName} from ${storageLabel}: ${problems.join('; ')}`);
  upsertSearchAttributes([
    { key: BackupNameKey, value: (chain.at(-1) as CommittedBackup).name },
    { key: BackupChainBaseKey, value: (chain[0] as CommittedBackup).name },
  ]);
  return chain;
}

/** Downloads and prepares the chain, from a clean extraction again if a prepare was cut short; removes the workspace if it fails. */
async function prepareInWorkspace(host: Host, cluster: ClusterSettings, chain: CommittedBackup[], source: RestoreSource | undefined, workDir: string): Promise<{ fullDir: string; downloadedBytes: number }> {
  try {
    for (let round = 1; ; round++) {
      try {
        return await downloadAndPrepare(host, cluster, chain, source, round === 1 ? workDir : `${workDir}/round-${round}`);
      } catch (error) {
        // A worker died in the middle of a prepare: its folder cannot be trusted, so extract everything again.
        if (!businessFailureIn(error, FailureType.PrepareInterrupted) || round >= PREPARE_ROUNDS) throw error;
        log.warn('a prepare was cut short; extracting the chain again', { cluster: cluster.name, round });
      }
    }
  } catch (error) {
    await CancellationScope.nonCancellable(() => host.quick.removeRestoreWorkspace({ workDir }));
    throw error;
  }
}

/**
 * A clone: the prepared data goes into a new folder; the running server is never touched. A clone
 * to a point has the archived binlogs applied to it by a private server; one whose replay failed is
 * moved aside, so the path never holds a clone that stops short of the point.
 */
async function placeClone({ host, cluster, workDir, fullDir, result, restoreId, toPoint }: PreparedRestore, path: string): Promise<RestoreResult> {
  reportPhase(`Placing the prepared data in ${path}`);
  let gtidPosition: string | undefined;
  try {
    await host.serverDown.placeClone({ cluster: cluster.name, preparedDir: fullDir, path });
    if (toPoint && toPoint.replay.files.length > 0) {
      try {
        const cloneTarget = await host.quick.readCloneTarget({ cluster: cluster.name, path });
        reportPhase(`Applying ${toPoint.replay.files.length} archived binlogs to the clone in ${path} up to ${toPoint.label}`);
        ({ gtid: gtidPosition } = await host.serverDown.applyArchivedBinlogs.executeWithOptions({ summary: `apply binlogs to the clone up to ${toPoint.label}` }, [{ ...toPoint.from, target: cloneTarget, replay: toPoint.replay, workDir }]));
      } catch (error) {
        const { movedTo } = await CancellationScope.nonCancellable(() => host.quick.setAsideIncompleteClone({ cluster: cluster.name, path, restoreId }));
        log.warn('the binlog replay into the clone failed; the clone was moved aside', { cluster: cluster.name, path, movedTo });
        throw error;
      }
    }
  } finally {
    await CancellationScope.nonCancellable(() => host.quick.removeRestoreWorkspace({ workDir }));
  }
  if (toPoint) reportPhase(`Restored a clone of ${cluster.name} at ${toPoint.label} in ${path}`);
  return { ...result, ...(gtidPosition ? { gtidPosition } : {}), ...pointFields(toPoint) };
}

/**
 * In place: reads the target server's layout while it runs, then pauses it, swaps the datadir (the
 * old one kept), seeds the binlog history, unpauses and checks the server. Any failure after the
 * pause rolls back: the previous datadir goes back and the server starts again on it.
 */
async function replaceInPlace(prepared: PreparedRestore): Promise<RestoreResult> {
  const { host, cluster, source, workDir, fullDir, toPoint } = prepared;
  // Where the target server keeps its files (redo, undo, system tablespace, logs): read while it still
  // runs, and refused here, before the pause, if the restore could not honour it.
  reportPhase(`Reading the layout of ${cluster.name}`);
  let targetServer: TargetServer;
  try {
    targetServer = await host.quick.readRestoreTarget({ cluster: cluster.name, preparedDir: fullDir });
  } catch (error) {
    await CancellationScope.nonCancellable(() => host.quick.removeRestoreWorkspace({ workDir }));
    throw error;
  }
  const placement = { target: targetServer, sameServer: source === undefined };
  // Every archived binlog the replay needs is read and checked (sha256, every sealed chunk, its key) before the server is stopped.
  if (toPoint && toPoint.replay.files.length > 0) {
    reportPhase(`Checking the ${toPoint.replay.files.length} archived binlogs the replay needs`);
    try {
      await host.long.checkArchivedBinlogs.executeWithOptions({ summary: `check binlogs up to ${toPoint.label}` }, [{ ...toPoint.from, replay: toPoint.replay }]);
    } catch (error) {
      await CancellationScope.nonCancellable(() => host.quick.removeRestoreWorkspace({ workDir }));
      throw error;
    }
  }

  // No server is paused to swap in data that no server has read: the prepared data is verified first, unless this exact chain already was.
  try {
    prepared.result.verifiedBeforePause = await verifyBeforePause(prepared);
  } catch (error) {
    await CancellationScope.nonCancellable(() => host.quick.removeRestoreWorkspace({ workDir }));
    throw error;
  }

  // The binlog archiver commits nothing from here until the new history is recorded (or the old server is back).
  await host.quick.markRestoreRunning({ cluster: cluster.name, workflowId: workflowInfo().workflowId, runId: workflowInfo().runId });
  try {
    return await pauseAndReplace(prepared, targetServer, placement);
  } finally {
    // A marker left behind holds nothing for long: the archiver ignores one whose restore has ended.
    await CancellationScope.nonCancellable(() => host.quick.clearRestoreRunning({ cluster: cluster.name })).catch((error: unknown) => log.warn('could not clear the restore-running marker', { cluster: cluster.name, error: String(error) }));
  }
}

/** Writes a verification's outcome beside the chain's newest backup, naming the objects it verified. */
function verificationRecorder(host: Host, cluster: ClusterSettings, chain: CommittedBackup[]) {
  const target = chain.at(-1) as CommittedBackup;
  return (outcome: { result: 'passed' | 'failed'; problems: string[] } & Partial<VerificationReport>) =>
    host.quick.recordVerification({ cluster: cluster.name, folder: target.folder, record: { formatVersion: 1, backup: target.name, verifiedAt: new Date().toISOString(), workflowId: workflowInfo().workflowId, chainObjects: chainObjects(chain), ...outcome } });
}

/**
 * Proves the prepared data before an in-place restore pauses the server, as a verification does (a
 * throw-away server, the inventory, CHECK TABLE … EXTENDED and a full read of every table, the
 * configured checks), and records the outcome beside the backup. Skipped when a recorded
 * verification of this exact chain passed, or when the request says `skipVerification` (loudly).
 */
async function verifyBeforePause({ host, cluster, request, chain, target, fullDir, source }: PreparedRestore): Promise<NonNullable<RestoreResult['verifiedBeforePause']>> {
  const recorded = recordedProof(chain);
  if (recorded) {
    reportPhase(`${target.name} passed a verification on ${recorded.verifiedAt} with these same objects: not verified again before the pause`);
    return { by: 'recorded', verifiedAt: recorded.verifiedAt };
  }
  if (request.skipVerification) {
    log.warn('restoring data that no server has read: the verification before the pause was skipped by the request', { cluster: cluster.name, backup: target.name });
    reportPhase(`NOT VERIFIED: ${target.name} replaces the data of ${cluster.name} without a server having read it (skipVerification)`);
    return { by: 'skipped' };
  }
  reportPhase(`Verifying ${target.name} before the pause: a throw-away server on the prepared data checks every table`);
  const startedAt = Date.now();
  const record = verificationRecorder(host, cluster, chain);
  try {
    const verification = await host.serverDown.verifyPreparedData.executeWithOptions({ summary: `verify ${target.name} before the pause` }, [
      { cluster: cluster.name, backup: target.name, preparedDir: fullDir, lastLsn: target.manifest.lastLsn, ...(target.manifest.inventory ? { inventory: target.manifest.inventory } : {}), ...(target.manifest.inventoryProblem ? { inventoryProblem: target.manifest.inventoryProblem } : {}) },
    ]);
    // Recorded beside a backup of the cluster's own storage only (a source's is read-only here).
    if (source === undefined) await record({ result: 'passed', problems: [], ...verification });
    return { by: 'now', tables: verification.tables };
  } catch (error) {
    const failure = businessFailureIn(error, FailureType.VerificationFailed);
    if (failure && source === undefined) await CancellationScope.nonCancellable(() => record({ result: 'failed', problems: [failure.message], durationSeconds: Math.round((Date.now() - startedAt) / 1000) }));
    if (failure) throw businessFailure(FailureType.VerificationFailed, `restore of ${cluster.name} refused before the pause, the server untouched: ${failure.message}`, { cause: failure });
    throw error;
  }
}

/** From the pause on: the swap, the checks, the replay, the record; any failure rolls back. */
async function pauseAndReplace(prepared: PreparedRestore, targetServer: TargetServer, placement: { target: TargetServer; sameServer: boolean }): Promise<RestoreResult> {
  const { replacing: host, cluster, target, restoreId, workDir, fullDir, result, toPoint } = prepared;
  reportPhase(`Pausing cluster ${cluster.name}`);
  await host.serverDown.pauseCluster({ cluster: cluster.name });
  let previousDatadir: string | undefined;
  let gtidPosition: string | undefined;
  try {
    reportPhase(`Swapping the datadir of ${cluster.name}; the current one is kept`);
    ({ previousDatadir } = await host.serverDown.swapDatadir({ cluster: cluster.name, preparedDir: fullDir, restoreId, ...placement }));
    // The binlog history starts again at the backup's position before the server takes any write.
    const gtid = target.manifest.binlog?.gtid;
    if (targetServer.logBin && cluster.flavour === 'mariadb' && gtid && gtidRestartStatements(gtid)) {
      reportPhase(`Starting the binlog history of ${cluster.name} at GTID ${gtid}`);
      await host.serverDown.seedBinlogHistory({ cluster: cluster.name, target: targetServer, gtid });
    }
    // A restore to a point applies the archived binlogs before the server starts: no client can write meanwhile.
    let applied: { gtid: string } | undefined;
    if (toPoint) {
      if (toPoint.replay.files.length === 0) {
        // The backup ends exactly at the GTID asked for.
        applied = { gtid: target.manifest.binlog?.gtid ?? '' };
      } else {
        reportPhase(`Applying ${toPoint.replay.files.length} archived binlogs to ${cluster.name} up to ${toPoint.label}`);
        applied = await host.serverDown.applyArchivedBinlogs.executeWithOptions({ summary: `apply binlogs up to ${toPoint.label}` }, [{ ...toPoint.from, target: targetServer, replay: toPoint.replay, workDir }]);
      }
    }
    reportPhase(`Unpausing cluster ${cluster.name}`);
    await host.serverDown.unpauseCluster({ cluster: cluster.name });
    await host.quick.verifyCluster({ cluster: cluster.name });
    reportPhase(`Checking the restored server of ${cluster.name}: its GTID state and every table`);
    const expectedGtid = applied ? applied.gtid : target.manifest.binlog?.gtid;
    ({ gtid: gtidPosition } = await host.quick.settleRestoredServer({ cluster: cluster.name, target: targetServer, ...(expectedGtid ? { gtid: expectedGtid } : {}) }));
    await host.quick.recordInPlaceRestore({
      cluster: cluster.name,
      record: { restoredAt: new Date().toISOString(), backup: target.name, workflowId: workflowInfo().workflowId, ...(gtidPosition ? { gtid: gtidPosition } : {}) },
    });
  } catch (error) {
    log.warn('restore failed after the pause; rolling back', { cluster: cluster.name, previousDatadir });
    reportPhase(`Restore failed: putting the previous datadir of ${cluster.name} back`);
    await CancellationScope.nonCancellable(() => rollBack(prepared, targetServer, error));
    throw error;
  }
  await host.quick.removeRestoreWorkspace({ workDir });
  reportPhase(`Restored ${cluster.name} to ${toPoint ? toPoint.label : target.name}`);
  return { ...result, previousDatadir, ...(gtidPosition ? { gtidPosition } : {}), ...pointFields(toPoint) };
}

/** Puts the previous datadir back and starts the server on it; a rollback that fails leaves everything in place and says where. */
async function rollBack({ replacing: host, cluster, restoreId, workDir }: PreparedRestore, targetServer: TargetServer, restoreError: unknown): Promise<void> {
  try {
    await host.serverDown.pauseCluster({ cluster: cluster.name });
    await host.serverDown.rollbackDatadir({ cluster: cluster.name, restoreId, target: targetServer });
  } catch (rollbackError) {
    // Neither datadir can be trusted to be whole: the server stays stopped, and nothing is removed.
    throw rollbackFailure(cluster.name, restoreError, rollbackError, `putting its previous datadir back failed too (${rootMessage(rollbackError)}): the server is left stopped; the datadir it had is kept as <datadir>.before-restore-${restoreId} and the prepared data in ${workDir}`);
  }
  try {
    await host.serverDown.unpauseCluster({ cluster: cluster.name });
  } catch (startError) {
    throw rollbackFailure(cluster.name, restoreError, startError, `its previous datadir is back in place, but the server did not start (${rootMessage(startError)}); the prepared data is kept in ${workDir}`);
  }
  await host.quick.removeRestoreWorkspace({ workDir });
}

/** A failed rollback: says what state the server was left in, with the restore's own error as its cause. */
function rollbackFailure(cluster: string, restoreError: unknown, rollbackError: unknown, state: string) {
  log.error('restore rollback failed', { cluster, restoreError: rootMessage(restoreError), rollbackError: rootMessage(rollbackError) });
  return businessFailure(FailureType.RollbackFailed, `restoring ${cluster} failed after the pause (${rootMessage(restoreError)}), and ${state}`, {
    ...(restoreError instanceof Error ? { cause: restoreError } : {}),
  });
}

/** At most `count` downloads at once, started in the order they asked (a workflow's promises resolve deterministically). */
function downloadSlots(count: number): { take: () => Promise<void>; give: () => void } {
  let free = count;
  const waiting: (() => void)[] = [];
  return {
    take: () => {
      if (free > 0) {
        free--;
        return Promise.resolve();
      }
      return new Promise<void>((resolve) => waiting.push(resolve));
    },
    give: () => {
      const next = waiting.shift();
      if (next) next();
      else free++;
    },
  };
}

/**
 * Downloads every piece of the chain into `into` and prepares it: the full backup, then each
 * increment applied in order. Nothing can be prepared before the full backup is in, so it downloads
 * alone, with the machine's cores to itself; then the increments, two at a time in chain order, each as soon as
 * a download ends, independent of the applies, so the next increment is usually on disk before it
 * is needed. They run in a scope of their own so that a failure stops the others before the
 * workspace goes.
 */
async function downloadAndPrepare(
  host: Host,
  cluster: ClusterSettings,
  chain: CommittedBackup[],
  source: RestoreSource | undefined,
  into: string,
): Promise<{ fullDir: string; downloadedBytes: number }> {
  const dirs = chain.map((backup, index) => `${into}/${index}-${backup.manifest.type === 'full' ? 'full' : 'incr'}`);
  const fullDir = dirs[0] as string;
  const full = chain[0] as CommittedBackup;
  let downloadedBytes = 0;
  const downloadScope = new CancellationScope();
  const downloads: Promise<void>[] = [];
  const slots = downloadSlots(DOWNLOADS_AT_ONCE);
  for (const [index, piece] of chain.entries()) {
    const turn = index === 0 ? slots.take() : (downloads[0] as Promise<void>).then(slots.take);
    const download = downloadScope.run(async () => {
      await turn;
      try {
        const { bytes } = await host.long.downloadBackup.executeWithOptions({ summary: `download and verify ${piece.name}` }, [
          { cluster: cluster.name, ...(source ? { source } : {}), backup: piece, into: dirs[index] as string },
        ]);
        downloadedBytes += bytes;
      } finally {
        slots.give();
      }
    });
    // Awaited in order below; this only keeps an early failure from counting as unhandled meanwhile.
    download.catch(() => undefined);
    downloads.push(download);
  }

  try {
    reportPhase(`Downloading and verifying ${full.name}`);
    await downloads[0];
    reportPhase(`Preparing ${full.name}`);
    await host.long.prepareBackup.executeWithOptions({ summary: `prepare ${full.name}` }, [
      { cluster: cluster.name, flavour: full.manifest.flavour, fullDir, moreToApply: chain.length > 1, ...(chain.length === 1 ? { expect: full } : {}) },
    ]);
    for (let index = 1; index < chain.length; index++) {
      const increment = chain[index] as CommittedBackup;
      reportPhase(`Downloading ${increment.name} (${index}/${chain.length - 1})`);
      await downloads[index];
      reportPhase(`Applying ${increment.name} (${index}/${chain.length - 1}, LSN ${increment.manifest.fromLsn} to ${increment.manifest.toLsn})`);
      const last = index + 1 === chain.length;
      await host.long.prepareBackup.executeWithOptions({ summary: `apply ${increment.name}` }, [
        { cluster: cluster.name, flavour: increment.manifest.flavour, fullDir, incrementalDir: dirs[index], moreToApply: !last, ...(last ? { expect: increment } : {}) },
      ]);
    }
  } catch (error) {
    await CancellationScope.nonCancellable(async () => {
      downloadScope.cancel();
      await Promise.allSettled(downloads);
    });
    throw error;
  }
  return { fullDir, downloadedBytes };
}
