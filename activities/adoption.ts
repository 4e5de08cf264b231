/**
 * Adoption: signing the records a store held before its workers had keys (or from before records
 * were signed), so that a worker with keys accepts them, and starting its ledger again from the
 * backups it holds. The operator vouches for the store as it is now; a record that is signed but
 * fails its check is never re-signed (docs/security.md).
 */
import { Context } from '@temporalio/activity';
import { BINLOG_FOLDER } from '../domain/binlog-archive.js';
import { backupFolder, DELETING_OBJECT, MANIFEST_OBJECT, PIN_OBJECT, restoreRecordKey, VERIFICATION_OBJECT } from '../domain/layout.js';
import { openRecord } from '../encryption/records.js';
import { ledgerKey, nextLedger } from '../domain/ledger.js';
import { backupLocations, readCatalog } from './catalog.js';
import { highestRecordedLedger, readLedger } from './ledger.js';
import type { ActivityDeps } from './deps.js';
import { writeRecord } from './records.js';
import { Progress } from './streams.js';
import { openStore } from './storage/index.js';

export interface AdoptionResult {
  cluster: string;
  dryRun: boolean;
  /** Records that were unsigned and are signed now (or would be, in a dry run), by key in the store. */
  signed: string[];
  /** Records already signed by a key this worker holds. */
  alreadySigned: number;
  /** Records left as they are because they fail their check: a person must look at them. */
  refused: { key: string; problem: string }[];
  /** The ledger written (or, in a dry run, that would be): its number, above any Temporal recorded, and the backups it lists. */
  ledger: { seq: number; backups: number };
}

const BACKUP_RECORDS = [MANIFEST_OBJECT, VERIFICATION_OBJECT, PIN_OBJECT, DELETING_OBJECT];

export function adoptionActivities(deps: ActivityDeps) {
  return {
    /**
     * Signs every unsigned record of a cluster (its backups' manifests and markers, its binlog records
     * and gaps, its restore record) when the worker holds keys, then starts its ledger again.
     */
    async adoptRecords(input: { cluster: string; dryRun: boolean }): Promise<AdoptionResult> {
      const cluster = deps.cluster(input.cluster);
      const store = deps.store(cluster);
      const keys = await store.recordKeys();
      const signal = Context.current().cancellationSignal;
      const progress = new Progress('looking for unsigned records');
      const recordPaths: string[] = [];
      // Without keys nothing is signed (nor checked): only the ledger starts again.
      for (const location of keys ? await backupLocations(store, { cluster: input.cluster, signal }) : []) {
        const folder = backupFolder(location);
        const present = new Set((await store.list(folder, { signal })).map((object) => object.key));
        recordPaths.push(...BACKUP_RECORDS.map((name) => `${folder}${name}`).filter((key) => present.has(key)));
      }
      const archive = keys ? await store.list(`${BINLOG_FOLDER}/${input.cluster}/`, { signal }) : [];
      if (keys) recordPaths.push(...archive.map((object) => object.key).filter((key) => key.endsWith('.json')), restoreRecordKey(input.cluster));
      const result: Omit<AdoptionResult, 'ledger'> = { cluster: input.cluster, dryRun: input.dryRun, signed: [], alreadySigned: 0, refused: [] };
      let done = 0;
      for (const key of recordPaths) {
        if (signal.aborted) throw signal.reason;
        progress.update(++done);
        const text = await store.getText(key);
        if (text === undefined) continue;
        const opened = openRecord(keys, key, text);
        if (opened.ok) result.alreadySigned++;
        else if (opened.fault !== 'unsigned') result.refused.push({ key, problem: opened.problem });
        else {
          if (!input.dryRun) await writeRecord(store, key, JSON.parse(text) as object, { pretty: key.endsWith(MANIFEST_OBJECT) || key.endsWith(VERIFICATION_OBJECT) || key.endsWith(PIN_OBJECT) });
          result.signed.push(key);
        }
      }
      // The ledger, from the backups the store holds now, numbered above anything Temporal saw.
      progress.phase('starting the ledger again from the committed backups');
      const previous = await readLedger(store, input.cluster);
      const seq = (await highestRecordedLedger(Context.current().client, input.cluster, previous.ledger?.seq ?? 0)) + 1;
      // A dry run signed nothing: what it would list is what the store holds, read as a worker without keys reads it.
      const stored = await readCatalog(input.dryRun ? openStore(cluster.storage) : store, { cluster: input.cluster, withoutLedger: true, signal });
      const ledger = { ...nextLedger(input.cluster, undefined, stored, {}, new Date().toISOString()), seq };
      if (!input.dryRun) await writeRecord(store, ledgerKey(input.cluster), ledger);
      return { ...result, ledger: { seq, backups: ledger.backups.length } };
    },
  };
}
