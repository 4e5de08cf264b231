/**
 * Restoring to a point in time: which backup to start from, and which archived binlogs to replay
 * from where to where. Decided from the manifests and the archive's records alone.
 */
import { formatGtids, gtidPosition, parseGtid, parseGtids, type Gtid } from './binlog.js';
import type { ArchivedBinlog, BinlogPart, BinlogRecord } from './binlog-archive.js';
import { continues, isOlderFile } from './binlog-archive.js';
import { isCommitted, type CommittedBackup, type StoredBackup } from './chain.js';
import type { Decision } from './chain.js';

export interface ReplayPlan {
  /** The archived files to replay, in order; the first holds the backup's binlog position. */
  files: (Pick<BinlogRecord, 'file' | 'object' | 'size' | 'sha256'> & Partial<Pick<BinlogRecord, 'encryption' | 'archivedAt'>> & { parts?: BinlogPart[] })[];
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
  /**
   * The last transaction the replay applies, as the archive's records tell it: the GTIDs that moved
   * in its second (the last of each domain) and that second. Absent: no transaction after the
   * backup's own (or a plan from before this was recorded).
   */
  lastApplied?: { gtids: string; loggedAt: string };
}

/** What a replay needs of an archived file's record: where it is, what it must hash to, and whether it was sealed (and when archived, for a worker that may admit plaintext from before encryption). */
function replayedFile({ file, object, size, sha256, encryption, archivedAt, parts }: ArchivedBinlog): ReplayPlan['files'][number] {
  // A file the server still writes is replayed from its streamed parts, end to end.
  return { file, object, size, sha256, archivedAt, ...(encryption ? { encryption } : {}), ...(parts ? { parts } : {}) };
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

/** The committed backups a point-in-time restore can start from: those that record a binlog position, oldest first. */
export function replayableBackups(backups: StoredBackup[]): CommittedBackup[] {
  return backups.filter(isCommitted).filter((backup) => backup.manifest.binlog !== null).sort((a, b) => a.manifest.finishedAt.localeCompare(b.manifest.finishedAt));
}

/**
 * The newest committed backup of the cluster that records its binlog position and finished within
 * the point's second or before it (the point means the end of its second), or a refusal that names
 * what is reachable (`reach`, from describeRanges).
 */
export function chooseBackupForPoint(backups: StoredBackup[], pointMs: number, reach: string): Decision<CommittedBackup> {
  const second = pointSecond(pointMs);
  const chosen = replayableBackups(backups)
    .filter((backup) => pointSecond(Date.parse(backup.manifest.finishedAt)) <= second)
    .at(-1);
  if (!chosen) {
    return { ok: false, code: 'InvalidRequest', reason: `${secondLabel(second)} is before every backup that records its binlog position: ${reach}` };
  }
  return { ok: true, value: chosen };
}

/**
 * The archived files from the backup's binlog position to the point, and where to start and stop.
 * `records` are the archive's, in order, from the backup's file on (at least up to the first whose
 * last event is after the point's second). Refused, naming what is reachable, when the archive does
 * not hold the backup's position, does not cover the point's whole second yet, or has a gap between
 * them.
 */
export function planReplay(backup: CommittedBackup, records: ArchivedBinlog[], pointMs: number, reach: string): Decision<ReplayPlan> {
  const binlog = backup.manifest.binlog;
  if (!binlog) return { ok: false, code: 'InvalidRequest', reason: `backup ${backup.name} records no binlog position` };
  const second = pointSecond(pointMs);
  const startIndex = records.findIndex((record) => record.file === binlog.file);
  if (startIndex < 0) return missingStart(backup, binlog.file, records, reach);
  const files: ArchivedBinlog[] = [];
  for (let index = startIndex; index < records.length; index++) {
    const record = records[index] as BinlogRecord;
    const previous = files.at(-1);
    if (previous && !continues(previous, record)) {
      return { ok: false, code: 'BrokenChain', reason: `the binlog archive has a gap between ${previous.file} and ${record.file} (GTID ${previous.endGtids} to ${record.startGtids}), between backup ${backup.name} and ${secondLabel(second)}: ${reach}` };
    }
    files.push(record);
    if (pointSecond(Date.parse(record.lastEventTime)) > second) break;
  }
  const last = files.at(-1) as BinlogRecord;
  if (coveredThrough(last.lastEventTime) < second) {
    return {
      ok: false,
      code: 'NotYetArchived',
      reason: `${secondLabel(second)} is not wholly archived yet: the archive's newest event is at ${last.lastEventTime} (in ${last.file}), and the transactions of a second are known to be archived only once an event of a later second is, so it covers every second up to ${secondLabel(coveredThrough(last.lastEventTime))}; give an earlier point, or let the restore wait for the archive (--wait-for-archive); ${reach}`,
    };
  }
  return {
    ok: true,
    value: {
      files: files.map(replayedFile),
      startPosition: Number(binlog.position),
      stopDatetime: utc(second + 1),
      ...stopOf(backup, files, second),
    },
  };
}

/**
 * The archive lacks the file a backup recorded its position in: not yet, when the archive has not
 * reached that file (its archiver is behind, or starting in a new history), which a restore may wait
 * for; lost, when it holds later files but not that one.
 */
function missingStart(backup: CommittedBackup, file: string, records: Pick<BinlogRecord, 'file' | 'firstEventTime'>[], reach: string): Decision<ReplayPlan> {
  const from = records[0] ? `${records[0].file} (${records[0].firstEventTime})` : 'nothing';
  if (records.every((record) => isOlderFile(record.file, file))) {
    return { ok: false, code: 'NotYetArchived', reason: `the binlog archive has not reached ${file}, where backup ${backup.name} recorded its position, yet (it holds ${records.at(-1)?.file ?? 'nothing'} at the newest); give an earlier point, or let the restore wait for the archive (--wait-for-archive); ${reach}` };
  }
  return { ok: false, code: 'BrokenChain', reason: `the binlog archive does not hold ${file}, where backup ${backup.name} recorded its position: it starts at ${from}; ${reach}` };
}

/**
 * The last transaction a replay to the end of `second` applies (its GTIDs, and the second it was
 * logged in), from the archived files' per-second records: the last one logged in or before the
 * second, in binlog order, before the first logged after it. None: the backup's own state is the point's.
 */
function stopOf(backup: CommittedBackup, files: BinlogRecord[], second: number): Pick<ReplayPlan, 'lastApplied'> {
  let last: { at: number; gtids: string } | undefined;
  for (const record of files) {
    for (const [at, gtids] of record.seconds) {
      if (at > second) return appliedAfter(backup, last);
      last = { at, gtids };
    }
  }
  return appliedAfter(backup, last);
}

function appliedAfter(backup: CommittedBackup, last: { at: number; gtids: string } | undefined): Pick<ReplayPlan, 'lastApplied'> {
  if (!last) return {};
  // A second whose transactions the backup already holds: nothing after the backup was applied.
  const moved = parseGtids(last.gtids) ?? [];
  if (moved.every((gtid) => reached(backup.manifest.binlog?.gtid, gtid.domain) >= BigInt(gtid.seq))) return {};
  return { lastApplied: { gtids: last.gtids, loggedAt: secondLabel(last.at) } };
}

/** A restore to a point, planned: the backup it starts from, the replay, and the second a time was taken to mean. */
export interface PointInTimePlan {
  backupName: string;
  replay: ReplayPlan;
  /** A restore to a time: its second (`YYYY-MM-DDTHH:MM:SSZ`); every transaction logged in or before it is applied. */
  pointTakenAs?: string;
}

/** What the archive of one history of a cluster holds, for the recoverable window. */
export interface HistorySummary {
  /** Archived file names, in order. */
  files: string[];
  newestEventTime?: string;
  /** Each gap, with the time of the last event before it and of the first after it. */
  gaps: { after: string; before: string; from?: string; to?: string }[];
}

/** What the archive of the cluster's current history holds, and of the one before its last in-place restore. */
export interface ArchiveSummary extends HistorySummary {
  /** When the cluster was last restored in place: backups before that belong to an older history. */
  restoredAt?: string;
  /** The current history's number (absent from workers before it was reported). */
  history?: number;
  /** The history before the last in-place restore, with the backups taken in it (absent before the first restore). */
  previous?: HistorySummary & { history: number; backups: string[] };
}

/** One stretch a restore to a point reaches: every whole second from `from` to `to`, from a backup of this history. */
export interface ReachableRange {
  /** When the backup the stretch starts from finished (its second is reachable: a point means the end of its second). */
  from: string;
  /** The last whole second the archive covers: `YYYY-MM-DDTHH:MM:SSZ`, every transaction logged in it included. */
  to: string;
  history: number;
}

export interface PointInTimeWindow {
  /** The first reachable moment and the last reachable second, over every range (points between ranges are not reachable). */
  from: string;
  to: string;
  /** The cluster's current history (absent from workers before it was reported: 0). */
  history?: number;
  /** The stretches a restore to a point accepts, oldest first, exactly as a restore decides. */
  ranges: ReachableRange[];
  gaps: { from?: string; to?: string; after: string; before: string }[];
  /**
   * The archive goes on past the last range, but no backup reaches it: binlogs were lost (a gap) after
   * the newest backup. Every point from `from` on is unreachable until the next backup.
   */
  unreachableFrom?: { from: string; after: string };
}

/** A point's second: a point means every transaction logged in or before its whole second (binlog event times are whole seconds). */
export function pointSecond(pointMs: number): number {
  return Math.floor(pointMs / 1000);
}

/** A second as a person reads it: `2026-04-06T14:05:09Z`. */
export function secondLabel(second: number): string {
  return `${new Date(second * 1000).toISOString().slice(0, 19)}Z`;
}

/**
 * The last whole second an archive whose newest event is `newestEventTime` covers. Transactions
 * logged later in the newest event's own second can still be in the server's current binlog, and
 * a replay to a second stops at the first event logged after it: only an archived event of a later
 * second shows where that is.
 */
export function coveredThrough(newestEventTime: string): number {
  return pointSecond(Date.parse(newestEventTime)) - 1;
}

/** The archive's files in runs that continue one another, each with the time of its last event (a run ends at a gap, or at the newest event). */
function runsOf(archive: HistorySummary): { files: Set<string>; end?: string; endFile: string }[] {
  const runs: { files: Set<string>; end?: string; endFile: string }[] = [];
  const gapBefore = new Map(archive.gaps.map((gap) => [gap.before, gap]));
  const gapAfter = new Map(archive.gaps.map((gap) => [gap.after, gap]));
  for (const file of archive.files) {
    const current = runs.at(-1);
    if (!current || gapBefore.has(file)) runs.push({ files: new Set([file]), endFile: file });
    else {
      current.files.add(file);
      current.endFile = file;
    }
  }
  for (const [index, run] of runs.entries()) {
    const end = index === runs.length - 1 ? archive.newestEventTime : gapAfter.get(run.endFile)?.from;
    if (end !== undefined) run.end = end;
  }
  return runs;
}

/** The stretches of one history a restore to a point reaches: in each run of the archive, from its oldest backup to the run's last covered second. */
function historyRanges(backups: CommittedBackup[], archive: HistorySummary, history: number): ReachableRange[] {
  const ranges: ReachableRange[] = [];
  for (const run of runsOf(archive)) {
    const first = backups.find((backup) => run.files.has(backup.manifest.binlog?.file ?? ''));
    if (!first || run.end === undefined) continue;
    const to = coveredThrough(run.end);
    if (pointSecond(Date.parse(first.manifest.finishedAt)) > to) continue;
    ranges.push({ from: first.manifest.finishedAt, to: secondLabel(to), history });
  }
  return ranges;
}

/**
 * The recoverable window: every stretch a restore to a point reaches, in the history before the
 * cluster's last in-place restore and in the current one, minus the gaps; each from the oldest
 * backup whose binlog position its archive holds to the last second it covers. Undefined when
 * nothing is reachable.
 */
export function recoverableWindow(backups: StoredBackup[], archive: ArchiveSummary): PointInTimeWindow | undefined {
  const replayable = replayableBackups(backups);
  const current = replayable.filter((backup) => archive.restoredAt === undefined || backup.manifest.finishedAt >= archive.restoredAt);
  const history = archive.history ?? 0;
  const previous = archive.previous;
  const ranges = [
    ...(previous ? historyRanges(replayable.filter((backup) => previous.backups.includes(backup.name)), previous, previous.history) : []),
    ...historyRanges(current, archive, history),
  ];
  const first = ranges[0];
  const last = ranges.at(-1);
  if (!first || !last) return undefined;
  // The current history's archive goes on after its last reachable second: the binlogs after a gap no backup starts from.
  const lastGap = archive.gaps.at(-1);
  const newestRun = runsOf(archive).at(-1);
  const reachesNewest = newestRun !== undefined && current.some((backup) => newestRun.files.has(backup.manifest.binlog?.file ?? ''));
  return {
    from: first.from,
    to: last.to,
    ...(history > 0 ? { history } : {}),
    ranges,
    gaps: archive.gaps,
    ...(!reachesNewest && lastGap ? { unreachableFrom: { from: lastGap.from ?? lastGap.to ?? '?', after: lastGap.after } } : {}),
  };
}

/** How a refusal names what is reachable: each range, with its history when there are several. */
export function describeRanges(window: PointInTimeWindow | undefined): string {
  if (!window) return 'no point in time is reachable yet (no backup whose binlog position the archive holds, or nothing archived after it)';
  const current = window.history ?? 0;
  const labelled = window.ranges.some((range) => range.history !== current);
  const ranges = window.ranges.map((range) => `${range.from} to ${range.to}${labelled ? ` (history ${range.history}${range.history === current ? ', the current one' : ', before the last in-place restore'})` : ''}`);
  return `reachable: ${ranges.join('; ')}${window.unreachableFrom ? `; nothing from ${window.unreachableFrom.from} on (binlogs after ${window.unreachableFrom.after} were lost) until the next backup` : ''}`;
}

/** The sequence number a GTID position (per domain, as `gtid_binlog_pos`) has reached in one domain: 0 when the domain has none. */
function reached(position: string | undefined, domain: number): bigint {
  const found = gtidPosition(parseGtids(position ?? '') ?? []).find((gtid) => gtid.domain === domain);
  return found ? BigInt(found.seq) : 0n;
}

/**
 * The newest committed backup (of the history the GTID is in: GTIDs start again at an in-place
 * restore) that does not hold the transaction with this GTID yet, or a refusal that says where in
 * its domain a restore can begin: at the oldest such backup's own GTID.
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
        ? `every backup that records its GTID position already holds ${gtid}: the oldest, ${oldest.name}, holds domain ${target.domain} up to sequence ${reached(oldest.manifest.binlog?.gtid, target.domain)}, so a restore to a GTID of that domain reaches sequence ${reached(oldest.manifest.binlog?.gtid, target.domain)} and later`
        : 'no backup records its GTID position (backups taken with the binary log off, or before GTIDs)',
    };
  }
  return { ok: true, value: chosen };
}

/**
 * A refusal of a GTID whose domain and server no backup and no archived binlog has ever logged (a
 * mistyped GTID, or one of another server): `states` are GTID positions the backups and the archive
 * recorded. Undefined when the GTID's domain and server are known.
 */
export function unknownGtidSource(gtid: string, states: string[]): string | undefined {
  const target = parseGtid(gtid) as Gtid;
  const seen = states.flatMap((state) => parseGtids(state) ?? []);
  if (seen.some((known) => known.domain === target.domain && known.server === target.server)) return undefined;
  const sources = [...new Set(seen.map((known) => `${known.domain}-${known.server}`))].sort();
  return `no backup and no archived binlog holds a transaction of domain ${target.domain} from server ${target.server} (${gtid}): they hold ${sources.length > 0 ? sources.map((source) => `${source}-…`).join(', ') : 'no GTIDs'}; check the GTID`;
}

/**
 * The archived files from the backup's binlog position to the one that holds the GTID, in order;
 * refused, with what the archive covers, when it does not hold the backup's file, ends before the
 * GTID, or has a gap between them. `records` are as for planReplay.
 */
export function planGtidReplay(backup: CommittedBackup, records: ArchivedBinlog[], gtid: string): Decision<ReplayPlan> {
  const target = parseGtid(gtid) as Gtid;
  const binlog = backup.manifest.binlog;
  if (!binlog) return { ok: false, code: 'InvalidRequest', reason: `backup ${backup.name} records no binlog position` };
  // The backup ends exactly at the GTID: nothing to replay.
  if (reached(binlog.gtid, target.domain) === BigInt(target.seq)) {
    return { ok: true, value: { files: [], startPosition: Number(binlog.position), stopDatetime: utc(Math.floor(Date.parse(backup.manifest.finishedAt) / 1000) + 1), stopAfterGtid: formatGtids([target]) } };
  }
  const startIndex = records.findIndex((record) => record.file === binlog.file);
  const covered = () => `the archive holds ${records[0]?.startGtids || '(nothing)'} to ${records.at(-1)?.endGtids || '(nothing)'}`;
  if (startIndex < 0) return missingStart(backup, binlog.file, records, covered());
  const files: ArchivedBinlog[] = [];
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
  const newest = (parseGtids(records.at(-1)?.endGtids ?? '') ?? []).find((state) => state.domain === target.domain && state.server === target.server);
  return {
    ok: false,
    code: 'NotYetArchived',
    reason: `${gtid} is not archived yet: the archive's newest transaction of domain ${target.domain} from server ${target.server} is ${newest ? formatGtids([newest]) : 'none'}; ${covered()}; give an earlier GTID, or let the restore wait for the archive (--wait-for-archive)`,
  };
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
