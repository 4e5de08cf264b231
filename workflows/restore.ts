import { CancellationScope, log, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import { resolveRestoreChain, type CommittedBackup } from '../domain/chain.js';
import type { ClusterSettings } from '../domain/config.js';
import { businessFailure, FailureType } from '../domain/failures.js';
import { locateSource } from '../domain/layout.js';
import { formatTimestamp } from '../domain/names.js';
import { restoreRequestSchema, type RestoreRequest, type RestoreRequestInput } from '../domain/requests.js';
import { BackupChainBaseKey, BackupNameKey } from '../domain/search-attributes.js';
import type { RestoreSource } from '../activities/index.js';
import { hostActivities } from './activities.js';
import { withClusterLock } from './cluster-lock.js';
import { beginClusterWork } from './cluster-work.js';
import { reportPhase } from './progress.js';

/** Pieces of a chain downloading at once: the piece being applied next and the one after it. */
const DOWNLOADS_AT_ONCE = 2;

export interface RestoreResult {
  cluster: string;
  restored: string;
  chain: string[];
  target: RestoreRequest['target'];
  /** In-place restores: where the datadir that was replaced now lives. */
  previousDatadir?: string;
  toLsn: string;
  downloadedBytes: number;
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
  const { request, cluster } = await beginClusterWork(restoreRequestSchema, input, 'restore request', () => 'restore');
  // Holding the cluster's lock keeps its backups and deletions from running under the restore.
  return withClusterLock(cluster.name, 'restore', () => restoreChain(request, cluster));
}

async function restoreChain(request: RestoreRequest, cluster: ClusterSettings): Promise<RestoreResult> {
  const host = hostActivities(cluster, cluster.restore.timeout);

  let source: RestoreSource | undefined;
  let targetName: string;
  if (request.source) {
    const located = locateSource(request.source.storage, request.source.path);
    if (!located.ok) throw businessFailure(FailureType.InvalidRequest, `invalid restore request: ${located.reason}`);
    source = { storage: located.storage, prefix: located.prefix };
    targetName = located.location.name;
  } else {
    targetName = request.backupName as string;
  }

  reportPhase(`Resolving the chain of ${targetName}`);
  const { backups, storageLabel } = await host.quick.listSourceBackups({ cluster: cluster.name, ...(source ? { source } : {}) });
  const resolved = resolveRestoreChain(backups, targetName, storageLabel);
  if (!resolved.ok) throw businessFailure(resolved.code, resolved.reason);
  const chain = resolved.value;
  const problems = missingObjects(chain);
  if (problems.length > 0) throw businessFailure(FailureType.BrokenChain, `cannot restore ${targetName} from ${storageLabel}: ${problems.join('; ')}`);
  const full = chain[0] as CommittedBackup;
  const target = chain.at(-1) as CommittedBackup;
  upsertSearchAttributes([
    { key: BackupNameKey, value: target.name },
    { key: BackupChainBaseKey, value: full.name },
  ]);

  const restoreId = formatTimestamp(Date.now());
  const requiredBytes = chain.reduce((sum, backup) => sum + backup.manifest.streamBytes, 0);
  const { workDir } = await host.quick.prepareRestoreWorkspace({ cluster: cluster.name, restoreId, requiredBytes });
  const dirs = chain.map((backup, index) => `${workDir}/${index}-${backup.manifest.type === 'full' ? 'full' : 'incr'}`);
  const fullDir = dirs[0] as string;

  // Downloads run two at a time from the start, independent of the applies: each piece starts as soon as
  // the one two places before it is in, so the next increment is usually on disk before it is needed.
  // They run in a scope of their own so that a failure stops the others before the workspace goes.
  let downloadedBytes = 0;
  const downloadScope = new CancellationScope();
  const downloads: Promise<void>[] = [];
  for (const [index, piece] of chain.entries()) {
    const turn = index >= DOWNLOADS_AT_ONCE ? (downloads[index - DOWNLOADS_AT_ONCE] as Promise<void>) : Promise.resolve();
    const download = downloadScope.run(async () => {
      await turn;
      const { bytes } = await host.long.downloadBackup.executeWithOptions({ summary: `download and verify ${piece.name}` }, [
        { cluster: cluster.name, ...(source ? { source } : {}), backup: piece, into: dirs[index] as string },
      ]);
      downloadedBytes += bytes;
    });
    // Awaited in order below; this only keeps an early failure from counting as unhandled meanwhile.
    download.catch(() => undefined);
    downloads.push(download);
  }

  try {
    reportPhase(`Downloading and verifying ${full.name}`);
    await downloads[0];
    reportPhase(`Preparing ${full.name}`);
    await host.long.prepareBackup.executeWithOptions({ summary: `prepare ${full.name}` }, [{ cluster: cluster.name, flavour: full.manifest.flavour, fullDir, moreToApply: chain.length > 1 }]);
    for (let index = 1; index < chain.length; index++) {
      const increment = chain[index] as CommittedBackup;
      reportPhase(`Downloading ${increment.name} (${index}/${chain.length - 1})`);
      await downloads[index];
      reportPhase(`Applying ${increment.name} (${index}/${chain.length - 1}, LSN ${increment.manifest.fromLsn} to ${increment.manifest.toLsn})`);
      await host.long.prepareBackup.executeWithOptions({ summary: `apply ${increment.name}` }, [
        { cluster: cluster.name, flavour: increment.manifest.flavour, fullDir, incrementalDir: dirs[index], moreToApply: index + 1 < chain.length },
      ]);
    }
  } catch (error) {
    await CancellationScope.nonCancellable(async () => {
      downloadScope.cancel();
      await Promise.allSettled(downloads);
      await host.quick.removeRestoreWorkspace({ workDir });
    });
    throw error;
  }

  const result: RestoreResult = {
    cluster: cluster.name,
    restored: target.name,
    chain: chain.map((backup) => backup.name),
    target: request.target,
    toLsn: target.manifest.toLsn,
    downloadedBytes,
  };

  if (request.target.kind === 'verify') {
    await host.quick.removeRestoreWorkspace({ workDir });
    reportPhase(`Verified ${target.name}: every object matched its sha256 and the chain prepared cleanly`);
    return result;
  }

  if (request.target.kind === 'new-datadir') {
    reportPhase(`Placing the prepared data in ${request.target.path}`);
    await host.quick.placeClone({ cluster: cluster.name, preparedDir: fullDir, path: request.target.path });
    await host.quick.removeRestoreWorkspace({ workDir });
    return result;
  }

  reportPhase(`Pausing cluster ${cluster.name}`);
  await host.long.pauseCluster({ cluster: cluster.name });
  let previousDatadir: string | undefined;
  try {
    reportPhase(`Swapping the datadir of ${cluster.name}; the current one is kept`);
    ({ previousDatadir } = await host.quick.swapDatadir({ cluster: cluster.name, preparedDir: fullDir, restoreId }));
    reportPhase(`Unpausing cluster ${cluster.name}`);
    await host.long.unpauseCluster({ cluster: cluster.name });
    await host.quick.verifyCluster({ cluster: cluster.name });
    await host.quick.recordInPlaceRestore({ cluster: cluster.name, record: { restoredAt: new Date().toISOString(), backup: target.name, workflowId: workflowInfo().workflowId } });
  } catch (error) {
    log.warn('restore failed after the pause; rolling back', { cluster: cluster.name, previousDatadir });
    reportPhase(`Restore failed: putting the previous datadir of ${cluster.name} back`);
    await CancellationScope.nonCancellable(async () => {
      await host.quick.pauseCluster({ cluster: cluster.name });
      await host.quick.rollbackDatadir({ cluster: cluster.name, restoreId });
      await host.long.unpauseCluster({ cluster: cluster.name });
      await host.quick.removeRestoreWorkspace({ workDir });
    });
    throw error;
  }
  await host.quick.removeRestoreWorkspace({ workDir });
  reportPhase(`Restored ${cluster.name} to ${target.name}`);
  return { ...result, previousDatadir };
}
