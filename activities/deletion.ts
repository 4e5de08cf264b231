import { backupFolder, DATA_OBJECTS, DELETING_OBJECT, MANIFEST_OBJECT, type BackupLocation } from '../domain/layout.js';
import type { ActivityDeps } from './deps.js';
import { Progress } from './streams.js';
import { writeRecord } from './records.js';
import { updateLedger } from './ledger.js';

/**
 * Removes a backup folder's objects (all but `keep`) and its unfinished multipart uploads.
 * Idempotent, so a deletion interrupted by a dying worker simply runs again.
 */
export async function removeFolder(deps: ActivityDeps, cluster: string, location: BackupLocation, keep: string[] = []): Promise<void> {
  const store = deps.store(deps.cluster(cluster));
  const folder = backupFolder(location);
  const kept = new Set(keep.map((name) => `${folder}${name}`));
  const objects = (await store.list(folder)).filter((object) => !kept.has(object.key));
  // The manifest first: a removal cut short leaves an uncommitted folder, never a committed one missing data.
  const manifestKey = `${folder}${MANIFEST_OBJECT}`;
  if (objects.some((object) => object.key === manifestKey)) await store.delete([manifestKey]);
  // Uploads still open (a killed attempt's multipart upload) go first, so none completes after the folder is gone.
  await store.abortIncompleteUploads(DATA_OBJECTS.map((name) => `${folder}${name}`));
  await store.delete(objects.filter((object) => object.key !== manifestKey).map((object) => object.key));
}

/**
 * Steps of a crash-safe deletion: each is idempotent and makes the next state no less safe. Each
 * heartbeats every 2 s while it works (a slow store must not look like a dead worker; a dead worker
 * is replaced within the removal proxy's short heartbeat timeout).
 */
export function deletionActivities(deps: ActivityDeps) {
  return {
    /** One object in the base's folder makes the whole chain invisible at once. */
    async markChainDeleting(input: { cluster: string; base: string; workflowId: string }): Promise<void> {
      const store = deps.store(deps.cluster(input.cluster));
      const folder = backupFolder({ name: input.base, base: input.base });
      const marker = { deletingChain: input.base, by: input.workflowId, since: new Date().toISOString() };
      await new Progress('marking the chain deleted', { object: folder }).during(writeRecord(store, `${folder}${DELETING_OBJECT}`, marker));
    },

    /**
     * Removes a backup's manifest: from here on it does not exist for any other part of the product.
     * Then removes it from the cluster's ledger: the ledger's new number, for Temporal.
     */
    async hideBackup(input: { cluster: string; location: BackupLocation }): Promise<{ ledgerSeq: number }> {
      const store = deps.store(deps.cluster(input.cluster));
      const folder = backupFolder(input.location);
      const progress = new Progress('hiding', { object: folder });
      await progress.during(store.delete([`${folder}${MANIFEST_OBJECT}`]));
      return { ledgerSeq: await progress.during(updateLedger(store, input.cluster, { remove: [input.location.name] })) };
    },

    /** Removes what is left of a hidden backup; the chain's marker goes only with `removeMarker`. */
    async removeBackupData(input: { cluster: string; location: BackupLocation; removeMarker: boolean }): Promise<void> {
      await new Progress('removing', { object: backupFolder(input.location) }).during(removeFolder(deps, input.cluster, input.location, input.removeMarker ? [] : [DELETING_OBJECT]));
    },
  };
}
