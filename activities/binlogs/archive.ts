/**
 * Archiving the binary log: every closed binlog file the archive lacks goes to storage, compressed,
 * its facts read from its event headers on the way (domain/binlog.ts), its record written last.
 * The file the server writes now is never read; it is closed (FLUSH BINARY LOGS) when it holds
 * transactions the archive lacks. A file that continues no archived one (purged before it was
 * archived) leaves a gap, which is recorded.
 */
import { createReadStream } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Context } from '@temporalio/activity';
import { execa } from 'execa';
import { BinlogScanner, formatGtids, isEncryptedByServer, gtidPosition, parseGtids, sameGtidState } from '../../domain/binlog.js';
import {
  binlogFolder,
  binlogGapKey,
  binlogGapSchema,
  binlogObjectKey,
  binlogRecord,
  binlogRecordKey,
  binlogRecordSchema,
  continues,
  coverKey,
  segmentObject,
  segmentRecordKey,
  type BinlogCover,
  type StreamReport,
  filesBetween,
  filesToArchive,
  isOlderFile,
  VANISHED_BINLOGS,
  newestFile,
  type ArchivedBinlog,
  type BinlogGap,
  type BinlogSegment,
  type BinlogHistory,
  type BinlogRecord,
} from '../../domain/binlog-archive.js';
import type { ClusterConfig } from '../../domain/config.js';
import { businessFailure, businessFailureIn, FailureType, rootMessage } from '../../domain/failures.js';
import { durationMs } from '../../domain/config.js';
import { BinlogTail, type StreamStart, type TailCut } from '../binlog-stream.js';
import { WorkflowId } from '../../domain/workflow-contract.js';
import { readableToolLog } from '../../domain/tool-failures.js';
import { restoreRunningKey } from '../../domain/layout.js';
import { coveredThrough, pointSecond } from '../../domain/point-in-time.js';
import { privateScratchFolder, readPassword, writeDefaultsFile } from '../database/defaults-file.js';
import { childProcessOptions } from '../child-env.js';
import { runSql } from '../database/sql.js';
import type { ActivityDeps } from '../deps.js';
import { failpoint } from '../failpoints.js';
import type { ObjectStore } from '../storage/index.js';
import { ENCRYPTION_SCHEME } from '../../encryption/objects.js';
import { binlogObjectIdentity, sealing } from '../sealed-store.js';
import { Progress, StreamMeter, tailLines } from '../streams.js';
import { readTrustedRecord, writeRecord } from '../records.js';
import { countArchivedBinlog } from '../counters.js';
import { currentHistory, delay, listArchive, readOpenFile, readRecords, ScanningMeter } from './shared.js';

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

export function binlogArchiveActivities(deps: ActivityDeps) {
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
    /**
     * One archiving round: uploads every closed file the archive lacks, closes the current one when
     * it holds transactions the archive lacks and uploads it too, and records a gap where an
     * archived file does not continue the one before it. `archivedUpTo` is the newest file earlier
     * rounds archived (absent while nothing is archived): a store that no longer holds
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
        `${VANISHED_BINLOGS} from ${store.label}: this archiver archived up to ${archivedUpTo}, but the store's newest is ${newestKnown ?? 'none'} (removed by something other than chainbackup, or the store was put back); nothing more is archived until a person has looked: then restart the archiver (temporal workflow terminate --workflow-id ${WorkflowId.binlogArchiver(deps.config.temporal.taskQueue, cluster.name)}, then chainbackup schedules apply)`,
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
