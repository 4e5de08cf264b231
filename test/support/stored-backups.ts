import type { StoredBackup } from '../../domain/chain.js';
import { backupFolder } from '../../domain/layout.js';
import type { Manifest } from '../../domain/manifest.js';

/** A backup folder as the catalog lists it; `null` for an uncommitted one. Dates come from the name. */
export function stored(name: string, base: string, manifest: Partial<Manifest> | null): StoredBackup {
  const folder = backupFolder({ name, base });
  const full: Manifest | null = manifest && {
    formatVersion: 1,
    name,
    cluster: 'shop',
    type: name === base ? 'full' : 'incremental',
    base,
    parent: null,
    fromLsn: '0',
    toLsn: '100',
    lastLsn: '100',
    flavour: 'mariadb',
    tool: { name: 'mariadb-backup' },
    binlog: null,
    startedAt: `${name.slice(5, 15)}T00:00:00.000Z`,
    finishedAt: `${name.slice(5, 15)}T00:10:00.000Z`,
    sizeBytes: 10,
    streamBytes: 10,
    objects: [{ name: 'backup.xbstream', size: 10, sha256: 'a'.repeat(64) }],
    dataObject: 'backup.xbstream',
    compression: 'none',
    encryption: 'none',
    parallel: 1,
    ...manifest,
  };
  return { name, base, folder, manifest: full, objects: [] };
}
