/**
 * Temporal Schedules for the weekly cadence: `apply` creates, updates and deletes this deployment's
 * schedules so they match the configuration, and reports what it changed; the other operations
 * pause, resume, trigger and describe a cluster's schedules.
 */
import { ScheduleNotFoundError, ScheduleOverlapPolicy, WorkflowExecutionAlreadyStartedError, type Client, type DayOfWeek, type ScheduleDescription, type ScheduleOptions } from '@temporalio/client';
import pMap from 'p-map';
import type { Config } from '../domain/config.js';
import { describeCadence, desiredSchedules, scheduleFingerprint, type ApplyReport, type ClusterScheduleView, type DesiredSchedule } from '../domain/schedules.js';
import { BackupClusterKey, BackupTypeKey } from '../domain/search-attributes.js';
import type { Weekday } from '../domain/week.js';
import { WorkflowId, WorkflowType } from '../domain/workflow-contract.js';
import { backup, binlogArchiver } from '../workflows/index.js';

export type { ApplyReport, ClusterScheduleView };

/** Memo keys: which deployment (shared task queue) owns a schedule, and what it was last set to. */
const OWNER_MEMO = 'chainbackupTaskQueue';
const FINGERPRINT_MEMO = 'chainbackupSchedule';
/** The cadence in words, on each run (the schedule's own memo cannot change after it is created; its note and calendar comment follow). */
const CADENCE_MEMO = 'chainbackupCadence';

/** Schedules created, updated or deleted at once by `apply`: a fleet's configuration applies in seconds, not minutes. */
const APPLY_CONCURRENCY = 8;

const DAY_NAMES: Record<Weekday, DayOfWeek> = { sun: 'SUNDAY', mon: 'MONDAY', tue: 'TUESDAY', wed: 'WEDNESDAY', thu: 'THURSDAY', fri: 'FRIDAY', sat: 'SATURDAY' };

export function changed(report: ApplyReport): boolean {
  return report.created.length + report.updated.length + report.deleted.length > 0;
}

function scheduleOptions(schedule: DesiredSchedule): Omit<ScheduleOptions, 'scheduleId' | 'memo' | 'state'> {
  const cadence = describeCadence(schedule);
  return {
    spec: {
      calendars: [{ dayOfWeek: schedule.days.map((day) => DAY_NAMES[day]), hour: schedule.hour, minute: schedule.minute, comment: `${schedule.type} backups, ${cadence}` }],
      timezone: schedule.timezone,
      ...(schedule.jitter !== undefined ? { jitter: schedule.jitter } : {}),
    },
    action: {
      type: 'startWorkflow',
      workflowType: backup,
      taskQueue: schedule.taskQueue,
      // Temporal appends the scheduled time, so every run's id says cluster, kind and when.
      workflowId: WorkflowId.scheduledBackup(schedule.taskQueue, schedule.cluster, schedule.type),
      args: [schedule.request],
      typedSearchAttributes: [
        { key: BackupClusterKey, value: schedule.cluster },
        { key: BackupTypeKey, value: schedule.type },
      ],
      staticSummary: `Scheduled ${schedule.type} backup of ${schedule.cluster} (${cadence})`,
      memo: { [FINGERPRINT_MEMO]: scheduleFingerprint(schedule), [CADENCE_MEMO]: `${schedule.type} backups, ${cadence}` },
    },
    // A backup still running when the next one is due is not doubled; the cluster lock serializes the rest.
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: schedule.catchupWindow },
  };
}

/** This deployment's schedules on the server, by id: those under its ids that carry its owner memo. */
async function ownSchedules(client: Client, config: Config): Promise<Set<string>> {
  const deployment = config.temporal.taskQueue;
  const prefix = WorkflowId.schedulePrefix(deployment);
  const ids = new Set<string>();
  for await (const summary of client.schedule.list()) {
    if (summary.scheduleId.startsWith(prefix) && summary.memo?.[OWNER_MEMO] === deployment) ids.add(summary.scheduleId);
  }
  return ids;
}

async function describeOrUndefined(client: Client, id: string): Promise<ScheduleDescription | undefined> {
  try {
    return await client.schedule.getHandle(id).describe();
  } catch (error) {
    if (error instanceof ScheduleNotFoundError) return undefined;
    throw error;
  }
}

/**
 * Makes the server's schedules match the configuration. Idempotent: a second run reports every
 * schedule unchanged. A paused schedule stays paused when its definition is updated.
 */
export async function applySchedules(client: Client, config: Config): Promise<ApplyReport> {
  const report: ApplyReport = { created: [], updated: [], deleted: [], unchanged: [] };
  const desired = desiredSchedules(config);
  const existing = await ownSchedules(client, config);
  const outcomes = await pMap(desired, async (schedule): Promise<keyof ApplyReport> => {
    const options = scheduleOptions(schedule);
    // The list is eventually consistent: describe before deciding between create and update.
    const current = await describeOrUndefined(client, schedule.id);
    if (!current) {
      await client.schedule.create({ scheduleId: schedule.id, ...options, memo: { [OWNER_MEMO]: config.temporal.taskQueue }, state: { note: `created by chainbackup: ${describeCadence(schedule)}` } });
      return 'created';
    }
    if (current.action.type !== 'startWorkflow' || current.action.memo?.[FINGERPRINT_MEMO] !== scheduleFingerprint(schedule)) {
      // A paused schedule keeps the operator's note (why it is paused); any other says the new cadence.
      await client.schedule.getHandle(schedule.id).update((previous) => ({ ...previous, ...options, state: previous.state.paused ? previous.state : { ...previous.state, note: `updated by chainbackup: ${describeCadence(schedule)}` } }));
      return 'updated';
    }
    return 'unchanged';
  }, { concurrency: APPLY_CONCURRENCY });
  desired.forEach((schedule, index) => report[outcomes[index] as keyof ApplyReport].push(schedule.id));
  const wanted = new Set(desired.map((schedule) => schedule.id));
  const unwanted = [...existing].filter((id) => !wanted.has(id));
  await pMap(unwanted, (id) => client.schedule.getHandle(id).delete(), { concurrency: APPLY_CONCURRENCY });
  report.deleted.push(...unwanted);
  await applyArchivers(client, config, report);
  return report;
}

/**
 * Makes the running binlog archivers match the configuration: one for each cluster with
 * `binlogs.archive: true`, started when missing; this deployment's archivers of other clusters
 * (archiving switched off, or the cluster removed) are cancelled. Reported beside the schedules.
 */
async function applyArchivers(client: Client, config: Config, report: ApplyReport): Promise<void> {
  const deployment = config.temporal.taskQueue;
  const running = new Set<string>();
  const query = `WorkflowType = "${WorkflowType.binlogArchiver}" AND ExecutionStatus = "Running" AND TaskQueue = "${deployment}"`;
  for await (const execution of client.workflow.list({ query })) running.add(execution.workflowId);
  const wanted = config.clusters.filter((cluster) => cluster.binlogs.archive);
  for (const cluster of wanted) {
    const id = WorkflowId.binlogArchiver(deployment, cluster.name);
    // The list is eventually consistent: a start that finds the archiver running reports it unchanged.
    const started = await client.workflow
      .start(binlogArchiver, {
        taskQueue: config.temporal.taskQueue,
        workflowId: id,
        args: [{ cluster: cluster.name }],
        workflowIdConflictPolicy: 'FAIL',
        staticSummary: `Archives the binary log of ${cluster.name} every ${cluster.binlogs.interval}`,
      })
      .then(
        () => true,
        (error: unknown) => {
          if (error instanceof WorkflowExecutionAlreadyStartedError) return false;
          throw error;
        },
      );
    report[started ? 'created' : 'unchanged'].push(id);
    running.delete(id);
  }
  for (const id of running) {
    await client.workflow.getHandle(id).cancel();
    report.deleted.push(id);
  }
}

/** The schedules of one cluster of the deployment `deployment` as the server has them now. */
export async function describeClusterSchedules(client: Client, deployment: string, cluster: string): Promise<ClusterScheduleView[]> {
  const views: ClusterScheduleView[] = [];
  for (const type of ['full', 'incremental'] as const) {
    const id = WorkflowId.schedule(deployment, cluster, type);
    const description = await describeOrUndefined(client, id);
    if (!description) continue;
    const calendar = description.spec.calendars?.[0];
    const days = (calendar?.dayOfWeek ?? []).flatMap((range) => {
      const all = Object.values(DAY_NAMES);
      const from = all.indexOf(range.start);
      const to = all.indexOf(range.end);
      return all.slice(from, to + 1).filter((_, index) => index % (range.step || 1) === 0);
    });
    const weekdays = (Object.keys(DAY_NAMES) as Weekday[]).filter((day) => days.includes(DAY_NAMES[day]));
    const timezone = description.spec.timezone ?? 'UTC';
    views.push({
      id,
      type,
      cadence: describeCadence({ days: weekdays, hour: calendar?.hour[0]?.start ?? 0, minute: calendar?.minute[0]?.start ?? 0, timezone }),
      timezone,
      paused: description.state.paused,
      jitterSeconds: (description.spec.jitter ?? 0) / 1000,
      note: description.state.note ?? '',
      // The server lists the times a paused schedule would run; it runs none of them.
      nextRuns: description.state.paused ? [] : description.info.nextActionTimes.slice(0, 3).map((time) => time.toISOString()),
      recentRuns: description.info.recentActions.slice(-5).map((action) => ({ scheduledAt: action.scheduledAt.toISOString(), workflowId: action.action.workflow.workflowId })),
    });
  }
  return views;
}

/** The ids of a cluster's schedules of the deployment `deployment` that exist on the server (described, not listed: listing lags). */
export async function clusterScheduleIds(client: Client, deployment: string, cluster: string): Promise<string[]> {
  const ids: string[] = [];
  for (const type of ['full', 'incremental'] as const) {
    const id = WorkflowId.schedule(deployment, cluster, type);
    if (await describeOrUndefined(client, id)) ids.push(id);
  }
  return ids;
}

export async function pauseSchedules(client: Client, ids: string[], note: string): Promise<void> {
  for (const id of ids) await client.schedule.getHandle(id).pause(note);
}

export async function resumeSchedules(client: Client, ids: string[], note: string): Promise<void> {
  for (const id of ids) await client.schedule.getHandle(id).unpause(note);
}

/** Runs a schedule's action now, as if it were due. */
export async function triggerSchedule(client: Client, id: string): Promise<void> {
  await client.schedule.getHandle(id).trigger(ScheduleOverlapPolicy.ALLOW_ALL);
}
