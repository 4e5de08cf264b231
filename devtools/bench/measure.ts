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
