/**
 * The weekly cadence as Temporal Schedules, derived from the configuration alone (the Aiven
 * contract): incremental backups on → full backups on the listed days and increments on every other
 * day; off → a full backup every day. `apply` makes the server's schedules match this list.
 */
import type { ClusterConfig, Config } from './config.js';
import type { BackupType } from './names.js';
import type { BackupRequestInput } from './requests.js';
import { parseWeekSchedule, WEEKDAYS, type Weekday } from './week.js';
import { WorkflowId } from './workflow-contract.js';

/** Everything that defines one schedule; two equal values mean nothing to update. */
export interface DesiredSchedule {
  id: string;
  cluster: string;
  type: BackupType;
  days: Weekday[];
  hour: number;
  minute: number;
  timezone: string;
  catchupWindow: string;
  /** Runs start up to this long after the set time; absent: on the minute. */
  jitter?: string;
  taskQueue: string;
  request: BackupRequestInput;
}

/** `taskQueue`: the deployment's (`temporal.taskQueue`), which runs the schedule's backups and names its ids. */
function clusterSchedules(cluster: ClusterConfig, taskQueue: string): DesiredSchedule[] {
  if (!cluster.schedule.enabled) return [];
  const [hour, minute] = cluster.schedule.time.split(':').map(Number) as [number, number];
  const { timezone, catchupWindow, jitter } = cluster.schedule;
  const common = { cluster: cluster.name, hour, minute, timezone, catchupWindow, ...(jitter !== undefined ? { jitter } : {}), taskQueue };
  const week = cluster.incremental.enabled && cluster.incremental.fullBackupWeekSchedule !== undefined ? parseWeekSchedule(cluster.incremental.fullBackupWeekSchedule) : undefined;
  const fullDays = week?.ok ? week.days : [...WEEKDAYS];
  const incrementalDays = WEEKDAYS.filter((day) => !fullDays.includes(day));
  const schedules: DesiredSchedule[] = [{ ...common, id: WorkflowId.schedule(taskQueue, cluster.name, 'full'), type: 'full', days: fullDays, request: { cluster: cluster.name, type: 'full' } }];
  if (incrementalDays.length > 0) {
    schedules.push({ ...common, id: WorkflowId.schedule(taskQueue, cluster.name, 'incremental'), type: 'incremental', days: incrementalDays, request: { cluster: cluster.name, type: 'incremental', newChainWhenNeeded: true } });
  }
  return schedules;
}

export function desiredSchedules(config: Config): DesiredSchedule[] {
  return config.clusters.flatMap((cluster) => clusterSchedules(cluster, config.temporal.taskQueue));
}

/** A stable text of a schedule's definition, stored with the schedule to tell whether it changed. */
export function scheduleFingerprint(schedule: DesiredSchedule): string {
  const { id, cluster, type, days, hour, minute, timezone, catchupWindow, jitter, taskQueue, request } = schedule;
  // Without jitter the text is what it was before jitter existed, so an upgrade updates no schedule.
  return JSON.stringify({ id, cluster, type, days, hour, minute, timezone, catchupWindow, ...(jitter !== undefined ? { jitter } : {}), taskQueue, request });
}

/** "mon,wed,fri at 01:00 Europe/Berlin" */
export function describeCadence(schedule: Pick<DesiredSchedule, 'days' | 'hour' | 'minute' | 'timezone'>): string {
  const days = schedule.days.length === 7 ? 'every day' : schedule.days.join(',');
  return `${days} at ${String(schedule.hour).padStart(2, '0')}:${String(schedule.minute).padStart(2, '0')} ${schedule.timezone}`;
}

/** What `schedule apply` changed, by schedule id. */
export interface ApplyReport {
  created: string[];
  updated: string[];
  deleted: string[];
  unchanged: string[];
}

/** One schedule as the server has it now, for `schedule describe`. */
export interface ClusterScheduleView {
  id: string;
  type: BackupType;
  cadence: string;
  /** The cluster's time zone, which the calendar is in. */
  timezone: string;
  paused: boolean;
  /** Runs start up to this many seconds after the set time. */
  jitterSeconds: number;
  note: string;
  /** The next runs (UTC); none while paused. */
  nextRuns: string[];
  recentRuns: { scheduledAt: string; workflowId: string }[];
}
