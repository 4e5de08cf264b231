/**
 * The cluster's ledger in its store (domain/ledger.ts): read beside the catalog, rewritten by the
 * steps that commit and remove backups, and held against the numbers Temporal recorded.
 */
import type { Client } from '@temporalio/client';
import { changesNothing, ledgerKey, ledgerSchema, nextLedger, type Ledger } from '../domain/ledger.js';
import { readCatalog } from './catalog.js';
import { readRecord, writeRecord } from './records.js';
import type { ObjectStore } from './storage/index.js';
import { LedgerSeqKey, queryValue } from '../domain/search-attributes.js';

export type LedgerReading = { ledger: Ledger; problem?: undefined } | { ledger?: undefined; problem?: string };

/** The cluster's ledger; without one, why (none yet, or one that fails its check or cannot be parsed). */
export async function readLedger(store: ObjectStore, cluster: string): Promise<LedgerReading> {
  const opened = await readRecord(store, ledgerKey(cluster));
  if (opened === undefined) return {};
  if (!opened.ok) return { problem: `its ledger ${ledgerKey(cluster)} ${opened.problem}` };
  const parsed = ledgerSchema.safeParse(opened.json);
  return parsed.success && parsed.data.cluster === cluster ? { ledger: parsed.data } : { problem: `its ledger ${ledgerKey(cluster)} is not a ledger of ${cluster}` };
}

/**
 * Adds or removes backups in the ledger, under the cluster's lock (its only writers hold it): the new
 * sequence number, for the workflow to give Temporal (the same one when nothing changes). A missing ledger, or one that fails its check,
 * starts again from the committed backups the store holds, at 1; Temporal's higher number then
 * shows that the store lost its ledger.
 */
export async function updateLedger(store: ObjectStore, cluster: string, change: { add?: { name: string; base: string }[]; remove?: string[] }): Promise<number> {
  const reading = await readLedger(store, cluster);
  if (reading.ledger && changesNothing(reading.ledger, change)) return reading.ledger.seq;
  // Only without a ledger is the store listed: the catalog is what it holds now.
  const stored = reading.ledger ? [] : await readCatalog(store, { cluster, withoutLedger: true });
  const ledger = nextLedger(cluster, reading.ledger, stored, change, new Date().toISOString());
  await writeRecord(store, ledgerKey(cluster), ledger);
  return ledger.seq;
}

/** How many workflows of the cluster recorded a ledger number above `seq` (LedgerSeq). */
export async function laterLedgers(client: Client, cluster: string, seq: number): Promise<number> {
  return (await client.workflow.count(`BackupCluster = ${queryValue(cluster)} AND ${LedgerSeqKey.name} > ${seq}`)).count;
}

/** The highest ledger number Temporal recorded for the cluster, at least `from`: found by counting, as visibility has no maximum. */
export async function highestRecordedLedger(client: Client, cluster: string, from: number): Promise<number> {
  if ((await laterLedgers(client, cluster, from)) === 0) return from;
  let low = from; // some workflow recorded more than low
  let high = Math.max(1, from * 2);
  while ((await laterLedgers(client, cluster, high)) > 0) [low, high] = [high, high * 2];
  while (high - low > 1) {
    const middle = Math.floor((low + high) / 2);
    if ((await laterLedgers(client, cluster, middle)) > 0) low = middle;
    else high = middle;
  }
  return high;
}

/** What the store's ledger says against Temporal: a rollback, or a ledger gone or replaced, as a problem to report. */
export async function ledgerAgainstTemporal(client: Client, cluster: string, reading: LedgerReading): Promise<string | undefined> {
  const seq = reading.ledger?.seq ?? 0;
  const later = await laterLedgers(client, cluster, seq);
  if (later === 0) return undefined;
  return `the store was put back to an older state, or its ledger removed or replaced: its ledger is ${reading.ledger ? `at seq ${seq}` : 'missing'}, but ${later} workflow${later === 1 ? '' : 's'} recorded a later one in Temporal (LedgerSeq); find what was lost, then \`chainbackup adopt ${cluster}\` accepts the store as it is`;
}
