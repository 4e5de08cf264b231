import { access, chmod, chown, constants, lstat, readdir, realpath, stat } from 'node:fs/promises';
import { userInfo } from 'node:os';
import type { Stats } from 'node:fs';
import { basename, dirname, join, resolve, sep } from 'node:path';
import type { ClusterConfig } from '../domain/config.js';

/** Whether something is at `path` (following links); any error reading it counts as nothing there. */
export async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Whether `path` is `root` or lies inside it (both resolved). */
export function isWithin(path: string, root: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : `${root}${sep}`);
}

/** A path with every link resolved, as far as it exists; the part that does not exist yet is appended as written. */
export async function resolvedPath(path: string): Promise<string> {
  const absolute = resolve(path);
  const missing: string[] = [];
  let existing = absolute;
  for (;;) {
    try {
      return join(await realpath(existing), ...missing.reverse());
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw error;
      if (existing === dirname(existing)) return absolute;
      missing.push(basename(existing));
      existing = dirname(existing);
    }
  }
}

/** The account this worker runs as, for messages that say whose permission is missing. */
export function workerAccount(): string {
  const { username, uid } = userInfo();
  return `${username} (uid ${uid})`;
}

/**
 * The folders this worker cannot create or rename entries in, with the reason (EACCES, EROFS…):
 * checked before a step that needs them, so that it is refused before it changes anything.
 */
export async function foldersNotWritable(folders: string[]): Promise<string[]> {
  const refused: string[] = [];
  for (const folder of [...new Set(folders)]) {
    await access(folder, constants.W_OK | constants.X_OK).catch((error: NodeJS.ErrnoException) => refused.push(`${folder} (${error.code ?? error.message})`));
  }
  return refused;
}

/** What every configured cluster uses and nothing may overwrite or remove: its datadir, its filesystem storage, its restore work folder (links resolved). */
export async function clusterPlaces(clusters: ClusterConfig[]): Promise<{ path: string; what: string }[]> {
  const places: { path: string; what: string }[] = [];
  for (const cluster of clusters) {
    places.push({ path: await resolvedPath(cluster.datadir), what: `the datadir of cluster ${cluster.name}` });
    if (cluster.storage.kind === 'filesystem') places.push({ path: await resolvedPath(cluster.storage.path), what: `the backup storage of cluster ${cluster.name}` });
    if (cluster.restore.workDir) places.push({ path: await resolvedPath(cluster.restore.workDir), what: `the restore work folder of cluster ${cluster.name}` });
  }
  return places;
}

/**
 * A file's mode under a folder that was `original`: the permission bits the original grants its
 * group and others are the most it keeps (a datadir that was 0700 gets no entry another account can
 * read, whatever mode the backup tool wrote it with).
 */
export function modeWithin(mode: number, original: number): number {
  return mode & 0o7777 & ~(0o077 & ~original);
}

/**
 * Gives a placed tree the owner and the access of what it replaces: `original` (the datadir's
 * stat): its owner throughout, its own mode at the top, and no entry more open than it.
 */
export async function adoptOwnerAndMode(root: string, original: Stats): Promise<void> {
  await chown(root, original.uid, original.gid);
  await chmod(root, original.mode & 0o7777);
  for (const entry of await readdir(root, { recursive: true })) {
    const path = join(root, entry);
    const info = await lstat(path);
    if (info.isSymbolicLink()) continue;
    await chown(path, original.uid, original.gid);
    const mode = modeWithin(info.mode, original.mode);
    if (mode !== (info.mode & 0o7777)) await chmod(path, mode);
  }
}
