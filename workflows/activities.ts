/** Activity proxies: timeouts, heartbeats, retries and cancellation, by the kind of step a workflow calls. */
import { ActivityCancellationType, ActivityFailure, proxyActivities, proxyLocalActivities, TimeoutFailure } from '@temporalio/workflow';
import { businessFailure, FailureType } from '../domain/failures.js';
import { durationMs, type ClusterSettings } from '../domain/config.js';
import type { HostActivities, OrchestratorActivities } from '../activities/index.js';

/**
 * Runs on the shared queue: cluster look-ups and calls to Temporal itself. A look-up that fails for a
 * known reason fails at once; anything else is retried for a few minutes (Temporal restarting). They
 * heartbeat for liveness like every step, so a dead worker's look-up moves on within seconds.
 */
const orchestratorRetry = { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 12 };
export const orchestrator = proxyActivities<OrchestratorActivities>({ startToCloseTimeout: '1 minute', heartbeatTimeout: '10 seconds', retry: orchestratorRetry });

/**
 * The same steps as local activities: run by the worker that runs the workflow, inside its workflow
 * task, with no round trip through the queue (each such trip is a few tens of milliseconds every piece
 * of work paid). For the short look-ups every cluster workflow begins with, and its lock request.
 */
export const localOrchestrator = proxyLocalActivities<OrchestratorActivities>({ startToCloseTimeout: '1 minute', retry: orchestratorRetry });

/**
 * Activities on the cluster's host queue. `quick` ones are bounded look-ups and small writes (they
 * heartbeat too, for liveness: a dead worker's step moves on within seconds); `long`
 * ones stream data or run the tool, heartbeat their progress, and finish their own clean-up when
 * cancelled before the workflow moves on; `listing` reads storage with heartbeats, so a huge or
 * hostile tree can be cancelled; `serverDown` steps run while the server is stopped and heartbeat
 * on a short interval, so that a dead worker is replaced within seconds, not minutes. Retries are
 * bounded by the cluster's configuration and are for faults only: a refused request fails at once.
 */
export function hostActivities(cluster: ClusterSettings, timeout: string, options: { waitsForHost?: boolean } = {}) {
  const retry = { initialInterval: cluster.retry.initialInterval, backoffCoefficient: 2, maximumInterval: '5 minutes', maximumAttempts: cluster.retry.maximumAttempts };
  const heartbeatTimeout = cluster.retry.heartbeatTimeout;
  const shortHeartbeatMs = Math.max(10_000, Math.round(durationMs(heartbeatTimeout) / 3));
  // Every step heartbeats while it runs (activities/liveness.ts); a host worker that never takes one fails the work after hostWorkerWait,
  // unless the work `waitsForHost`: from an in-place restore's pause on, only that host can start the server again, and a step or a
  // rollback that gave up on it would leave the server stopped.
  const hostWait = options.waitsForHost ? {} : { scheduleToStartTimeout: cluster.retry.hostWorkerWait };
  const hostQueue = { taskQueue: cluster.taskQueue, ...hostWait };
  const named = <T extends object>(proxy: T) => namingMissingWorker(proxy, cluster);
  return {
    quick: named(proxyActivities<HostActivities>({ ...hostQueue, startToCloseTimeout: '10 minutes', heartbeatTimeout: shortHeartbeatMs, retry })),
    listing: named(proxyActivities<HostActivities>({ ...hostQueue, startToCloseTimeout: '30 minutes', heartbeatTimeout, retry })),
    long: named(proxyActivities<HostActivities>({
      ...hostQueue,
      startToCloseTimeout: timeout,
      heartbeatTimeout,
      cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
      retry,
    })),
    serverDown: named(proxyActivities<HostActivities>({
      ...hostQueue,
      startToCloseTimeout: timeout,
      heartbeatTimeout: shortHeartbeatMs,
      // A cancelled step finishes before the workflow moves on: a rollback must never move files under a swap still running.
      cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
      // The server is down while these run: retry promptly.
      retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '10 seconds', maximumAttempts: cluster.retry.maximumAttempts },
    })),
    /** Deletions: short heartbeats, so a deletion whose worker died resumes within seconds on another. */
    removal: named(proxyActivities<HostActivities>({ ...hostQueue, startToCloseTimeout: '1 hour', heartbeatTimeout: '15 seconds', retry })),
  };
}

/**
 * A step no worker took within the cluster's hostWorkerWait (a schedule-to-start time-out) fails the
 * work as HostWorkerMissing, naming the host queue that had no worker; every other failure passes as it is.
 */
function namingMissingWorker<T extends object>(proxy: T, cluster: ClusterSettings): T {
  const explain = (error: unknown): never => {
    const timeout = error instanceof ActivityFailure && error.cause instanceof TimeoutFailure && error.cause.timeoutType === 'SCHEDULE_TO_START' ? error : undefined;
    if (!timeout) throw error;
    throw businessFailure(
      FailureType.HostWorkerMissing,
      `no worker took the step ${timeout.activityType} of cluster ${cluster.name} from its host queue ${cluster.taskQueue} within ${cluster.retry.hostWorkerWait}: start a chainbackup worker that serves it on the cluster's host (worker/main.js --clusters ${cluster.name})`,
      { cause: timeout },
    );
  };
  type Step = ((...args: unknown[]) => Promise<unknown>) & { executeWithOptions: (options: unknown, args: unknown[]) => Promise<unknown> };
  return new Proxy(proxy, {
    get(target, name, receiver) {
      const step = Reflect.get(target, name, receiver) as Step | undefined;
      if (typeof step !== 'function') return step;
      const named = (...args: unknown[]) => step(...args).catch(explain);
      named.executeWithOptions = (options: unknown, args: unknown[]) => step.executeWithOptions(options, args).catch(explain);
      return named;
    },
  });
}
