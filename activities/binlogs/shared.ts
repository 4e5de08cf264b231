/**
 * What the binlog modules share: the cluster's current history, a history's listing and the records
 * of its files (closed, or streamed in parts), where a restore to a point reads the archive
 * (ArchiveSource), and the meter that scans binlog bytes as they pass.
 */
import { Transform, type TransformCallback } from 'node:stream';
import pMap from 'p-map';
import { BinlogScanner } from '../../domain/binlog.js';
import {
  binlogFolder,
  binlogRecordKey,
  binlogRecordSchema,
  binlogCoverSchema,
  binlogSegmentSchema,
  coverKey,
  openFileRecord,
  segmentFolder,
  splitBinlogName,
  type ArchivedBinlog,
  type BinlogSegment,
  type BinlogHistory,
} from '../../domain/binlog-archive.js';
import { openSource, type RestoreSource } from '../restore.js';
import type { ActivityDeps } from '../deps.js';
import { historyOf, readRestoreRecord } from '../restore-record.js';
import type { ObjectStore } from '../storage/index.js';
import { readTrustedRecord } from '../records.js';

/** Counts the bytes that pass and shows them to the scanner, without holding them. */
export class ScanningMeter extends Transform {
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
export async function listArchive(store: ObjectStore, where: BinlogHistory, signal: AbortSignal): Promise<{ files: string[]; closed: string[]; gapKeys: string[]; openFiles: string[]; partKeys: string[] }> {
  const folder = binlogFolder(where);
  const keys = (await store.list(folder, { signal })).map((object) => object.key.slice(folder.length));
  const closed = keys.filter((key) => key.endsWith('.json') && !key.includes('/') && !key.startsWith('gap-')).map((key) => key.slice(0, -'.json'.length));
  const done = new Set(closed);
  const streamed = new Set(keys.filter((key) => key.startsWith('segments/') && /\/\d{12}\.json$/.test(key)).map((key) => key.split('/')[1] ?? ''));
  const openFiles = [...streamed].filter((file) => file !== '' && !done.has(file));
  return { files: [...closed, ...openFiles], closed, openFiles, partKeys: keys.filter((key) => key.startsWith('segments/')), gapKeys: keys.filter((key) => key.startsWith('gap-') && key.endsWith('.json')).map((key) => `${folder}${key}`) };
}

/** A file the server still writes, as its streamed parts hold it (undefined: none from its start). */
export async function readOpenFile(store: ObjectStore, where: BinlogHistory, file: string): Promise<ArchivedBinlog | undefined> {
  const folder = `${binlogFolder(where)}${segmentFolder(file)}`;
  const keys = (await store.list(folder)).map((object) => object.key).filter((key) => /\/\d{12}\.json$/.test(key));
  const segments = (await pMap(keys, (key) => readTrustedRecord(store, key, (value) => binlogSegmentSchema.parse(value)), { concurrency: 16 })).filter((segment): segment is BinlogSegment => segment !== undefined);
  const cover = await readTrustedRecord(store, coverKey(where, file), (value) => binlogCoverSchema.parse(value));
  return openFileRecord(segments, cover);
}

/** The cluster's current history: 0 until its first in-place restore, then that restore's number. */
export async function currentHistory(store: ObjectStore, cluster: string): Promise<{ where: BinlogHistory; restoredAt?: string }> {
  const record = await readRestoreRecord(store, cluster);
  return { where: { cluster, history: historyOf(record) }, ...(record ? { restoredAt: record.restoredAt } : {}) };
}

/** Reads the records of the named archived files, in the order given: a file with no record of its own, from its streamed parts. */
export async function readRecords(store: ObjectStore, where: BinlogHistory, files: string[]): Promise<ArchivedBinlog[]> {
  const records: ArchivedBinlog[] = [];
  for (const file of files) {
    const record = (await readTrustedRecord(store, binlogRecordKey(where, file), (value) => binlogRecordSchema.parse(value))) ?? (await readOpenFile(store, where, file));
    if (record) records.push(record);
  }
  return records;
}

export function bySequence(a: string, b: string): number {
  return (splitBinlogName(a)?.sequence ?? 0) - (splitBinlogName(b)?.sequence ?? 0) || a.localeCompare(b);
}

export const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Where a restore to a point reads backups and archived binlogs: the cluster's own storage, or
 * another cluster's (`source` and `sourceCluster`: a restore of one cluster's data into another).
 */
export interface ArchiveSource {
  cluster: string;
  source?: RestoreSource;
  sourceCluster?: string;
}

export async function archiveSource(deps: ActivityDeps, input: ArchiveSource): Promise<{ store: ObjectStore; archived: string }> {
  if (!input.source) return { store: deps.store(deps.cluster(input.cluster)), archived: input.cluster };
  return { store: await openSource(deps, { cluster: input.cluster, source: input.source }), archived: input.sourceCluster ?? input.cluster };
}
