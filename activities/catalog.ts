import pMap from 'p-map';
import { backupFolder, classifyChainMember, classifyTopFolder, DELETING_OBJECT, MANIFEST_OBJECT, PIN_OBJECT, VERIFICATION_OBJECT, type BackupLocation } from '../domain/layout.js';
import { manifestFromJson, parseManifest, verificationRecordFromJson, ManifestError } from '../domain/manifest.js';
import type { StoredBackup } from '../domain/chain.js';
import { withLedger } from '../domain/ledger.js';
import { owningCluster } from '../domain/ownership.js';
import { openRecord } from '../encryption/records.js';
import { readLedger, type LedgerReading } from './ledger.js';
import { readRecord, withAuthenticCopy } from './records.js';
import type { ObjectStore } from './storage/index.js';

export interface CatalogOptions {
  /** Read only this cluster's folders (a shared prefix holds many clusters), and hold them against its ledger. */
  cluster?: string;
  /** Hold the folders against this cluster's ledger (default: `cluster`'s), while listing every cluster's. */
  ledgerOf?: string;
  /** Not against the ledger: the store as it is (to start a ledger from it). */
  withoutLedger?: boolean;
  signal?: AbortSignal;
  /** Called after each folder read, e.g. to heartbeat. */
  onFolder?: (folder: string) => void;
}

/** Where the backups in storage are: the root's backup and chain folders, and the increments inside chains. */
export async function backupLocations(store: ObjectStore, options: Pick<CatalogOptions, 'cluster' | 'signal'> = {}): Promise<BackupLocation[]> {
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
  return locations;
}

/** Folders read at once: S3 answers each listing in a round trip. */
const FOLDERS_AT_ONCE = 8;

/**
 * The backup folders storage holds, each with its objects and, for a committed backup, its manifest.
 * Only the layout is walked (the root's backup and chain folders, and the increments inside chains):
 * nothing else in the storage is read, however large, and no link is followed.
 */
export async function readCatalog(store: ObjectStore, options: CatalogOptions = {}): Promise<StoredBackup[]> {
  return (await readCatalogAndLedger(store, options)).backups;
}

/**
 * The catalog, and with a cluster its ledger, each backup held against it (domain/ledger.ts). The
 * ledger is read before and after the folders; when a backup was committed or removed meanwhile,
 * the folders are read again, so that a reader without the lock does not take that moment for damage.
 */
export async function readCatalogAndLedger(store: ObjectStore, options: CatalogOptions = {}): Promise<{ backups: StoredBackup[]; ledger: LedgerReading }> {
  const cluster = options.ledgerOf ?? options.cluster;
  if (cluster === undefined || options.withoutLedger) return { backups: await readFolders(store, options), ledger: {} };
  let before = await readLedger(store, cluster);
  for (let attempt = 1; ; attempt++) {
    const backups = await readFolders(store, options);
    const after = await readLedger(store, cluster);
    if (after.ledger?.seq === before.ledger?.seq || attempt === 3) return { backups: after.ledger ? withLedger(backups, after.ledger) : backups, ledger: after };
    before = after;
  }
}

async function readFolders(store: ObjectStore, options: CatalogOptions): Promise<StoredBackup[]> {
  const { signal } = options;
  const locations = await backupLocations(store, options);
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
  // A chain being deleted is invisible as a whole, from the moment its marker exists (one this worker cannot authenticate is ignored).
  for (const base of folders) {
    if (!base.objects.some((object) => object.key === `${base.folder}${DELETING_OBJECT}`)) continue;
    if (!(await deletionMarked(store, base))) continue;
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
  const opened = await withAuthenticCopy(store, `${folder}${MANIFEST_OBJECT}`, openRecord(await store.recordKeys(), `${folder}${MANIFEST_OBJECT}`, text));
  if (!opened.ok && opened.fault !== 'invalid') {
    backup.manifestProblem = `manifest ${opened.problem}`;
    backup.recordProblems = [backup.manifestProblem];
    backup.manifestUnauthentic = opened.fault === 'missing-key' ? 'missing-key' : 'fails';
    return backup;
  }
  try {
    const manifest = opened.ok ? manifestFromJson(opened.json, `${store.label}/${folder}`) : parseManifest(text, `${store.label}/${folder}`);
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
  let opened: Awaited<ReturnType<typeof readRecord>>;
  try {
    opened = await readRecord(store, `${backup.folder}${VERIFICATION_OBJECT}`);
  } catch (error) {
    backup.verificationProblem = `verification.json cannot be read: ${(error as Error).message}`;
    return;
  }
  if (opened === undefined) return;
  if (!opened.ok) {
    backup.verificationProblem = `verification.json ${opened.problem}`;
    backup.recordProblems = [...(backup.recordProblems ?? []), `${backup.verificationProblem} (it counts as unverified)`];
    return;
  }
  const parsed = verificationRecordFromJson(opened.json);
  if (parsed.ok && parsed.record.backup === backup.name) backup.verification = parsed.record;
  else backup.verificationProblem = parsed.ok ? `verification.json is about ${parsed.record.backup}` : parsed.reason;
}

/** Reads a committed backup's pin; one that cannot be parsed or authenticated still pins it (a pin errs on the side of keeping). */
async function readPin(store: ObjectStore, backup: StoredBackup): Promise<void> {
  const opened = await readRecord(store, `${backup.folder}${PIN_OBJECT}`).catch((error: unknown) => ({ ok: false as const, problem: `cannot be read: ${(error as Error).message}` }));
  if (opened === undefined) return; // removed since the listing: unpinned meanwhile
  let pin: { pinnedAt?: unknown; note?: unknown } = {};
  if (opened.ok) pin = opened.json as typeof pin;
  else backup.recordProblems = [...(backup.recordProblems ?? []), `its pin ${opened.problem} (it still keeps the backup)`];
  const at = backup.objects.find((object) => object.key === `${backup.folder}${PIN_OBJECT}`)?.lastModified ?? '';
  backup.pinned = { pinnedAt: typeof pin.pinnedAt === 'string' ? pin.pinnedAt : at, ...(typeof pin.note === 'string' ? { note: pin.note } : {}) };
}

/** Whether a chain's deletion marker counts: with keys, only one this worker can authenticate (a forged one would hide a whole chain). */
async function deletionMarked(store: ObjectStore, base: StoredBackup): Promise<boolean> {
  const opened = await readRecord(store, `${base.folder}${DELETING_OBJECT}`);
  if (opened === undefined) return false; // removed since the listing: the deletion ended
  if (opened.ok || (await store.recordKeys()) === undefined) return true;
  base.recordProblems = [...(base.recordProblems ?? []), `its chain's deletion marker ${opened.problem}, so it is ignored`];
  return false;
}
