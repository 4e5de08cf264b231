import type { RestoreRecord } from '../domain/chain.js';
import { restoreRecordKey } from '../domain/layout.js';
import type { ObjectStore } from './storage/index.js';

/** The cluster's latest in-place restore, as its storage records it, or null before the first. */
export async function readRestoreRecord(store: ObjectStore, cluster: string): Promise<RestoreRecord | null> {
  const text = await store.getText(restoreRecordKey(cluster));
  return text === undefined ? null : (JSON.parse(text) as RestoreRecord);
}

/** The cluster's history number: 0 before its first in-place restore (a record from before numbering is the first). */
export function historyOf(record: RestoreRecord | null): number {
  return record === null ? 0 : (record.history ?? 1);
}
