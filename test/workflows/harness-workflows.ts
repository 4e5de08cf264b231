/**
 * The workflows the workflow tests run: the product's own, and one that only holds a cluster's lock
 * until it is told to let go, so that the lock can be driven without a backup or a restore.
 */
import { condition, defineQuery, defineSignal, setHandler } from '@temporalio/workflow';
import { withClusterLock } from '../../workflows/cluster-lock.js';

export * from '../../workflows/index.js';

export const letGoSignal = defineSignal('letGo');
export const holdingQuery = defineQuery<boolean>('holding');

export async function holdClusterLock(cluster: string, purpose: string): Promise<void> {
  let holding = false;
  let letGo = false;
  setHandler(letGoSignal, () => {
    letGo = true;
  });
  setHandler(holdingQuery, () => holding);
  await withClusterLock(cluster, purpose, async () => {
    holding = true;
    await condition(() => letGo);
    holding = false;
  });
}
