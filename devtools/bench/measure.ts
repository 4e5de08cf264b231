/** What the benchmark's scenarios share: the report of one scenario, statistics, timing, where a workflow's time went. */
import type { Client } from '@temporalio/client';

export interface ScenarioReport {
  scenario: string;
  figures: { contender: string; median: number; min: number; max: number; unit: string }[];
  ratios: { of: string; to: string; median: number; min: number; max: number }[];
  goal: string;
  met: boolean | null;
  note: string;
  /** The set of scenarios it belongs to (`--only`); stored results without one are of the backups set. */
  set?: string;
}

export const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
};
export const stats = (values: number[]) => ({ median: median(values), min: Math.min(...values), max: Math.max(...values) });
export const pairwise = (a: number[], b: number[]) => stats(a.map((value, index) => value / (b[index] as number)));
export const round = (value: number, digits = 3) => Number(value.toFixed(digits));

export async function timed<T>(work: () => Promise<T>): Promise<{ seconds: number; value: T }> {
  const started = process.hrtime.bigint();
  const value = await work();
  return { seconds: Number(process.hrtime.bigint() - started) / 1e9, value };
}

/** Seconds each activity type took in a workflow, from its history: where the time went. */
export async function activityProfile(client: Client, workflowId: string): Promise<Record<string, number>> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const scheduled = new Map<string, { type: string; at: number }>();
  const totals: Record<string, number> = {};
  for (const event of history.events ?? []) {
    const at = Number(event.eventTime?.seconds ?? 0) + (event.eventTime?.nanos ?? 0) / 1e9;
    const attributes = event.activityTaskScheduledEventAttributes;
    if (attributes) scheduled.set(String(event.eventId), { type: attributes.activityType?.name ?? '?', at });
    const completed = event.activityTaskCompletedEventAttributes;
    const start = completed ? scheduled.get(String(completed.scheduledEventId)) : undefined;
    if (start) totals[start.type] = (totals[start.type] ?? 0) + at - start.at;
  }
  return totals;
}

/** Where a workflow's wall time went, from its history: one line per kind of wait, in seconds. */
export interface Timeline {
  wallSeconds: number;
  workflowTasks: { count: number; queuedSeconds: number; runningSeconds: number };
  /** Each step, with when it was scheduled, started and ended, in seconds from the workflow's start. */
  activities: { type: string; queuedSeconds: number; runningSeconds: number; scheduledAt: number; startedAt: number; endedAt: number }[];
  children: { type: string; seconds: number }[];
  /** From the workflow task that asked for something to the signal that answered (the cluster lock's grant). */
  signals: { name: string; waitedSeconds: number }[];
  eventCount: number;
}

const eventSeconds = (event: { eventTime?: { seconds?: unknown; nanos?: number | null } | null }) => Number(event.eventTime?.seconds ?? 0) + (event.eventTime?.nanos ?? 0) / 1e9;

export async function workflowTimeline(client: Client, workflowId: string, runId?: string): Promise<Timeline> {
  const events = (await client.workflow.getHandle(workflowId, runId).fetchHistory()).events ?? [];
  const at = new Map<string, number>(events.map((event) => [String(event.eventId), eventSeconds(event)]));
  const timeline: Timeline = { wallSeconds: 0, workflowTasks: { count: 0, queuedSeconds: 0, runningSeconds: 0 }, activities: [], children: [], signals: [], eventCount: events.length };
  const activityTypes = new Map<string, string>();
  const activityStarted = new Map<string, number>();
  const childTypes = new Map<string, { type: string; at: number }>();
  let lastTaskCompleted: number | undefined;
  for (const event of events) {
    const time = eventSeconds(event);
    if (event.workflowTaskStartedEventAttributes) {
      timeline.workflowTasks.count++;
      timeline.workflowTasks.queuedSeconds += time - (at.get(String(event.workflowTaskStartedEventAttributes.scheduledEventId)) ?? time);
    }
    if (event.workflowTaskCompletedEventAttributes) {
      timeline.workflowTasks.runningSeconds += time - (at.get(String(event.workflowTaskCompletedEventAttributes.startedEventId)) ?? time);
      lastTaskCompleted = time;
    }
    if (event.activityTaskScheduledEventAttributes) activityTypes.set(String(event.eventId), event.activityTaskScheduledEventAttributes.activityType?.name ?? '?');
    if (event.activityTaskStartedEventAttributes) activityStarted.set(String(event.activityTaskStartedEventAttributes.scheduledEventId), time);
    const ended = event.activityTaskCompletedEventAttributes ?? event.activityTaskFailedEventAttributes ?? event.activityTaskTimedOutEventAttributes ?? event.activityTaskCanceledEventAttributes;
    if (ended?.scheduledEventId !== undefined && ended.scheduledEventId !== null) {
      const scheduledId = String(ended.scheduledEventId);
      const scheduledAt = at.get(scheduledId) ?? time;
      const startedAt = activityStarted.get(scheduledId) ?? scheduledAt;
      const origin = eventSeconds(events[0] ?? {});
      timeline.activities.push({ type: activityTypes.get(scheduledId) ?? '?', queuedSeconds: startedAt - scheduledAt, runningSeconds: time - startedAt, scheduledAt: scheduledAt - origin, startedAt: startedAt - origin, endedAt: time - origin });
    }
    const child = event.startChildWorkflowExecutionInitiatedEventAttributes;
    if (child) childTypes.set(String(event.eventId), { type: child.workflowType?.name ?? '?', at: time });
    const childEnded = event.childWorkflowExecutionCompletedEventAttributes ?? event.childWorkflowExecutionFailedEventAttributes;
    if (childEnded?.initiatedEventId !== undefined && childEnded.initiatedEventId !== null) {
      const started = childTypes.get(String(childEnded.initiatedEventId));
      if (started) timeline.children.push({ type: started.type, seconds: time - started.at });
    }
    if (event.workflowExecutionSignaledEventAttributes) timeline.signals.push({ name: event.workflowExecutionSignaledEventAttributes.signalName ?? '?', waitedSeconds: time - (lastTaskCompleted ?? time) });
  }
  const first = events[0];
  const last = events.at(-1);
  timeline.wallSeconds = first && last ? eventSeconds(last) - eventSeconds(first) : 0;
  return timeline;
}

/** A timeline as one line for a report's note. */
export function describeTimeline(timeline: Timeline): string {
  const s = (seconds: number) => seconds.toFixed(2);
  const activities = timeline.activities.map((activity) => `${activity.type} ${s(activity.runningSeconds)}${activity.queuedSeconds >= 0.005 ? ` (+${s(activity.queuedSeconds)} queued)` : ''}`).join(', ');
  const children = timeline.children.map((child) => `child ${child.type} ${s(child.seconds)}`).join(', ');
  const signals = timeline.signals.map((signal) => `signal ${signal.name} after ${s(signal.waitedSeconds)}`).join(', ');
  return [
    `${s(timeline.wallSeconds)} s in ${timeline.eventCount} events`,
    `${timeline.workflowTasks.count} workflow tasks (${s(timeline.workflowTasks.queuedSeconds)} queued, ${s(timeline.workflowTasks.runningSeconds)} running)`,
    activities,
    children,
    signals,
  ]
    .filter((part) => part !== '')
    .join('; ');
}

/** Each step as `type start–end` in seconds from the workflow's start, in the order they started: where the steps overlap, and the gaps between them. */
export function describeSpans(timeline: Timeline): string {
  return [...timeline.activities]
    .sort((a, b) => a.startedAt - b.startedAt)
    .map((activity) => `${activity.type} ${activity.startedAt.toFixed(2)}–${activity.endedAt.toFixed(2)}`)
    .join(', ');
}
