/**
 * One piece of work at a time per cluster, whoever starts it. Every backup, restore and deletion of a
 * cluster asks the cluster's lock workflow (`<deployment>-lock-<cluster>`, `WorkflowId.clusterLock`;
 * signal-with-started by an activity so exactly one exists per deployment) and waits for its grant;
 * requests are served in arrival order.
 * The holder releases in a non-cancellable scope; a holder that dies without releasing (terminated,
 * timed out) is noticed by the lock, which checks every minute whether the holder is still open.
 */
import {
  CancellationScope,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  log,
  setCurrentDetails,
  setHandler,
  workflowInfo,
  allHandlersFinished,
} from '@temporalio/workflow';
import { acquireSignal, grantedSignal, lockStateQuery, releaseSignal, WorkflowId, type LockState, type LockTiming, type WorkflowRun } from '../domain/workflow-contract.js';
import { localOrchestrator, orchestrator } from './activities.js';
import { deploymentOfRun } from './cluster-work.js';
import { reportPhase } from './progress.js';

const DEFAULT_TIMING: LockTiming = { idleLifetime: '10 minutes', holderCheckInterval: '1 minute' };

const sameRun = (a: WorkflowRun, b: WorkflowRun) => a.workflowId === b.workflowId && a.runId === b.runId;

export async function clusterLock(initial: LockState): Promise<void> {
  const state: LockState = { cluster: initial.cluster, holder: initial.holder, waiting: [...initial.waiting], ...(initial.timing ? { timing: initial.timing } : {}) };
  const { idleLifetime, holderCheckInterval } = initial.timing ?? DEFAULT_TIMING;
  setHandler(lockStateQuery, () => state);
  setHandler(acquireSignal, (request) => {
    // A retried signal-with-start must not queue the same run twice.
    if ((state.holder && sameRun(state.holder, request)) || state.waiting.some((waiting) => sameRun(waiting, request))) return;
    state.waiting.push(request);
  });
  setHandler(releaseSignal, (release) => {
    if (state.holder && sameRun(state.holder, release)) state.holder = null;
    state.waiting = state.waiting.filter((waiting) => !sameRun(waiting, release));
  });

  for (;;) {
    if (workflowInfo().continueAsNewSuggested) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof clusterLock>(state);
    }
    if (state.holder === null) {
      const next = state.waiting.shift();
      if (next) {
        state.holder = next;
        setCurrentDetails(`Held by ${next.workflowId} (${next.purpose}); ${state.waiting.length} waiting`);
        log.info('cluster lock granted', { cluster: state.cluster, holder: next.workflowId, purpose: next.purpose });
        try {
          await getExternalWorkflowHandle(next.workflowId, next.runId).signal(grantedSignal, { lockRunId: workflowInfo().runId });
        } catch (error) {
          // The requester is gone (completed, terminated): give the lock to the next one.
          log.warn('cluster lock requester vanished before its grant', { holder: next.workflowId, error: String(error) });
          state.holder = null;
        }
        continue;
      }
      setCurrentDetails(`Free`);
      const requested = await condition(() => state.waiting.length > 0, idleLifetime);
      if (!requested && state.waiting.length === 0) {
        await condition(allHandlersFinished);
        if (state.waiting.length === 0) return;
      }
      continue;
    }
    const holder = state.holder;
    const released = await condition(() => state.holder !== holder, holderCheckInterval);
    if (!released && !(await orchestrator.isWorkflowOpen({ workflowId: holder.workflowId, runId: holder.runId }))) {
      log.warn('cluster lock holder closed without releasing; releasing for it', { cluster: state.cluster, holder: holder.workflowId });
      if (state.holder === holder) state.holder = null;
    }
  }
}

/**
 * Runs `work` while holding the cluster's lock. Waits (durably, for as long as it takes) behind any
 * earlier backup, restore or deletion of the same cluster; always releases, even when cancelled.
 */
export async function withClusterLock<T>(cluster: string, purpose: string, work: () => Promise<T>): Promise<T> {
  const info = workflowInfo();
  let granted = false;
  setHandler(grantedSignal, () => {
    granted = true;
  });
  const lockId = WorkflowId.clusterLock(deploymentOfRun(), cluster);
  const me: WorkflowRun = { workflowId: info.workflowId, runId: info.runId };
  try {
    await localOrchestrator.requestClusterLock({ cluster, lockWorkflowId: lockId, request: { ...me, purpose } });
    if (!granted) reportPhase(`Waiting for earlier work on cluster ${cluster} to finish (lock ${lockId})`);
    await condition(() => granted);
    return await work();
  } finally {
    // Also leaves the queue when cancelled while waiting, so the lock never grants a dead request.
    await CancellationScope.nonCancellable(() => getExternalWorkflowHandle(lockId).signal(releaseSignal, me)).catch((error: unknown) => {
      // No lock workflow means nothing is held: the request never reached it.
      log.warn('could not release the cluster lock', { lock: lockId, error: String(error) });
    });
  }
}
