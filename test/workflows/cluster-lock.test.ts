/**
 * Issue 15: the cluster lock, driven without the stack. The real `clusterLock` workflow and the real
 * request path (`withClusterLock` and its `requestClusterLock` activity) run on a worker inside the
 * test against the suite's Temporal dev server; holders are a test workflow that holds the lock until
 * it is told to let go. The lock's waits are shortened through its state (`timing`), the way a
 * continued-as-new run receives them.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import { parseConfig } from '../../config/file.js';
import { clusterLockActivities } from '../../activities/cluster-lock.js';
import { acquireSignal, DEFAULT_DEPLOYMENT, lockStateQuery, WorkflowId, type LockState, type LockTiming } from '../../domain/workflow-contract.js';
import { uniqueName } from '../support/environment.js';
import { eventually, startHarnessWorker, type HarnessWorker } from '../support/workflow-worker.js';
import { clusterLock, holdClusterLock, holdingQuery, letGoSignal } from './harness-workflows.js';

const taskQueue = uniqueName('lock-tests');
let harness: HarnessWorker;

/** The lock's activities of a deployment whose workflows run on `queue`. */
const lockActivitiesOf = (queue: string) =>
  clusterLockActivities(
    parseConfig(
      JSON.stringify({
        temporal: { taskQueue: queue },
        clusters: [{ name: 'unused', connection: { socket: '/nonexistent.sock', user: 'backup' }, datadir: '/nonexistent', storage: { kind: 'filesystem', path: '/nonexistent' }, controller: { kind: 'command', stop: ['false'], start: ['false'] } }],
      }),
      'lock-tests.yaml',
    ),
  );

beforeAll(async () => {
  harness = await startHarnessWorker(taskQueue, lockActivitiesOf(taskQueue));
});

const startedLocks: string[] = [];

afterAll(async () => {
  // Locks left open by a failed test would otherwise outlive the worker on the shared server.
  await Promise.allSettled(startedLocks.map((id) => harness.client.workflow.getHandle(id).terminate('the workflow tests are over')));
  await harness?.stop();
});

const NEVER: LockTiming = { idleLifetime: '1 hour', holderCheckInterval: '1 hour' };

/** A lock that a test started itself, with its waits chosen by the test. */
async function startLock(cluster: string, timing: LockTiming, initial: Partial<LockState> = {}) {
  startedLocks.push(WorkflowId.clusterLock(taskQueue, cluster));
  return harness.client.workflow.start(clusterLock, {
    taskQueue,
    workflowId: WorkflowId.clusterLock(taskQueue, cluster),
    args: [{ cluster, holder: null, waiting: [], timing, ...initial }],
  });
}

const lockState = (cluster: string) => harness.client.workflow.getHandle(WorkflowId.clusterLock(taskQueue, cluster)).query(lockStateQuery);
const holderOf = async (cluster: string) => (await lockState(cluster)).holder?.workflowId ?? null;
const waitingOn = async (cluster: string) => (await lockState(cluster)).waiting.map((request) => request.workflowId);

async function startHolder(cluster: string, name: string): Promise<WorkflowHandle<typeof holdClusterLock>> {
  return harness.client.workflow.start(holdClusterLock, { taskQueue, workflowId: `${cluster}-${name}`, args: [cluster, name] });
}

/** Waits until `holder` holds the lock: the lock says so, and the holder's own work has begun. */
async function untilHolding(cluster: string, holder: WorkflowHandle<typeof holdClusterLock>): Promise<void> {
  await eventually(`${holder.workflowId} holds the lock of ${cluster}`, async () =>
    (await holderOf(cluster)) === holder.workflowId && (await holder.query(holdingQuery)) ? true : undefined,
  );
}

async function untilWaiting(cluster: string, expected: string[]): Promise<void> {
  await eventually(`the lock of ${cluster} has ${expected.join(', ')} waiting`, async () => (JSON.stringify(await waitingOn(cluster)) === JSON.stringify(expected) ? true : undefined));
}

async function letGo(holder: WorkflowHandle<typeof holdClusterLock>): Promise<void> {
  await holder.signal(letGoSignal);
  await holder.result();
}

describe('the cluster lock', () => {
  test('grants in arrival order, one holder at a time; the lockState query shows the holder and the queue', async () => {
    const cluster = uniqueName('order');
    await startLock(cluster, NEVER);
    const first = await startHolder(cluster, 'first');
    await untilHolding(cluster, first);
    const second = await startHolder(cluster, 'second');
    await untilWaiting(cluster, [second.workflowId]);
    const third = await startHolder(cluster, 'third');
    await untilWaiting(cluster, [second.workflowId, third.workflowId]);

    // A retried request (the activity's signal-with-start sent twice) is not queued twice.
    const secondRun = (await second.describe()).runId;
    await harness.client.workflow.getHandle(WorkflowId.clusterLock(taskQueue, cluster)).signal(acquireSignal, { workflowId: second.workflowId, runId: secondRun, purpose: 'second' });
    const state = await lockState(cluster);
    expect(state).toMatchObject({ cluster, holder: { workflowId: first.workflowId, purpose: 'first' } });
    expect(state.waiting.map((request) => [request.workflowId, request.purpose])).toEqual([
      [second.workflowId, 'second'],
      [third.workflowId, 'third'],
    ]);
    expect(await second.query(holdingQuery)).toBe(false);

    await letGo(first);
    await untilHolding(cluster, second);
    expect(await waitingOn(cluster)).toEqual([third.workflowId]);
    expect(await third.query(holdingQuery)).toBe(false);
    await letGo(second);
    await untilHolding(cluster, third);
    await letGo(third);
    await eventually('the lock is free', async () => ((await lockState(cluster)).holder === null ? true : undefined));
    expect(await waitingOn(cluster)).toEqual([]);
  });

  test('a request cancelled while it waits leaves the queue and is never granted', async () => {
    const cluster = uniqueName('cancel');
    await startLock(cluster, NEVER);
    const first = await startHolder(cluster, 'first');
    await untilHolding(cluster, first);
    const cancelled = await startHolder(cluster, 'cancelled');
    // One at a time: two requests started together reach the lock in either order.
    await untilWaiting(cluster, [cancelled.workflowId]);
    const last = await startHolder(cluster, 'last');
    await untilWaiting(cluster, [cancelled.workflowId, last.workflowId]);
    await cancelled.cancel();
    await expect(cancelled.result()).rejects.toThrow();
    await untilWaiting(cluster, [last.workflowId]);
    await letGo(first);
    await untilHolding(cluster, last);
    await letGo(last);
  });

  test('a holder that dies without releasing is released for it, and the next request is granted', async () => {
    const cluster = uniqueName('dead');
    await startLock(cluster, { idleLifetime: '1 hour', holderCheckInterval: '1 second' });
    const dying = await startHolder(cluster, 'dying');
    await untilHolding(cluster, dying);
    const next = await startHolder(cluster, 'next');
    await untilWaiting(cluster, [next.workflowId]);
    // Terminated: no finally block runs, so no release is ever sent.
    await dying.terminate('the test kills the holder');
    await untilHolding(cluster, next);
    await letGo(next);
  });

  test('a requester that is gone before its grant is skipped', async () => {
    const cluster = uniqueName('gone');
    await startLock(cluster, NEVER);
    const first = await startHolder(cluster, 'first');
    await untilHolding(cluster, first);
    const lock = harness.client.workflow.getHandle(WorkflowId.clusterLock(taskQueue, cluster));
    await lock.signal(acquireSignal, { workflowId: `${cluster}-never-existed`, runId: randomUUID(), purpose: 'gone' });
    const after = await startHolder(cluster, 'after');
    await untilWaiting(cluster, [`${cluster}-never-existed`, after.workflowId]);
    await letGo(first);
    await untilHolding(cluster, after);
    await letGo(after);
  });

  test('an idle lock completes; the next request starts a new one', async () => {
    const cluster = uniqueName('idle');
    const lock = await startLock(cluster, { idleLifetime: '2 seconds', holderCheckInterval: '1 hour' });
    const first = await startHolder(cluster, 'first');
    await untilHolding(cluster, first);
    await letGo(first);
    await lock.result();
    expect((await lock.describe()).status.name).toBe('COMPLETED');

    // The request path starts a lock of its own (with the production waits) when none is running.
    const later = await startHolder(cluster, 'later');
    await untilHolding(cluster, later);
    const restarted = await harness.client.workflow.getHandle(WorkflowId.clusterLock(taskQueue, cluster)).describe();
    expect(restarted.runId).not.toBe(lock.firstExecutionRunId);
    expect(restarted.status.name).toBe('RUNNING');
    await letGo(later);
  });

  test('continues as new with its holder and its queue, and serves them in the new run', async () => {
    const cluster = uniqueName('continued');
    // The suite's dev server suggests continue-as-new after 150 events; the short holder check brings
    // the lock back to the top of its loop, where it acts on the suggestion.
    const lock = await startLock(cluster, { idleLifetime: '1 hour', holderCheckInterval: '1 second' });
    const holder = await startHolder(cluster, 'holder');
    await untilHolding(cluster, holder);
    const next = await startHolder(cluster, 'next');
    await untilWaiting(cluster, [next.workflowId]);
    const vanished = Array.from({ length: 50 }, (_, index) => ({ workflowId: `${cluster}-vanished-${index}`, runId: randomUUID(), purpose: 'vanished' }));
    for (const request of vanished) await lock.signal(acquireSignal, request);

    const newRun = await eventually('the lock continued as new', async () => {
      const current = await harness.client.workflow.getHandle(WorkflowId.clusterLock(taskQueue, cluster)).describe();
      return current.runId !== lock.firstExecutionRunId ? current.runId : undefined;
    });
    expect((await harness.client.workflow.getHandle(WorkflowId.clusterLock(taskQueue, cluster), lock.firstExecutionRunId).describe()).status.name).toBe('CONTINUED_AS_NEW');
    const carried = await lockState(cluster);
    expect(carried.holder?.workflowId).toBe(holder.workflowId);
    expect(carried.waiting.map((request) => request.workflowId)).toEqual([next.workflowId, ...vanished.map((request) => request.workflowId)]);
    expect(carried.timing).toEqual({ idleLifetime: '1 hour', holderCheckInterval: '1 second' });

    await letGo(holder);
    await untilHolding(cluster, next);
    await letGo(next);
    // The vanished requesters are granted in turn, found gone, and dropped.
    await eventually('the lock is free and its queue empty', async () => {
      const state = await lockState(cluster);
      return state.holder === null && state.waiting.length === 0 ? true : undefined;
    });
    expect((await harness.client.workflow.getHandle(WorkflowId.clusterLock(taskQueue, cluster)).describe()).runId).not.toBe(lock.firstExecutionRunId);
    expect(newRun).not.toBe(lock.firstExecutionRunId);
  });
});

/**
 * Issue 38: a deployment is its orchestrator queue, and a lock belongs to one deployment. The harness's
 * queue is a deployment other than the default one, so its locks are named after it.
 */
describe('the cluster lock of a deployment', () => {
  const otherQueue = uniqueName('lock-tests-other');
  let other: HarnessWorker;

  beforeAll(async () => {
    other = await startHarnessWorker(otherQueue, lockActivitiesOf(otherQueue));
  });

  afterAll(async () => {
    await other?.stop();
  });

  test('two deployments in one namespace hold the locks of a cluster they name alike at the same time', async () => {
    const cluster = uniqueName('shared');
    startedLocks.push(WorkflowId.clusterLock(taskQueue, cluster), WorkflowId.clusterLock(otherQueue, cluster), WorkflowId.clusterLock(DEFAULT_DEPLOYMENT, cluster));
    // The default deployment's lock of its own cluster of that name (on a queue of its own, here one that no
    // worker serves): open, and waited for by neither.
    const foreignHolder = { workflowId: `${cluster}-foreign`, runId: randomUUID(), purpose: 'the default deployment' };
    await harness.client.workflow.start(clusterLock, { taskQueue: uniqueName('lock-tests-nobody'), workflowId: WorkflowId.clusterLock(DEFAULT_DEPLOYMENT, cluster), args: [{ cluster, holder: foreignHolder, waiting: [], timing: NEVER }] });

    const mine = await startHolder(cluster, 'mine');
    const theirs = await other.client.workflow.start(holdClusterLock, { taskQueue: otherQueue, workflowId: `${cluster}-theirs`, args: [cluster, 'theirs'] });
    await untilHolding(cluster, mine);
    await eventually(`${theirs.workflowId} holds its own deployment's lock`, async () => ((await theirs.query(holdingQuery)) ? true : undefined));
    expect(await mine.query(holdingQuery)).toBe(true);
    const theirLock = await other.client.workflow.getHandle(WorkflowId.clusterLock(otherQueue, cluster)).query(lockStateQuery);
    expect(theirLock).toMatchObject({ cluster, holder: { workflowId: theirs.workflowId }, waiting: [] });
    expect(await holderOf(cluster)).toBe(mine.workflowId);
    await letGo(mine);
    await letGo(theirs);
  });
});
