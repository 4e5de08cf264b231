/**
 * Follows a running workflow for a person, on stderr: first the workflow id, then a live line with
 * the phase (the workflow's `progress` query), the bytes its running activities have heartbeated
 * against their total where one is known (percentage, rate, time left), and, while an activity is
 * being retried, its attempt and last error. On a terminal the line is redrawn in its width;
 * otherwise a whole line is written when something changes and every 30 s. Ctrl-C stops following, never
 * the work: it says how to watch or cancel it and exits with `ExitCode.interrupted`.
 */
import type { Workflow, WorkflowHandle, WorkflowResultType } from '@temporalio/client';
import { progressLine, type FollowState } from '../domain/units.js';
import { progressQuery } from '../domain/workflow-contract.js';
import { ExitCode } from './cli-context.js';
import { heartbeatDetails, lastFailureMessage, untakenFirstAttempt } from '../activities/pending-activity.js';

interface Heartbeat {
  phase?: string;
  bytesDone?: number;
  bytesTotal?: number;
  readBytes?: number;
}

/** A step scheduled this long and not taken by any worker is shown as waiting for one. */
const WAITING_NOTICE_MS = 10_000;


/** What the work is doing now, and when its workflow started (the elapsed time counts from there, also for work joined midway). */
export async function snapshot(handle: WorkflowHandle<Workflow>): Promise<FollowState & { startedAt: number }> {
  const [progress, description] = await Promise.all([handle.query(progressQuery).catch(() => undefined), handle.describe()]);
  const now = Date.now();
  let bytes: number | undefined;
  let total: number | undefined;
  let retry: FollowState['retry'];
  let waiting: FollowState['waiting'];
  // No worker has taken the workflow itself: none serves the shared queue (or none has its code).
  const workflowTask = description.raw.pendingWorkflowTask;
  const workflowTaskScheduledMs = Number(workflowTask?.originalScheduledTime?.seconds ?? 0) * 1000;
  if (Number(workflowTask?.state) === 1 /* PENDING_WORKFLOW_TASK_STATE_SCHEDULED */ && workflowTaskScheduledMs > 0 && now - workflowTaskScheduledMs >= WAITING_NOTICE_MS) {
    waiting = { queue: description.taskQueue, seconds: Math.round((now - workflowTaskScheduledMs) / 1000) };
  }
  for (const activity of description.raw.pendingActivities ?? []) {
    // Scheduled for a while and never started: no worker serves its queue (a host worker that is down).
    const scheduledMs = Number(activity.scheduledTime?.seconds ?? 0) * 1000;
    if (untakenFirstAttempt(activity) && scheduledMs > 0 && now - scheduledMs >= WAITING_NOTICE_MS) {
      waiting = { activity: activity.activityType?.name ?? 'a step', seconds: Math.round((now - scheduledMs) / 1000) };
    }
    const details = ((await heartbeatDetails(handle.client, activity)) ?? {}) as Heartbeat;
    // A backup counts its total in datadir bytes read, not in the (compressed) bytes it stored.
    const done = typeof details.readBytes === 'number' ? details.readBytes : details.bytesDone;
    if (typeof done === 'number') bytes = (bytes ?? 0) + done;
    if (typeof details.bytesTotal === 'number') total = (total ?? 0) + details.bytesTotal;
    const attempt = activity.attempt ?? 1;
    if (attempt > 1 && attempt > (retry?.attempt ?? 1)) {
      const lastError = await lastFailureMessage(handle.client, activity);
      retry = { activity: activity.activityType?.name ?? 'a step', attempt, ...(lastError ? { lastError } : {}) };
    }
  }
  return {
    phase: progress?.phase ?? 'starting',
    startedAt: description.startTime.getTime(),
    ...(bytes !== undefined ? { bytes } : {}),
    ...(total !== undefined && total > 0 ? { total } : {}),
    ...(retry ? { retry } : {}),
    ...(waiting ? { waiting } : {}),
  };
}

/** Waits for the result while showing progress on stderr (nothing but the workflow id when `quiet`). */
export async function follow<W extends Workflow>(handle: WorkflowHandle<W>, quiet: boolean): Promise<WorkflowResultType<W>> {
  process.stderr.write(`workflow ${handle.workflowId}\n`);
  const result = handle.result();
  // Ctrl-C stops the follower only: the work is Temporal's, and goes on.
  const detach = () => {
    if (process.stderr.isTTY) process.stderr.write('\r\x1b[2K');
    process.stderr.write(
      `\nstopped following; the work goes on as workflow ${handle.workflowId}\n  watch it:  chainbackup watch ${handle.workflowId}\n  cancel it: chainbackup cancel ${handle.workflowId}\n`,
    );
    process.exit(ExitCode.interrupted);
  };
  process.once('SIGINT', detach);
  try {
    if (quiet) return await result;
    return await show(handle, result);
  } finally {
    process.removeListener('SIGINT', detach);
  }
}

async function show<W extends Workflow>(handle: WorkflowHandle<W>, result: Promise<WorkflowResultType<W>>): Promise<WorkflowResultType<W>> {
  const tty = process.stderr.isTTY;
  let settled = false;
  void result.finally(() => (settled = true)).catch(() => undefined);
  let lastPrinted = { text: '', at: 0 };
  // The rate is measured between two looks: work joined midway (`watch`) has done its bytes before the first.
  let last: { at: number; bytes: number } | undefined;
  // The first look is immediate: a person sees what the work is doing at once, not after a second.
  for (let first = true; !settled; first = false) {
    if (!first) await Promise.race([result.catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 1000))]);
    if (settled) break;
    const now = Date.now();
    const state = await snapshot(handle).catch(() => undefined);
    if (!state) continue;
    const rate = state.bytes !== undefined && last && now > last.at ? ((state.bytes - last.bytes) * 1000) / (now - last.at) : undefined;
    if (state.bytes !== undefined) last = { at: now, bytes: state.bytes };
    if (tty) {
      process.stderr.write(`\r\x1b[2K${progressLine(now - state.startedAt, state, rate, (process.stderr.columns || 80) - 1)}`);
      continue;
    }
    // Without a terminal: a line when the phase or the retry changes, and every 30 s while it runs.
    const key = `${state.phase}|${state.retry?.attempt ?? ''}|${state.retry?.lastError ?? ''}|${state.waiting ? ('queue' in state.waiting ? state.waiting.queue : state.waiting.activity) : ''}`;
    if (key !== lastPrinted.text || now - lastPrinted.at >= 30_000) {
      process.stderr.write(`${progressLine(now - state.startedAt, state, rate, 10_000)}\n`);
      lastPrinted = { text: key, at: now };
    }
  }
  if (tty) process.stderr.write('\r\x1b[2K');
  else if (lastPrinted.text === '') {
    // Work that finished before the first look still says how it ended (a closed workflow answers queries too).
    const state = await snapshot(handle).catch(() => undefined);
    if (state) process.stderr.write(`${progressLine(Date.now() - state.startedAt, state, undefined, 10_000)}\n`);
  }
  return result;
}
