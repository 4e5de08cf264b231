/** Planning a restore to a point: the backup it starts from, and the archived binlogs it replays up to the point. */
import { Context } from '@temporalio/activity';
import { parseGtid, parseGtids } from '../../domain/binlog.js';
import type { ArchivedBinlog, BinlogHistory } from '../../domain/binlog-archive.js';
import { isCommitted, type CommittedBackup } from '../../domain/chain.js';
import { businessFailure, FailureType, type FailureTypeName } from '../../domain/failures.js';
import {
  chooseBackupForGtid,
  chooseBackupForPoint,
  describeRanges,
  planGtidReplay,
  planReplay,
  pointSecond,
  recoverableWindow,
  replayableBackups,
  secondLabel,
  tookPlaceIn,
  unknownGtidSource,
  type PointInTimePlan,
} from '../../domain/point-in-time.js';
import { readCatalog } from '../catalog.js';
import type { ActivityDeps } from '../deps.js';
import type { ObjectStore } from '../storage/index.js';
import { archiveSource, bySequence, currentHistory, listArchive, readRecords, type ArchiveSource } from './shared.js';
import { summarizeArchive } from './summary.js';

/**
 * The older history (before the cluster's last in-place restore) a backup was taken in: the one
 * whose archive holds the backup's binlog file with events from the time the backup ran. Histories
 * follow one another in time, so one file name of two histories never spans the same moment.
 */
async function historyOfBackup(store: ObjectStore, cluster: string, backup: CommittedBackup, current: number, signal: AbortSignal): Promise<BinlogHistory | undefined> {
  const file = backup.manifest.binlog?.file;
  if (!file) return undefined;
  for (let history = current - 1; history >= 0; history--) {
    if (signal.aborted) throw signal.reason;
    const where = { cluster, history };
    const [record] = await readRecords(store, where, [file]);
    if (record && tookPlaceIn(backup, record)) return where;
  }
  return undefined;
}

export function pointInTimePlanActivities(deps: ActivityDeps) {
  return {
    /**
     * What a restore to a point needs: the newest backup finished before it, and the archived files
     * from that backup's binlog position to the point. A refusal names every stretch that is
     * reachable. With `waitForArchive`, a point the archive does not wholly cover yet is answered
     * with why (`notYetArchived`) instead of a refusal, for the workflow to wait on.
     */
    async planPointInTimeRestore(input: ArchiveSource & { pointInTime?: string; gtid?: string; waitForArchive?: boolean }): Promise<PointInTimePlan | { notYetArchived: string; coverSecond?: number }> {
      const cluster = deps.cluster(input.cluster);
      const { store, archived } = await archiveSource(deps, input);
      const signal = Context.current().cancellationSignal;
      const current = await currentHistory(store, archived);
      const { restoredAt } = current;
      let where = current.where;
      const backups = await readCatalog(store, { cluster: archived, signal });
      // The summary lists the current history once: its files serve the plan too.
      const summary = await summarizeArchive(store, archived, signal, backups);
      let files = summary.files;
      const reach = describeRanges(recoverableWindow(backups, summary));
      const wanted = input.gtid !== undefined ? `GTID ${input.gtid}` : (input.pointInTime ?? '');
      const pointMs = input.pointInTime === undefined ? undefined : pointSecond(Date.parse(input.pointInTime)) * 1000 + 999;
      const refuse = (code: FailureTypeName, reason: string) => businessFailure(code, `cannot restore ${cluster.name} to ${wanted}: ${reason}`);
      let chosen: ReturnType<typeof chooseBackupForPoint>;
      if (input.gtid !== undefined) {
        // GTIDs start again at an in-place restore: a GTID is looked for in the current history only.
        const ofHistory = restoredAt ? backups.filter((backup) => !isCommitted(backup) || backup.manifest.finishedAt >= restoredAt) : backups;
        const [newestRecord] = await readRecords(store, where, files.slice(-1));
        const unknown = unknownGtidSource(input.gtid, [...replayableBackups(ofHistory).map((backup) => backup.manifest.binlog?.gtid ?? ''), newestRecord?.endGtids ?? '']);
        if (unknown) throw refuse(FailureType.InvalidRequest, unknown);
        chosen = chooseBackupForGtid(ofHistory, input.gtid);
        if (!chosen.ok && restoredAt) chosen = { ...chosen, reason: `${chosen.reason}; GTIDs started again at the in-place restore of ${restoredAt}: give a time (--to-time) for a point before it` };
      } else {
        chosen = chooseBackupForPoint(backups, pointMs ?? 0, reach);
      }
      if (!chosen.ok) throw refuse(chosen.code, chosen.reason);
      const backup = chosen.value;
      if (input.gtid === undefined && restoredAt && backup.manifest.finishedAt < restoredAt) {
        // After the restore but before any backup of the history it began: no backup holds that state.
        if ((pointMs ?? 0) >= Date.parse(restoredAt)) {
          throw refuse(FailureType.InvalidRequest, `${secondLabel(pointSecond(pointMs ?? 0))} is after the cluster's in-place restore of ${restoredAt} and before the first backup taken since it, which a restore to a point would start from: ${reach}`);
        }
        // A point before the last in-place restore: the older history the backup was taken in.
        const older = await historyOfBackup(store, archived, backup, current.where.history, signal);
        if (older === undefined) {
          throw refuse(FailureType.InvalidRequest, `the newest backup before it (${backup.name}) predates the cluster's in-place restore of ${restoredAt}, and no older history of the archive holds its binlog file ${backup.manifest.binlog?.file ?? '?'} from when it was taken; ${reach}`);
        }
        where = older;
        files = (await listArchive(store, where, signal)).files.sort(bySequence);
      }
      // Only the records from the backup's file to the first that reaches the point (or the GTID) are read.
      const target = input.gtid === undefined ? undefined : parseGtid(input.gtid);
      const start = files.indexOf(backup.manifest.binlog?.file ?? '');
      const needed: ArchivedBinlog[] = [];
      for (const file of start < 0 ? [] : files.slice(start)) {
        const [record] = await readRecords(store, where, [file]);
        if (!record) break;
        needed.push(record);
        if (pointMs !== undefined && Date.parse(record.lastEventTime) > pointMs) break;
        if (target && (parseGtids(record.endGtids) ?? []).some((gtid) => gtid.domain === target.domain && gtid.server === target.server && BigInt(gtid.seq) >= BigInt(target.seq))) break;
      }
      const plan = input.gtid !== undefined ? planGtidReplay(backup, needed, input.gtid) : planReplay(backup, needed, pointMs ?? 0, reach);
      if (!plan.ok) {
        if (plan.code === FailureType.NotYetArchived && input.waitForArchive && where.history === current.where.history) {
          return { notYetArchived: plan.reason, ...(pointMs !== undefined ? { coverSecond: pointSecond(pointMs) } : {}) };
        }
        throw refuse(plan.code, plan.reason);
      }
      return {
        backupName: backup.name,
        replay: where.history === current.where.history ? plan.value : { ...plan.value, history: where.history },
        ...(pointMs !== undefined ? { pointTakenAs: secondLabel(pointSecond(pointMs)) } : {}),
      };
    },
  };
}
