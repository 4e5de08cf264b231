/** Activity proxies: timeouts, heartbeats, retries and cancellation, by the kind of step a workflow calls. */
import { ActivityCancellationType, proxyActivities } from '@temporalio/workflow';
import { durationMs, type ClusterSettings } from '../domain/config.js';
import type { HostActivities, OrchestratorActivities } from '../activities/index.js';

/**
 * Runs on the shared queue: cluster look-ups and calls to Temporal itself. A look-up that fails for a
 * known reason fails at once; anything else is retried for a few minutes (Temporal restarting).
 */
export const orchestrator = proxyActivities<OrchestratorActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 12 },
});

/**
 * Activities on the cluster's host queue. `quick` ones are bounded look-ups and small writes; `long`
 * ones stream data or run the tool, heartbeat their progress, and finish their own clean-up when
 * cancelled before the workflow moves on; `listing` reads storage with heartbeats, so a huge or
 * hostile tree can be cancelled; `serverDown` steps run while the server is stopped and heartbeat
 * on a short interval, so that a dead worker is replaced within seconds, not minutes. Retries are
 * bounded by the cluster's configuration and are for faults only: a refused request fails at once.
 */
export function hostActivities(cluster: ClusterSettings, timeout: string, options: { serverDownWaitsForCancellation?: boolean } = {}) {
  const retry = { initialInterval: cluster.retry.initialInterval, backoffCoefficient: 2, maximumInterval: '5 minutes', maximumAttempts: cluster.retry.maximumAttempts };
  const heartbeatTimeout = cluster.retry.heartbeatTimeout;
  const shortHeartbeatMs = Math.max(10_000, Math.round(durationMs(heartbeatTimeout) / 3));
  return {
    quick: proxyActivities<HostActivities>({ taskQueue: cluster.taskQueue, startToCloseTimeout: '10 minutes', retry }),
    listing: proxyActivities<HostActivities>({ taskQueue: cluster.taskQueue, startToCloseTimeout: '30 minutes', heartbeatTimeout, retry }),
    long: proxyActivities<HostActivities>({
      taskQueue: cluster.taskQueue,
      startToCloseTimeout: timeout,
      heartbeatTimeout,
      cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
      retry,
    }),
    serverDown: proxyActivities<HostActivities>({
      taskQueue: cluster.taskQueue,
      startToCloseTimeout: timeout,
      heartbeatTimeout: shortHeartbeatMs,
      // A cancelled step finishes before the workflow moves on: a rollback must never move files under a swap still running.
      ...(options.serverDownWaitsForCancellation ? { cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED } : {}),
      // The server is down while these run: retry promptly.
      retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '10 seconds', maximumAttempts: cluster.retry.maximumAttempts },
    }),
    /** Deletions: short heartbeats, so a deletion whose worker died resumes within seconds on another. */
    removal: proxyActivities<HostActivities>({ taskQueue: cluster.taskQueue, startToCloseTimeout: '1 hour', heartbeatTimeout: '15 seconds', retry }),
  };
}
