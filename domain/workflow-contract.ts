/**
 * How other processes talk to the workflows: the workflow type names (what `temporal workflow start
 * --type` takes), the signals and queries, the lock's messages, and the workflow ids that follow a
 * rule. Workflows, activities, the CLI, the schedules and the progress follower all take them from
 * here, so a name is written once.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { BinlogGap } from './binlog-archive.js';
import type { BackupType } from './names.js';

/** The registered workflow types; `test/unit/workflow-contract.test.ts` checks each names its function. */
export const WorkflowType = {
  backup: 'backup',
  restore: 'restore',
  deleteBackup: 'deleteBackup',
  retention: 'retention',
  pinBackup: 'pinBackup',
  adoptRecords: 'adoptRecords',
  catalog: 'catalog',
  clusterStatus: 'clusterStatus',
  checkCluster: 'checkCluster',
  keptDatadirs: 'keptDatadirs',
  clusterLock: 'clusterLock',
  binlogArchiver: 'binlogArchiver',
} as const;

/** One run of one workflow. */
export interface WorkflowRun {
  workflowId: string;
  runId: string;
}

/** A request for a cluster's lock. */
export interface LockRequest extends WorkflowRun {
  /** What the holder does, shown in the lock's details: "backup full", "restore …". */
  purpose: string;
}

export interface LockTiming {
  /** How long an idle lock stays open before it completes; a later request starts a new one. */
  idleLifetime: string;
  /** How often the lock checks that its holder is still open. */
  holderCheckInterval: string;
}

/** The lock workflow's input and its `lockState` answer; carried across continue-as-new. */
export interface LockState {
  cluster: string;
  holder: LockRequest | null;
  waiting: LockRequest[];
  /** The lock's waits; absent in production (the lock's defaults). The workflow tests shorten them. */
  timing?: LockTiming;
}

export const acquireSignal = defineSignal<[LockRequest]>('acquire');
export const releaseSignal = defineSignal<[WorkflowRun]>('release');
export const grantedSignal = defineSignal<[{ lockRunId: string }]>('lockGranted');
export const lockStateQuery = defineQuery<LockState>('lockState');

/** What a workflow is doing now: the `progress` query every cluster workflow answers. */
export interface WorkflowProgress {
  phase: string;
  /** When this phase began (workflow time). */
  since: string;
}

export const progressQuery = defineQuery<WorkflowProgress>('progress');

/** A binlog archiver's state: its `binlogArchive` query, and what it carries across continue-as-new. */
export interface BinlogArchiveState {
  cluster: string;
  /** The cluster's history being archived (0 until its first in-place restore). */
  history?: number;
  rounds: number;
  lastRoundAt?: string;
  /** Whether the archive held every transaction the server had logged when the last round ended. */
  caughtUp: boolean;
  /** The server's `gtid_binlog_pos` when the last round ended. */
  serverPosition?: string;
  newest?: { file: string; lastEventTime: string; endGtids: string };
  archivedFiles?: number;
  gaps: BinlogGap[];
  /** An in-place restore of the cluster that holds the archiver off now. */
  heldBy?: string;
  lastError?: string;
  lastErrorAt?: string;
  /** When rounds began to fail, until one succeeds again (the archive may be behind the server meanwhile). */
  failingSince?: string;
}

export const binlogArchiveQuery = defineQuery<BinlogArchiveState>('binlogArchive');
/**
 * Sent to a cluster's binlog archiver by a restore that waits for the archive to cover a second
 * (seconds since the epoch): the archiver's next round, at once, closes the server's binlog when
 * that is what the archive lacks to cover it.
 */
export const coverArchiveSignal = defineSignal<[number]>('coverArchive');

/**
 * The deployment a configuration defines: its orchestrator task queue (`temporal.taskQueue`), which
 * is also what its schedules carry as their owner. Inside a workflow it is the run's own task queue:
 * every workflow runs on the orchestrator queue (host queues carry activities only).
 */
export const DEFAULT_DEPLOYMENT = 'chainbackup';

/**
 * An id that must be unique per deployment and does not begin with a deployment's name of itself: the
 * default deployment (most operators run that one) leaves it short and readable, `backup-shop-full-scheduled`;
 * any other deployment puts its name in front.
 */
const perDeployment = (deployment: string, id: string) => (deployment === DEFAULT_DEPLOYMENT ? id : `${deployment}-${id}`);

/**
 * Workflow ids, schedule ids and the default host task queue: they say the cluster and the kind of
 * work, so the Web UI's list reads as a log. Every id of which one may exist at a time (the lock, the
 * archiver, the schedules and their runs, the work a backup starts of itself, a deletion) names the
 * deployment too, so two deployments that share a namespace and name a cluster alike never share
 * one (issue 38); the default deployment `chainbackup` leaves its name out of the ids that would not
 * begin with it otherwise (`perDeployment`). `stamp` is `formatTimestamp` of the moment the work was
 * asked for (milliseconds): the stamped ids keep their form, because they are not singletons; two deployments collide only when the same-named cluster's
 * work of the same kind is asked for in the same millisecond, and then Temporal refuses the second
 * start (a retry gets a new stamp) instead of mixing the two.
 */
export const WorkflowId = {
  /** The one workflow that serializes all work on one cluster (backups, restores, deletions). */
  clusterLock: (deployment: string, cluster: string) => `${deployment}-lock-${cluster}`,
  /** The one archiver of a cluster's binary log. */
  binlogArchiver: (deployment: string, cluster: string) => `${deployment}-binlogs-${cluster}`,
  /** The task queue of a cluster's host worker when the cluster names none (`clusters[].taskQueue`). */
  hostTaskQueue: (deployment: string, cluster: string) => `${deployment}-host-${cluster}`,
  /** What every schedule id of a deployment begins with (`schedule apply` manages those that carry its owner memo). */
  schedulePrefix: (deployment: string) => `${deployment}-schedule-`,
  /** A cluster's schedule of one backup type. */
  schedule: (deployment: string, cluster: string, type: BackupType) => `${deployment}-schedule-${cluster}-${type}`,
  /** A schedule's runs; Temporal appends the scheduled time. */
  scheduledBackup: (deployment: string, cluster: string, type: BackupType) => perDeployment(deployment, `backup-${cluster}-${type}-scheduled`),
  /** The verification a backup starts of itself once committed (`verification.afterBackup`). */
  verifyAfter: (deployment: string, cluster: string, backup: string) => perDeployment(deployment, `verify-${cluster}-after-${backup}`),
  /** One deletion per backup at a time: a second request for the same backup is refused by Temporal. */
  deleteBackup: (deployment: string, cluster: string, backup: string) => perDeployment(deployment, `delete-${cluster}-${backup}`),
  backup: (cluster: string, type: BackupType, stamp: string) => `backup-${cluster}-${type}-${stamp}`,
  restore: (cluster: string, stamp: string) => `restore-${cluster}-${stamp}`,
  verify: (cluster: string, backup: string, stamp: string) => `verify-${cluster}-${backup}-${stamp}`,
  /** A deletion planned only (`--dry-run`, or before the confirmation): as many as asked. */
  deletionPlan: (cluster: string, backup: string, stamp: string) => `delete-${cluster}-${backup}-plan-${stamp}`,
  retention: (cluster: string, stamp: string) => `retention-${cluster}-${stamp}`,
  pin: (cluster: string, backup: string, stamp: string) => `pin-${cluster}-${backup}-${stamp}`,
  adopt: (cluster: string, stamp: string) => `adopt-${cluster}-${stamp}`,
  catalog: (cluster: string, stamp: string) => `catalog-${cluster}-${stamp}`,
  check: (cluster: string, stamp: string) => `check-${cluster}-${stamp}`,
  status: (cluster: string, stamp: string) => `status-${cluster}-${stamp}`,
  keptDatadirs: (cluster: string, stamp: string) => `kept-datadirs-${cluster}-${stamp}`,
} as const;
