/**
 * The workflows the workflow tests run: the product's own, and one that only holds a cluster's lock
 * until it is told to let go, so that the lock can be driven without a backup or a restore.
 */
import { condition, defineQuery, defineSignal, executeChild, setHandler } from '@temporalio/workflow';
import { businessFailure, FailureType } from '../../domain/failures.js';
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

/** A request the product refuses: fails with a refusal, as a workflow that validates its input does. */
export function refuseRequest(reason: string): Promise<string> {
  return Promise.reject(businessFailure(FailureType.InvalidRequest, reason));
}

/** A run whose child refuses, left unhandled. */
export async function parentOfARefusal(childId: string): Promise<string> {
  return executeChild(refuseRequest, { workflowId: childId, args: ['the child says no'] });
}
