import { chown, cp, lstat, mkdir, readdir, rename, rm, stat, statfs } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Writable, type Readable } from 'node:stream';
import { Context } from '@temporalio/activity';
import { execa } from 'execa';
import type { CommittedBackup, RestoreRecord, StoredBackup } from '../domain/chain.js';
import type { StorageConfig } from '../domain/config.js';
import { businessFailure, FailureType } from '../domain/failures.js';
import { restoreRecordKey } from '../domain/layout.js';
import { readCatalog } from './catalog.js';
import { clusterController } from './cluster/controller.js';
import { serverFacts } from './database/sql.js';
import type { ActivityDeps } from './deps.js';
import { openStore, type ObjectStore } from './storage/index.js';
import { Progress, StreamMeter, tailLines } from './streams.js';
import { backupToolFor } from './tools/backup-tool.js';

/** Another storage to restore from (cross-cluster restore); credentials are this worker's own. */
export interface RestoreSource {
  storage: StorageConfig;
  /** Folder under the storage root that holds the backups (the part of the path before the backup). */
  prefix: string;
}

export interface SourceInput {
  cluster: string;
  source?: RestoreSource;
}

function sourceStore(deps: ActivityDeps, input: SourceInput): ObjectStore {
  if (!input.source) return deps.store(deps.cluster(input.cluster));
  const { storage, prefix } = input.source;
  if (prefix === '') return openStore(storage);
  return openStore(storage.kind === 'filesystem' ? { ...storage, path: join(storage.path, prefix) } : { ...storage, prefix: [storage.prefix, prefix].filter(Boolean).join('/') });
}

/** Where a restore works: beside the datadir by default, so the final move is a rename on one filesystem. */
function restoreRoot(datadir: string, workDir: string | undefined): string {
  return workDir ?? join(dirname(datadir.replace(/\/+$/, '')), '.chainbackup-restore');
}

function keptDatadir(datadir: string, restoreId: string): string {
  return `${datadir}.before-restore-${restoreId}`;
}

async function chownTree(root: string, uid: number, gid: number): Promise<void> {
  await chown(root, uid, gid);
  for (const entry of await readdir(root, { recursive: true })) {
    const path = join(root, entry);
    const info = await lstat(path);
    if (!info.isSymbolicLink()) await chown(path, uid, gid);
  }
}

/** Moves a folder, falling back to copy-and-remove across filesystems. */
async function moveFolder(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
    await cp(from, to, { recursive: true, preserveTimestamps: true, errorOnExist: true, force: false });
    await rm(from, { recursive: true, force: true });
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

export function restoreActivities(deps: ActivityDeps) {
  return {
    async listSourceBackups(input: SourceInput): Promise<{ backups: StoredBackup[]; storageLabel: string }> {
      const store = sourceStore(deps, input);
      return { backups: await readCatalog(store), storageLabel: store.label };
    },

    /** Creates the restore's work folder after checking there is room for everything it will extract. */
    async prepareRestoreWorkspace(input: { cluster: string; restoreId: string; requiredBytes: number }): Promise<{ workDir: string }> {
      const cluster = deps.cluster(input.cluster);
      const root = restoreRoot(cluster.datadir, cluster.restore.workDir);
      await mkdir(root, { recursive: true, mode: 0o700 });
      const fs = await statfs(root);
      const free = fs.bavail * fs.bsize;
      // Extracted increments sit beside the full backup until applied; keep a 10% margin.
      const needed = Math.ceil(input.requiredBytes * 1.1);
      if (free < needed) {
        throw businessFailure(
          FailureType.InsufficientSpace,
          `restore of cluster ${cluster.name} needs ${needed} bytes in ${root} but only ${free} are free; free space or set restore.workDir to a larger filesystem`,
        );
      }
      const workDir = join(root, input.restoreId);
      await rm(workDir, { recursive: true, force: true });
      await mkdir(workDir, { recursive: true, mode: 0o700 });
      return { workDir };
    },

    /**
     * Downloads one backup and extracts it, verifying its sha256 while it streams. A corrupt object is
     * a non-retryable failure that names it.
     */
    async downloadBackup(input: SourceInput & { backup: CommittedBackup; into: string }): Promise<{ bytes: number }> {
      const cluster = deps.cluster(input.cluster);
      const store = sourceStore(deps, input);
      const tool = backupToolFor(input.backup.manifest.flavour);
      const { manifest, folder } = input.backup;
      const dataKey = `${folder}${manifest.dataObject}`;
      const expected = manifest.objects.find((object) => object.name === manifest.dataObject);
      if (!expected) throw businessFailure(FailureType.BrokenChain, `manifest of ${manifest.name} lists no data object ${manifest.dataObject}`);
      const signal = Context.current().cancellationSignal;
      const progress = new Progress('downloading', { object: dataKey, bytesTotal: expected.size });
      await rm(input.into, { recursive: true, force: true });
      await mkdir(input.into, { recursive: true });

      const meter = new StreamMeter((bytes) => progress.update(bytes));
      const body: Readable = (await store.download(dataKey)).pipe(meter);
      const steps: Promise<unknown>[] = [];
      // zstd writes straight into the extractor through an OS pipe: the decompressed stream never passes through this process.
      const zstd = manifest.dataObject.endsWith('.zst') ? execa('zstd', ['-q', '-d', '-c'], { buffer: false, cancelSignal: signal }) : undefined;
      const extractor = execa(tool.extractBinary, tool.extractArgs(input.into, cluster.backup.parallel), { stdin: zstd?.stdout ?? 'pipe', buffer: false, cancelSignal: signal, stdout: 'ignore' });
      const extractorLog = tailLines(extractor.stderr);
      if (zstd) {
        zstd.stdout.destroy(); // the extractor holds the pipe now
        steps.push(zstd, pipeline(body, zstd.stdin));
      } else {
        steps.push(pipeline(body, extractor.stdin as NodeJS.WritableStream));
      }
      steps.push(extractor);
      const results = await Promise.allSettled(steps);
      if (signal.aborted) throw signal.reason;
      const failed = results.find((result) => result.status === 'rejected');
      // If extraction stopped early, hash the whole object so a corrupt object is named as such.
      const actual = failed && meter.bytes < expected.size ? await hashObject(store, dataKey) : meter.digest();
      if (actual !== expected.sha256 || meter.bytes > expected.size) {
        await rm(input.into, { recursive: true, force: true });
        throw businessFailure(FailureType.ChecksumMismatch, `object ${store.label}/${dataKey} is corrupt: sha256 ${actual} does not match ${expected.sha256} recorded in its manifest`);
      }
      if (failed) {
        await rm(input.into, { recursive: true, force: true });
        throw new Error(`extracting ${dataKey} for cluster ${cluster.name} failed: ${extractorLog() || String((failed).reason)}`);
      }
      const decompress = tool.decompressArgs(input.into, cluster.backup.parallel);
      if (manifest.compression === 'zstd' && !manifest.dataObject.endsWith('.zst') && decompress) {
        progress.phase('decompressing');
        await progress.during(execa(tool.binary, decompress, { cancelSignal: signal }));
      }
      return { bytes: meter.bytes };
    },

    /** Prepares the full backup, or applies one increment onto it. */
    async prepareBackup(input: { cluster: string; flavour: CommittedBackup['manifest']['flavour']; fullDir: string; incrementalDir?: string; moreToApply: boolean }): Promise<void> {
      const tool = backupToolFor(input.flavour);
      const progress = new Progress(input.incrementalDir ? 'applying increment' : 'preparing full backup');
      const { restore } = deps.cluster(input.cluster);
      const args = tool.prepareArgs({ targetDir: input.fullDir, moreToApply: input.moreToApply, memoryMb: restore.prepareMemoryMb, ...(input.incrementalDir ? { incrementalDir: input.incrementalDir } : {}) });
      const run = execa(tool.binary, args, { cancelSignal: Context.current().cancellationSignal, reject: false, all: true });
      const result = await progress.during(run);
      if (result.exitCode !== 0) {
        const log = (result.all ?? '').trim().split('\n').slice(-15).join('\n');
        throw businessFailure(FailureType.RestoreFailed, `${tool.binary} ${args.join(' ')} failed (exit ${result.exitCode}): ${log}`);
      }
      if (input.incrementalDir) await rm(input.incrementalDir, { recursive: true, force: true });
    },

    async pauseCluster(input: { cluster: string }): Promise<void> {
      const progress = new Progress('pausing cluster');
      await progress.during(clusterController(deps.cluster(input.cluster)).pause());
    },

    async unpauseCluster(input: { cluster: string }): Promise<void> {
      const progress = new Progress('unpausing cluster');
      await progress.during(clusterController(deps.cluster(input.cluster)).unpause());
    },

    /**
     * Puts the prepared data in place of the datadir. The old datadir is kept as
     * <datadir>.before-restore-<restoreId>, never deleted. Safe to retry after a crash at any point.
     */
    async swapDatadir(input: { cluster: string; preparedDir: string; restoreId: string }): Promise<{ previousDatadir: string }> {
      const datadir = deps.cluster(input.cluster).datadir.replace(/\/+$/, '');
      const previousDatadir = keptDatadir(datadir, input.restoreId);
      if (!(await exists(previousDatadir))) await rename(datadir, previousDatadir);
      const owner = await stat(previousDatadir);
      if (await exists(input.preparedDir)) {
        await rm(datadir, { recursive: true, force: true }); // A partial copy of an interrupted attempt.
        await moveFolder(input.preparedDir, datadir);
      }
      await chownTree(datadir, owner.uid, owner.gid);
      return { previousDatadir };
    },

    /** Puts the kept datadir back after a failed restore; the half-restored data is removed. */
    async rollbackDatadir(input: { cluster: string; restoreId: string }): Promise<void> {
      const datadir = deps.cluster(input.cluster).datadir.replace(/\/+$/, '');
      const previousDatadir = keptDatadir(datadir, input.restoreId);
      if (!(await exists(previousDatadir))) return; // Never swapped, or already rolled back.
      await rm(datadir, { recursive: true, force: true });
      await rename(previousDatadir, datadir);
    },

    /** Places prepared data into a new folder, leaving the running server alone. */
    async placeClone(input: { cluster: string; preparedDir: string; path: string }): Promise<void> {
      const cluster = deps.cluster(input.cluster);
      if (await exists(input.path)) {
        const entries = await readdir(input.path);
        if (entries.length > 0) throw businessFailure(FailureType.InvalidRequest, `target.path ${input.path} is not empty; a clone goes into a new or empty folder`);
        await rm(input.path, { recursive: true });
      }
      await mkdir(dirname(input.path), { recursive: true });
      await moveFolder(input.preparedDir, input.path);
      const owner = await stat(cluster.datadir).catch(() => undefined);
      if (owner) await chownTree(input.path, owner.uid, owner.gid);
    },

    /** Records an in-place restore in the cluster's own storage: increments must not continue the old chain. */
    async recordInPlaceRestore(input: { cluster: string; record: RestoreRecord }): Promise<void> {
      const store = deps.store(deps.cluster(input.cluster));
      await store.putText(restoreRecordKey(input.cluster), `${JSON.stringify(input.record)}\n`);
    },

    /** The cluster's latest in-place restore, if any. */
    async readInPlaceRestore(input: { cluster: string }): Promise<RestoreRecord | null> {
      const store = deps.store(deps.cluster(input.cluster));
      const text = await store.getText(restoreRecordKey(input.cluster));
      return text === undefined ? null : (JSON.parse(text) as RestoreRecord);
    },

    /** The restored server must accept the cluster's own login: later backups depend on it. */
    async verifyCluster(input: { cluster: string }): Promise<{ serverVersion: string }> {
      const cluster = deps.cluster(input.cluster);
      try {
        const facts = await serverFacts(cluster.flavour, cluster.connection);
        return { serverVersion: facts.version };
      } catch (error) {
        throw businessFailure(
          FailureType.RestoreFailed,
          `restored server of cluster ${cluster.name} runs but refuses the configured login: ${(error as Error).message}. A physical restore brings the source's users; the backup user and its password must exist in the restored data`,
        );
      }
    },

    async removeRestoreWorkspace(input: { workDir: string }): Promise<void> {
      await rm(input.workDir, { recursive: true, force: true });
    },
  };
}

async function hashObject(store: ObjectStore, key: string): Promise<string> {
  const meter = new StreamMeter();
  await pipeline(await store.download(key), meter, new Writable({ write: (_chunk, _encoding, done) => done() }));
  return meter.digest();
}
