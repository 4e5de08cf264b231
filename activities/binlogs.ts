/**
 * Archiving the binary log: every closed binlog file the archive lacks goes to storage, compressed,
 * its facts read from its event headers on the way (domain/binlog.ts), its record written last.
 * The file the server writes now is never read; it is closed (FLUSH BINARY LOGS) when it holds
 * transactions the archive lacks. A file that continues no archived one (purged before it was
 * archived) leaves a gap, which is recorded.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { chown, mkdir, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Transform, Writable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Context } from '@temporalio/activity';
import { heartbeat } from './liveness.js';
import { execa } from 'execa';
import pMap from 'p-map';
import { BinlogScanner, formatGtids, isEncryptedByServer, gtidPosition, parseGtid, parseGtids, sameGtidState, type BinlogFacts, type Gtid } from '../domain/binlog.js';
import {
  BINLOG_FOLDER,
  binlogFolder,
  binlogGapKey,
  binlogGapSchema,
  binlogObjectKey,
  binlogRecord,
  binlogRecordKey,
  binlogRecordSchema,
  binlogsToPrune,
  binlogCoverSchema,
  binlogSegmentSchema,
  continues,
  coverKey,
  openFileRecord,
  segmentFolder,
  segmentObject,
  segmentRecordKey,
  type BinlogCover,
  type StreamReport,
  filesBetween,
  filesToArchive,
  isOlderFile,
  VANISHED_BINLOGS,
  newestFile,
  splitBinlogName,
  type ArchiveListing,
  type ArchivedBinlog,
  type BinlogGap,
  type BinlogSegment,
  type BinlogHistory,
  type BinlogRecord,
} from '../domain/binlog-archive.js';
import type { ClusterConfig, StorageEncryptionConfig } from '../domain/config.js';
import { isCommitted, type CommittedBackup, type StoredBackup } from '../domain/chain.js';
import { businessFailure, businessFailureIn, FailureType, rootMessage, type FailureTypeName } from '../domain/failures.js';
import { durationMs } from '../domain/config.js';
import { BinlogTail, type StreamStart, type TailCut } from './binlog-stream.js';
import { WorkflowId } from '../domain/workflow-contract.js';
import { readableToolLog } from '../domain/tool-failures.js';
import { untouchableChains } from '../domain/retention.js';
import { restoreRunningKey } from '../domain/layout.js';
import {
  chooseBackupForGtid,
  chooseBackupForPoint,
  coveredThrough,
  describeRanges,
  planGtidReplay,
  planReplay,
  pointSecond,
  recoverableWindow,
  replayableBackups,
  replayServerId,
  secondLabel,
  stopAfterSecond,
  tookPlaceIn,
  unknownGtidSource,
  type ArchiveSummary,
  type HistorySummary,
  type PointInTimePlan,
  type ReplayPlan,
} from '../domain/point-in-time.js';
import { readCatalog } from './catalog.js';
import { childEnv } from './child-env.js';
import { privateScratchFolder, readPassword, writeDefaultsFile } from './database/defaults-file.js';
import { childProcessOptions } from './child-env.js';
import { runSql } from './database/sql.js';
import { startPrivateSession, stopLeftoverServer } from './database/private-server.js';
import type { TargetServer } from './database/server-layout.js';
import { exists } from './files.js';
import { openSource, type RestoreSource } from './restore.js';
import type { ActivityDeps } from './deps.js';
import { historyOf, readRestoreRecord } from './restore-record.js';
import { failpoint } from './failpoints.js';
import { assertAttemptHolds, holdingStream, removeUnlessReplaced } from './attempt-lease.js';
import type { ObjectStore } from './storage/index.js';
import { DecryptStream, ENCRYPTION_SCHEME, type KeyRing } from '../encryption/objects.js';
import { binlogObjectIdentity, encryptionFailure, plaintextAdmitted, sealing } from './sealed-store.js';
import { Progress, StreamMeter, tailLines } from './streams.js';
import { readTrustedRecord, writeRecord } from './records.js';
import { countArchivedBinlog } from './counters.js';
import { lockEnd } from '../domain/object-lock.js';

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

export interface ArchiveRound {
  /** The cluster's history the round archived into (the number of its in-place restores). */
  history: number;
  /** Files archived in this round, oldest first. */
  archived: { file: string; transactions: number; size: number }[];
  /** The newest archived file after this round. */
  newest?: { file: string; lastEventTime: string; endGtids: string };
  /** The server's binlog position (`gtid_binlog_pos`) when the round ended. */
  serverPosition: string;
  /** Whether the archive holds every transaction the server had logged when the round ended. */
  caughtUp: boolean;
  /** Every gap the archive has, oldest first (found in this round or before). */
  gaps: BinlogGap[];
  /** An in-place restore of the cluster that held this round off (it committed nothing). */
  heldBy?: string;
}

/** Thrown inside a round when an in-place restore begins: the round stops and commits nothing more. */
class HeldByRestore extends Error {
  constructor(readonly workflowId: string) {
    super(`held by the in-place restore ${workflowId}`);
  }
}

/** The in-place restore of the cluster that is running now, if any (a marker of one that ended holds nothing). */
async function runningRestore(store: ObjectStore, cluster: string): Promise<string | undefined> {
  const text = await store.getText(restoreRunningKey(cluster));
  if (text === undefined) return undefined;
  const marker = JSON.parse(text) as { workflowId: string; runId: string };
  const description = await Context.current()
    .client.workflow.getHandle(marker.workflowId, marker.runId)
    .describe()
    .catch(() => undefined);
  return description?.status.name === 'RUNNING' ? marker.workflowId : undefined;
}

interface ServerBinlogs {
  folder: string;
  /** SHOW BINARY LOGS, in order: the last one is the file being written. */
  files: string[];
  position: string;
}

async function serverBinlogs(cluster: ClusterConfig): Promise<ServerBinlogs> {
  const [[logBin = '0', basename = '', position = ''] = []] = await runSql(cluster.flavour, cluster.connection, 'SELECT @@log_bin, @@log_bin_basename, @@gtid_binlog_pos');
  if (logBin !== '1' || basename === '' || basename === 'NULL') {
    throw businessFailure(FailureType.BinlogUnavailable, `cluster ${cluster.name} does not write a binary log (log_bin is off): turn it on (log_bin = <name> in the server's option file) or set binlogs.archive: false`);
  }
  const files = (await runSql(cluster.flavour, cluster.connection, 'SHOW BINARY LOGS')).map(([name = '']) => name).filter(Boolean);
  return { folder: dirname(basename), files, position };
}

/** Counts the bytes that pass and shows them to the scanner, without holding them. */
class ScanningMeter extends Transform {
  bytes = 0;

  constructor(private readonly scanner: BinlogScanner) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    try {
      this.scanner.push(chunk);
    } catch (error) {
      callback(error as Error);
      return;
    }
    callback(null, chunk);
  }
}

/**
 * Names of the archived files and of the recorded gaps, from one listing: no record is read. A file
 * the server still writes, streamed in parts (binlogs.rpo), is among the files once it has a part.
 */
async function listArchive(store: ObjectStore, where: BinlogHistory, signal: AbortSignal): Promise<{ files: string[]; closed: string[]; gapKeys: string[]; openFiles: string[]; partKeys: string[] }> {
  const folder = binlogFolder(where);
  const keys = (await store.list(folder, { signal })).map((object) => object.key.slice(folder.length));
  const closed = keys.filter((key) => key.endsWith('.json') && !key.includes('/') && !key.startsWith('gap-')).map((key) => key.slice(0, -'.json'.length));
  const done = new Set(closed);
  const streamed = new Set(keys.filter((key) => key.startsWith('segments/') && /\/\d{12}\.json$/.test(key)).map((key) => key.split('/')[1] ?? ''));
  const openFiles = [...streamed].filter((file) => file !== '' && !done.has(file));
  return { files: [...closed, ...openFiles], closed, openFiles, partKeys: keys.filter((key) => key.startsWith('segments/')), gapKeys: keys.filter((key) => key.startsWith('gap-') && key.endsWith('.json')).map((key) => `${folder}${key}`) };
}

/** A file the server still writes, as its streamed parts hold it (undefined: none from its start). */
async function readOpenFile(store: ObjectStore, where: BinlogHistory, file: string): Promise<ArchivedBinlog | undefined> {
  const folder = `${binlogFolder(where)}${segmentFolder(file)}`;
  const keys = (await store.list(folder)).map((object) => object.key).filter((key) => /\/\d{12}\.json$/.test(key));
  const segments = (await pMap(keys, (key) => readTrustedRecord(store, key, (value) => binlogSegmentSchema.parse(value)), { concurrency: 16 })).filter((segment): segment is BinlogSegment => segment !== undefined);
  const cover = await readTrustedRecord(store, coverKey(where, file), (value) => binlogCoverSchema.parse(value));
  return openFileRecord(segments, cover);
}

/**
 * A gap, when `next` does not continue `previous` (files purged before they were archived): its
 * record, and the uploads a killed attempt may have left open for the lost files.
 */
async function recordGapIfBroken(store: ObjectStore, where: BinlogHistory, previous: Pick<BinlogRecord, 'file' | 'endGtids'>, next: Pick<BinlogRecord, 'file' | 'startGtids'>): Promise<BinlogGap | undefined> {
  if (continues(previous, next)) return undefined;
  const gap: BinlogGap = {
    formatVersion: 1,
    ...where,
    after: previous.file,
    before: next.file,
    lost: filesBetween(previous.file, next.file),
    fromGtids: previous.endGtids,
    toGtids: next.startGtids,
    detectedAt: new Date().toISOString(),
  };
  await writeRecord(store, binlogGapKey(where, previous.file), gap);
  await store.abortIncompleteUploads(gap.lost.map((lost) => binlogObjectKey(where, lost)));
  return gap;
}

/** The cluster's current history: 0 until its first in-place restore, then that restore's number. */
async function currentHistory(store: ObjectStore, cluster: string): Promise<{ where: BinlogHistory; restoredAt?: string }> {
  const record = await readRestoreRecord(store, cluster);
  return { where: { cluster, history: historyOf(record) }, ...(record ? { restoredAt: record.restoredAt } : {}) };
}

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

/** Reads the records of the named archived files, in the order given: a file with no record of its own, from its streamed parts. */
async function readRecords(store: ObjectStore, where: BinlogHistory, files: string[]): Promise<ArchivedBinlog[]> {
  const records: ArchivedBinlog[] = [];
  for (const file of files) {
    const record = (await readTrustedRecord(store, binlogRecordKey(where, file), (value) => binlogRecordSchema.parse(value))) ?? (await readOpenFile(store, where, file));
    if (record) records.push(record);
  }
  return records;
}

function bySequence(a: string, b: string): number {
  return (splitBinlogName(a)?.sequence ?? 0) - (splitBinlogName(b)?.sequence ?? 0) || a.localeCompare(b);
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** How often the stream looks for what arrived. */
const POLL_MS = 250;
/** How often a quiet server's archive says it still holds everything (binlogCoverSchema). */
const COVER_EVERY_MS = 30_000;

/** The replica id the stream asks the server with: one per cluster, high enough to be no real replica's. */
export function streamServerId(cluster: string): number {
  let hash = 0;
  for (const char of cluster) hash = (hash * 31 + char.charCodeAt(0)) % 0x10000;
  return 0xfffe0000 + hash;
}

/**
 * Downloads archived files into `folder` (as `nameOf(index)`), each decompressed and checked
 * against the sha256 and size of its record, and scanned on the way: their facts, in order.
 */
async function downloadArchivedBinlogs(
  store: ObjectStore,
  where: BinlogHistory,
  files: ReplayPlan['files'],
  folder: string,
  nameOf: (index: number) => string,
  { progress, signal, keys, encryption, stop = {} }: { progress: Progress; signal: AbortSignal; keys: KeyRing; encryption: StorageEncryptionConfig | undefined; stop?: { stopAfter?: number; stopAfterGtid?: Gtid } },
): Promise<BinlogFacts[]> {
  // A replaced attempt (attempt-lease.ts) neither clears nor writes the files a newer one replays.
  assertAttemptHolds(`clear ${folder}`);
  await rm(folder, { recursive: true, force: true });
  await mkdir(folder, { recursive: true });
  const facts: BinlogFacts[] = [];
  let bytes = 0;
  for (const [index, file] of files.entries()) {
    const scanner = new BinlogScanner(stop);
    // A file the server still writes is its streamed parts, end to end; a closed one is one object.
    for (const [partIndex, part] of (file.parts ?? [file]).entries()) {
      const key = `${binlogFolder(where)}${part.object}`;
      const meter = new StreamMeter((done) => progress.update(bytes + done));
      const zstd = execa('zstd', ['-q', '-d', '-c'], { buffer: false, cancelSignal: signal, ...childProcessOptions() });
      // A sealed one is opened chunk by chunk, each checked first; one in plaintext only as its record and the configuration admit.
      const storedAs = { encryption: part.encryption, storedAt: part.archivedAt };
      const opener = new DecryptStream(keys, binlogObjectIdentity(where.cluster, where.history, part.object), plaintextAdmitted(encryption, storedAs));
      const output = createWriteStream(join(folder, nameOf(index)), { flags: partIndex === 0 ? 'w' : 'a' });
      await Promise.all([pipeline(await store.download(key), meter, opener, zstd.stdin, { signal }), pipeline(zstd.stdout, new ScanningMeter(scanner), holdingStream(`write ${nameOf(index)} into ${folder}`), output, { signal }), zstd]).catch((error: unknown) => {
        throw encryptionFailure(error, store, 'archived binlog ', { ...storedAs, object: key });
      });
      const sha256 = meter.digest();
      if (sha256 !== part.sha256 || meter.bytes !== part.size) throw businessFailure(FailureType.ChecksumMismatch, `archived binlog ${store.label}/${key} is corrupt: sha256 ${sha256} (${meter.bytes} bytes) does not match ${part.sha256} (${part.size} bytes) in its record`);
      bytes += meter.bytes;
    }
    facts.push(scanner.finish());
  }
  return facts;
}

/**
 * Where a restore to a point reads backups and archived binlogs: the cluster's own storage, or
 * another cluster's (`source` and `sourceCluster`: a restore of one cluster's data into another).
 */
export interface ArchiveSource {
  cluster: string;
  source?: RestoreSource;
  sourceCluster?: string;
}

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

/**
 * A closed binlog file as the archive reads it: the server's own file, or, when the server encrypts
 * its binlog (encrypt_binlog), a decrypted copy read through the server (`mariadb-binlog
 * --read-from-remote-server --raw`: the same events at the same positions, the Start_encryption event
 * marked ignorable) into a private scratch folder, removed by `dispose`. Undefined: the
 * server purged the file meanwhile.
 */
async function readableBinlog(cluster: ClusterConfig, folder: string, file: string): Promise<{ path: string; dispose: () => Promise<void> } | undefined> {
  const path = join(folder, file);
  const head = await readHead(path, 4096);
  if (head === undefined) return undefined;
  if (!isEncryptedByServer(head)) return { path, dispose: () => Promise.resolve() };
  const scratch = await privateScratchFolder('binlog-');
  const dispose = () => rm(scratch, { recursive: true, force: true });
  const defaults = await writeDefaultsFile(cluster.connection, await readPassword(cluster.connection));
  try {
    const result = await execa(cluster.flavour === 'mariadb' ? 'mariadb-binlog' : 'mysqlbinlog', [`--defaults-file=${defaults.path}`, '--read-from-remote-server', '--raw', `--result-file=${scratch}/`, file], { reject: false, all: true, timeout: 10 * 60_000, ...childProcessOptions() });
    if (result.exitCode !== 0) {
      const log = readableToolLog(String(result.all ?? ''));
      if (/Could not find first log file name/i.test(log)) {
        await dispose();
        return undefined;
      }
      if (/REPLICATION SLAVE/i.test(log)) {
        throw businessFailure(FailureType.BinlogUnavailable, `cluster ${cluster.name} encrypts its binlog (encrypt_binlog), which the archive reads through the server: its user ${cluster.connection.user} needs the REPLICATION SLAVE grant (GRANT REPLICATION SLAVE ON *.* TO ...): ${log}`);
      }
      throw new Error(`reading the encrypted binlog ${file} of cluster ${cluster.name} through the server failed: ${log}`);
    }
    return { path: join(scratch, file), dispose };
  } catch (error) {
    await dispose();
    throw error;
  } finally {
    await defaults.dispose();
  }
}

/** The first bytes of a file, or undefined when it is gone. */
async function readHead(path: string, bytes: number): Promise<Uint8Array | undefined> {
  const handle = await open(path, 'r').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (!handle) return undefined;
  try {
    const buffer = Buffer.alloc(bytes);
    const { bytesRead } = await handle.read(buffer, 0, bytes, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

export function binlogActivities(deps: ActivityDeps) {
  async function archiveSource(input: ArchiveSource): Promise<{ store: ObjectStore; archived: string }> {
    if (!input.source) return { store: deps.store(deps.cluster(input.cluster)), archived: input.cluster };
    return { store: await openSource(deps, { cluster: input.cluster, source: input.source }), archived: input.sourceCluster ?? input.cluster };
  }

  /** Uploads one closed file and then its record; a file the server purged meanwhile is skipped. */
  async function archiveFile(cluster: ClusterConfig, where: BinlogHistory, store: ObjectStore, folder: string, file: string, progress: Progress, signal: AbortSignal): Promise<BinlogRecord | undefined> {
    const seal = (await deps.keys()).current;
    const scanner = new BinlogScanner();
    const meter = new ScanningMeter(scanner);
    const stored = new StreamMeter((bytes) => progress.update(bytes));
    const objectKey = binlogObjectKey(where, file);
    // A file the server encrypted (encrypt_binlog) is read through the server, which decrypts it at the same positions.
    // An attempt killed while it uploaded this file left its multipart upload open: it goes first.
    await store.abortIncompleteUploads([objectKey]);
    const readable = await readableBinlog(cluster, folder, file);
    if (readable === undefined) return undefined; // purged between the listing and now: the next round records the gap
    try {
      return await archiveReadable(readable.path);
    } finally {
      await readable.dispose();
    }

    async function archiveReadable(path: string): Promise<BinlogRecord | undefined> {
      const source = createReadStream(path);
      const opened = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
        source.once('open', () => resolve(undefined));
        source.once('error', (error) => resolve(error));
      });
      if (opened?.code === 'ENOENT') return undefined; // purged between the listing and now: the next round records the gap
      if (opened) throw opened;
      progress.phase(`archiving ${file}`, { object: objectKey });
      const zstd = execa('zstd', ['-q', '-c', '-1', '-T1'], { buffer: false, cancelSignal: signal, ...childProcessOptions() });
      const zstdLog = tailLines(zstd.stderr);
      // Compression before encryption; the record names the key, the object's header binds it to this file.
      const sealer = sealing(seal, binlogObjectIdentity(where.cluster, where.history, `${file}.zst`));
      const results = await Promise.allSettled([pipeline(source, meter, zstd.stdin, { signal }), zstd, store.upload(objectKey, (sealer ? zstd.stdout.pipe(sealer) : zstd.stdout).pipe(stored), { signal })]);
      if (signal.aborted) throw signal.reason;
      const failed = results.find((result) => result.status === 'rejected');
      if (failed) throw new Error(`archiving binlog ${file} of cluster ${cluster.name} failed: ${zstdLog() || String(failed.reason)}`);
      const facts = scanner.finish();
      await failpoint('binlog-uploaded');
      // A restore that began meanwhile may have replaced the server: nothing is committed under the old history.
      const restoring = await runningRestore(store, cluster.name);
      if (restoring) throw new HeldByRestore(restoring);
      const record = binlogRecord({
        ...where,
        file,
        object: `${file}.zst`,
        size: stored.bytes,
        sha256: stored.digest(),
        fileSize: meter.bytes,
        facts,
        archivedBy: Context.current().info.workflowExecution?.workflowId ?? '',
        archivedAt: new Date(),
        ...(seal ? { encryption: { scheme: ENCRYPTION_SCHEME, keyId: seal.id } } : {}),
      });
      // The record is the commit: an upload cut short before it is invisible, and replaced next round.
      await writeRecord(store, binlogRecordKey(where, file), record);
      countArchivedBinlog(where.cluster, 'file', meter.bytes);
      return record;
    }
  }

  return {
    /** What the archive of the cluster's current history holds: its files, its newest event, its gaps and when they were. */
    async describeBinlogArchive(input: { cluster: string }): Promise<ArchiveSummary> {
      const cluster = deps.cluster(input.cluster);
      return summarizeArchive(deps.store(cluster), cluster.name, Context.current().cancellationSignal);
    },

    /**
     * What a restore to a point needs: the newest backup finished before it, and the archived files
     * from that backup's binlog position to the point. A refusal names every stretch that is
     * reachable. With `waitForArchive`, a point the archive does not wholly cover yet is answered
     * with why (`notYetArchived`) instead of a refusal, for the workflow to wait on.
     */
    async planPointInTimeRestore(input: ArchiveSource & { pointInTime?: string; gtid?: string; waitForArchive?: boolean }): Promise<PointInTimePlan | { notYetArchived: string; coverSecond?: number }> {
      const cluster = deps.cluster(input.cluster);
      const { store, archived } = await archiveSource(input);
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

    /**
     * Reads every archived binlog a replay needs, end to end, before the server is stopped: each
     * must have its record's sha256 and size and, when sealed, open chunk by chunk with a key this
     * worker holds. A damaged, cut or swapped file, or a missing key, fails here, naming the file,
     * and the restore stops before its pause. Nothing is written to disk.
     */
    async checkArchivedBinlogs(input: ArchiveSource & { replay: ReplayPlan }): Promise<{ files: number; bytes: number }> {
      const { store, archived } = await archiveSource(input);
      const signal = Context.current().cancellationSignal;
      const progress = new Progress('checking archived binlogs');
      const keys = await deps.keys();
      const work = async () => {
        const { where: current } = await currentHistory(store, archived);
        const where = input.replay.history === undefined ? current : { ...current, history: input.replay.history };
        let bytes = 0;
        for (const file of input.replay.files) {
          for (const part of file.parts ?? [file]) {
            const key = `${binlogFolder(where)}${part.object}`;
            progress.phase(`checking ${file.file}`, { object: key });
            const meter = new StreamMeter((done) => progress.update(bytes + done));
            const storedAs = { encryption: part.encryption, storedAt: part.archivedAt };
            const opener = new DecryptStream(keys, binlogObjectIdentity(where.cluster, where.history, part.object), plaintextAdmitted(deps.config.encryption, storedAs));
            await pipeline(await store.download(key), meter, opener, new Writable({ write: (_chunk, _encoding, done) => done() }), { signal }).catch((error: unknown) => {
              throw encryptionFailure(error, store, 'archived binlog ', { ...storedAs, object: key });
            });
            if (meter.digest() !== part.sha256 || meter.bytes !== part.size) throw businessFailure(FailureType.ChecksumMismatch, `archived binlog ${store.label}/${key} is corrupt: sha256 ${meter.digest()} (${meter.bytes} bytes) does not match ${part.sha256} (${part.size} bytes) in its record`);
            bytes += meter.bytes;
          }
        }
        return { files: input.replay.files.length, bytes };
      };
      return progress.during(work());
    },

    /**
     * Applies archived binlogs to the restored files before the real server starts, through the
     * server's own replication applier: a private server (no network, see private-server.ts) takes
     * the downloaded files, each checked against its sha256, as its relay logs and applies them with
     * `replayThreads` parallel workers from the backup's exact position, stopping before the first
     * transaction that began after the point. It writes the replayed transactions to the restored
     * binlog with their own GTIDs (`log_slave_updates`), with the event scheduler off and no client
     * able to connect. Returns the GTID position the restored server has after it.
     */
    async applyArchivedBinlogs(input: ArchiveSource & { target: TargetServer; replay: ReplayPlan; workDir: string }): Promise<{ gtid: string; files: number; bytes: number }> {
      const cluster = deps.cluster(input.cluster);
      const { store, archived } = await archiveSource(input);
      const signal = Context.current().cancellationSignal;
      const progress = new Progress('downloading archived binlogs');
      const stateDir = join(input.workDir, 'replay-server');
      const relayDir = join(input.workDir, 'relay');
      const applying = join(stateDir, 'applying');
      // Written once the replay has completed, before its marker of a replay under way goes: a worker
      // killed after that returns the same result on the next attempt instead of replaying twice.
      const completed = join(input.workDir, 'replay-completed.json');
      const work = async () => {
        const recorded = await readFile(completed, 'utf8').then(
          (text) => JSON.parse(text) as { gtid: string; files: number; bytes: number },
          () => undefined,
        );
        if (recorded) {
          assertAttemptHolds(`finish the replay in ${input.workDir}`);
          await stopLeftoverServer(stateDir);
          await rm(relayDir, { recursive: true, force: true });
          return recorded;
        }
        if (await exists(applying)) {
          // A worker died while the applier ran: the files hold part of the replay, and a rollback puts the previous ones back.
          await stopLeftoverServer(stateDir);
          throw businessFailure(FailureType.RestoreFailed, `the binlog replay into ${cluster.name} was interrupted (its worker stopped): the restored files hold part of it, so the restore rolls back; run it again`);
        }
        const { where: current } = await currentHistory(store, archived);
        const where = input.replay.history === undefined ? current : { ...current, history: input.replay.history };
        const stopAfterGtid = input.replay.stopAfterGtid === undefined ? undefined : parseGtid(input.replay.stopAfterGtid);
        const stop = stopAfterGtid ? { stopAfterGtid } : { stopAfter: stopAfterSecond(input.replay) };
        const relayName = (index: number) => `relay.${String(index + 1).padStart(6, '0')}`;
        const facts = await downloadArchivedBinlogs(store, where, input.replay.files, relayDir, relayName, { progress, signal, stop, keys: await deps.keys(), encryption: deps.config.encryption });
        if (stopAfterGtid && !facts.some((file) => file.stopGtidSeen)) {
          throw businessFailure(FailureType.RestoreFailed, `the archived binlogs of ${cluster.name} do not hold the transaction ${input.replay.stopAfterGtid} (from ${input.replay.files[0]?.file ?? '?'} to ${input.replay.files.at(-1)?.file ?? '?'}): nothing was applied, and the restore rolls back`);
        }
        // Where the applier stops: before the first transaction after the point, in the first file that has one.
        const start = input.replay.startPosition;
        const stopIndex = facts.findIndex((file, index) => file.stopPosition !== undefined && (index > 0 || file.stopPosition > start));
        const stopsBeforeStart = facts[0]?.stopPosition !== undefined && facts[0].stopPosition <= start;
        const used = facts.slice(0, stopIndex < 0 ? facts.length : stopIndex + 1);
        const totalBytes = used.reduce((sum, file, index) => sum + (index === stopIndex ? (file.stopPosition ?? file.endPosition) : file.endPosition) - (index === 0 ? start : 0), 0);
        const owner = await stat(input.target.layout.datadir);
        await writeFile(join(relayDir, 'relay.index'), used.map((_, index) => `${join(relayDir, relayName(index))}\n`).join(''));
        for (const name of [relayDir, join(relayDir, 'relay.index'), ...used.map((_, index) => join(relayDir, relayName(index)))]) await chown(name, owner.uid, owner.gid);
        const logBin = input.target.logBin && input.target.layout.binlogBasename !== null;
        const server = await startPrivateSession(input.target, {
          initStatements: [],
          flavour: cluster.flavour,
          serverId: replayServerId(facts.flatMap((file) => file.serverIds)),
          logBin,
          bufferPool: cluster.binlogs.replayBufferPool,
          stateDir,
          ...(cluster.controller.kind === 'process' ? { serverBinary: cluster.controller.serverBinary } : {}),
          options: [
            ...(logBin ? ['log-slave-updates'] : []),
            `relay-log=${join(relayDir, 'relay')}`,
            `relay-log-index=${join(relayDir, 'relay.index')}`,
            `master-info-file=${join(relayDir, 'master.info')}`,
            `relay-log-info-file=${join(relayDir, 'relay-log.info')}`,
            `slave_parallel_threads=${cluster.binlogs.replayThreads}`,
            'slave_parallel_mode=optimistic',
            // A crash during the replay rolls the restore back, so the replay need not be durable until its clean shutdown.
            'innodb_flush_log_at_trx_commit=2',
            'sync_binlog=0',
          ],
        });
        const sql = (query: string, options: { columnNames?: boolean } = {}) => server.sql(query, options);
        try {
          if (!stopsBeforeStart && used.length > 0) {
            progress.phase(`applying ${used.length} archived binlogs up to ${input.replay.stopAfterGtid ? `GTID ${input.replay.stopAfterGtid}` : `${input.replay.stopDatetime} UTC`}`, { bytesTotal: totalBytes });
            assertAttemptHolds(`replay binlogs into ${input.target.layout.datadir}`);
            await writeFile(applying, '');
            const first = input.replay.files[0]?.file ?? '';
            await sql(`CHANGE MASTER TO MASTER_HOST='chainbackup-replay.invalid', RELAY_LOG_FILE='${relayName(0)}', RELAY_LOG_POS=${start}, MASTER_LOG_FILE='${first}', MASTER_LOG_POS=${start}, MASTER_USE_GTID=no`);
            const until = stopIndex < 0 ? undefined : { file: relayName(stopIndex), position: used[stopIndex]?.stopPosition ?? 0 };
            await sql(`START SLAVE SQL_THREAD${until ? ` UNTIL RELAY_LOG_FILE='${until.file}', RELAY_LOG_POS=${until.position}` : ''}`);
            await failpoint('binlog-applying');
            const last = { file: relayName(used.length - 1), end: used.at(-1)?.endPosition ?? 0 };
            for (;;) {
              if (signal.aborted) throw signal.reason;
              const [header = [], values = []] = await sql('SHOW SLAVE STATUS', { columnNames: true });
              const status = new Map(header.map((name, index) => [name, values[index] ?? '']));
              const file = status.get('Relay_Log_File') ?? '';
              const position = Number(status.get('Relay_Log_Pos') ?? 0);
              const index = used.findIndex((_, at) => relayName(at) === file);
              progress.update(used.slice(0, Math.max(index, 0)).reduce((sum, done, at) => sum + done.endPosition - (at === 0 ? start : 0), 0) + Math.max(position - (index === 0 ? start : 0), 0));
              if (status.get('Last_SQL_Errno') !== '0') throw businessFailure(FailureType.RestoreFailed, `replaying the archived binlogs into ${cluster.name} failed at ${input.replay.files[index]?.file ?? file} position ${position}: ${status.get('Last_SQL_Error') ?? ''}`);
              if (status.get('Slave_SQL_Running') !== 'Yes') {
                if (until && file === until.file && position === until.position) break;
                throw businessFailure(FailureType.RestoreFailed, `the replication applier replaying into ${cluster.name} stopped at ${file} position ${position} before its stop position: ${(await server.errors()).join(' | ') || 'no error logged'}`);
              }
              // With no transaction after the point in the files, the applier has done when it has read past the last one.
              if (!until && (index < 0 ? file > last.file : file === last.file && position >= last.end)) break;
              await delay(500);
            }
            await sql('STOP SLAVE');
            await sql('RESET SLAVE ALL');
          }
          const [[gtid = ''] = []] = await sql(logBin ? 'SELECT @@gtid_binlog_pos' : 'SELECT @@gtid_slave_pos');
          await server.dropAccount();
          const errors = await server.errors();
          if (errors.length > 0) throw businessFailure(FailureType.RestoreFailed, `the private server that replayed binlogs into ${cluster.name} logged errors: ${errors.join(' | ')}`);
          const result = { gtid, files: used.length, bytes: totalBytes };
          assertAttemptHolds(`record the replay as completed in ${completed}`);
          await writeFile(completed, `${JSON.stringify(result)}\n`);
          return result;
        } finally {
          await server.stop();
          // A replaced attempt's are a newer attempt's now.
          await removeUnlessReplaced(relayDir);
          await removeUnlessReplaced(stateDir);
        }
      };
      return progress.during(work());
    },

    /**
     * Replays archived binlogs into the restored, running server through one `mariadb-binlog |
     * mariadb` session. Restores started before the replay moved before the server's start
     * (patched: binlogs-applied-before-start) still call it; new ones use applyArchivedBinlogs.
     */
    async replayBinlogs(input: { cluster: string; replay: ReplayPlan; workDir: string }): Promise<{ gtid: string; files: number }> {
      const cluster = deps.cluster(input.cluster);
      const store = deps.store(cluster);
      const signal = Context.current().cancellationSignal;
      const progress = new Progress('downloading archived binlogs');
      const { where } = await currentHistory(store, cluster.name);
      const folder = join(input.workDir, 'binlogs');
      const work = async () => {
        await downloadArchivedBinlogs(store, where, input.replay.files, folder, (index) => input.replay.files[index]?.file ?? '', { progress, signal, keys: await deps.keys(), encryption: deps.config.encryption });
        const connection = cluster.connection;
        const defaults = await writeDefaultsFile(connection, await readPassword(connection));
        const sql = (query: string) => runSql(cluster.flavour, connection, query);
        // A retry after a worker died mid-replay resumes after the last transaction the server logged
        // (replayed transactions keep their GTIDs); a first attempt starts at the backup's exact position.
        let start = `--start-position=${input.replay.startPosition}`;
        if (Context.current().info.attempt > 1) {
          const [[logBin = '0', position = ''] = []] = await sql('SELECT @@log_bin, @@gtid_binlog_pos');
          if (logBin !== '1') throw businessFailure(FailureType.RestoreFailed, `the replay into ${cluster.name} was interrupted and cannot resume: the restored server does not write a binary log, so what was replayed is unknown`);
          start = `--start-position=${position}`;
        }
        const [[scheduler = 'OFF'] = []] = await sql('SELECT @@global.event_scheduler');
        if (scheduler === 'ON') await sql('SET GLOBAL event_scheduler = OFF');
        try {
          progress.phase(`replaying ${input.replay.files.length} archived binlogs up to ${input.replay.stopDatetime} UTC`);
          assertAttemptHolds(`replay binlogs into cluster ${cluster.name}`);
          const reader = execa(
            'mariadb-binlog',
            ['--no-defaults', start, `--stop-datetime=${input.replay.stopDatetime}`, ...input.replay.files.map((file) => join(folder, file.file))],
            // --stop-datetime is read in the local time zone: UTC, whatever the worker's.
            { buffer: false, cancelSignal: signal, env: childEnv({ TZ: 'UTC' }), extendEnv: false },
          );
          const client = execa('mariadb', [`--defaults-file=${defaults.path}`, '--binary-mode', '--batch'], { stdin: reader.stdout, cancelSignal: signal, reject: false, all: true, ...childProcessOptions() });
          reader.stdout.destroy(); // the client holds the pipe now
          const readerLog = tailLines(reader.stderr);
          const [read, applied] = await Promise.allSettled([reader, client]);
          if (signal.aborted) throw signal.reason;
          if (read.status === 'rejected') throw new Error(`mariadb-binlog failed for cluster ${cluster.name}: ${readerLog() || String(read.reason)}`);
          if (applied.status === 'rejected' || applied.value.exitCode !== 0) {
            const log = applied.status === 'fulfilled' ? (applied.value.all ?? '').trim().split('\n').slice(-5).join('\n') : String(applied.reason);
            throw businessFailure(FailureType.RestoreFailed, `replaying the archived binlogs into ${cluster.name} failed: ${log}`);
          }
        } finally {
          if (scheduler === 'ON') await sql('SET GLOBAL event_scheduler = ON').catch(() => undefined);
          await defaults.dispose();
          await rm(folder, { recursive: true, force: true });
        }
        const [[gtid = ''] = []] = await sql('SELECT @@gtid_binlog_pos');
        return { gtid, files: input.replay.files.length };
      };
      return progress.during(work());
    },

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

    /**
     * One archiving round: uploads every closed file the archive lacks, closes the current one when
     * it holds transactions the archive lacks and uploads it too, and records a gap where an
     * archived file does not continue the one before it. `archivedUpTo` is the newest file earlier
     * rounds archived (absent from runs recorded before it was passed): a store that no longer holds
     * it lost archived binlogs, and the round refuses to go on.
     */
    /**
     * One archiving round. `coverSecond`: a restore waits for the archive to cover that second, so
     * the server's binlog is closed now even without new transactions, once the server's clock is
     * past it (its rotation is the archived event of a later second that proves the cover).
     */
    /**
     * Streams the cluster's binary log into the archive for up to `forMs` (binlogs.rpo): first every
     * closed file the archive lacks, whole; then the file the server writes, in parts cut after whole
     * transactions, each stored once its oldest transaction has waited a third of the RPO; each file
     * that closes is archived whole and its parts go. A server restart or a cut connection starts the
     * stream again where the archive ends; storage that refuses a part is tried again while the
     * stream goes on into the scratch folder. Nothing is rotated on the server.
     */
    async streamBinlogs(input: { cluster: string; archivedUpTo?: { history: number; file: string }; forMs: number }): Promise<ArchiveRound> {
      const cluster = deps.cluster(input.cluster);
      const store = deps.store(cluster);
      const signal = Context.current().cancellationSignal;
      const progress = new Progress('starting the binlog stream');
      return progress.during(streamRound(cluster, store, progress, signal, input));
    },

    async archiveBinlogs(input: { cluster: string; archivedUpTo?: { history: number; file: string }; coverSecond?: number }): Promise<ArchiveRound> {
      const cluster = deps.cluster(input.cluster);
      const store = deps.store(cluster);
      const signal = Context.current().cancellationSignal;
      const progress = new Progress('reading the binary log list');
      // Heartbeats on a timer as well: a slow listing or upload must not look like a dead worker.
      return progress.during(archiveRound(cluster, store, progress, signal, input.archivedUpTo, input.coverSecond));
    },
  };

  /** Stores one streamed part and then its record (the commit: a part with no record is not archived). */
  async function storePart(where: BinlogHistory, store: ObjectStore, cut: TailCut, signal: AbortSignal): Promise<BinlogSegment> {
    const seal = (await deps.keys()).current;
    const object = segmentObject(cut.file, cut.start);
    const key = `${binlogFolder(where)}${object}`;
    const zstd = execa('zstd', ['-q', '-c', '-1', '-T1'], { buffer: false, cancelSignal: signal, ...childProcessOptions() });
    const zstdLog = tailLines(zstd.stderr);
    const sealer = sealing(seal, binlogObjectIdentity(where.cluster, where.history, object));
    const stored = new StreamMeter(() => undefined);
    const source = createReadStream(cut.localPath, { start: cut.localStart, end: cut.localEnd - 1 });
    const results = await Promise.allSettled([pipeline(source, zstd.stdin, { signal }), zstd, store.upload(key, (sealer ? zstd.stdout.pipe(sealer) : zstd.stdout).pipe(stored), { signal })]);
    if (signal.aborted) throw signal.reason;
    const failed = results.find((result) => result.status === 'rejected');
    if (failed) throw new Error(`storing ${cut.file} from ${cut.start} to ${cut.end}: ${zstdLog() || rootMessage(failed.reason)}`);
    await failpoint('binlog-part-uploaded');
    const iso = (seconds: number) => new Date(seconds * 1000).toISOString();
    const record: BinlogSegment = {
      formatVersion: 1,
      ...where,
      file: cut.file,
      startPosition: cut.start,
      endPosition: cut.end,
      object,
      size: stored.bytes,
      sha256: stored.digest(),
      compression: 'zstd',
      ...(seal ? { encryption: ENCRYPTION_SCHEME, encryptionKeyId: seal.id } : {}),
      serverId: cut.facts.serverId,
      serverVersion: cut.facts.serverVersion,
      firstEventTime: iso(cut.facts.firstEventTime),
      lastEventTime: iso(cut.facts.lastEventTime),
      startGtids: formatGtids(cut.facts.startGtids),
      endGtids: formatGtids(cut.facts.endGtids),
      transactions: cut.facts.transactions,
      seconds: cut.seconds.map((second) => [second.at, formatGtids(second.gtids)]),
      archivedAt: new Date().toISOString(),
      archivedBy: Context.current().info.workflowExecution?.workflowId ?? '',
    };
    await writeRecord(store, segmentRecordKey(where, cut.file, cut.start), record);
    countArchivedBinlog(where.cluster, 'part', cut.end - cut.start);
    return record;
  }

  /** Removes the streamed parts of every file the archive now holds whole (records before objects). */
  async function dropClosedParts(store: ObjectStore, where: BinlogHistory, signal: AbortSignal): Promise<void> {
    const listed = await listArchive(store, where, signal);
    const closed = new Set(listed.closed);
    const folder = binlogFolder(where);
    const keys = listed.partKeys.filter((key) => closed.has(key.split('/')[1] ?? ''));
    const ordered = [...keys.filter((key) => key.endsWith('.json')), ...keys.filter((key) => !key.endsWith('.json'))];
    if (ordered.length > 0) await store.delete(ordered.map((key) => `${folder}${key}`));
  }

  /** Where the stream starts: the oldest file on the server the archive does not hold whole, after its stored parts. */
  async function streamStart(cluster: ClusterConfig, store: ObjectStore, where: BinlogHistory, signal: AbortSignal): Promise<StreamStart & { known?: ArchivedBinlog }> {
    const listed = await listArchive(store, where, signal);
    const newestClosed = newestFile(listed.closed);
    const server = await serverBinlogs(cluster);
    const file = server.files.find((name) => newestClosed === undefined || isOlderFile(newestClosed, name)) ?? server.files.at(-1);
    if (file === undefined) throw businessFailure(FailureType.BinlogUnavailable, `cluster ${cluster.name} lists no binary log (SHOW BINARY LOGS is empty)`);
    const known = listed.openFiles.includes(file) ? await readOpenFile(store, where, file) : undefined;
    if (!known) return { file };
    // A killed attempt may have been uploading the part after them.
    await store.abortIncompleteUploads([`${binlogFolder(where)}${segmentObject(file, known.endPosition)}`]);
    return {
      file,
      known,
      resume: { position: known.endPosition, firstEventTime: Date.parse(known.firstEventTime) / 1000, startGtids: parseGtids(known.startGtids) ?? [], endGtids: parseGtids(known.endGtids) ?? [], transactions: known.transactions },
    };
  }

  /** Records a gap when a file streamed from its start does not continue the newest file the archive holds before it. */
  async function gapBeforeStreamed(store: ObjectStore, where: BinlogHistory, cut: TailCut, signal: AbortSignal): Promise<BinlogGap | undefined> {
    const listed = await listArchive(store, where, signal);
    const before = newestFile(listed.files.filter((file) => isOlderFile(file, cut.file)));
    if (before === undefined) return undefined;
    const [previous] = await readRecords(store, where, [before]);
    return previous ? recordGapIfBroken(store, where, previous, { file: cut.file, startGtids: formatGtids(cut.facts.startGtids) }) : undefined;
  }

  async function streamRound(cluster: ClusterConfig, store: ObjectStore, progress: Progress, signal: AbortSignal, input: { archivedUpTo?: { history: number; file: string }; forMs: number }): Promise<ArchiveRound> {
    const { where } = await currentHistory(store, cluster.name);
    const dueMs = Math.max(250, Math.floor(durationMs(cluster.binlogs.rpo ?? '5s') / 3));
    const deadline = Date.now() + input.forMs;
    let round: ArchiveRound = { history: where.history, archived: [], serverPosition: '', caughtUp: false, gaps: [] };
    // The first look at the archive checks that it still holds what this archiver archived before.
    let archivedUpTo = input.archivedUpTo?.history === where.history ? input.archivedUpTo.file : undefined;
    const archived: ArchiveRound['archived'] = [];
    let streamed: { file: string; lastEventTime: string; endGtids: string } | undefined;
    let storedBytes = 0;
    let lastError: string | undefined;
    let heldBy: string | undefined;
    let coveredAt = 0;
    let failingSince: number | undefined;
    let reportedAt = 0;
    let streaming = false;
    let freshStart: string | undefined;
    const streamedGaps: BinlogGap[] = [];
    const scratch = await privateScratchFolder('binlog-stream-');
    const tail = new BinlogTail(cluster, scratch, streamServerId(cluster.name));
    const closeFiles = async () => {
      round = await archiveHistory(cluster, store, where, progress, signal, archivedUpTo, undefined, false);
      archivedUpTo = undefined;
      archived.push(...round.archived);
      await dropClosedParts(store, where, signal);
    };
    // A file the server closed is archived whole beside the stream, which goes on storing the next file's parts meanwhile.
    let closing: Promise<void> | undefined;
    let closePending = false;
    const closeBeside = () => {
      if (closing || !closePending) return;
      closePending = false;
      closing = closeFiles()
        .catch((error: unknown) => {
          if (signal.aborted) return;
          lastError = rootMessage(error);
          closePending = true;
        })
        .finally(() => {
          closing = undefined;
        });
    };
    const closed = async () => {
      await closing;
      if (closePending) {
        closePending = false;
        await closeFiles();
      }
    };
    /** Starts the stream where the archive ends; false when an in-place restore has begun a new history meanwhile. */
    const startStream = async () => {
      // An in-place restore replaces the server: nothing is archived while it runs (the step waits, at no cost in Temporal).
      const restoring = await runningRestore(store, cluster.name);
      if (restoring) throw new HeldByRestore(restoring);
      if ((await currentHistory(store, cluster.name)).where.history !== where.history) return false;
      await closed();
      await closeFiles();
      const start = await streamStart(cluster, store, where, signal);
      freshStart = start.known ? undefined : start.file;
      if (start.known) streamed = { file: start.file, lastEventTime: start.known.lastEventTime, endGtids: start.known.endGtids };
      await tail.start(start);
      return true;
    };
    try {
      while (!signal.aborted && Date.now() < deadline) {
        try {
          if (!streaming) {
            if (!(await startStream())) {
              // A new history: this step ends, and the next one streams in it at once.
              heldBy = undefined;
              break;
            }
            streaming = true;
            heldBy = undefined;
            lastError = undefined;
            continue;
          }
          const cut = await tail.poll(Date.now(), dueMs);
          if (cut) {
            // The first file of a stream, from its start: it must continue what the archive holds before it, or the loss
            // is a gap. Within one stream the server sends file after file, and purges none it is sending.
            const gap = cut.start === 0 && cut.file === freshStart ? await gapBeforeStreamed(store, where, cut, signal) : undefined;
            if (gap) streamedGaps.push(gap);
            const record = await storePart(where, store, cut, signal);
            storedBytes += record.size;
            streamed = { file: record.file, lastEventTime: record.lastEventTime, endGtids: record.endGtids };
            lastError = undefined;
            await tail.stored(cut);
            if (cut.closes) closePending = true;
            else await tail.rebaseIfLarge();
            closeBeside();
            continue;
          }
          if (tail.endedWith !== undefined) {
            // The server restarted or the connection was cut: the stream starts again where the archive ends.
            lastError = tail.endedWith;
            streaming = false;
            await delay(1000);
            continue;
          }
          closeBeside();
          if (tail.waitingSince === undefined && streamed && Date.now() - coveredAt >= COVER_EVERY_MS) {
            coveredAt = Date.now();
            await writeCoverIfQuiet(cluster, store, where, tail, streamed);
          }
        } catch (error) {
          if (signal.aborted) throw error;
          if (error instanceof HeldByRestore) {
            heldBy = error.workflowId;
            streaming = false;
            await tail.stop();
            await delay(2000);
            continue;
          }
          // A refusal (the archive lost files it held, the user lacks a grant) is for a person: the step fails with it.
          if (businessFailureIn(error)) throw error;
          // Storage or the server refused: what arrived waits in the scratch folder, and is tried again.
          lastError = rootMessage(error);
          await delay(1000);
        }
        // Behind by the oldest transaction not stored yet, or by the time the stream has been down.
        // Held by an in-place restore is not behind: the server is being replaced, and logs nothing to lose.
        const down = (!streaming && heldBy === undefined) || lastError !== undefined;
        if (down) failingSince ??= Date.now();
        else failingSince = undefined;
        const since = Math.min(tail.waitingSince ?? Infinity, failingSince ?? Infinity);
        const lagSeconds = since === Infinity ? 0 : (Date.now() - since) / 1000;
        if (Date.now() - reportedAt >= 1000) {
          reportedAt = Date.now();
          const report: StreamReport = { file: tail.file ?? '', position: tail.storedPosition, lagSeconds, caughtUp: lagSeconds === 0, ...(lastError ? { lastError } : {}) };
          const phase = heldBy
            ? `held: the in-place restore ${heldBy} is running; the stream goes on in the restored server's history once it is recorded`
            : `streaming ${report.file}: archived up to position ${report.position}${lagSeconds > 0 ? `, ${lagSeconds.toFixed(1)} s behind` : ''}${lastError ? `; last error: ${lastError}` : ''}`;
          progress.phase(phase, { archive: report });
          progress.update(storedBytes);
        }
        await delay(POLL_MS);
      }
      // The end of this stretch: what arrived whole is stored before the stream stops.
      const last = streaming && !signal.aborted ? await tail.pending() : undefined;
      if (last) {
        const record = await storePart(where, store, last, signal);
        streamed = { file: record.file, lastEventTime: record.lastEventTime, endGtids: record.endGtids };
        await tail.stored(last);
        if (last.closes) closePending = true;
      }
      await closed();
    } finally {
      await closing;
      await tail.stop();
      await rm(scratch, { recursive: true, force: true });
    }
    if (heldBy) return { history: where.history, archived, serverPosition: '', caughtUp: false, gaps: round.gaps, heldBy };
    // A server that is down now leaves the position unknown: the next step finds it.
    const serverPosition = await serverBinlogs(cluster).then((server) => server.position, () => '');
    const newest = streamed && (!round.newest || isOlderFile(round.newest.file, streamed.file)) ? streamed : round.newest;
    const caughtUp = serverPosition !== '' && ((parseGtids(serverPosition) ?? []).length === 0 || (newest !== undefined && sameGtidState(gtidPosition(parseGtids(newest.endGtids) ?? []), parseGtids(serverPosition) ?? [])));
    const gaps = [...round.gaps, ...streamedGaps.filter((gap) => !round.gaps.some((known) => known.after === gap.after))];
    return { ...round, archived, ...(newest ? { newest } : {}), serverPosition, caughtUp, gaps };
  }

  /**
   * A quiet server: when it has logged nothing beyond the stored parts, the archive says so with the
   * server's time, which covers the seconds after its last transaction too.
   */
  async function writeCoverIfQuiet(cluster: ClusterConfig, store: ObjectStore, where: BinlogHistory, tail: BinlogTail, streamed: { file: string; lastEventTime: string; endGtids: string }): Promise<void> {
    const [[position = '', serverSecond = '0'] = []] = await runSql(cluster.flavour, cluster.connection, 'SELECT @@gtid_binlog_pos, UNIX_TIMESTAMP()');
    if (tail.file !== streamed.file || !sameGtidState(gtidPosition(parseGtids(streamed.endGtids) ?? []), parseGtids(position) ?? [])) return;
    const through = new Date(Number(serverSecond) * 1000).toISOString();
    if (Number(serverSecond) <= pointSecond(Date.parse(streamed.lastEventTime)) + 1) return;
    const cover: BinlogCover = { formatVersion: 1, ...where, file: streamed.file, endPosition: tail.storedPosition, endGtids: streamed.endGtids, through, writtenAt: new Date().toISOString() };
    await writeRecord(store, coverKey(where, streamed.file), cover);
  }

  async function archiveRound(cluster: ClusterConfig, store: ObjectStore, progress: Progress, signal: AbortSignal, archivedUpTo?: { history: number; file: string }, coverSecond?: number): Promise<ArchiveRound> {
    // A restored server writes a new binlog history (its file names start again): each has its own folder.
    const { where } = await currentHistory(store, cluster.name);
    try {
      const restoring = await runningRestore(store, cluster.name);
      if (restoring) throw new HeldByRestore(restoring);
      return await archiveHistory(cluster, store, where, progress, signal, archivedUpTo?.history === where.history ? archivedUpTo.file : undefined, coverSecond);
    } catch (error) {
      if (!(error instanceof HeldByRestore)) throw error;
      return { history: where.history, archived: [], serverPosition: '', caughtUp: false, gaps: [], heldBy: error.workflowId };
    }
  }

  async function archiveHistory(cluster: ClusterConfig, store: ObjectStore, where: BinlogHistory, progress: Progress, signal: AbortSignal, archivedUpTo?: string, coverSecond?: number, rotate = true): Promise<ArchiveRound> {
    const listed = await listArchive(store, where, signal);
    const archivedFiles = new Set(listed.closed);
    // A file streamed in parts counts as archived up to its parts (binlogs.rpo).
    const newestKnown = newestFile(listed.files);
    // Archiving on from an older file would take a file the server purged meanwhile for a gap, and hide the loss.
    if (archivedUpTo && (newestKnown === undefined || isOlderFile(newestKnown, archivedUpTo))) {
      throw businessFailure(
        FailureType.BinlogUnavailable,
        `${VANISHED_BINLOGS} from ${store.label}: this archiver archived up to ${archivedUpTo}, but the store's newest is ${newestKnown ?? 'none'} (removed by something other than chainbackup, or the store was put back); nothing more is archived until a person has looked: then restart the archiver (temporal workflow terminate --workflow-id ${WorkflowId.binlogArchiver(cluster.name)}, then chainbackup schedules apply)`,
      );
    }
    const newestName = newestFile(listed.closed);
    let newest = newestName ? await readTrustedRecord(store, binlogRecordKey(where, newestName), (value) => binlogRecordSchema.parse(value)) : undefined;
    const gaps: BinlogGap[] = [];
    for (const key of listed.gapKeys) {
      const gap = await readTrustedRecord(store, key, (value) => binlogGapSchema.parse(value));
      if (gap) gaps.push(gap);
    }
    const archived: ArchiveRound['archived'] = [];

    const archivePending = async (server: ServerBinlogs) => {
      for (const file of filesToArchive(server.files, [...archivedFiles])) {
        // Older than the newest archived file: a file the archive skipped once stays a gap.
        if (newest && isOlderFile(file, newest.file)) continue;
        const record = await archiveFile(cluster, where, store, server.folder, file, progress, signal);
        if (!record) continue;
        // The file before it in the archive: the newest closed one, or one streamed in parts after it (binlogs.rpo).
        const streamedBefore = newestFile(listed.openFiles.filter((open) => isOlderFile(open, file) && (!newest || isOlderFile(newest.file, open))));
        const previous = (streamedBefore ? await readOpenFile(store, where, streamedBefore) : undefined) ?? newest;
        const gap = previous ? await recordGapIfBroken(store, where, previous, record) : undefined;
        if (gap) gaps.push(gap);
        archivedFiles.add(file);
        archived.push({ file, transactions: record.transactions, size: record.size });
        newest = record;
      }
    };

    let server = await serverBinlogs(cluster);
    await archivePending(server);
    const behind = (position: string) => !newest || !sameGtidState(gtidPosition(parseGtids(newest.endGtids) ?? []), parseGtids(position) ?? []);
    const uncovered = async () => {
      if (coverSecond === undefined || (newest && coveredThrough(newest.lastEventTime) >= coverSecond)) return false;
      const [[serverSecond = '0'] = []] = await runSql(cluster.flavour, cluster.connection, 'SELECT UNIX_TIMESTAMP()');
      return Number(serverSecond) > coverSecond;
    };
    if (rotate && ((behind(server.position) && (parseGtids(server.position) ?? []).length > 0) || (await uncovered()))) {
      progress.phase('closing the current binary log');
      await runSql(cluster.flavour, cluster.connection, 'FLUSH BINARY LOGS');
      server = await serverBinlogs(cluster);
      await archivePending(server);
    }
    const finalPosition = (await serverBinlogs(cluster)).position;
    return {
      history: where.history,
      archived,
      ...(newest ? { newest: { file: newest.file, lastEventTime: newest.lastEventTime, endGtids: newest.endGtids } } : {}),
      serverPosition: finalPosition,
      caughtUp: !behind(finalPosition) || (parseGtids(finalPosition) ?? []).length === 0,
      gaps: gaps.sort((a, b) => a.detectedAt.localeCompare(b.detectedAt)),
    };
  }
}
