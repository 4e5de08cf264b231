import { z } from 'zod';
import { clusterName } from '../domain/config.js';
import { businessFailure, FailureType } from '../domain/failures.js';
import type { KeptDatadirs } from '../domain/kept-datadirs.js';
import { hostActivities } from './activities.js';
import { withClusterLock } from './cluster-lock.js';
import { beginClusterWork } from './cluster-work.js';
import { reportPhase } from './progress.js';

export const keptDatadirsRequestSchema = z.strictObject({
  cluster: clusterName,
  /** Names of kept datadirs to remove (as the listing gives them); none: only list. */
  remove: z.array(z.string().min(1).max(255)).max(1000).optional(),
});

export interface KeptDatadirsResult extends KeptDatadirs {
  /** The kept datadirs this run removed, and the bytes that freed. */
  removed: string[];
  freedBytes: number;
}

/**
 * The datadirs in-place restores of a cluster kept, on its host: a listing (read-only, BackupType
 * "kept-datadirs"), or the removal of the named ones (BackupType "remove-kept") under the cluster's
 * lock, so that no restore which could still roll back into one is running. A name that is not a
 * kept datadir of the cluster is refused before anything is removed.
 */
export async function keptDatadirs(input: z.input<typeof keptDatadirsRequestSchema>): Promise<KeptDatadirsResult> {
  const { request, cluster } = await beginClusterWork(keptDatadirsRequestSchema, input, 'kept datadirs request', (kept) => (kept.remove?.length ? 'remove-kept' : 'kept-datadirs'));
  const host = hostActivities(cluster, '1 hour');
  const remove = [...new Set(request.remove ?? [])];
  reportPhase(`Listing the datadirs restores of ${cluster.name} kept`);
  if (remove.length === 0) return { ...(await host.listing.listKeptDatadirs({ cluster: cluster.name })), removed: [], freedBytes: 0 };
  return withClusterLock(cluster.name, `remove ${remove.length} kept datadir${remove.length === 1 ? '' : 's'}`, async () => {
    const before = await host.listing.listKeptDatadirs({ cluster: cluster.name });
    const unknown = remove.filter((name) => !before.kept.some((entry) => entry.name === name));
    if (unknown.length > 0) {
      const listed = before.kept.map((entry) => entry.name).join(', ') || 'none';
      throw businessFailure(FailureType.InvalidRequest, `remove: ${unknown.map((name) => `"${name}"`).join(', ')} ${unknown.length === 1 ? 'is not a datadir' : 'are not datadirs'} kept by a restore of ${cluster.name} (kept: ${listed}); nothing was removed`);
    }
    let freedBytes = 0;
    for (const name of remove) {
      reportPhase(`Removing ${name}`);
      await host.removal.removeKeptDatadir({ cluster: cluster.name, name });
      freedBytes += before.kept.find((entry) => entry.name === name)?.sizeBytes ?? 0;
    }
    reportPhase('Listing what is left');
    return { ...(await host.listing.listKeptDatadirs({ cluster: cluster.name })), removed: remove, freedBytes };
  });
}
