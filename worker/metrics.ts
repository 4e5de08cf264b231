/**
 * The worker's Prometheus endpoint: `GET /metrics` answers the health of the clusters this worker
 * hosts (domain/health.ts › prometheusText), read from their storage and from Temporal as
 * `chainbackup status` reads it, with counters of the work that ended and the binlogs archived while
 * this process ran. Readings are cached for `worker.metrics.cacheFor`, since each one lists storage.
 * A reading that fails keeps the last one served (with `chainbackup_status_up 0`), so alerts on
 * backup age or archive lag keep firing through the storage or Temporal outage that causes them.
 */
import { createServer, type Server } from 'node:http';
import { Client, type WorkflowExecutionInfo } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import type { DataConverter } from '@temporalio/common';
import { ActivityDeps } from '../activities/deps.js';
import { archivedBinlogCounts } from '../activities/counters.js';
import { clusterStatus } from '../activities/health.js';
import { buildInfo } from '../config/release.js';
import { durationMs, type Config } from '../domain/config.js';
import { businessFailureIn, isRefusal } from '../domain/failures.js';
import { prometheusText, type MetricsReading } from '../domain/health.js';
import { BackupRefusalKey, queryValue, WORK_BACKUP_TYPES } from '../domain/search-attributes.js';

/** Visibility is eventually consistent: each look at ended work goes back this far, and counts each run once. */
const ENDED_WORK_LOOKBACK_MS = 10 * 60_000;

export async function startMetricsEndpoint(connection: NativeConnection, namespace: string, config: Config, clusters: string[], dataConverter: DataConverter): Promise<Server | undefined> {
  const settings = config.worker.metrics;
  if (!settings) return undefined;
  const client = new Client({ connection, namespace, dataConverter });
  const deps = new ActivityDeps(config);
  const lastRead = new Map<string, Pick<MetricsReading, 'status' | 'readAtMs'>>();
  const endedWork = new EndedWorkCounter(client, Date.now());
  let cached: { at: number; text: Promise<string> } | undefined;
  const read = async (): Promise<string> => {
    const readings: MetricsReading[] = [];
    for (const cluster of clusters) {
      let up = true;
      try {
        lastRead.set(cluster, { status: await clusterStatus(deps, client, cluster, AbortSignal.timeout(60_000)), readAtMs: Date.now() });
      } catch (error) {
        up = false;
        console.error(`chainbackup worker: metrics: the health of ${cluster} could not be read (its last reading stays served): ${error instanceof Error ? error.message : String(error)}`);
      }
      // Counted from Temporal: while it is down the counts stay as they were, and catch up once it answers.
      await endedWork.update(cluster).catch(() => undefined);
      readings.push({ cluster, up, ...lastRead.get(cluster), endedWork: endedWork.counts(cluster), archived: archivedBinlogCounts(cluster) });
    }
    return prometheusText(readings, buildInfo);
  };
  const server = createServer((request, response) => {
    if (request.method !== 'GET' || request.url?.split('?')[0] !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('only GET /metrics is served here\n');
      return;
    }
    if (!cached || Date.now() - cached.at > durationMs(settings.cacheFor)) cached = { at: Date.now(), text: read() };
    cached.text.then(
      (text) => response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(text),
      (error: unknown) => response.writeHead(500, { 'content-type': 'text/plain' }).end(`${error instanceof Error ? error.message : String(error)}\n`),
    );
  });
  const separator = settings.listen.lastIndexOf(':');
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      const why = error.code === 'EADDRINUSE' ? 'the address is in use (another worker on this host, or another program, listens there)' : error.message;
      reject(new Error(`worker.metrics.listen: cannot serve metrics at ${settings.listen}: ${why}`));
    });
    server.listen(Number(settings.listen.slice(separator + 1)), settings.listen.slice(0, separator), () => resolve());
  });
  return server;
}

/** How a piece of work ended, as the `result` label says it. */
async function resultOf(client: Client, execution: WorkflowExecutionInfo): Promise<string | undefined> {
  switch (execution.status.name) {
    case 'COMPLETED':
      // A refused request completes with its refusal, and says so in a search attribute (workflows/interceptors.ts).
      return execution.typedSearchAttributes.get(BackupRefusalKey) === undefined ? 'success' : 'refused';
    case 'FAILED': {
      // A refused request (bad input, a rule that says no) is not a failure of the backups: read its type.
      const failure = await client.workflow.getHandle(execution.workflowId, execution.runId).result().then(
        () => undefined,
        (error: unknown) => businessFailureIn(error),
      );
      return isRefusal(failure?.type) ? 'refused' : 'failed';
    }
    case 'TIMED_OUT':
      return 'timed_out';
    case 'CANCELLED':
      return 'cancelled';
    case 'TERMINATED':
      return 'terminated';
    default:
      return undefined; // continued as new: the work goes on in its next run
  }
}

/** Counts the work on each cluster that ended since the process started, by type and result: Prometheus counters. */
class EndedWorkCounter {
  private readonly totals = new Map<string, Map<string, number>>();
  /** Runs already counted, with their close time, kept as long as a look can see them again. */
  private readonly counted = new Map<string, number>();

  constructor(
    private readonly client: Client,
    private readonly startedAtMs: number,
  ) {}

  async update(cluster: string): Promise<void> {
    const since = new Date(Math.max(this.startedAtMs, Date.now() - ENDED_WORK_LOOKBACK_MS)).toISOString();
    const query = `BackupCluster = ${queryValue(cluster)} AND BackupType IN (${WORK_BACKUP_TYPES.map(queryValue).join(', ')}) AND ExecutionStatus != "Running" AND CloseTime >= ${queryValue(since)}`;
    for await (const execution of this.client.workflow.list({ query })) {
      if (this.counted.has(execution.runId)) continue;
      const result = await resultOf(this.client, execution);
      this.counted.set(execution.runId, execution.closeTime?.getTime() ?? Date.now());
      if (!result) continue;
      const type = execution.typedSearchAttributes.getAll().find((pair) => pair.key.name === 'BackupType')?.value;
      const key = `${typeof type === 'string' ? type : execution.type}\u0000${result}`;
      const byKey = this.totals.get(cluster) ?? new Map<string, number>();
      byKey.set(key, (byKey.get(key) ?? 0) + 1);
      this.totals.set(cluster, byKey);
    }
    for (const [runId, closedAt] of this.counted) if (closedAt < Date.now() - 2 * ENDED_WORK_LOOKBACK_MS) this.counted.delete(runId);
  }

  counts(cluster: string): NonNullable<MetricsReading['endedWork']> {
    return [...(this.totals.get(cluster) ?? [])].map(([key, count]) => {
      const [type = '', result = ''] = key.split('\u0000');
      return { type, result, count };
    });
  }
}
