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
  patched,
  setCurrentDetails,
  setHandler,
  workflowInfo,
  allHandlersFinished,
} from '@temporalio/workflow';
import { acquireSignal, DEFAULT_DEPLOYMENT, grantedSignal, lockStateQuery, releaseSignal, WorkflowId, type LockState, type LockTiming, type WorkflowRun } from '../domain/workflow-contract.js';
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
  await takeLegacyLock(state, holderCheckInterval);

  for (;;) {
    if (workflowInfo().continueAsNewSuggested) {
      await releaseLegacyLock(state);
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
        await releaseLegacyLock(state);
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
 * Issue 38, release 0.2.0: a deployment with its own task queue named its lock `chainbackup-lock-<cluster>`
 * before; work its workers started then may still hold or wait for that lock. A new lock of such a
 * deployment, when it starts fresh, first takes the legacy lock as any requester would (if one of its
 * deployment is open: the default deployment's own lock has that id too, on its own queue), and grants
 * nothing before; it holds it until it completes or continues as new. Old runs queued for the legacy
 * lock are served before it, in arrival order. No patch: only this release starts a lock under an id
 * other than the legacy one, and a continued run (the only kind 0.1.0 histories hold) skips this.
 * Can go with the patch `ids-per-deployment`.
 */
async function takeLegacyLock(state: LockState, checkInterval: string): Promise<void> {
  const info = workflowInfo();
  const legacyId = WorkflowId.clusterLock(DEFAULT_DEPLOYMENT, state.cluster);
  if (info.continuedFromExecutionRunId !== undefined || info.workflowId === legacyId) return;
  let granted = false;
  setHandler(grantedSignal, () => {
    granted = true;
  });
  let asked = false;
  for (;;) {
    // A legacy lock that closed without granting this one (idle, or terminated) holds nothing any more.
    if (!(await localOrchestrator.isWorkflowOpen({ workflowId: legacyId, taskQueue: info.taskQueue }))) return;
    if (!asked) {
      setCurrentDetails(`Waiting for the lock of release 0.1.0, ${legacyId}, before granting; ${state.waiting.length} waiting`);
      log.info('cluster lock waits for the legacy lock of its cluster', { cluster: state.cluster, legacy: legacyId });
      // A signal, not the signal-with-start of the request path: a legacy lock that closed meanwhile is not started again.
      const asking = getExternalWorkflowHandle(legacyId).signal(acquireSignal, { workflowId: info.workflowId, runId: info.runId, purpose: `the lock ${info.workflowId} of the next release` });
      if (!(await asking.then(() => true, () => false))) return;
      asked = true;
    }
    if (await condition(() => granted, checkInterval)) {
      state.holdsLegacyLock = true;
      return;
    }
  }
}

/** Lets the legacy lock go, when this run holds it (`takeLegacyLock`). */
async function releaseLegacyLock(state: LockState): Promise<void> {
  if (!state.holdsLegacyLock) return;
  const legacyId = WorkflowId.clusterLock(DEFAULT_DEPLOYMENT, state.cluster);
  const { workflowId, runId } = workflowInfo();
  // A legacy lock that is gone holds nothing.
  await getExternalWorkflowHandle(legacyId).signal(releaseSignal, { workflowId, runId }).catch((error: unknown) => log.warn('could not release the legacy cluster lock', { lock: legacyId, error: String(error) }));
  delete state.holdsLegacyLock;
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
    await (patched('fewer-round-trips') ? localOrchestrator : orchestrator).requestClusterLock({ cluster, lockWorkflowId: lockId, request: { ...me, purpose } });
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
