import { upsertSearchAttributes } from '@temporalio/workflow';
import { z } from 'zod';
import { LedgerSeqKey } from '../domain/search-attributes.js';
import type { AdoptionResult } from '../activities/adoption.js';
import { clusterName } from '../domain/config.js';
import { hostActivities } from './activities.js';
import { withClusterLock } from './cluster-lock.js';
import { beginClusterWork } from './cluster-work.js';
import { reportPhase } from './progress.js';

export const adoptRequestSchema = z.strictObject({
  cluster: clusterName,
  /** List what would be signed, and sign nothing. */
  dryRun: z.boolean().default(false),
});

/**
 * Signs the records a cluster's store held before its workers had keys (docs/security.md): the
 * operator vouches for the store as it is now. Under the cluster's lock, so that no deletion hides a
 * manifest this run is about to sign again.
 */
export async function adoptRecords(input: z.input<typeof adoptRequestSchema>): Promise<AdoptionResult> {
  const { request, cluster } = await beginClusterWork(adoptRequestSchema, input, 'adopt request', () => 'adopt');
  return withClusterLock(cluster.name, 'adopt unsigned records', async () => {
    reportPhase(`${request.dryRun ? 'Listing' : 'Signing'} the unsigned records of ${cluster.name}`);
    const host = hostActivities(cluster, '1 hour');
    const result = await host.listing.adoptRecords({ cluster: cluster.name, dryRun: request.dryRun });
    if (!request.dryRun) upsertSearchAttributes([{ key: LedgerSeqKey, value: result.ledger.seq }]);
    reportPhase(`${request.dryRun ? 'Would sign' : 'Signed'} ${result.signed.length} records; ${result.alreadySigned} already signed; ${result.refused.length} fail their check and were left alone; ledger seq ${result.ledger.seq} lists ${result.ledger.backups} backups`);
    return result;
  });
}
