import { upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { z } from 'zod';
import type { ClusterSettings } from '../domain/config.js';
import { businessFailure, FailureType } from '../domain/failures.js';
import { BackupClusterKey, BackupTypeKey } from '../domain/search-attributes.js';
import { parseWith } from '../domain/validation.js';
import { localOrchestrator } from './activities.js';
import { reportPhase, serveProgress } from './progress.js';

/**
 * How every cluster workflow begins: serve the progress query, validate the input (a refusal names
 * the field), tag the run for the Web UI's filters, and look the cluster up (an unknown one fails at once).
 */
export async function beginClusterWork<T extends { cluster: string }>(
  schema: z.ZodType<T>,
  input: unknown,
  subject: string,
  kind: (request: T) => string,
): Promise<{ request: T; cluster: ClusterSettings }> {
  serveProgress();
  const parsed = parseWith(schema, input, subject);
  if (!parsed.ok) throw businessFailure(FailureType.InvalidRequest, parsed.message);
  const request = parsed.value;
  upsertSearchAttributes([
    { key: BackupClusterKey, value: request.cluster },
    { key: BackupTypeKey, value: kind(request) },
  ]);
  reportPhase(`Looking up cluster ${request.cluster}`);
  const cluster = await localOrchestrator.describeCluster(request.cluster);
  return { request, cluster };
}

/**
 * The deployment whose ids this run computes (`WorkflowId`): the task queue it runs on, which is
 * its deployment's orchestrator queue (`temporal.taskQueue`: only orchestrator workers register
 * workflows).
 */
export function deploymentOfRun(): string {
  return workflowInfo().taskQueue;
}
