import { patched, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { z } from 'zod';
import type { ClusterSettings } from '../domain/config.js';
import { businessFailure, FailureType } from '../domain/failures.js';
import { BackupClusterKey, BackupTypeKey } from '../domain/search-attributes.js';
import { parseWith } from '../domain/validation.js';
import { DEFAULT_DEPLOYMENT } from '../domain/workflow-contract.js';
import { localOrchestrator, orchestrator } from './activities.js';
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
  const cluster = await (patched('fewer-round-trips') ? localOrchestrator : orchestrator).describeCluster(request.cluster);
  return { request, cluster };
}

/**
 * The deployment whose ids this run computes (`WorkflowId`): the task queue it runs on, which is
 * its deployment's orchestrator queue (`temporal.taskQueue`: only orchestrator workers register
 * workflows). Call it once per id and keep the id: a run in flight from before may see `false` at
 * one call and `true` at a later one. Patch `ids-per-deployment`, introduced in release 0.2.0
 * (issue 38): runs of 0.1.0 named every lock, archiver and child after the default deployment and
 * keep doing so on replay. It can go when 0.1.0 histories are no longer replayed.
 */
export function deploymentOfRun(): string {
  return patched('ids-per-deployment') ? workflowInfo().taskQueue : DEFAULT_DEPLOYMENT;
}
