import { isCommitted, type StoredBackup } from '../domain/chain.js';
import type { Manifest } from '../domain/manifest.js';
import { backupsOf } from '../domain/ownership.js';
import { committedChains } from '../domain/retention.js';
import { recoverableWindow, type PointInTimeWindow } from '../domain/point-in-time.js';
import { z } from 'zod';
import { clusterName } from '../domain/config.js';
import { hostActivities } from './activities.js';
import { beginClusterWork } from './cluster-work.js';
import { reportPhase } from './progress.js';

export const catalogRequestSchema = z.strictObject({
  cluster: clusterName,
  /** Also return this backup's manifest. */
  backupName: z.string().optional(),
});

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
  finishedAt?: string;
  /** Why an uncommitted folder is not a backup (no manifest, its chain being deleted, a broken manifest). */
  problem?: string;
}

export interface ClusterCatalog {
  cluster: string;
  storage: string;
  chains: { base: BackupListing; increments: BackupListing[] }[];
  uncommitted: BackupListing[];
  manifest?: Manifest;
  /** For a cluster that archives its binary log: the times a point-in-time restore can reach (null: none yet). */
  pointInTime?: PointInTimeWindow | null;
}

function listing(backup: StoredBackup): BackupListing {
  const size = backup.objects.reduce((sum, object) => sum + object.size, 0);
  if (!isCommitted(backup)) {
    return { name: backup.name, type: 'unknown', base: backup.base, parent: null, path: backup.folder, state: 'uncommitted', sizeBytes: size, problem: backup.manifestProblem ?? (backup.deleting ? 'its chain is being deleted' : 'no manifest: failed, running, or partly deleted') };
  }
  const { manifest } = backup;
  return { name: backup.name, type: manifest.type, base: manifest.base, parent: manifest.parent, path: backup.folder, state: 'committed', fromLsn: manifest.fromLsn, toLsn: manifest.toLsn, sizeBytes: manifest.sizeBytes, finishedAt: manifest.finishedAt };
}

/** A cluster's storage as chains (read-only; the CLI's `list` and `show`). */
export async function catalog(input: z.input<typeof catalogRequestSchema>): Promise<ClusterCatalog> {
  const { request, cluster } = await beginClusterWork(catalogRequestSchema, input, 'catalog request', () => 'catalog');
  reportPhase(`Listing ${cluster.storageLabel}`);
  const backups = await hostActivities(cluster, '10 minutes').quick.listBackups({ cluster: cluster.name });
  const mine = backupsOf(backups, cluster.name);
  const named = request.backupName === undefined ? undefined : mine.find((backup) => backup.name === request.backupName);
  // `binlogs` is absent from look-ups recorded before it existed: those runs never asked for the archive.
  const archive = cluster.binlogs?.archive ? await hostActivities(cluster, '10 minutes').quick.describeBinlogArchive({ cluster: cluster.name }) : undefined;
  return {
    cluster: cluster.name,
    storage: cluster.storageLabel,
    chains: committedChains(mine, cluster.name).map((chain) => ({ base: listing(chain.base), increments: chain.increments.map(listing) })),
    uncommitted: mine.filter((backup) => !isCommitted(backup)).map(listing),
    ...(named?.manifest ? { manifest: named.manifest } : {}),
    ...(archive ? { pointInTime: recoverableWindow(mine, archive) ?? null } : {}),
  };
}
