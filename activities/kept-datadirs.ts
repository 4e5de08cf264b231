/**
 * The datadirs in-place restores kept beside a cluster's datadir: listed with their size and age,
 * and removed one by one on request. A removal names one folder that must be such a kept datadir of
 * this cluster and nothing else: never a link, never the datadir or anything of another cluster.
 */
import { lstat, readdir, rm, statfs } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { businessFailure, FailureType } from '../domain/failures.js';
import { keptDatadirTime, type KeptDatadir, type KeptDatadirs } from '../domain/kept-datadirs.js';
import type { ActivityDeps } from './deps.js';
import { clusterPlaces, isWithin, resolvedPath } from './files.js';
import { Progress } from './streams.js';
import { assertAttemptHolds } from './attempt-lease.js';

/** Bytes of a tree, not following links; `onProgress` hears the count as it grows (a kept datadir may hold millions of files). */
async function treeBytes(root: string, onProgress: (bytes: number) => void): Promise<number> {
  let bytes = 0;
  let files = 0;
  const walk = async (folder: string): Promise<void> => {
    for (const entry of await readdir(folder, { withFileTypes: true })) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) await walk(path);
      else bytes += (await lstat(path)).size;
      if (++files % 1000 === 0) onProgress(bytes);
    }
  };
  await walk(root);
  return bytes;
}

/** The kept datadirs of a cluster, oldest first, with the disk they are on. */
export async function readKeptDatadirs(deps: ActivityDeps, clusterName: string, onProgress: (phase: string, bytes: number) => void = () => undefined): Promise<KeptDatadirs> {
  const cluster = deps.cluster(clusterName);
  const datadir = await resolvedPath(cluster.datadir);
  const parent = dirname(datadir);
  const now = Date.now();
  const kept: KeptDatadir[] = [];
  for (const entry of await readdir(parent, { withFileTypes: true }).catch(() => [])) {
    const keptAt = keptDatadirTime(datadir, entry.name);
    // A link with a kept datadir's name is not one: its target may be anything.
    if (keptAt === undefined || !entry.isDirectory()) continue;
    const path = join(parent, entry.name);
    kept.push({ name: entry.name, path, sizeBytes: await treeBytes(path, (bytes) => onProgress(`weighing ${path}`, bytes)), keptAt, ageSeconds: Math.max(0, Math.round((now - Date.parse(keptAt)) / 1000)) });
  }
  const disk = await statfs(parent).catch(() => undefined);
  return {
    cluster: cluster.name,
    datadir,
    kept: kept.sort((a, b) => a.keptAt.localeCompare(b.keptAt)),
    disk: { totalBytes: disk ? disk.blocks * disk.bsize : 0, freeBytes: disk ? disk.bavail * disk.bsize : 0 },
  };
}

export function keptDatadirActivities(deps: ActivityDeps) {
  return {
    /** The kept datadirs of the cluster, oldest first, with the disk they are on. */
    async listKeptDatadirs(input: { cluster: string }): Promise<KeptDatadirs> {
      const progress = new Progress('listing kept datadirs');
      let shown = '';
      return progress.during(
        readKeptDatadirs(deps, input.cluster, (phase, bytes) => {
          if (phase !== shown) progress.phase((shown = phase));
          progress.update(bytes);
        }),
      );
    },

    /**
     * Removes one kept datadir of the cluster (the workflow holds the cluster's lock: no restore
     * that may roll back into it is running). Idempotent: one already gone is not an error.
     */
    async removeKeptDatadir(input: { cluster: string; name: string }): Promise<{ removed: boolean }> {
      const cluster = deps.cluster(input.cluster);
      const refuse = (reason: string) => businessFailure(FailureType.InvalidRequest, `"${input.name}" ${reason}`);
      const datadir = await resolvedPath(cluster.datadir);
      if (keptDatadirTime(datadir, input.name) === undefined) throw refuse(`is not the name of a datadir kept by a restore of ${cluster.name} (${basename(datadir)}.before-restore-<time>)`);
      const path = join(dirname(datadir), input.name);
      const info = await lstat(path).catch(() => undefined);
      if (!info) return { removed: false };
      if (!info.isDirectory()) throw refuse(`(${path}) is not a folder: it is left alone`);
      // Whatever the names say, nothing any cluster uses is inside it or contains it.
      for (const place of await clusterPlaces(deps.config.clusters)) {
        if (isWithin(path, place.path) || isWithin(place.path, path)) throw refuse(`(${path}) overlaps ${place.what} (${place.path}): it is left alone`);
      }
      const progress = new Progress(`removing ${path}`);
      assertAttemptHolds(`remove ${path}`);
      await progress.during(rm(path, { recursive: true, force: true }));
      return { removed: true };
    },
  };
}
