/**
 * Issue 36: a refused request is not a failed workflow. A top-level run whose innermost failure is a
 * refusal completes with it (workflows/interceptors.ts), so the Web UI shows it Completed; a child
 * still fails on it, for its parent to handle. Run on the suite's real Temporal dev server.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { refusalIn } from '../../domain/failures.js';
import { BackupRefusalKey } from '../../domain/search-attributes.js';
import { uniqueName } from '../support/environment.js';
import { startHarnessWorker, type HarnessWorker } from '../support/workflow-worker.js';
import { parentOfARefusal, refuseRequest } from './harness-workflows.js';

const taskQueue = uniqueName('refusal-tests');
let harness: HarnessWorker;

beforeAll(async () => {
  harness = await startHarnessWorker(taskQueue, {});
});

afterAll(async () => {
  await harness?.stop();
});

describe('a refused request', () => {
  test('completes with its refusal: type and message, status Completed', async () => {
    const workflowId = uniqueName('refused');
    const result: unknown = await harness.client.workflow.execute(refuseRequest, { taskQueue, workflowId, args: ['no such backup'] });
    expect(refusalIn(result)).toEqual({ type: 'InvalidRequest', message: 'no such backup' });
    const described = await harness.client.workflow.getHandle(workflowId).describe();
    expect(described.status.name).toBe('COMPLETED');
    expect(described.typedSearchAttributes.get(BackupRefusalKey)).toBe('InvalidRequest');
  });

  test("a child's refusal fails the child; its parent, a top-level run, completes with it", async () => {
    const parentId = uniqueName('parent');
    const childId = `${parentId}-child`;
    const result: unknown = await harness.client.workflow.execute(parentOfARefusal, { taskQueue, workflowId: parentId, args: [childId] });
    expect(refusalIn(result)).toEqual({ type: 'InvalidRequest', message: 'the child says no' });
    const child = await harness.client.workflow.getHandle(childId).describe();
    expect(child.status.name).toBe('FAILED');
    expect(child.typedSearchAttributes.get(BackupRefusalKey)).toBeUndefined();
    expect((await harness.client.workflow.getHandle(parentId).describe()).status.name).toBe('COMPLETED');
  });
});
