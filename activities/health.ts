/**
 * Gathers a cluster's health (domain/health.ts) from what its storage holds and from Temporal:
 * failed and running workflows by search attribute, the schedules, and the binlog archiver's state.
 * Workflows whose worker does not answer a query within a few seconds leave that fact unknown
 * instead of hanging the check. The `clusterHealth` activity (for `chainbackup status`) and the
 * worker's metrics endpoint both read it here.
 */
import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { describeCatalog, type BackupListing, type ClusterCatalog } from '../domain/catalog.js';
import { durationMs, storageLabel } from '../domain/config.js';
import { heartbeatDetails, lastFailureMessage } from './pending-activity.js';
import type { ProgressDetails } from './streams.js';
import { businessFailureIn, FailureType } from '../domain/failures.js';
import { brokenRules, healthWarnings, type ClusterHealth, type ClusterStatus } from '../domain/health.js';
import { queryValue, WORK_BACKUP_TYPES } from '../domain/search-attributes.js';
import { binlogArchiveQuery, DEFAULT_DEPLOYMENT, progressQuery, WorkflowId } from '../domain/workflow-contract.js';
import { summarizeArchive } from './binlogs/summary.js';
import { readCatalogAndLedger } from './catalog.js';
import { ledgerAgainstTemporal } from './ledger.js';
import { VANISHED_BINLOGS } from '../domain/binlog-archive.js';
import type { ActivityDeps } from './deps.js';
import { readKeptDatadirs } from './kept-datadirs.js';


/** How long a query to a running workflow may take before its answer is left out. */
const QUERY_TIMEOUT_MS = 5_000;


async function within<T>(promise: Promise<T>): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), QUERY_TIMEOUT_MS);
  });
  try {
    return await Promise.race([promise.catch(() => undefined), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const quoted = queryValue;

/** How old a streaming step's last heartbeat may be before its report no longer tells the stream's state. */
const STALE_REPORT_MS = 30_000;

/** `options.deployment`: the `temporal.taskQueue` whose schedules and archiver are looked at (default: the default deployment). */
export async function gatherHealth(client: Client, listing: ClusterCatalog, now = Date.now(), options: { rpo?: string; deployment?: string } = {}): Promise<ClusterHealth> {
  const deployment = options.deployment ?? DEFAULT_DEPLOYMENT;
  const cluster = listing.cluster;
  const committed: BackupListing[] = listing.chains.flatMap((chain) => [chain.base, ...chain.increments]);
  const byFinish = (a: BackupListing, b: BackupListing) => (a.finishedAt ?? '').localeCompare(b.finishedAt ?? '');
  const age = (iso: string) => Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  const newest = [...committed].sort(byFinish).at(-1);
  const verified = committed.filter((backup) => backup.verification?.result === 'passed').sort(byFinish).at(-1);
  const lastVerified = committed
    .flatMap((backup) => (backup.verification ? [{ name: backup.name, verification: backup.verification }] : []))
    .sort((a, b) => a.verification.verifiedAt.localeCompare(b.verification.verifiedAt))
    .at(-1);
  const newestChain = [...listing.chains].sort((a, b) => byFinish(a.base, b.base)).at(-1);

  const failuresQuery = [
    `BackupCluster = ${quoted(cluster)}`,
    `BackupType IN ("full", "incremental")`,
    `ExecutionStatus IN ("Failed", "TimedOut")`,
    ...(newest?.finishedAt ? [`CloseTime > ${quoted(newest.finishedAt)}`] : []),
  ].join(' AND ');
  const failuresSinceBackup: ClusterHealth['failuresSinceBackup'] = [];
  for await (const execution of client.workflow.list({ query: failuresQuery })) {
    const type = execution.typedSearchAttributes.getAll().find((pair) => pair.key.name === 'BackupType')?.value;
    failuresSinceBackup.push({ workflowId: execution.workflowId, type: typeof type === 'string' ? type : execution.type, closedAt: execution.closeTime?.toISOString() ?? '' });
  }

  const running: ClusterHealth['running'] = [];
  const runningQuery = `BackupCluster = ${quoted(cluster)} AND ExecutionStatus = "Running" AND BackupType IN (${WORK_BACKUP_TYPES.map(quoted).join(', ')})`;
  for await (const execution of client.workflow.list({ query: runningQuery })) {
    const type = execution.typedSearchAttributes.getAll().find((pair) => pair.key.name === 'BackupType')?.value;
    const progress = await within(client.workflow.getHandle(execution.workflowId, execution.runId).query(progressQuery));
    running.push({ workflowId: execution.workflowId, type: typeof type === 'string' ? type : execution.type, ...(progress ? { phase: progress.phase } : {}) });
  }

  const schedules: ClusterHealth['schedules'] = [];
  for (const type of ['full', 'incremental'] as const) {
    const id = WorkflowId.schedule(deployment, cluster, type);
    const description = await client.schedule
      .getHandle(id)
      .describe()
      .catch(() => undefined);
    if (!description) continue;
    const next = description.info.nextActionTimes[0];
    schedules.push({ id, type, paused: description.state.paused, timezone: description.spec.timezone ?? 'UTC', ...(next && !description.state.paused ? { nextRun: next.toISOString() } : {}) });
  }

  let pointInTime: ClusterHealth['pointInTime'];
  if (listing.pointInTime !== undefined) {
    const found = listing.pointInTime;
    const window = found ? { from: found.from, to: found.to, gaps: found.gaps.length, ...(found.unreachableFrom ? { unreachableFrom: found.unreachableFrom } : {}) } : null;
    const archiver = client.workflow.getHandle(WorkflowId.binlogArchiver(deployment, cluster));
    const state = await within(archiver.query(binlogArchiveQuery));
    const pending = (await within(archiver.describe()))?.raw.pendingActivities ?? [];
    // A round whose step is being retried (storage or the server down): the archive is failing now, whatever the last round said.
    const retried = pending.find((activity) => (activity.attempt ?? 1) > 1 && activity.lastFailure);
    // A streamed archive (binlogs.rpo) reports how far behind it is in its step's heartbeats, live.
    const streaming = options.rpo === undefined ? undefined : pending.find((activity) => activity.activityType?.name === 'streamBinlogs');
    const beatAt = Number(streaming?.lastHeartbeatTime?.seconds ?? 0) * 1000;
    const report = streaming && beatAt > 0 ? ((await heartbeatDetails(client, streaming)) as ProgressDetails | undefined)?.archive : undefined;
    // A report older than this is not the stream's state now (its worker stopped or lost its network).
    const fresh = report !== undefined && now - beatAt <= STALE_REPORT_MS;
    const lastError = report?.lastError ?? (retried ? await lastFailureMessage(client, retried) : undefined) ?? state?.lastError;
    // Caught up at the end of its last round: the archive lags by the time since; behind: since the newest archived event.
    const since = state?.caughtUp && !retried ? state.lastRoundAt : state?.newest?.lastEventTime;
    const lagSeconds = report ? (fresh ? report.lagSeconds : Math.max(report.lagSeconds, (now - beatAt) / 1000)) : since ? age(since) : undefined;
    const caughtUp = report ? fresh && report.caughtUp : state ? state.caughtUp && !retried : undefined;
    pointInTime = {
      window,
      ...(caughtUp !== undefined ? { caughtUp } : {}),
      ...(lagSeconds !== undefined ? { lagSeconds } : {}),
      ...(lastError ? { lastError } : {}),
      ...(retried || state?.failingSince || (report && (!fresh || report.lastError)) ? { failing: true } : {}),
      ...(options.rpo ? { rpoSeconds: durationMs(options.rpo) / 1000 } : {}),
    };
  }

  return {
    cluster,
    checkedAt: new Date(now).toISOString(),
    storage: {
      label: listing.storage,
      committedBytes: committed.reduce((sum, backup) => sum + backup.sizeBytes, 0),
      uncommittedBytes: listing.uncommitted.reduce((sum, backup) => sum + backup.sizeBytes, 0),
      chains: listing.chains.length,
    },
    newestBackup: newest?.finishedAt
      ? {
          name: newest.name,
          type: newest.type,
          finishedAt: newest.finishedAt,
          ageSeconds: age(newest.finishedAt),
          sizeBytes: newest.sizeBytes,
          ...(newest.startedAt ? { durationSeconds: (Date.parse(newest.finishedAt) - Date.parse(newest.startedAt)) / 1000 } : {}),
        }
      : null,
    lastVerification: lastVerified ? { name: lastVerified.name, verifiedAt: lastVerified.verification.verifiedAt, passed: lastVerified.verification.result === 'passed' } : null,
    newestVerified: verified?.finishedAt && verified.verification ? { name: verified.name, finishedAt: verified.finishedAt, verifiedAt: verified.verification.verifiedAt, ageSeconds: age(verified.finishedAt) } : null,
    failedVerifications: (newestChain ? [newestChain.base, ...newestChain.increments] : []).flatMap((backup) =>
      backup.verification?.result === 'failed' ? [{ name: backup.name, verifiedAt: backup.verification.verifiedAt, problems: backup.verification.problems }] : [],
    ),
    failuresSinceBackup,
    running,
    schedules,
    ...(pointInTime ? { pointInTime } : {}),
  };
}

/** Reads a cluster's storage and archive, and gathers its health from Temporal. */
export async function readClusterHealth(deps: ActivityDeps, client: Client, name: string, signal: AbortSignal): Promise<ClusterHealth> {
  const cluster = deps.cluster(name);
  const store = deps.store(cluster);
  const { backups, ledger } = await readCatalogAndLedger(store, { cluster: cluster.name, signal });
  const problems = backups.flatMap((backup) => (backup.recordProblems ?? []).map((problem) => `${backup.name}: ${problem}`));
  if (ledger.problem) problems.push(ledger.problem);
  const rolledBack = await ledgerAgainstTemporal(client, cluster.name, ledger);
  if (rolledBack) problems.push(rolledBack);
  // An archive record that fails authentication is a fact to report, not a reason to report nothing.
  const archive = cluster.binlogs.archive
    ? await summarizeArchive(store, cluster.name, signal).catch((error: unknown) => {
        const failure = businessFailureIn(error, FailureType.Unauthenticated);
        if (!failure) throw error;
        problems.push(`binlog archive: ${failure.message}`);
        return undefined;
      })
    : undefined;
  const health = await gatherHealth(client, describeCatalog(backups, cluster.name, storageLabel(cluster.storage), archive), Date.now(), { deployment: deps.config.temporal.taskQueue, ...(cluster.binlogs.rpo ? { rpo: cluster.binlogs.rpo } : {}) });
  if (health.pointInTime?.lastError?.startsWith(VANISHED_BINLOGS)) problems.push(`binlog archive: ${health.pointInTime.lastError}`);
  const kept = await readKeptDatadirs(deps, cluster.name);
  return {
    ...health,
    integrity: { authenticated: (await deps.recordKeys()) !== undefined, problems },
    keptDatadirs: { count: kept.kept.length, bytes: kept.kept.reduce((sum, entry) => sum + entry.sizeBytes, 0), diskBytes: kept.disk.totalBytes, ...(kept.kept[0] ? { oldest: kept.kept[0].keptAt } : {}) },
  };
}

/** The health of a cluster and the rules of this worker's configuration it breaks (the metrics endpoint). */
export async function clusterStatus(deps: ActivityDeps, client: Client, name: string, signal: AbortSignal): Promise<ClusterStatus> {
  const health = await readClusterHealth(deps, client, name, signal);
  const rules = deps.cluster(name).health;
  return { health, broken: brokenRules(health, rules), warnings: healthWarnings(health, rules) };
}

export function healthActivities(deps: ActivityDeps) {
  return {
    /** The cluster's health (`chainbackup status`, which checks it against the rules of its own configuration). */
    async clusterHealth(input: { cluster: string }): Promise<ClusterHealth> {
      const context = Context.current();
      return readClusterHealth(deps, context.client, input.cluster, context.cancellationSignal);
    },
  };
}
