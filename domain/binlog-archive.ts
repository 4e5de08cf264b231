/**
 * The binlog archive of a cluster, in its storage beside the backups, one folder per history of the
 * cluster (`history-0` until the first in-place restore, then the restore record's history number:
 * a restored server writes a new binlog history, whose file names start again):
 * `binlogs/<cluster>/history-<n>/<file>.zst` holds a closed binary log, compressed; `<file>.json`
 * beside it, written after it, is its record (the commit, as a manifest is for a backup). A purged
 * binlog that was never archived is a gap: `gap-<after>.json` there says which files were lost,
 * between which GTID states.
 */
import { z } from 'zod';
import { formatGtids, parseGtids, sameGtidState, type BinlogFacts } from './binlog.js';

export const BINLOG_FOLDER = 'binlogs';

const gtidList = z.string().refine((text) => parseGtids(text) !== undefined, 'must be a GTID list such as "0-1-10,1-1-3"');

/** A binlog file name as the server makes it: `<base name>.<sequence>`, with no folder. */
const binlogFileName = z.string().regex(/^[A-Za-z0-9_.-]{1,200}\.\d{6,}$/, 'must be a binlog file name such as "mariadb-bin.000012"');

/** What every archived piece of a binlog records of itself: where it is, its stored object, the facts read from it. */
const archivedPiece = {
  formatVersion: z.literal(1),
  cluster: z.string().min(1),
  history: z.number().int().nonnegative(),
  file: binlogFileName,
  /** The stored object, relative to the history's folder. */
  object: z.string().min(1),
  /** Bytes of the stored object, and its sha256. */
  size: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  compression: z.enum(['zstd']),
  /** The stored object is sealed (docs/encryption.md) under this key id; absent: stored as zstd wrote it. */
  encryption: z.enum(['aes-256-gcm-chunked']).optional(),
  encryptionKeyId: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/).optional(),
  serverId: z.number().int().nonnegative(),
  serverVersion: z.string(),
  firstEventTime: z.iso.datetime(),
  lastEventTime: z.iso.datetime(),
  startGtids: gtidList,
  endGtids: gtidList,
  transactions: z.number().int().nonnegative(),
  /** [seconds since the epoch, GTIDs that moved in that second]: a point in time as a GTID position. */
  seconds: z.array(z.tuple([z.number().int().nonnegative(), gtidList])),
  archivedAt: z.iso.datetime(),
  archivedBy: z.string(),
};

export const binlogRecordSchema = z.object({
  ...archivedPiece,
  /** Bytes of the binlog file itself. */
  fileSize: z.number().int().nonnegative(),
  endPosition: z.number().int().nonnegative(),
  closedBy: z.enum(['rotate', 'stop', 'none']),
});
export type BinlogRecord = z.infer<typeof binlogRecordSchema>;

export const binlogGapSchema = z.object({
  formatVersion: z.literal(1),
  cluster: z.string().min(1),
  history: z.number().int().nonnegative(),
  /** The newest archived file before the gap, and the oldest file the server still had after it. */
  after: binlogFileName,
  before: binlogFileName,
  /** The files between them, purged before they were archived. */
  lost: z.array(z.string()),
  /** The binlog state at the end of `after`, and at the start of `before` when it was read. */
  fromGtids: gtidList,
  toGtids: gtidList.optional(),
  detectedAt: z.iso.datetime(),
});
export type BinlogGap = z.infer<typeof binlogGapSchema>;

/**
 * A part of a binlog file the server is still writing, streamed into the archive (binlogs.rpo):
 * `segments/<file>/<start>.zst` holds the file's bytes from `startPosition` to `endPosition`, cut
 * after a whole transaction; `<start>.json` beside it, written after it, is this record. The file's
 * parts from position 0 on, end to start, are the file up to the last one's end: a binlog file cut
 * short after a whole transaction, which a restore replays as it replays a closed one. Once the file
 * is closed and archived whole, its parts go.
 *
 * Its facts are those of the file up to `endPosition` (its first event, its start GTID state, the
 * state and the transactions at the end), except `seconds`, which holds this part's own seconds.
 */
export const binlogSegmentSchema = z.object({
  ...archivedPiece,
  startPosition: z.number().int().nonnegative(),
  endPosition: z.number().int().positive(),
});
export type BinlogSegment = z.infer<typeof binlogSegmentSchema>;

/**
 * The streaming archiver's word that the server had logged nothing beyond `endGtids` (the end of
 * the file's newest part) at `through`, by the server's clock: a quiet server's seconds after its
 * last transaction are covered too. `segments/<file>/covered.json`, rewritten while it stays so.
 */
export const binlogCoverSchema = z.object({
  formatVersion: z.literal(1),
  cluster: z.string().min(1),
  history: z.number().int().nonnegative(),
  file: binlogFileName,
  endPosition: z.number().int().positive(),
  endGtids: gtidList,
  through: z.iso.datetime(),
  writtenAt: z.iso.datetime(),
});
export type BinlogCover = z.infer<typeof binlogCoverSchema>;

/** What the streaming step reports in its heartbeats: where it is and how far behind the server. */
export interface StreamReport {
  file: string;
  /** Where the file's stored parts end. */
  position: number;
  /** How long the oldest transaction the store lacks has waited (or the stream has been down). */
  lagSeconds: number;
  caughtUp: boolean;
  lastError?: string;
}

/** A stored piece of an archived file: the whole file's object, or one streamed part of an open file. */
export interface BinlogPart {
  object: string;
  size: number;
  sha256: string;
  encryption?: 'aes-256-gcm-chunked';
  archivedAt: string;
}

/** An archived file as a restore reads it: a closed file's record, or an open file's streamed parts as one. */
export type ArchivedBinlog = BinlogRecord & { parts?: BinlogPart[] };

/** The folder of an open file's streamed parts, relative to its history's folder. */
export function segmentFolder(file: string): string {
  return `segments/${file}/`;
}

export function segmentObject(file: string, startPosition: number): string {
  return `${segmentFolder(file)}${String(startPosition).padStart(12, '0')}.zst`;
}

export function segmentRecordKey(where: BinlogHistory, file: string, startPosition: number): string {
  return `${binlogFolder(where)}${segmentFolder(file)}${String(startPosition).padStart(12, '0')}.json`;
}

export function coverKey(where: BinlogHistory, file: string): string {
  return `${binlogFolder(where)}${segmentFolder(file)}covered.json`;
}

/**
 * An open file as the archive holds it: its parts from position 0, each starting where the one
 * before ended (a part after a break is not used), as one record; `cover` moves its last event's
 * time on when it vouches for the same end. Undefined: no part from position 0.
 */
export function openFileRecord(segments: BinlogSegment[], cover?: BinlogCover): ArchivedBinlog | undefined {
  const ordered = [...segments].sort((a, b) => a.startPosition - b.startPosition);
  const used: BinlogSegment[] = [];
  for (const segment of ordered) {
    const end = used.at(-1)?.endPosition ?? 0;
    if (segment.startPosition !== end) break;
    used.push(segment);
  }
  const last = used.at(-1);
  if (!last) return undefined;
  const seconds = new Map<number, Map<string, string>>();
  for (const segment of used) {
    for (const [at, gtids] of segment.seconds) {
      const moved = seconds.get(at) ?? new Map<string, string>();
      for (const gtid of parseGtids(gtids) ?? []) moved.set(String(gtid.domain), formatGtids([gtid]));
      seconds.set(at, moved);
    }
  }
  const covered = cover && cover.endPosition === last.endPosition && sameGtidState(parseGtids(cover.endGtids) ?? [], parseGtids(last.endGtids) ?? []) && cover.through > last.lastEventTime;
  return {
    formatVersion: 1,
    cluster: last.cluster,
    history: last.history,
    file: last.file,
    object: last.object,
    size: used.reduce((sum, segment) => sum + segment.size, 0),
    sha256: last.sha256,
    fileSize: last.endPosition,
    compression: 'zstd',
    ...(last.encryption ? { encryption: last.encryption } : {}),
    ...(last.encryptionKeyId ? { encryptionKeyId: last.encryptionKeyId } : {}),
    serverId: last.serverId,
    serverVersion: last.serverVersion,
    firstEventTime: used[0]?.firstEventTime ?? last.firstEventTime,
    lastEventTime: covered ? cover.through : last.lastEventTime,
    startGtids: used[0]?.startGtids ?? last.startGtids,
    endGtids: last.endGtids,
    endPosition: last.endPosition,
    transactions: last.transactions,
    closedBy: 'none',
    seconds: [...seconds.entries()].sort(([a], [b]) => a - b).map(([at, moved]) => [at, [...moved.values()].join(',')]),
    archivedAt: last.archivedAt,
    archivedBy: last.archivedBy,
    parts: used.map((segment) => ({ object: segment.object, size: segment.size, sha256: segment.sha256, archivedAt: segment.archivedAt, ...(segment.encryption ? { encryption: segment.encryption } : {}) })),
  };
}

/** One history of one cluster's binary log: the cluster, and its history number. */
export interface BinlogHistory {
  cluster: string;
  history: number;
}

export function binlogFolder({ cluster, history }: BinlogHistory): string {
  return `${BINLOG_FOLDER}/${cluster}/history-${history}/`;
}

export function binlogObjectKey(where: BinlogHistory, file: string): string {
  return `${binlogFolder(where)}${file}.zst`;
}

export function binlogRecordKey(where: BinlogHistory, file: string): string {
  return `${binlogFolder(where)}${file}.json`;
}

export function binlogGapKey(where: BinlogHistory, after: string): string {
  return `${binlogFolder(where)}gap-${after}.json`;
}

/** The base name and sequence of a binlog file name, or undefined for any other name. */
export function splitBinlogName(file: string): { base: string; sequence: number } | undefined {
  const match = /^(.+)\.(\d{6,})$/.exec(file);
  if (!match) return undefined;
  return { base: match[1] as string, sequence: Number(match[2]) };
}

/** The record of an archived file, from its scanned facts. */
export function binlogRecord(input: { cluster: string; history: number; file: string; object: string; size: number; sha256: string; fileSize: number; facts: BinlogFacts; archivedBy: string; archivedAt: Date; encryption?: { scheme: 'aes-256-gcm-chunked'; keyId: string } }): BinlogRecord {
  const { facts } = input;
  const iso = (seconds: number) => new Date(seconds * 1000).toISOString();
  return {
    formatVersion: 1,
    cluster: input.cluster,
    history: input.history,
    file: input.file,
    object: input.object,
    size: input.size,
    sha256: input.sha256,
    fileSize: input.fileSize,
    compression: 'zstd',
    serverId: facts.serverId,
    serverVersion: facts.serverVersion,
    firstEventTime: iso(facts.firstEventTime),
    lastEventTime: iso(facts.lastEventTime),
    startGtids: formatGtids(facts.startGtids),
    endGtids: formatGtids(facts.endGtids),
    endPosition: facts.endPosition,
    transactions: facts.transactions,
    closedBy: facts.closedBy,
    seconds: facts.seconds.map((second) => [second.at, formatGtids(second.gtids)]),
    archivedAt: input.archivedAt.toISOString(),
    ...(input.encryption ? { encryption: input.encryption.scheme, encryptionKeyId: input.encryption.keyId } : {}),
    archivedBy: input.archivedBy,
  };
}

/**
 * The closed files on the server that the archive lacks, oldest first. `serverFiles` is `SHOW
 * BINARY LOGS` in order: the last is the file the server writes now and is never archived. A file
 * is archived once: a record that exists means it is.
 */
export function filesToArchive(serverFiles: string[], archived: string[]): string[] {
  const done = new Set(archived);
  return serverFiles.slice(0, -1).filter((file) => !done.has(file));
}

/** The names between two files of one base name, by sequence: what was lost when `before` continues no archived file. */
export function filesBetween(after: string, before: string): string[] {
  const a = splitBinlogName(after);
  const b = splitBinlogName(before);
  if (!a || !b || a.base !== b.base || b.sequence <= a.sequence + 1) return [];
  const width = before.length - b.base.length - 1;
  return Array.from({ length: b.sequence - a.sequence - 1 }, (_, index) => `${a.base}.${String(a.sequence + 1 + index).padStart(width, '0')}`);
}

/** Whether `file` comes before `than` in one base name's sequence. */
/** How the archiver's refusal to go on from a store that lost archived binlogs begins (status reports it as an integrity problem). */
export const VANISHED_BINLOGS = 'archived binlogs vanished';

export function isOlderFile(file: string, than: string): boolean {
  const a = splitBinlogName(file);
  const b = splitBinlogName(than);
  return a !== undefined && b !== undefined && a.base === b.base && a.sequence < b.sequence;
}

/** The newest of the archived file names (by sequence within the newest base name seen). */
export function newestFile(files: string[]): string | undefined {
  let newest: { file: string; sequence: number } | undefined;
  for (const file of files) {
    const split = splitBinlogName(file);
    if (split && (!newest || split.sequence > newest.sequence)) newest = { file, sequence: split.sequence };
  }
  return newest?.file;
}

/** Whether `next` continues `previous` with no transaction missing between them. */
export function continues(previous: Pick<BinlogRecord, 'endGtids'>, next: Pick<BinlogRecord, 'startGtids'>): boolean {
  return sameGtidState(parseGtids(previous.endGtids) ?? [], parseGtids(next.startGtids) ?? []);
}

/** What the archive holds, by name only: its histories, and in each the archived files and the gaps (by the file before each). */
export interface ArchiveListing {
  histories: { history: number; files: string[]; gapsAfter: string[] }[];
}

export interface BinlogPruning {
  /** Per history: the archived files and gap records no kept backup needs. */
  histories: { history: number; files: string[]; gapsAfter: string[] }[];
  /** The oldest file of the current history that is kept, and the backup that needs it. */
  keptFrom?: { file: string; backup: string };
  /** Why nothing (more) goes, when that is the case. */
  reason?: string;
}

/**
 * Binlog retention follows backup retention: in the cluster's current history, the files older
 * than the oldest one that holds a kept backup's binlog position go (no kept backup can
 * start a replay before it), with the gaps among them, but never the newest archived file (the
 * archiver continues from it); an older history (before the cluster's
 * last in-place restore) goes whole once no kept backup was taken before that restore. Nothing goes
 * when no kept backup records a binlog position, or when a backup's manifest cannot be read (what
 * it needs is unknown).
 */
export function binlogsToPrune(input: { kept: { name: string; finishedAt: string; binlogFile?: string }[]; unreadableBackups: number; archive: ArchiveListing; currentHistory: number; restoredAt?: string }): BinlogPruning {
  const none = (reason: string): BinlogPruning => ({ histories: [], reason });
  if (input.unreadableBackups > 0) return none(`${input.unreadableBackups} backup(s) of the cluster have a manifest that cannot be read: what they need is unknown, so no binlog is removed`);
  const current = input.kept.filter((backup) => input.restoredAt === undefined || backup.finishedAt >= input.restoredAt);
  // The oldest file any kept backup needs, by sequence: not by when the backups finished.
  const oldest = current.filter((backup) => backup.binlogFile !== undefined).sort((a, b) => (isOlderFile(a.binlogFile ?? '', b.binlogFile ?? '') ? -1 : isOlderFile(b.binlogFile ?? '', a.binlogFile ?? '') ? 1 : 0))[0];
  const histories: BinlogPruning['histories'] = [];
  const everyKeptIsCurrent = current.length === input.kept.length;
  for (const listed of input.archive.histories) {
    if (listed.history < input.currentHistory) {
      if (everyKeptIsCurrent) histories.push({ history: listed.history, files: [...listed.files], gapsAfter: [...listed.gapsAfter] });
    } else if (listed.history === input.currentHistory && oldest?.binlogFile) {
      const floor = oldest.binlogFile;
      // The newest archived file stays too: the archiver goes on from it.
      const newest = newestFile(listed.files);
      const goes = (file: string) => isOlderFile(file, floor) && file !== newest;
      histories.push({ history: listed.history, files: listed.files.filter(goes), gapsAfter: listed.gapsAfter.filter(goes) });
    }
  }
  const pruning = histories.filter((history) => history.files.length + history.gapsAfter.length > 0);
  return {
    histories: pruning,
    ...(oldest?.binlogFile ? { keptFrom: { file: oldest.binlogFile, backup: oldest.name } } : {}),
    ...(oldest ? {} : { reason: 'no kept backup of the current history records a binlog position, so its archive is kept whole' }),
  };
}
