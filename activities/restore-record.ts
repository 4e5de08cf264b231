import type { RestoreRecord } from '../domain/chain.js';
import { restoreRecordKey } from '../domain/layout.js';
import type { ObjectStore } from './storage/index.js';
import { readTrustedRecord } from './records.js';

/** The cluster's latest in-place restore, as its storage records it, or null before the first. */
export async function readRestoreRecord(store: ObjectStore, cluster: string): Promise<RestoreRecord | null> {
  return (await readTrustedRecord(store, restoreRecordKey(cluster), (json) => json as RestoreRecord)) ?? null;
}

/** The cluster's history number: 0 before its first in-place restore (a record from before numbering is the first). */
export function historyOf(record: RestoreRecord | null): number {
  return record === null ? 0 : (record.history ?? 1);
}
