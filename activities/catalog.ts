import { parseObjectKey, MANIFEST_OBJECT, DELETING_OBJECT, backupFolder } from '../domain/layout.js';
import { parseManifest, ManifestError } from '../domain/manifest.js';
import type { StoredBackup } from '../domain/chain.js';
import type { ObjectStore } from './storage/index.js';

/** Everything storage holds, grouped into backup folders, with each committed backup's manifest. */
export async function readCatalog(store: ObjectStore): Promise<StoredBackup[]> {
  const objects = await store.list('');
  const folders = new Map<string, StoredBackup>();
  for (const object of objects) {
    const parsed = parseObjectKey(object.key);
    if (!parsed) continue;
    const folder = backupFolder(parsed);
    let backup = folders.get(folder);
    if (!backup) {
      backup = { name: parsed.name, base: parsed.base, folder, manifest: null, objects: [] };
      folders.set(folder, backup);
    }
    backup.objects.push(object);
  }
  for (const backup of folders.values()) {
    if (!backup.objects.some((object) => object.key === `${backup.folder}${MANIFEST_OBJECT}`)) continue;
    const text = await store.getText(`${backup.folder}${MANIFEST_OBJECT}`);
    if (text === undefined) continue;
    try {
      const manifest = parseManifest(text, `${store.label}/${backup.folder}`);
      if (manifest.name !== backup.name || manifest.base !== backup.base) {
        backup.manifestProblem = `manifest names ${manifest.name} (base ${manifest.base}) but sits in ${backup.folder}`;
      } else {
        backup.manifest = manifest;
      }
    } catch (error) {
      if (!(error instanceof ManifestError)) throw error;
      backup.manifestProblem = error.message;
    }
  }
  // A chain being deleted is invisible as a whole, from the moment its marker exists.
  for (const base of folders.values()) {
    if (!base.objects.some((object) => object.key === `${base.folder}${DELETING_OBJECT}`)) continue;
    for (const member of folders.values()) {
      if (member.base !== base.name || member.manifest === null) continue;
      member.manifest = null;
      member.manifestProblem = `its chain ${base.name} is being deleted`;
    }
  }
  return [...folders.values()].sort((a, b) => a.name.localeCompare(b.name));
}
