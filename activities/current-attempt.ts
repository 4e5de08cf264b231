/**
 * Only the current attempt of a step runs. A task handed to a worker that was then frozen or cut off
 * (a paused VM, a host whose link dropped while a long poll was open) reaches it when it comes back,
 * long after Temporal timed that attempt out and gave the step to another: run then, its first act
 * (clearing what an earlier attempt left, preparing a workspace) would destroy what the newer attempt
 * or a later step made, a committed backup or the prepared data of a restore among them. So before
 * any step runs, the worker asks Temporal which attempt of it is pending; a superseded one does
 * nothing. (An attempt superseded while it runs is the step's own business: see takeBackup.)
 */
import { ApplicationFailure } from '@temporalio/common';
import type { Client } from '@temporalio/client';
import type { Context } from '@temporalio/activity';
import type { ActivityExecuteInput, ActivityInboundCallsInterceptor, ActivityInterceptorsFactory, Next } from '@temporalio/worker';

export const SUPERSEDED_ATTEMPT = 'SupersededAttempt';

class CurrentAttemptOnly implements ActivityInboundCallsInterceptor {
  constructor(
    private readonly context: Context,
    private readonly client: Client,
  ) {}

  async execute(input: ActivityExecuteInput, next: Next<ActivityInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    const { workflowExecution, activityId, attempt, activityType, isLocal } = this.context.info;
    // A local activity runs inside its workflow's task, which Temporal never hands to two workers at once; it has no pending entry.
    if (workflowExecution && !isLocal) {
      // The raw service call: pending activities' details stay encoded, nothing here needs them.
      const description = await this.client.workflowService.describeWorkflowExecution({ namespace: this.client.options.namespace, execution: workflowExecution });
      const pending = description.pendingActivities?.find((activity) => activity.activityId === activityId);
      if (pending?.attempt !== attempt) {
        // Its result would be refused anyway: nothing is done, and the message says why for the worker's log.
        throw ApplicationFailure.create({
          type: SUPERSEDED_ATTEMPT,
          message: `attempt ${attempt} of ${activityType} (workflow ${workflowExecution.workflowId}) reached this worker after Temporal had ${pending ? `moved on to attempt ${pending.attempt ?? '?'}` : 'closed the step'}: not run`,
        });
      }
    }
    return next(input);
  }
}

/** For `Worker.create({ interceptors: { activity: [currentAttemptOnly(client), ...] } })`, first. */
export function currentAttemptOnly(client: Client): ActivityInterceptorsFactory {
  return (context) => ({ inbound: new CurrentAttemptOnly(context, client) });
}
