/**
 * What this worker process has archived, counted as it happens: its metrics endpoint serves these as
 * Prometheus counters (they start at 0 with the process, as counters do; `rate()` handles restarts).
 */
export interface ArchivedBinlogCounts {
  /** Whole binlog files archived once the server closed them. */
  files: number;
  /** Parts of an open file a stream stored (binlogs.rpo). */
  parts: number;
  /** Bytes of binlog read from the server into the archive (before compression). */
  bytes: number;
}

const archived = new Map<string, ArchivedBinlogCounts>();

export function countArchivedBinlog(cluster: string, kind: 'file' | 'part', bytes: number): void {
  const counts = archived.get(cluster) ?? { files: 0, parts: 0, bytes: 0 };
  if (kind === 'file') counts.files++;
  else counts.parts++;
  counts.bytes += bytes;
  archived.set(cluster, counts);
}

export function archivedBinlogCounts(cluster: string): ArchivedBinlogCounts {
  return { ...(archived.get(cluster) ?? { files: 0, parts: 0, bytes: 0 }) };
}
