/**
 * Storage layout, as in the Percona document:
 *
 *   <prefix>/<cluster>-<ts>-full/                          a full backup
 *   <prefix>/<cluster>-<ts>-full.incr/<cluster>-<ts>-incr/  an increment of that full backup's chain
 *
 * Keys here are relative to the storage's prefix. Each backup folder holds the data stream, a copy of
 * the tool's checkpoints and info files, and `manifest.json`, written last: the manifest is the commit.
 */
import type { StorageConfig } from './config.js';
import { parseBackupName } from './names.js';

export const MANIFEST_OBJECT = 'manifest.json';
/** Written beside a backup's manifest by each verification that started a server on it, last: its outcome. */
export const VERIFICATION_OBJECT = 'verification.json';
/** Put beside a backup's manifest by `chainbackup pin`: retention and deletion leave it, and everything it needs, alone. */
export const PIN_OBJECT = 'pinned.json';

/**
 * The names of the files the backup tool writes beside its data (into `--extra-lsndir` and into the
 * stream). XtraBackup and mariadb-backup before 11.0 call them `xtrabackup_*`; mariadb-backup from
 * 11.0 on calls them `mariadb_backup_*`, with the same contents. Storage keeps what the tool wrote,
 * and each manifest records which generation its backup used (`toolFiles`).
 */
export const TOOL_FILE_GENERATIONS = {
  xtrabackup: { checkpoints: 'xtrabackup_checkpoints', info: 'xtrabackup_info', binlogInfo: 'xtrabackup_binlog_info' },
  mariadb_backup: { checkpoints: 'mariadb_backup_checkpoints', info: 'mariadb_backup_info', binlogInfo: 'mariadb_backup_binlog_info' },
} as const;
export type ToolFileGeneration = keyof typeof TOOL_FILE_GENERATIONS;
export const TOOL_FILE_GENERATION_NAMES = Object.keys(TOOL_FILE_GENERATIONS) as ToolFileGeneration[];
/** The generation a manifest's backup used: manifests from before 11.x support name none, and used the old names. */
export function toolFilesOf(manifest: { toolFiles?: ToolFileGeneration | undefined }): (typeof TOOL_FILE_GENERATIONS)[ToolFileGeneration] {
  return TOOL_FILE_GENERATIONS[manifest.toolFiles ?? 'xtrabackup'];
}
/** Which generation a folder's file names are, given the names it holds: the newer one wins where both are present. */
export function toolFileGenerationIn(names: readonly string[]): ToolFileGeneration | undefined {
  const present = new Set(names);
  return (['mariadb_backup', 'xtrabackup'] as const).find((generation) => present.has(TOOL_FILE_GENERATIONS[generation].checkpoints));
}
/** Put in a full backup's folder when its chain is being deleted: the whole chain is invisible at once. */
export const DELETING_OBJECT = 'deleting.json';
export const CHAIN_SUFFIX = '.incr';

/** Where an in-place restore of a cluster is recorded in its own storage (outside every backup folder). */
export function restoreRecordKey(cluster: string): string {
  return `restores/${cluster}.json`;
}

/**
 * Written by an in-place restore before it stops the server, removed after it recorded the new
 * history (or rolled back): while it exists, the binlog archiver commits nothing, so no file of the
 * restored server is filed under the old history.
 */
export function restoreRunningKey(cluster: string): string {
  return `restores/${cluster}.running.json`;
}

export type Compression = 'none' | 'zstd';

export function dataObjectName(compression: Compression): string {
  return compression === 'zstd' ? 'backup.xbstream.zst' : 'backup.xbstream';
}

/** Where a backup lives: a full backup is its own base. */
export interface BackupLocation {
  name: string;
  base: string;
}

export function backupFolder(location: BackupLocation): string {
  return location.name === location.base ? `${location.name}/` : `${location.base}${CHAIN_SUFFIX}/${location.name}/`;
}

export function chainFolder(baseName: string): string {
  return `${baseName}${CHAIN_SUFFIX}/`;
}

/**
 * What a folder directly under the storage's root is in the layout: a full backup's folder, a
 * chain's folder of increments (named after its base), or nothing of ours.
 */
export function classifyTopFolder(name: string): { kind: 'full'; location: BackupLocation } | { kind: 'chain'; base: string } | undefined {
  const parsed = parseBackupName(name);
  if (parsed?.type === 'full') return { kind: 'full', location: { name, base: name } };
  if (!name.endsWith(CHAIN_SUFFIX)) return undefined;
  const base = name.slice(0, -CHAIN_SUFFIX.length);
  return parseBackupName(base)?.type === 'full' ? { kind: 'chain', base } : undefined;
}

/** An increment folder inside a chain's folder: it must be an increment of the base's own cluster. */
export function classifyChainMember(base: string, name: string): BackupLocation | undefined {
  const parsed = parseBackupName(name);
  return parsed?.type === 'incremental' && parsed.cluster === parseBackupName(base)?.cluster ? { name, base } : undefined;
}

/** Every name a backup's data object can have: leftovers of any of them are cleaned up. */
export const DATA_OBJECTS = [dataObjectName('zstd'), dataObjectName('none')] as const;
/** Written first into a backup's folder, so that even a backup killed before any object completed is visible to the sweep. */
export const STARTED_OBJECT = 'started.json';

/** Where `chainbackup check` writes, reads and removes its probe object: never a backup, never locked. */
export const CHECK_PROBE_FOLDER = '.chainbackup-check';

/**
 * Splits a user-given path to a backup folder (relative to a storage root, possibly under a prefix)
 * into the prefix and the backup's location, e.g. "prod/shop-…-full.incr/shop-…-incr/".
 */
export function parseBackupPath(path: string): { prefix: string; location: BackupLocation } | undefined {
  const parts = path.split('/').filter((part) => part !== '');
  const last = parts.at(-1);
  if (last === undefined) return undefined;
  const lastName = parseBackupName(last);
  if (lastName?.type === 'full') {
    return { prefix: parts.slice(0, -1).join('/'), location: { name: last, base: last } };
  }
  const parent = parts.at(-2);
  if (lastName?.type === 'incremental' && parent?.endsWith(CHAIN_SUFFIX)) {
    const base = parent.slice(0, -CHAIN_SUFFIX.length);
    const baseName = parseBackupName(base);
    // A chain folder holds increments of its own cluster only.
    if (baseName?.type === 'full' && baseName.cluster === lastName.cluster) {
      return { prefix: parts.slice(0, -2).join('/'), location: { name: last, base } };
    }
  }
  return undefined;
}

/**
 * Where a restore source lives: `path` may be relative to the storage's root (and prefix), or a full
 * URL (`s3://bucket/key…` or `file:///dir…`) that names the place itself, as listings show it.
 */
export function locateSource(
  storage: StorageConfig,
  path: string,
): { ok: true; storage: StorageConfig; prefix: string; location: BackupLocation } | { ok: false; reason: string } {
  let root = storage;
  let relative = path;
  const urlScheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(path)?.[1];
  if (urlScheme !== undefined && urlScheme !== 's3' && urlScheme !== 'file') {
    return { ok: false, reason: `source.path "${path}" is a ${urlScheme}:// URL; give a path relative to source.storage, an s3:// URL or a file:/// URL` };
  }
  // Every s3:// or file:// path is a URL, even without a "/" after the bucket or host.
  const url = /^(s3|file):\/\/([^/]*)(?:\/(.*))?$/s.exec(path);
  if (url) {
    const [, scheme, host = '', rest = ''] = url;
    if (scheme === 's3') {
      if (storage.kind !== 's3') return { ok: false, reason: `source.path "${path}" is an s3:// URL but source.storage is ${storage.kind}` };
      if (host !== storage.bucket) return { ok: false, reason: `source.path "${path}" names bucket "${host}" but source.storage is bucket "${storage.bucket}"` };
      root = { ...storage, prefix: '' };
    } else {
      if (storage.kind !== 'filesystem') return { ok: false, reason: `source.path "${path}" is a file:// URL but source.storage is ${storage.kind}` };
      // The restoring host reads its own filesystem: a host in the URL would be silently ignored.
      if (host !== '' && host !== 'localhost') return { ok: false, reason: `source.path "${path}" names host "${host}"; a file:// URL names a folder on the restoring host, as file:///<folder>` };
      root = { ...storage, path: '/' };
    }
    relative = rest;
  }
  const parsed = parseBackupPath(relative);
  if (!parsed) {
    return { ok: false, reason: `source.path "${path}" does not end in a backup folder (<cluster>-<time>-full or <full>.incr/<cluster>-<time>-incr)` };
  }
  return { ok: true, storage: root, ...parsed };
}
