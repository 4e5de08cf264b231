/**
 * What a workflow is doing now, for people: the Web UI's current details and the `progress` query
 * that the CLI (or `temporal workflow query --type progress`) reads. Byte counts come from the
 * running activity's heartbeat details.
 */
import { setCurrentDetails, setHandler } from '@temporalio/workflow';
import { progressQuery, type WorkflowProgress } from '../domain/workflow-contract.js';

let current: WorkflowProgress = { phase: 'starting', since: new Date().toISOString() };

export function reportPhase(phase: string): void {
  current = { phase, since: new Date().toISOString() };
  setCurrentDetails(phase);
}

/** Call first in every workflow that reports phases. */
export function serveProgress(): void {
  setHandler(progressQuery, () => current);
}
