import pMap from 'p-map';
import { backupFolder, classifyChainMember, classifyTopFolder, DELETING_OBJECT, MANIFEST_OBJECT, PIN_OBJECT, VERIFICATION_OBJECT, type BackupLocation } from '../domain/layout.js';
import { parseManifest, parseVerificationRecord, ManifestError } from '../domain/manifest.js';
import type { StoredBackup } from '../domain/chain.js';
import { owningCluster } from '../domain/ownership.js';
import type { ObjectStore } from './storage/index.js';

export interface CatalogOptions {
  /** Read only this cluster's folders (a shared prefix holds many clusters). */
  cluster?: string;
  signal?: AbortSignal;
  /** Called after each folder read, e.g. to heartbeat. */
  onFolder?: (folder: string) => void;
}

/** Folders read at once: S3 answers each listing in a round trip. */
const FOLDERS_AT_ONCE = 8;

/**
 * The backup folders storage holds, each with its objects and, for a committed backup, its manifest.
 * Only the layout is walked (the root's backup and chain folders, and the increments inside chains):
 * nothing else in the storage is read, however large, and no link is followed.
 */
export async function readCatalog(store: ObjectStore, options: CatalogOptions = {}): Promise<StoredBackup[]> {
  const { signal } = options;
  const wanted = (name: string) => options.cluster === undefined || owningCluster(name) === options.cluster;
  const locations: BackupLocation[] = [];
  for (const name of await store.listFolders('', signal ? { signal } : {})) {
    const top = classifyTopFolder(name);
    if (top === undefined || !wanted(top.kind === 'full' ? top.location.name : top.base)) continue;
    if (top.kind === 'full') {
      locations.push(top.location);
      continue;
    }
    for (const member of await store.listFolders(`${name}/`, signal ? { signal } : {})) {
      const location = classifyChainMember(top.base, member);
      if (location) locations.push(location);
    }
  }
  const folders = (
    await pMap(
      locations,
      async (location) => {
        const folder = backupFolder(location);
        const objects = await store.list(folder, signal ? { signal } : {});
        options.onFolder?.(folder);
        return objects.length === 0 ? undefined : await readFolder(store, location, folder, objects);
      },
      { concurrency: FOLDERS_AT_ONCE, ...(signal ? { signal } : {}) },
    )
  ).filter((backup) => backup !== undefined);
  // A chain being deleted is invisible as a whole, from the moment its marker exists.
  for (const base of folders) {
    if (!base.objects.some((object) => object.key === `${base.folder}${DELETING_OBJECT}`)) continue;
    for (const member of folders) {
      if (member.base !== base.name) continue;
      member.manifest = null;
      member.deleting = true;
    }
  }
  return folders.sort((a, b) => a.name.localeCompare(b.name));
}

async function readFolder(store: ObjectStore, location: BackupLocation, folder: string, objects: StoredBackup['objects']): Promise<StoredBackup> {
  const backup: StoredBackup = { name: location.name, base: location.base, folder, manifest: null, objects };
  if (!objects.some((object) => object.key === `${folder}${MANIFEST_OBJECT}`)) return backup;
  let text: string | undefined;
  try {
    text = await store.getText(`${folder}${MANIFEST_OBJECT}`);
  } catch (error) {
    backup.manifestProblem = `manifest cannot be read: ${(error as Error).message}`;
    return backup;
  }
  if (text === undefined) return backup; // removed since the listing: a deletion under way
  try {
    const manifest = parseManifest(text, `${store.label}/${folder}`);
    if (manifest.name !== backup.name || manifest.base !== backup.base || manifest.cluster !== owningCluster(backup.name)) {
      backup.manifestProblem = `manifest names ${manifest.name} of cluster ${manifest.cluster} (base ${manifest.base}) but sits in ${folder}`;
    } else {
      backup.manifest = manifest;
      if (objects.some((object) => object.key === `${folder}${VERIFICATION_OBJECT}`)) await readVerification(store, backup);
      if (objects.some((object) => object.key === `${folder}${PIN_OBJECT}`)) await readPin(store, backup);
    }
  } catch (error) {
    if (!(error instanceof ManifestError)) throw error;
    backup.manifestProblem = error.message;
  }
  return backup;
}

/** Reads a committed backup's verification record; one that cannot be read leaves the backup unverified, saying why. */
async function readVerification(store: ObjectStore, backup: StoredBackup): Promise<void> {
  let text: string | undefined;
  try {
    text = await store.getText(`${backup.folder}${VERIFICATION_OBJECT}`);
  } catch (error) {
    backup.verificationProblem = `verification.json cannot be read: ${(error as Error).message}`;
    return;
  }
  if (text === undefined) return;
  const parsed = parseVerificationRecord(text);
  if (parsed.ok && parsed.record.backup === backup.name) backup.verification = parsed.record;
  else backup.verificationProblem = parsed.ok ? `verification.json is about ${parsed.record.backup}` : parsed.reason;
}

/** Reads a committed backup's pin; one that cannot be parsed still pins it (a pin errs on the side of keeping). */
async function readPin(store: ObjectStore, backup: StoredBackup): Promise<void> {
  const text = await store.getText(`${backup.folder}${PIN_OBJECT}`).catch(() => '');
  if (text === undefined) return; // removed since the listing: unpinned meanwhile
  let pin: { pinnedAt?: unknown; note?: unknown } = {};
  try {
    pin = JSON.parse(text) as typeof pin;
  } catch {
    // kept as pinned, with what is known
  }
  const at = backup.objects.find((object) => object.key === `${backup.folder}${PIN_OBJECT}`)?.lastModified ?? '';
  backup.pinned = { pinnedAt: typeof pin.pinnedAt === 'string' ? pin.pinnedAt : at, ...(typeof pin.note === 'string' ? { note: pin.note } : {}) };
}
