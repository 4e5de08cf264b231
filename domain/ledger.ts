/**
 * A cluster's ledger: the list of its committed backups, kept in its store beside them
 * (`ledger/<cluster>.json`, a signed record) and rewritten under the cluster's lock whenever a
 * backup is committed or removed. Its sequence number also goes to Temporal (the `LedgerSeq` search
 * attribute of the workflow that wrote it), outside the store: a committed backup that vanished is
 * in the ledger but not in the store, and a store put back to an older state has an older ledger
 * than Temporal saw (docs/security.md).
 */
import { z } from 'zod';
import { isCommitted, type StoredBackup } from './chain.js';
import { backupFolder } from './layout.js';
import { backupsOf } from './ownership.js';

export const ledgerSchema = z.object({
  formatVersion: z.literal(1),
  cluster: z.string(),
  /** One more at each change: what Temporal is told, to see a rollback of the store. */
  seq: z.number().int().positive(),
  updatedAt: z.string(),
  /** Every committed backup of the cluster, with its chain's base, by name. */
  backups: z.array(z.object({ name: z.string(), base: z.string() })),
});
export type Ledger = z.infer<typeof ledgerSchema>;

export function ledgerKey(cluster: string): string {
  return `ledger/${cluster}.json`;
}

/** Whether a change leaves the ledger as it is (a step run again, or a stale attempt thawed): then it is not rewritten. */
export function changesNothing(ledger: Ledger, change: { add?: { name: string }[]; remove?: string[] }): boolean {
  const names = new Set(ledger.backups.map((entry) => entry.name));
  return (change.add ?? []).every((entry) => names.has(entry.name)) && (change.remove ?? []).every((name) => !names.has(name));
}

/** The next ledger: `previous` (or, without one, the committed backups the store holds) with backups added and removed. */
export function nextLedger(cluster: string, previous: Ledger | undefined, stored: StoredBackup[], change: { add?: { name: string; base: string }[]; remove?: string[] }, now: string): Ledger {
  const start = previous?.backups ?? stored.filter(isCommitted).map((backup) => ({ name: backup.name, base: backup.base }));
  const removed = new Set(change.remove ?? []);
  const byName = new Map(start.filter((entry) => !removed.has(entry.name)).map((entry) => [entry.name, entry]));
  for (const entry of change.add ?? []) byName.set(entry.name, entry);
  return { formatVersion: 1, cluster, seq: (previous?.seq ?? 0) + 1, updatedAt: now, backups: [...byName.values()].sort((a, b) => a.name.localeCompare(b.name)) };
}

/**
 * The catalog as the ledger sees it: a backup the ledger lists but the store does not hold committed
 * becomes a backup with a manifest problem (so that retention, the sweep and every restore leave its
 * chain alone and say why); its folder is added when nothing of it is left.
 */
export function withLedger(stored: StoredBackup[], ledger: Ledger): StoredBackup[] {
  const byName = new Map(stored.map((backup) => [backup.name, backup]));
  const result = [...stored];
  for (const entry of ledger.backups) {
    const found = byName.get(entry.name);
    // Committed; hidden by its chain's deletion marker (a deletion by chainbackup is under way); or its manifest is there but unusable, which says so already.
    if (found && (isCommitted(found) || found.deleting || found.manifestProblem !== undefined)) continue;
    const problem = `committed (ledger seq ${ledger.seq} lists it) but ${found ? 'its manifest is gone' : 'nothing of it is left'}: it was removed from the store by something other than chainbackup`;
    if (found) {
      found.vanished = true;
      found.manifestProblem = problem;
      found.recordProblems = [...(found.recordProblems ?? []), problem];
    } else {
      result.push({ name: entry.name, base: entry.base, folder: backupFolder(entry), manifest: null, vanished: true, manifestProblem: problem, recordProblems: [problem], objects: [] });
    }
  }
  // Committed backups the ledger does not list: put back by someone else (a deleted backup restored into the store, say).
  const listed = new Set(ledger.backups.map((entry) => entry.name));
  for (const backup of backupsOf(stored, ledger.cluster)) {
    if (isCommitted(backup) && !listed.has(backup.name)) backup.recordProblems = [...(backup.recordProblems ?? []), `committed in the store but not in its ledger (seq ${ledger.seq}): it was put there by something other than chainbackup`];
  }
  return result.sort((a, b) => a.name.localeCompare(b.name));
}
