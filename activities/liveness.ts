/**
 * Liveness heartbeats. Every activity heartbeats at least every few seconds while it runs, whether
 * or not it has progress to report, so that a worker that died or lost its network is noticed within
 * a heartbeat time-out of its step (seconds), never only at the step's start-to-close time-out
 * (minutes): the step is retried elsewhere and the cluster's lock is not held meanwhile. Activities
 * report progress with `heartbeat(details)` here; the worker's interceptor repeats the last details
 * when an activity has been quiet.
 */
import { Context } from '@temporalio/activity';
import type { ActivityExecuteInput, ActivityInboundCallsInterceptor, ActivityInterceptorsFactory, Next } from '@temporalio/worker';
import { endHold, startHold, tickHold } from './attempt-lease.js';

/** How often a quiet activity heartbeats (the SDK throttles what reaches the server to its own interval). */
export const LIVENESS_INTERVAL_MS = 3_000;

const lastBeats = new WeakMap<Context, { details: unknown; at: number }>();

/** A step this worker is running: what a stopping worker names while it waits. */
export interface RunningStep {
  activityType: string;
  workflowId: string;
  attempt: number;
  startedAt: number;
}

const running = new Set<RunningStep>();

/** The steps this process is running now, oldest first. */
export function runningSteps(): RunningStep[] {
  return [...running];
}

/** Heartbeats the current activity with its progress; the liveness heartbeats repeat these details. */
export function heartbeat(details: unknown): void {
  const context = Context.current();
  lastBeats.set(context, { details, at: Date.now() });
  context.heartbeat(details);
}

class LivenessInterceptor implements ActivityInboundCallsInterceptor {
  constructor(private readonly context: Context) {}

  async execute(input: ActivityExecuteInput, next: Next<ActivityInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    startHold(this.context);
    const timer = setInterval(() => {
      tickHold(this.context);
      const last = lastBeats.get(this.context);
      if (last && Date.now() - last.at < LIVENESS_INTERVAL_MS) return;
      this.context.heartbeat(last?.details);
    }, LIVENESS_INTERVAL_MS);
    const { activityType, workflowExecution, attempt } = this.context.info;
    const step: RunningStep = { activityType, workflowId: workflowExecution?.workflowId ?? '', attempt, startedAt: Date.now() };
    running.add(step);
    try {
      return await next(input);
    } finally {
      clearInterval(timer);
      endHold(this.context);
      running.delete(step);
    }
  }
}

/** For `Worker.create({ interceptors: { activity: [livenessHeartbeats] } })`. */
export const livenessHeartbeats: ActivityInterceptorsFactory = (context) => ({ inbound: new LivenessInterceptor(context) });
