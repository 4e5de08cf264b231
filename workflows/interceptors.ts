/**
 * Workflow interceptors, bundled with the workflows (worker/bundle.ts) and registered by every
 * worker and the replayer. A refused request is not a failure of the work: a run without a parent
 * that ends in a refusal completes with it (domain/failures.ts › Refusal), so the Web UI, the
 * views and the health's failure counts show real failures only.
 */
import { log, upsertSearchAttributes, workflowInfo, type Next, type WorkflowExecuteInput, type WorkflowInboundCallsInterceptor, type WorkflowInterceptorsFactory } from '@temporalio/workflow';
import { businessFailureIn, isRefusal, type Refusal } from '../domain/failures.js';
import { BackupRefusalKey } from '../domain/search-attributes.js';

class RefusalsComplete implements WorkflowInboundCallsInterceptor {
  async execute(input: WorkflowExecuteInput, next: Next<WorkflowInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    try {
      return await next(input);
    } catch (error) {
      const failure = businessFailureIn(error);
      // A child's refusal is its parent's to handle.
      if (!failure || !isRefusal(failure.type) || workflowInfo().parent !== undefined) throw error;
      const type = failure.type ?? '';
      log.info('request refused', { type, message: failure.message });
      upsertSearchAttributes([{ key: BackupRefusalKey, value: type }]);
      return { refused: { type, message: failure.message } } satisfies Refusal;
    }
  }
}

export const interceptors: WorkflowInterceptorsFactory = () => ({ inbound: [new RefusalsComplete()] });
