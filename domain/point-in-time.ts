/**
 * Restoring to a point in time: which backup to start from, and which archived binlogs to replay
 * from where to where. Decided from the manifests and the archive's records alone.
 */
import { formatGtids, gtidPosition, parseGtid, parseGtids, type Gtid } from './binlog.js';
import type { BinlogRecord } from './binlog-archive.js';
import { continues } from './binlog-archive.js';
import { isCommitted, type CommittedBackup, type StoredBackup } from './chain.js';
import type { Decision } from './chain.js';

export interface ReplayPlan {
  /** The archived files to replay, in order; the first holds the backup's binlog position. */
  files: (Pick<BinlogRecord, 'file' | 'object' | 'size' | 'sha256'> & Partial<Pick<BinlogRecord, 'encryption' | 'archivedAt'>>)[];
  /** Where replay starts in the first file: the position the backup recorded (nothing before it is applied again). */
  startPosition: number;
  /**
   * Replay stops at the first event logged at or after this moment (UTC, `YYYY-MM-DD HH:MM:SS`,
   * as `mariadb-binlog --stop-datetime` takes it): every transaction logged in or before the
   * point's second is applied.
   */
  stopDatetime: string;
  /**
   * A restore to a GTID: replay stops after the transaction with this GTID (in binlog order), and
   * `stopDatetime` is only an upper bound. Plans made before GTID restores existed have none.
   */
  stopAfterGtid?: string;
  /** The archive's history the files are in, when it is not the cluster's current one (a point before its last in-place restore). */
  history?: number;
}

/** What a replay needs of an archived file's record: where it is, what it must hash to, and whether it was sealed (and when archived, for a worker that may admit plaintext from before encryption). */
function replayedFile({ file, object, size, sha256, encryption, archivedAt }: BinlogRecord): ReplayPlan['files'][number] {
  return { file, object, size, sha256, archivedAt, ...(encryption ? { encryption } : {}) };
}

/** The last second a replay applies: every transaction that began after it is left out. */
export function stopAfterSecond(plan: Pick<ReplayPlan, 'stopDatetime'>): number {
  return Date.parse(`${plan.stopDatetime.replace(' ', 'T')}Z`) / 1000 - 1;
}

/**
 * A server id for the server that applies archived binlogs: one that none of their events carries,
 * since a replication applier skips the events of its own id. The highest free one, so it reads as
 * the product's and not as a member of the topology.
 */
export function replayServerId(used: number[]): number {
  const taken = new Set(used);
  let id = 0xffffffff;
  while (taken.has(id)) id--;
  return id;
}

const utc = (epochSeconds: number) => new Date(epochSeconds * 1000).toISOString().slice(0, 19).replace('T', ' ');

/** What a point-in-time restore can reach: from the oldest backup to the newest archived event. */
export interface RecoverableWindow {
  /** When the oldest committed backup with a binlog position finished. */
  from?: string;
  /** The newest archived event. */
  to?: string;
}

function covered(window: RecoverableWindow): string {
  return `the recoverable window is ${window.from ?? '(no backup)'} to ${window.to ?? '(no archived binlog)'}`;
}

/** The committed backups a point-in-time restore can start from: those that record a binlog position, oldest first. */
export function replayableBackups(backups: StoredBackup[]): CommittedBackup[] {
  return backups.filter(isCommitted).filter((backup) => backup.manifest.binlog !== null).sort((a, b) => a.manifest.finishedAt.localeCompare(b.manifest.finishedAt));
}

/**
 * The newest committed backup of the cluster that finished at or before the point and records its
 * binlog position, or a refusal that gives the covered range.
 */
export function chooseBackupForPoint(backups: StoredBackup[], pointMs: number, window: RecoverableWindow): Decision<CommittedBackup> {
  const chosen = replayableBackups(backups)
    .filter((backup) => Date.parse(backup.manifest.finishedAt) <= pointMs)
    .at(-1);
  if (!chosen) {
    return { ok: false, code: 'InvalidRequest', reason: `no backup that records its binlog position finished before ${new Date(pointMs).toISOString()}: ${covered(window)}` };
  }
  return { ok: true, value: chosen };
}

/**
 * The archived files from the backup's binlog position to the point, and where to start and stop.
 * `records` are the archive's, in order, from the backup's file on (at least up to the first whose
 * last event is after the point). Refused, with the covered range, when the archive does not hold
 * the backup's position, ends before the point, or has a gap between them.
 */
export function planReplay(backup: CommittedBackup, records: BinlogRecord[], pointMs: number, window: RecoverableWindow): Decision<ReplayPlan> {
  const binlog = backup.manifest.binlog;
  if (!binlog) return { ok: false, code: 'InvalidRequest', reason: `backup ${backup.name} records no binlog position` };
  const startIndex = records.findIndex((record) => record.file === binlog.file);
  if (startIndex < 0) {
    const from = records[0] ? `${records[0].file} (${records[0].firstEventTime})` : 'nothing';
    return { ok: false, code: 'BrokenChain', reason: `the binlog archive does not hold ${binlog.file}, where backup ${backup.name} recorded its position: it starts at ${from}; ${covered(window)}` };
  }
  const last = records.at(-1) as BinlogRecord;
  if (pointMs > Date.parse(last.lastEventTime) + 999) {
    return { ok: false, code: 'InvalidRequest', reason: `${new Date(pointMs).toISOString()} is after the newest archived event (${last.lastEventTime} in ${last.file}): ${covered(window)}` };
  }
  const pointSecond = Math.floor(pointMs / 1000);
  const files: BinlogRecord[] = [];
  for (let index = startIndex; index < records.length; index++) {
    const record = records[index] as BinlogRecord;
    const previous = files.at(-1);
    if (previous && !continues(previous, record)) {
      return { ok: false, code: 'BrokenChain', reason: `the binlog archive has a gap between ${previous.file} and ${record.file} (GTID ${previous.endGtids} to ${record.startGtids}), between backup ${backup.name} and ${new Date(pointMs).toISOString()}: ${covered(window)}` };
    }
    files.push(record);
    if (Date.parse(record.lastEventTime) / 1000 > pointSecond) break;
  }
  return {
    ok: true,
    value: {
      files: files.map(replayedFile),
      startPosition: Number(binlog.position),
      stopDatetime: utc(pointSecond + 1),
    },
  };
}

/** What the archive of the cluster's current history holds, for the recoverable window. */
export interface ArchiveSummary {
  /** Archived file names, in order. */
  files: string[];
  newestEventTime?: string;
  /** Each gap, with the time of the last event before it and of the first after it. */
  gaps: { after: string; before: string; from?: string; to?: string }[];
  /** When the cluster was last restored in place: backups before that belong to an older history. */
  restoredAt?: string;
}

export interface PointInTimeWindow {
  /** A point-in-time restore can reach any second from `from` to `to`, except inside a gap. */
  from: string;
  to: string;
  gaps: { from?: string; to?: string; after: string; before: string }[];
}

/**
 * The recoverable window: from the oldest backup whose binlog position the archive holds (of the
 * current history) to the newest archived event, minus the gaps. Undefined when nothing is reachable.
 */
export function recoverableWindow(backups: StoredBackup[], archive: ArchiveSummary): PointInTimeWindow | undefined {
  const archived = new Set(archive.files);
  const first = replayableBackups(backups).find((backup) => archived.has(backup.manifest.binlog?.file ?? '') && (archive.restoredAt === undefined || backup.manifest.finishedAt >= archive.restoredAt));
  if (!first || archive.newestEventTime === undefined || archive.newestEventTime < first.manifest.finishedAt) return undefined;
  return { from: first.manifest.finishedAt, to: archive.newestEventTime, gaps: archive.gaps };
}

/** The sequence number a GTID position (per domain, as `gtid_binlog_pos`) has reached in one domain: 0 when the domain has none. */
function reached(position: string | undefined, domain: number): bigint {
  const found = gtidPosition(parseGtids(position ?? '') ?? []).find((gtid) => gtid.domain === domain);
  return found ? BigInt(found.seq) : 0n;
}

/**
 * The newest committed backup that does not hold the transaction with this GTID yet (its recorded
 * position is before it in that domain), or a refusal that gives what the backups cover.
 */
export function chooseBackupForGtid(backups: StoredBackup[], gtid: string): Decision<CommittedBackup> {
  const target = parseGtid(gtid) as Gtid;
  const withGtid = replayableBackups(backups).filter((backup) => backup.manifest.binlog?.gtid !== undefined);
  const chosen = withGtid.filter((backup) => reached(backup.manifest.binlog?.gtid, target.domain) <= BigInt(target.seq)).at(-1);
  if (!chosen) {
    const oldest = withGtid[0];
    return {
      ok: false,
      code: 'InvalidRequest',
      reason: oldest
        ? `every backup that records its GTID position is past ${gtid}: the oldest, ${oldest.name}, is at ${oldest.manifest.binlog?.gtid ?? '?'}`
        : 'no backup records its GTID position (backups taken with the binary log off, or before GTIDs)',
    };
  }
  return { ok: true, value: chosen };
}

/**
 * The archived files from the backup's binlog position to the one that holds the GTID, in order;
 * refused, with what the archive covers, when it does not hold the backup's file, ends before the
 * GTID, or has a gap between them. `records` are as for planReplay.
 */
export function planGtidReplay(backup: CommittedBackup, records: BinlogRecord[], gtid: string): Decision<ReplayPlan> {
  const target = parseGtid(gtid) as Gtid;
  const binlog = backup.manifest.binlog;
  if (!binlog) return { ok: false, code: 'InvalidRequest', reason: `backup ${backup.name} records no binlog position` };
  // The backup ends exactly at the GTID: nothing to replay.
  if (reached(binlog.gtid, target.domain) === BigInt(target.seq)) {
    return { ok: true, value: { files: [], startPosition: Number(binlog.position), stopDatetime: utc(Math.floor(Date.parse(backup.manifest.finishedAt) / 1000) + 1), stopAfterGtid: formatGtids([target]) } };
  }
  const startIndex = records.findIndex((record) => record.file === binlog.file);
  const covered = () => `the archive holds ${records[0]?.startGtids || '(nothing)'} to ${records.at(-1)?.endGtids || '(nothing)'}`;
  if (startIndex < 0) return { ok: false, code: 'BrokenChain', reason: `the binlog archive does not hold ${binlog.file}, where backup ${backup.name} recorded its position; ${covered()}` };
  const files: BinlogRecord[] = [];
  for (let index = startIndex; index < records.length; index++) {
    const record = records[index] as BinlogRecord;
    const previous = files.at(-1);
    if (previous && !continues(previous, record)) {
      return { ok: false, code: 'BrokenChain', reason: `the binlog archive has a gap between ${previous.file} and ${record.file} (GTID ${previous.endGtids} to ${record.startGtids}), between backup ${backup.name} and ${gtid}` };
    }
    files.push(record);
    const end = (parseGtids(record.endGtids) ?? []).find((state) => state.domain === target.domain && state.server === target.server);
    if (end && BigInt(end.seq) >= BigInt(target.seq)) {
      return {
        ok: true,
        value: {
          files: files.map(replayedFile),
          startPosition: Number(binlog.position),
          stopDatetime: utc(Math.floor(Date.parse(record.lastEventTime) / 1000) + 1),
          stopAfterGtid: formatGtids([target]),
        },
      };
    }
  }
  return { ok: false, code: 'InvalidRequest', reason: `${gtid} is after the newest archived transaction: ${covered()}` };
}

/**
 * Whether a backup was taken while this archived file was being written: the file's events span
 * some moment between the backup's start and finish. (The file is closed by a rotation after the
 * backup recorded its position, so its last event is at or after that moment.)
 */
export function tookPlaceIn(backup: CommittedBackup, record: Pick<BinlogRecord, 'firstEventTime' | 'lastEventTime'>): boolean {
  const started = Date.parse(backup.manifest.startedAt);
  const finished = Date.parse(backup.manifest.finishedAt);
  return Date.parse(record.firstEventTime) <= finished + 999 && Date.parse(record.lastEventTime) + 999 >= started;
}
