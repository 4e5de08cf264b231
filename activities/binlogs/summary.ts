/** What the binlog archive holds, history by history: for the catalog, the health check and the planner of a restore to a point. */
import { Context } from '@temporalio/activity';
import { binlogGapSchema, type BinlogHistory } from '../../domain/binlog-archive.js';
import type { StoredBackup } from '../../domain/chain.js';
import { replayableBackups, tookPlaceIn, type ArchiveSummary, type HistorySummary } from '../../domain/point-in-time.js';
import { readCatalog } from '../catalog.js';
import type { ActivityDeps } from '../deps.js';
import type { ObjectStore } from '../storage/index.js';
import { readTrustedRecord } from '../records.js';
import { bySequence, currentHistory, listArchive, readRecords } from './shared.js';

/** What the archive of one history holds: its files, its newest event, its gaps and when they were. */
async function summarizeHistory(store: ObjectStore, where: BinlogHistory, signal: AbortSignal): Promise<HistorySummary> {
  const listed = await listArchive(store, where, signal);
  const files = listed.files.sort(bySequence);
  const [newest] = await readRecords(store, where, files.slice(-1));
  const gaps: HistorySummary['gaps'] = [];
  for (const key of listed.gapKeys) {
    const gap = await readTrustedRecord(store, key, (value) => binlogGapSchema.parse(value));
    if (!gap) continue;
    const [after, before] = [(await readRecords(store, where, [gap.after]))[0], (await readRecords(store, where, [gap.before]))[0]];
    gaps.push({ after: gap.after, before: gap.before, ...(after ? { from: after.lastEventTime } : {}), ...(before ? { to: before.firstEventTime } : {}) });
  }
  return { files, ...(newest ? { newestEventTime: newest.lastEventTime } : {}), gaps: gaps.sort((a, b) => bySequence(a.after, b.after)) };
}

/**
 * What the archive of a cluster's current history holds, and of the history before its last
 * in-place restore with the backups taken in it (`backups`: the cluster's, read when not given).
 */
export async function summarizeArchive(store: ObjectStore, cluster: string, signal: AbortSignal, backups?: StoredBackup[]): Promise<ArchiveSummary> {
  const { where, restoredAt } = await currentHistory(store, cluster);
  const summary: ArchiveSummary = { ...(await summarizeHistory(store, where, signal)), history: where.history, ...(restoredAt ? { restoredAt } : {}) };
  if (where.history === 0 || restoredAt === undefined) return summary;
  const before = { cluster, history: where.history - 1 };
  const previous = await summarizeHistory(store, before, signal);
  const archived = new Set(previous.files);
  const taken: string[] = [];
  for (const backup of replayableBackups(backups ?? (await readCatalog(store, { cluster, signal })))) {
    const file = backup.manifest.binlog?.file ?? '';
    if (backup.manifest.finishedAt >= restoredAt || !archived.has(file)) continue;
    const [record] = await readRecords(store, before, [file]);
    if (record && tookPlaceIn(backup, record)) taken.push(backup.name);
  }
  return { ...summary, previous: { ...previous, history: before.history, backups: taken } };
}

export function binlogSummaryActivities(deps: ActivityDeps) {
  return {
    /** What the archive of the cluster's current history holds: its files, its newest event, its gaps and when they were. */
    async describeBinlogArchive(input: { cluster: string }): Promise<ArchiveSummary> {
      const cluster = deps.cluster(input.cluster);
      return summarizeArchive(deps.store(cluster), cluster.name, Context.current().cancellationSignal);
    },
  };
}
