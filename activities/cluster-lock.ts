import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { Config } from '../domain/config.js';
import { acquireSignal, WorkflowType, type LockRequest, type LockState } from '../domain/workflow-contract.js';

/** Activities the cluster lock needs from the Temporal client of the worker. */
export function clusterLockActivities(config: Config) {
  return {
    /** Queues a request on the cluster's lock workflow, starting that workflow if none is running. */
    async requestClusterLock(input: { cluster: string; lockWorkflowId: string; request: LockRequest }): Promise<void> {
      const initial: LockState = { cluster: input.cluster, holder: null, waiting: [] };
      await Context.current().client.workflow.signalWithStart(WorkflowType.clusterLock, {
        workflowId: input.lockWorkflowId,
        taskQueue: config.temporal.taskQueue,
        args: [initial],
        signal: acquireSignal,
        signalArgs: [input.request],
        staticSummary: `Serializes backups, restores and deletions of cluster ${input.cluster}`,
      });
    },

    /**
     * Running restores and verifications that read the given chains, from any cluster (a cross-cluster restore holds
     * its own cluster's lock, not the source's): deletion leaves those chains alone.
     */
    async restoresReading(input: { bases: string[] }): Promise<{ base: string; workflowId: string }[]> {
      const found: { base: string; workflowId: string }[] = [];
      for (const base of input.bases) {
        const query = `ExecutionStatus = "Running" AND BackupType IN ("restore", "verify") AND BackupChainBase = "${base}"`;
        for await (const execution of Context.current().client.workflow.list({ query })) found.push({ base, workflowId: execution.workflowId });
      }
      return found;
    },

    /** Whether a workflow run is still open; a closed or vanished one can hold nothing. */
    async isWorkflowOpen(input: { workflowId: string; runId: string }): Promise<boolean> {
      try {
        const description = await Context.current().client.workflow.getHandle(input.workflowId, input.runId).describe();
        return description.status.name === 'RUNNING';
      } catch (error) {
        if (error instanceof WorkflowNotFoundError) return false;
        throw error;
      }
    },
  };
}
