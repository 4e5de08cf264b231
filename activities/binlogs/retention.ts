/** Binlog retention: removing the archived binlogs no kept backup needs. */
import { Context } from '@temporalio/activity';
import { heartbeat } from '../liveness.js';
import { BINLOG_FOLDER, binlogFolder, binlogGapKey, binlogObjectKey, binlogRecordKey, binlogsToPrune, isOlderFile, newestFile, type ArchiveListing } from '../../domain/binlog-archive.js';
import { isCommitted } from '../../domain/chain.js';
import { untouchableChains } from '../../domain/retention.js';
import { readCatalog } from '../catalog.js';
import type { ActivityDeps } from '../deps.js';
import { historyOf, readRestoreRecord } from '../restore-record.js';
import { lockEnd } from '../../domain/object-lock.js';

/** What binlog retention removed (or, in a dry run, would remove). */
export interface BinlogRetention {
  /** `history-<n>/<file>` of each archived file removed, oldest first. */
  removed: string[];
  freedBytes: number;
  /** The oldest archived file kept in the current history, and the kept backup that needs it. */
  keptFrom?: { file: string; backup: string };
  /** Why nothing (more) was removed, when that is the case. */
  reason?: string;
  /** Files no kept backup needs that the storage's Object Lock keeps yet: how many, and until when the last of them. */
  keptByLock?: { files: number; until: string };
}

export function binlogRetentionActivities(deps: ActivityDeps) {
  return {
    /**
     * Binlog retention (domain/binlog-archive.ts › binlogsToPrune): removes the archived files and
     * gap records no kept backup needs. `removedBackups` are treated as gone already (the chains
     * retention removes in the same run, or would remove in a dry run). Each file's record goes
     * before its object, so a worker that dies in between leaves an object no listing counts as
     * archived, never a record without its object; a later run removes it.
     */
    async pruneBinlogArchive(input: { cluster: string; removedBackups: string[]; dryRun: boolean }): Promise<BinlogRetention> {
      const cluster = deps.cluster(input.cluster);
      const store = deps.store(cluster);
      const signal = Context.current().cancellationSignal;
      const record = await readRestoreRecord(store, cluster.name);
      const root = `${BINLOG_FOLDER}/${cluster.name}/`;
      const histories = (await store.listFolders(root, { signal })).map((name) => /^history-(\d+)$/.exec(name)?.[1]).filter((value): value is string => value !== undefined).map(Number);
      if (histories.length === 0) return { removed: [], freedBytes: 0, reason: 'the cluster has no binlog archive' };
      const sizes = new Map<string, number>();
      const storedAt = new Map<string, string>();
      const lockDays = cluster.storage.kind === 's3' ? cluster.storage.objectLock?.days : undefined;
      let keptByLock: BinlogRetention['keptByLock'];
      const listing: ArchiveListing = { histories: [] };
      // Streamed parts, by history and file: they go with their file (or stay while it is kept).
      const partsOf = new Map<string, string[]>();
      for (const history of histories.sort((a, b) => a - b)) {
        const folder = binlogFolder({ cluster: cluster.name, history });
        const objects = await store.list(folder, { signal });
        for (const object of objects) {
          sizes.set(object.key, object.size);
          storedAt.set(object.key, object.lastModified);
        }
        const names = objects.map((object) => object.key.slice(folder.length)).filter((name) => !name.startsWith('segments/'));
        for (const object of objects) {
          const part = /^segments\/([^/]+)\//.exec(object.key.slice(folder.length));
          if (part) partsOf.set(`${history}/${part[1] ?? ''}`, [...(partsOf.get(`${history}/${part[1] ?? ''}`) ?? []), object.key]);
        }
        const recorded = names.filter((name) => name.endsWith('.json') && !name.startsWith('gap-')).map((name) => name.slice(0, -'.json'.length));
        const newest = newestFile(recorded);
        // An object with no record is an upload cut short; one newer than the newest record may be in flight now.
        const stray = names.filter((name) => name.endsWith('.zst')).map((name) => name.slice(0, -'.zst'.length)).filter((file) => !recorded.includes(file) && newest !== undefined && isOlderFile(file, newest));
        // A file streamed in parts and never archived whole (its server was replaced by an in-place restore) is a file too.
        const streamedOnly = [...partsOf.keys()].filter((key) => key.startsWith(`${history}/`)).map((key) => key.slice(`${history}/`.length)).filter((file) => !recorded.includes(file));
        listing.histories.push({ history, files: [...recorded, ...stray, ...streamedOnly], gapsAfter: names.filter((name) => name.startsWith('gap-') && name.endsWith('.json')).map((name) => name.slice('gap-'.length, -'.json'.length)) });
      }
      const backups = await readCatalog(store, { cluster: cluster.name, signal });
      const removed = new Set(input.removedBackups);
      const kept = backups.filter(isCommitted).filter((backup) => !removed.has(backup.name));
      const plan = binlogsToPrune({
        kept: kept.map((backup) => ({ name: backup.name, finishedAt: backup.manifest.finishedAt, ...(backup.manifest.binlog ? { binlogFile: backup.manifest.binlog.file } : {}) })),
        unreadableBackups: untouchableChains(backups, cluster.name).length,
        archive: listing,
        currentHistory: historyOf(record),
        ...(record ? { restoredAt: record.restoredAt } : {}),
      });
      let freedBytes = 0;
      const gone: string[] = [];
      for (const history of plan.histories) {
        const where = { cluster: cluster.name, history: history.history };
        for (const file of history.files) {
          const keys = [binlogRecordKey(where, file), binlogObjectKey(where, file)];
          // Kept by the storage's lock: removed by a later retention.
          const lockedUntil = lockDays === undefined ? 0 : Math.max(...keys.map((key) => lockEnd(storedAt.get(key) ?? 0, lockDays)));
          if (lockedUntil > Date.now()) {
            keptByLock = { files: (keptByLock?.files ?? 0) + 1, until: new Date(Math.max(lockedUntil, Date.parse(keptByLock?.until ?? '1970-01-01T00:00:00Z'))).toISOString() };
            continue;
          }
          freedBytes += keys.reduce((sum, key) => sum + (sizes.get(key) ?? 0), 0);
          gone.push(`history-${history.history}/${file}`);
          if (input.dryRun) continue;
          for (const key of keys) await store.delete([key]);
          const parts = partsOf.get(`${history.history}/${file}`) ?? [];
          if (parts.length > 0) await store.delete([...parts.filter((key) => key.endsWith('.json')), ...parts.filter((key) => !key.endsWith('.json'))]);
        }
        for (const after of history.gapsAfter) if (!input.dryRun) await store.delete([binlogGapKey(where, after)]);
        heartbeat({ phase: `removing archived binlogs of history ${history.history}`, bytesDone: freedBytes });
      }
      return { removed: gone, freedBytes, ...(plan.keptFrom ? { keptFrom: plan.keptFrom } : {}), ...(plan.reason ? { reason: plan.reason } : {}), ...(keptByLock ? { keptByLock } : {}) };
    },
  };
}
