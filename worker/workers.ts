import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { DataConverter } from '@temporalio/common';
import { Client } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { hostTaskQueue, type Config } from '../domain/config.js';
import { createHostActivities, createOrchestratorActivities } from '../activities/index.js';
import { currentAttemptOnly } from '../activities/current-attempt.js';
import { HOST_HEARTBEAT_THROTTLE_MS } from '../activities/attempt-lease.js';
import { livenessHeartbeats } from '../activities/liveness.js';
import { stepEndFailpoints } from '../activities/failpoints.js';

const workflowsPath = fileURLToPath(new URL('../workflows/index.js', import.meta.url));
/** Registered with the workflows: in the prebuilt bundles at build time, else here (workflows/interceptors.ts). */
export const workflowInterceptorModules = [fileURLToPath(new URL('../workflows/interceptors.js', import.meta.url))];
/** Written by `npm run build`; saves every worker start the seconds of bundling the workflows. */
const prebuiltBundle = fileURLToPath(new URL('../workflow-bundle.js', import.meta.url));
/** The same, built with the failure converter of payload encryption (the bundle and the worker must agree on it). */
const prebuiltSealedBundle = fileURLToPath(new URL('../workflow-bundle-sealed.js', import.meta.url));

export interface WorkerSelection {
  /** Serve the shared queue: workflows and cluster look-ups. */
  orchestrator: boolean;
  /** Serve the host queues of these clusters (their backup tool, datadir and server are on this machine). */
  clusters: string[];
}

/** The workflows, prebuilt with their interceptors, or bundled now with them. */
function workflowCode(bundle: string): { workflowBundle: { codePath: string } } | { workflowsPath: string } {
  return existsSync(bundle) ? { workflowBundle: { codePath: bundle } } : { workflowsPath };
}

/** The workflow interceptor modules a worker registers itself: none when its bundle already holds them. */
function workflowModules(code: ReturnType<typeof workflowCode>): string[] {
  return 'workflowsPath' in code ? workflowInterceptorModules : [];
}

export async function createWorkers(connection: NativeConnection, namespace: string, config: Config, selection: WorkerSelection, dataConverter: DataConverter): Promise<Worker[]> {
  const workers: Worker[] = [];
  // Liveness first, so that an attempt's hold on its step (attempt-lease.ts) starts before anything waits;
  // then the fence that asks Temporal which attempt is current: a stale task reaching a thawed worker does nothing.
  const activityInterceptors = [livenessHeartbeats, currentAttemptOnly(new Client({ connection, namespace })), stepEndFailpoints];
  if (selection.orchestrator) {
    const code = workflowCode(dataConverter.failureConverterPath !== undefined ? prebuiltSealedBundle : prebuiltBundle);
    workers.push(
      await Worker.create({
        connection,
        namespace,
        taskQueue: config.temporal.taskQueue,
        dataConverter,
        ...code,
        activities: createOrchestratorActivities(config),
        interceptors: { activity: activityInterceptors, workflowModules: workflowModules(code) },
        shutdownGraceTime: config.worker.shutdownGraceTime,
      }),
    );
  }
  const hostActivities = createHostActivities(config);
  const queues = new Set(config.clusters.filter((cluster) => selection.clusters.includes(cluster.name)).map((cluster) => hostTaskQueue(cluster, config.temporal.taskQueue)));
  for (const taskQueue of queues) {
    workers.push(
      await Worker.create({
        connection,
        namespace,
        taskQueue,
        dataConverter,
        activities: hostActivities,
        // Every step heartbeats while it runs: a dead or cut-off worker costs a heartbeat time-out, not the step's whole time-out.
        interceptors: { activity: activityInterceptors },
        // SIGTERM lets a running step finish, or clean up when cancelled, before the process exits.
        shutdownGraceTime: config.worker.shutdownGraceTime,
        // Progress (bytes done) reaches the Web UI and the CLI every few seconds, not once a minute.
        // Also what an attempt's hold on its step allows for (activities/attempt-lease.ts).
        maxHeartbeatThrottleInterval: HOST_HEARTBEAT_THROTTLE_MS,
        defaultHeartbeatThrottleInterval: HOST_HEARTBEAT_THROTTLE_MS,
      }),
    );
  }
  return workers;
}
