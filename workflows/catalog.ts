import { describeCatalog, type ClusterCatalog } from '../domain/catalog.js';
import type { ClusterHealth } from '../domain/health.js';
import type { CheckLine } from '../activities/check.js';
import { z } from 'zod';
import { clusterName } from '../domain/config.js';
import { hostActivities } from './activities.js';
import { beginClusterWork } from './cluster-work.js';
import { reportPhase } from './progress.js';

export type { BackupListing, ClusterCatalog } from '../domain/catalog.js';

export const catalogRequestSchema = z.strictObject({
  cluster: clusterName,
  /** Also return this backup's manifest. */
  backupName: z.string().optional(),
});

/** A cluster's storage as chains (read-only; the CLI's `list` and `show`). */
export async function catalog(input: z.input<typeof catalogRequestSchema>): Promise<ClusterCatalog> {
  const { request, cluster } = await beginClusterWork(catalogRequestSchema, input, 'catalog request', () => 'catalog');
  reportPhase(`Listing ${cluster.storageLabel}`);
  const backups = await hostActivities(cluster, '10 minutes').quick.listBackups({ cluster: cluster.name });
  const archive = cluster.binlogs.archive ? await hostActivities(cluster, '10 minutes').quick.describeBinlogArchive({ cluster: cluster.name }) : undefined;
  return describeCatalog(backups, cluster.name, cluster.storageLabel, archive, request.backupName);
}

export const statusRequestSchema = z.strictObject({ cluster: clusterName });

/** A cluster's health (read-only; the CLI's `status`, which checks it against its configuration's rules). */
export async function clusterStatus(input: z.input<typeof statusRequestSchema>): Promise<ClusterHealth> {
  const { cluster } = await beginClusterWork(statusRequestSchema, input, 'status request', () => 'status');
  reportPhase(`Gathering the health of ${cluster.name}`);
  return hostActivities(cluster, '10 minutes').quick.clusterHealth({ cluster: cluster.name });
}

export const checkRequestSchema = z.strictObject({ cluster: clusterName });

/** The set-up of a cluster's host, checked there (read-only but for a probe object; the CLI's `check`). */
export async function checkCluster(input: z.input<typeof checkRequestSchema>): Promise<CheckLine[]> {
  const { cluster } = await beginClusterWork(checkRequestSchema, input, 'check request', () => 'check');
  reportPhase(`Checking the set-up of ${cluster.name} on its host`);
  return hostActivities(cluster, '10 minutes').quick.checkHost({ cluster: cluster.name });
}
