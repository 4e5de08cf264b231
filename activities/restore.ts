import { chmod, chown, lstat, mkdir, readdir, readFile, rename, rm, stat, statfs, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Writable, type Readable } from 'node:stream';
import { Context } from '@temporalio/activity';
import { execa } from 'execa';
import { checkRecordedBinlog, checkRecordedLsns, type CommittedBackup, type RestoreRecord, type StoredBackup } from '../domain/chain.js';
import { parseBackupInfo, parseCheckpoints, type BinlogPosition, type Checkpoints } from '../domain/checkpoints.js';
import { restoreSourceRoots, type StorageConfig } from '../domain/config.js';
import { businessFailure, FailureType } from '../domain/failures.js';
import { checkPreparableBy } from '../domain/tool-version.js';
import { readableToolLog } from '../domain/tool-failures.js';
import { installedToolVersion } from './tools/installed-version.js';
import { restoreRecordKey, restoreRunningKey, TOOL_FILE_GENERATIONS, toolFileGenerationIn } from '../domain/layout.js';
import { owningCluster } from '../domain/ownership.js';
import { belongsToPlace, dataFileNames, gtidRestartStatements, isWithinPath, placesOutsideDatadir, serverPath, unsupportedLayout } from '../domain/server-layout.js';
import { readCatalog } from './catalog.js';
import { childProcessOptions } from './child-env.js';
import { failpoint } from './failpoints.js';
import { assertAttemptHolds, holdingStream, removeUnlessReplaced } from './attempt-lease.js';
import { makeSelfContained, movePath, remoteTablespaces, rollbackServerFiles, swapServerFiles } from './placement.js';
import { cloneServer, readTargetServer, type TargetServer } from './database/server-layout.js';
import { seedBinlogHistory } from './database/binlog-seed.js';
import { stopLeftoverServer, stopLeftoverServers } from './database/private-server.js';
import { processExists } from './processes.js';
import { clusterController } from './cluster/controller.js';
import { runSql, serverFacts } from './database/sql.js';
import type { ActivityDeps } from './deps.js';
import { openStore, StorageError, type ObjectStore } from './storage/index.js';
import { Progress, StreamMeter, tailLines } from './streams.js';
import { backupToolFor } from './tools/backup-tool.js';
import type { Manifest } from '../domain/manifest.js';
import { adoptOwnerAndMode, clusterPlaces, exists, foldersNotWritable, isWithin, modeWithin, resolvedPath, workerAccount } from './files.js';
import { EncryptionError } from '../encryption/objects.js';
import { backupObjectIdentity, encryptionFailure, opening, plaintextAdmitted, plaintextRefused } from './sealed-store.js';
import { historyOf, readRestoreRecord } from './restore-record.js';
import { writeRecord } from './records.js';

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


/** The store a restore reads: the cluster's own, or a named source, which on a filesystem must lie under a folder the worker allows. */
export async function openSource(deps: ActivityDeps, input: SourceInput): Promise<ObjectStore> {
  if (!input.source) return deps.store(deps.cluster(input.cluster));
  const { storage, prefix } = input.source;
  if (storage.kind === 's3') return openStore(prefix === '' ? storage : { ...storage, prefix: [storage.prefix, prefix].filter(Boolean).join('/') }, () => deps.recordKeys());
  const folder = await resolvedPath(join(storage.path, prefix));
  const roots = restoreSourceRoots(deps.config);
  const allowed = await Promise.all(roots.map(resolvedPath));
  if (!allowed.some((root) => isWithin(folder, root))) {
    throw businessFailure(
      FailureType.InvalidRequest,
      `source.storage.path ${storage.path} (${folder}) is not inside a folder this worker restores from (worker.restoreSourceRoots: ${roots.join(', ') || 'none'}); add it there to allow it`,
    );
  }
  return openStore({ ...storage, path: folder }, () => deps.recordKeys());
}

/** A storage error that says the request is wrong becomes a refusal: no retry can fix it. */
function refusingStorage(error: unknown): unknown {
  return error instanceof StorageError && error.refusal ? businessFailure(FailureType.StorageRefused, error.message) : error;
}

/** Where a restore works: beside the datadir by default, so the final move is a rename on one filesystem. */
function restoreRoot(datadir: string, workDir: string | undefined): string {
  return workDir ?? join(dirname(datadir.replace(/\/+$/, '')), '.chainbackup-restore');
}

function keptDatadir(datadir: string, restoreId: string): string {
  return `${datadir}.before-restore-${restoreId}`;
}

export function restoreActivities(deps: ActivityDeps) {
  return {
    /** The backups of one cluster in the restore's source; heartbeats per folder, so a cancel stops it. */
    async listSourceBackups(input: SourceInput & { backupName: string }): Promise<{ backups: StoredBackup[]; storageLabel: string }> {
      const store = await openSource(deps, input);
      const progress = new Progress('listing', { object: store.label });
      let folders = 0;
      const owner = owningCluster(input.backupName);
      try {
        const backups = await progress.during(
          readCatalog(store, { signal: Context.current().cancellationSignal, onFolder: () => progress.update(++folders), ...(owner ? { cluster: owner } : {}) }),
        );
        return { backups, storageLabel: store.label };
      } catch (error) {
        throw refusingStorage(error);
      }
    },

    /**
     * Refuses a clone target that could destroy something, before anything is downloaded: `/`, a
     * system folder, a configured cluster's datadir (or a folder inside or around one, or a kept
     * copy of one), a storage folder, the restore's work folder, a file, or a non-empty folder.
     */
    async checkCloneTarget(input: { cluster: string; path: string }): Promise<{ path: string }> {
      return { path: await checkedCloneTarget(deps, input.cluster, input.path) };
    },

    /** Creates the restore's work folder after checking there is room for everything it will extract. */
    async prepareRestoreWorkspace(input: { cluster: string; restoreId: string; requiredBytes: number; chain?: { name: string; manifest: Pick<Manifest, 'tool' | 'serverVersion' | 'flavour'> }[] }): Promise<{ workDir: string }> {
      const cluster = deps.cluster(input.cluster);
      // Only a tool of the series that took a backup prepares it: refused before anything is downloaded.
      const flavour = input.chain?.[0]?.manifest.flavour;
      if (flavour !== undefined) {
        const binary = cluster.backup.toolPath ?? backupToolFor(flavour).binary;
        const preparable = checkPreparableBy(input.chain ?? [], { binary, version: await installedToolVersion(binary) });
        if (!preparable.ok) throw businessFailure(preparable.code, preparable.reason);
      }
      const root = restoreRoot(cluster.datadir, cluster.restore.workDir);
      await mkdir(root, { recursive: true, mode: 0o700 }).catch((error: NodeJS.ErrnoException) => {
        if (!['EACCES', 'EPERM', 'EROFS'].includes(error.code ?? '')) throw error;
        throw businessFailure(
          FailureType.ConfigInvalid,
          `the worker, running as ${workerAccount()}, cannot create the restore work folder ${root} (${error.code}): set restore.workDir of cluster ${cluster.name} to a folder it can write, or give it write permission there (a unit with ProtectSystem=strict lists it in ReadWritePaths)`,
        );
      });
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
      // A replaced attempt (attempt-lease.ts) must not clear what a newer one already downloaded here.
      assertAttemptHolds(`clear the restore workspace ${workDir}`);
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
      const store = await openSource(deps, input);
      const tool = backupToolFor(input.backup.manifest.flavour);
      const { manifest, folder } = input.backup;
      const dataKey = `${folder}${manifest.dataObject}`;
      const expected = manifest.objects.find((object) => object.name === manifest.dataObject);
      if (!expected) throw businessFailure(FailureType.BrokenChain, `manifest of ${manifest.name} lists no data object ${manifest.dataObject}`);
      const signal = Context.current().cancellationSignal;
      const progress = new Progress('downloading', { object: dataKey, bytesTotal: expected.size });
      // An encrypted backup whose key this worker lacks is refused before anything is downloaded, naming the key.
      const keys = await deps.keys();
      const encrypted = manifest.encryption !== 'none';
      if (encrypted && !keys.find(manifest.encryptionKeyId ?? '')) {
        throw businessFailure(FailureType.KeyUnavailable, `${manifest.name} is encrypted with key "${manifest.encryptionKeyId ?? '?'}", which this worker does not hold (it holds: ${keys.ids.join(', ') || 'no key'}); add it to encryption.keys`);
      }
      const storedAs = { encryption: manifest.encryption, storedAt: manifest.finishedAt };
      if (!encrypted && !plaintextAdmitted(deps.config.encryption, storedAs)) throw plaintextRefused(`backup ${manifest.name}`, storedAs);
      assertAttemptHolds(`clear ${input.into}`);
      await rm(input.into, { recursive: true, force: true });
      await mkdir(input.into, { recursive: true });

      const meter = new StreamMeter((bytes) => progress.update(bytes));
      const downloaded: Readable = (await store.download(dataKey)).pipe(meter);
      // Every chunk is authenticated before the extractor sees a byte of it.
      const opener = opening(encrypted, keys, backupObjectIdentity(manifest.name, manifest.dataObject));
      const opened: Readable = opener ? downloaded.pipe(opener) : downloaded;
      // Nothing more reaches the extraction once this attempt may have been replaced: a newer one extracts into the same folder.
      const holding = holdingStream(`extract into ${input.into}`);
      const body: Readable = opened.pipe(holding);
      downloaded.once('error', (error) => opener?.destroy(error));
      opened.once('error', (error) => holding.destroy(error));
      const steps: Promise<unknown>[] = [];
      // zstd writes straight into the extractor through an OS pipe: the decompressed stream never passes through this process.
      const zstd = manifest.dataObject.endsWith('.zst') ? execa('zstd', ['-q', '-d', '-c'], { buffer: false, cancelSignal: signal, ...childProcessOptions() }) : undefined;
      const extractor = execa(tool.extractBinary, tool.extractArgs(input.into, cluster.backup.parallel), { stdin: zstd?.stdout ?? 'pipe', buffer: false, cancelSignal: signal, stdout: 'ignore', ...childProcessOptions() });
      const extractorLog = tailLines(extractor.stderr);
      if (zstd) {
        zstd.stdout.destroy(); // the extractor holds the pipe now
        steps.push(zstd, pipeline(body, zstd.stdin));
      } else {
        steps.push(pipeline(body, extractor.stdin as NodeJS.WritableStream));
      }
      steps.push(extractor);
      // Heartbeat on a timer too: a slow or stalled source must not look like a dead worker.
      const results = await progress.during(Promise.allSettled(steps));
      if (signal.aborted) throw signal.reason;
      const failed = results.find((result) => result.status === 'rejected');
      // If extraction stopped early, hash the whole object so a corrupt object is named as such.
      const actual = failed && meter.bytes < expected.size ? await hashObject(store, dataKey) : meter.digest();
      if (actual !== expected.sha256 || meter.bytes > expected.size) {
        await removeUnlessReplaced(input.into);
        throw businessFailure(FailureType.ChecksumMismatch, `object ${store.label}/${dataKey} is corrupt: sha256 ${actual} does not match ${expected.sha256} recorded in its manifest`);
      }
      if (failed) {
        await removeUnlessReplaced(input.into);
        const sealedFailure = results.flatMap((result) => (result.status === 'rejected' && result.reason instanceof EncryptionError ? [result.reason] : []))[0];
        if (sealedFailure) throw encryptionFailure(sealedFailure, store);
        throw new Error(`extracting ${dataKey} for cluster ${cluster.name} failed: ${extractorLog() || String((failed).reason)}`);
      }
      const decompress = tool.decompressArgs(input.into, cluster.backup.parallel);
      if (manifest.compression === 'zstd' && !manifest.dataObject.endsWith('.zst') && decompress) {
        progress.phase('decompressing');
        assertAttemptHolds(`decompress ${input.into}`);
        await progress.during(execa(tool.binary, decompress, { cancelSignal: signal, ...childProcessOptions() }));
      }
      for (const recorded of [checkRecordedLsns(input.backup, await readCheckpointsIn(input.into), 'extracted'), checkRecordedBinlog(input.backup, await readBinlogPositionIn(input.into))]) {
        if (recorded.ok) continue;
        await removeUnlessReplaced(input.into);
        throw businessFailure(recorded.code, recorded.reason);
      }
      return { bytes: meter.bytes };
    },

    /**
     * Prepares the full backup, or applies one increment onto it. Both change the files in place, so
     * a step cut short (its worker killed) leaves data no retry can trust: a marker file names the
     * running step, and a retry that finds one stops what may still run there and fails with
     * PrepareInterrupted, on which the workflow starts the prepare again from a clean extraction.
     */
    async prepareBackup(input: { cluster: string; flavour: CommittedBackup['manifest']['flavour']; fullDir: string; incrementalDir?: string; moreToApply: boolean; expect?: CommittedBackup }): Promise<void> {
      const tool = backupToolFor(input.flavour);
      const progress = new Progress(input.incrementalDir ? 'applying increment' : 'preparing full backup');
      const { restore } = deps.cluster(input.cluster);
      const marker = join(input.fullDir, PREPARE_MARKER);
      const interrupted = await readFile(marker, 'utf8').catch(() => undefined);
      // The marker may name a newer attempt's prepare: a replaced attempt (attempt-lease.ts) neither stops it nor starts its own.
      assertAttemptHolds(`prepare ${input.fullDir}`);
      if (interrupted !== undefined) {
        await stopInterruptedPrepare(interrupted, input.fullDir);
        throw businessFailure(FailureType.PrepareInterrupted, `an earlier attempt at preparing ${input.fullDir} was cut short (${interrupted.trim()}); the data there cannot be trusted and is extracted again`);
      }
      const args = tool.prepareArgs({ targetDir: input.fullDir, moreToApply: input.moreToApply, memoryMb: restore.prepareMemoryMb, ...(input.incrementalDir ? { incrementalDir: input.incrementalDir } : {}) });
      const signal = Context.current().cancellationSignal;
      const run = execa(tool.binary, args, { cancelSignal: signal, reject: false, all: true, ...childProcessOptions() });
      await writeFile(marker, `pid ${run.pid ?? 0} ${input.incrementalDir ? `applying ${input.incrementalDir}` : 'preparing'}\n`);
      await failpoint(input.incrementalDir ? 'apply-running' : 'prepare-running');
      const result = await progress.during(run);
      // A cancelled step reports the cancellation, not a tool failure; the marker stays, since the half-prepared data cannot be trusted.
      if (signal.aborted) throw signal.reason;
      if (result.exitCode !== 0) {
        // The tool's last meaningful lines: a damaged page is printed as kilobytes of hex, which would hide the cause.
        throw businessFailure(FailureType.RestoreFailed, `${tool.binary} ${args.join(' ')} failed (exit ${result.exitCode}): ${readableToolLog(String(result.all ?? ''))}`);
      }
      if (input.expect) {
        const recorded = checkRecordedLsns(input.expect, await readCheckpointsIn(input.fullDir), 'prepared');
        if (!recorded.ok) throw businessFailure(recorded.code, recorded.reason);
      }
      assertAttemptHolds(`finish preparing ${input.fullDir}`);
      await rm(marker, { force: true });
      if (input.incrementalDir) await rm(input.incrementalDir, { recursive: true, force: true });
    },

    /** Stops the server (idempotent: a stopped server stays stopped). */
    async pauseCluster(input: { cluster: string }): Promise<void> {
      const progress = new Progress('pausing cluster');
      await progress.during(clusterController(deps.cluster(input.cluster)).pause());
    },

    /** Starts the server, unless one already runs on its datadir, and waits until it answers. */
    async unpauseCluster(input: { cluster: string }): Promise<void> {
      const progress = new Progress('unpausing cluster');
      await progress.during(clusterController(deps.cluster(input.cluster)).unpause());
    },

    /**
     * Puts the prepared data in place of the datadir. The old datadir is kept as
     * <datadir>.before-restore-<restoreId>, never deleted. Safe to retry after a crash at any point.
     */
    async swapDatadir(input: { cluster: string; preparedDir: string; restoreId: string; target: TargetServer; sameServer: boolean }): Promise<{ previousDatadir: string }> {
      const cluster = deps.cluster(input.cluster);
      const datadir = cluster.datadir.replace(/\/+$/, '');
      const previousDatadir = keptDatadir(datadir, input.restoreId);
      const layout = input.target.layout;
      const progress = new Progress('swapping the datadir', { object: datadir });
      return progress.during(
        (async () => {
          const owner = await stat(await exists(previousDatadir) ? previousDatadir : datadir);
          await swapServerFiles({
            datadir,
            kept: previousDatadir,
            prepared: input.preparedDir,
            layout,
            sameServer: input.sameServer,
            otherServersFolders: deps.config.clusters.filter((other) => other.name !== cluster.name).map((other) => other.datadir),
          });
          await adoptOwnerAndMode(datadir, owner);
          for (const place of placesOutsideDatadir(layout)) {
            for (const name of await readdir(place.folder).catch(() => [] as string[])) {
              if (!belongsToPlace(place, name)) continue;
              const path = join(place.folder, name);
              const info = await lstat(path);
              if (info.isSymbolicLink()) continue;
              await chown(path, owner.uid, owner.gid);
              await chmod(path, modeWithin(info.mode, owner.mode));
            }
          }
          return { previousDatadir };
        })(),
      );
    },

    /** Puts the kept datadir (and every file set aside with it) back after a failed restore; the restored data is removed. */
    async rollbackDatadir(input: { cluster: string; restoreId: string; target: TargetServer }): Promise<void> {
      const cluster = deps.cluster(input.cluster);
      // A private server a dead worker left running on the restored files stops before they move.
      await stopLeftoverServers(restoreRoot(cluster.datadir, cluster.restore.workDir));
      const datadir = cluster.datadir.replace(/\/+$/, '');
      const previousDatadir = keptDatadir(datadir, input.restoreId);
      if (!(await exists(previousDatadir))) return; // Never swapped, or already rolled back.
      await new Progress('rolling back the datadir', { object: datadir }).during(rollbackServerFiles({ datadir, kept: previousDatadir, layout: input.target.layout }));
    },

    /** Starts the restored server's binlog history at the backup's GTID position, before the server starts (see binlog-seed.ts). */
    async seedBinlogHistory(input: { cluster: string; target: TargetServer; gtid: string }): Promise<void> {
      const cluster = deps.cluster(input.cluster);
      const serverBinary = cluster.controller.kind === 'process' ? cluster.controller.serverBinary : 'mariadbd';
      // Its state in the cluster's restore folder: the next attempt, a rollback and the end of the restore stop a server a dead worker left there.
      const stateDir = join(restoreRoot(cluster.datadir, cluster.restore.workDir), 'seed-server');
      await new Progress('seeding the binlog history').during(seedBinlogHistory(input.target, input.gtid, stateDir, serverBinary));
    },

    /**
     * The running target server's layout, read before it is stopped; a layout the restore cannot
     * honour is refused here, naming the setting, while the server still runs untouched.
     */
    async readRestoreTarget(input: { cluster: string; preparedDir: string }): Promise<TargetServer> {
      const cluster = deps.cluster(input.cluster);
      const target = await readTargetServer(cluster);
      // The backup's own system tablespace, as mariadb-backup recorded it beside the data.
      const backupCnf = await readFile(join(input.preparedDir, 'backup-my.cnf'), 'utf8').catch(() => '');
      const dataFilePath = /^innodb_data_file_path=(.*)$/m.exec(backupCnf)?.[1];
      const problems = unsupportedLayout(target.layout, dataFilePath === undefined ? undefined : dataFileNames(dataFilePath.trim()));
      if (problems.length > 0) throw businessFailure(FailureType.UnsupportedLayout, `cluster ${cluster.name} cannot be restored in place: ${problems.join('; ')}`);
      // The swap renames the datadir aside in its parent and moves files in the folders outside it: a
      // worker that may not would fail after the pause, so it is refused here, with the server running.
      const notWritable = await foldersNotWritable([dirname(target.layout.datadir.replace(/\/+$/, '')), ...placesOutsideDatadir(target.layout).map((place) => place.folder)]);
      if (notWritable.length > 0) {
        throw businessFailure(
          FailureType.ConfigInvalid,
          `cluster ${cluster.name} cannot be restored in place: the worker, running as ${workerAccount()}, cannot rename or move files in ${notWritable.join(', ')}; an in-place restore keeps the old datadir beside the new one, so the datadir's parent folder must be writable by the worker (as root, or with the datadir in a folder its user owns, such as /srv/mariadb/data; see docs/chainbackup-worker.service)`,
        );
      }
      return target;
    },

    /**
     * Makes the restored server whole before it is trusted: its binlog history starts again at the
     * backup's GTID position (the replaced server's binlogs went with the kept copy), every table
     * opens, and every tablespace the data dictionary lists is a restored file. Any problem fails
     * the restore (and so rolls it back), naming the table.
     */
    async settleRestoredServer(input: { cluster: string; target: TargetServer; gtid?: string }): Promise<{ gtid?: string }> {
      const cluster = deps.cluster(input.cluster);
      const sql = (query: string) => runSql(cluster.flavour, cluster.connection, query, { timeoutMs: 10 * 60_000 });
      let gtid: string | undefined;
      const restart = input.gtid === undefined ? undefined : gtidRestartStatements(input.gtid);
      if (cluster.flavour === 'mariadb' && input.gtid && restart && input.target.logBin) {
        // Set before the server started (seedBinlogHistory, or the binlogs applied up to the point); set again only if the server says otherwise.
        const [[position = ''] = []] = await sql('SELECT @@gtid_binlog_pos');
        if (position !== input.gtid) await sql(restart.join(' '));
        gtid = input.gtid;
      }
      const tables = await sql(`SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' AND engine = 'InnoDB' AND table_schema NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')`);
      const unreadable: string[] = [];
      for (const [schema = '', table = ''] of tables) {
        const name = `\`${schema.replace(/`/g, '``')}\`.\`${table.replace(/`/g, '``')}\``;
        await sql(`SELECT 1 FROM ${name} LIMIT 1`).catch((error: unknown) => unreadable.push(`${schema}.${table} (${(error as Error).message})`));
      }
      if (cluster.flavour === 'mariadb') {
        const layout = input.target.layout;
        const own = [layout.datadir, ...placesOutsideDatadir(layout).map((place) => place.folder)];
        for (const [name = '', file = ''] of await sql(`SELECT name, filename FROM information_schema.innodb_sys_tablespaces WHERE name LIKE '%/%'`)) {
          const path = serverPath(layout.datadir, file);
          const remote = (await remoteTablespaces(layout.datadir)).some((tablespace) => tablespace.path === path);
          if (!remote && !own.some((folder) => isWithinPath(path, folder))) unreadable.push(`${name} (its tablespace is ${path}, not a restored file)`);
        }
      }
      if (unreadable.length > 0) throw businessFailure(FailureType.RestoreFailed, `restored server of cluster ${cluster.name} has unreadable tables: ${unreadable.join('; ')}`);
      return gtid ? { gtid } : {};
    },

    /** How a server on a placed clone sees its files: all inside the folder, as the backup recorded them. */
    async readCloneTarget(input: { cluster: string; path: string }): Promise<TargetServer> {
      deps.cluster(input.cluster);
      return cloneServer(resolve(input.path));
    },

    /**
     * A clone whose binlog replay failed holds part of it: it is moved aside (never deleted) to
     * `<path>.incomplete-<restoreId>`, so that nothing at the requested path looks like a finished restore.
     */
    async setAsideIncompleteClone(input: { cluster: string; path: string; restoreId: string }): Promise<{ movedTo?: string }> {
      deps.cluster(input.cluster);
      const from = resolve(input.path);
      if (!(await exists(from))) return {};
      const to = `${from}.incomplete-${input.restoreId}`;
      await movePath(from, to);
      return { movedTo: to };
    },

    /** Places prepared data into a new folder, leaving the running server alone. */
    async placeClone(input: { cluster: string; preparedDir: string; path: string }): Promise<void> {
      const cluster = deps.cluster(input.cluster);
      const progress = new Progress('placing the clone', { object: input.path });
      await progress.during(
        (async () => {
          // The data moves into a staging folder beside the target, then is renamed in: a worker killed
          // mid-way leaves either the prepared folder or the staging one, and a retry carries on from it.
          const staging = `${resolve(input.path)}.chainbackup-placing`;
          const prepared = await exists(input.preparedDir);
          if (!prepared && !(await exists(staging))) {
            if (await exists(input.path)) return; // placed by an attempt whose worker died before it reported
            throw businessFailure(FailureType.RestoreFailed, `the prepared data ${input.preparedDir} is gone; restore again`);
          }
          // Checked again: the folder may have changed since the check before the download.
          const path = await checkedCloneTarget(deps, input.cluster, input.path);
          await mkdir(dirname(path), { recursive: true });
          if (prepared) {
            assertAttemptHolds(`clear ${staging}`);
            await rm(staging, { recursive: true, force: true });
            await movePath(input.preparedDir, staging);
            await makeSelfContained(staging);
          }
          await failpoint('clone-staged');
          // A rename replaces an empty folder and refuses any other: the check above may be old news
          // to an attempt that was frozen here while a newer one placed the clone, which must survive it.
          assertAttemptHolds(`place the clone at ${path}`);
          await rename(staging, path);
          // Owned and guarded as the cluster's datadir is: a clone of it is the same data.
          const owner = await stat(cluster.datadir).catch(() => undefined);
          if (owner) await adoptOwnerAndMode(path, owner);
        })(),
      );
    },

    /** Records an in-place restore in the cluster's own storage: increments must not continue the old chain. */
    async recordInPlaceRestore(input: { cluster: string; record: RestoreRecord }): Promise<void> {
      const store = deps.store(deps.cluster(input.cluster));
      const history = historyOf(await readRestoreRecord(store, input.cluster)) + 1;
      await writeRecord(store, restoreRecordKey(input.cluster), { ...input.record, history });
    },

    /** Holds the binlog archiver off the cluster from before the pause (see restoreRunningKey). */
    async markRestoreRunning(input: { cluster: string; workflowId: string; runId: string }): Promise<void> {
      const store = deps.store(deps.cluster(input.cluster));
      await store.putText(restoreRunningKey(input.cluster), `${JSON.stringify({ workflowId: input.workflowId, runId: input.runId, since: new Date().toISOString() })}\n`);
    },

    /** Lets the binlog archiver go on: the restore recorded its new history, or put the old server back. */
    async clearRestoreRunning(input: { cluster: string }): Promise<void> {
      const store = deps.store(deps.cluster(input.cluster));
      await store.delete([restoreRunningKey(input.cluster)]);
    },

    /** The cluster's latest in-place restore, if any. */
    async readInPlaceRestore(input: { cluster: string }): Promise<RestoreRecord | null> {
      return readRestoreRecord(deps.store(deps.cluster(input.cluster)), input.cluster);
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
      // No private server of this restore outlives it: one a dead worker left in the workspace (verification, replay) stops first,
      // and so does the seeding one in the cluster's restore folder (the workspace's parent).
      assertAttemptHolds(`remove the restore workspace ${input.workDir}`);
      await stopLeftoverServers(input.workDir);
      await stopLeftoverServer(join(dirname(input.workDir), 'seed-server'));
      await rm(input.workDir, { recursive: true, force: true });
    },
  };
}

/** Written into the prepared folder while the tool changes it; see prepareBackup. */
const PREPARE_MARKER = '.chainbackup-preparing';

/** The checkpoints of an extracted or prepared backup, under whichever name its tool gave them. */
async function readCheckpointsIn(folder: string): Promise<Checkpoints | { problem: string }> {
  const generation = toolFileGenerationIn(await readdir(folder).catch(() => []));
  if (generation === undefined) return { problem: `the data holds no ${Object.values(TOOL_FILE_GENERATIONS).map((names) => names.checkpoints).join(' or ')}` };
  const name = TOOL_FILE_GENERATIONS[generation].checkpoints;
  const text = await readFile(join(folder, name), 'utf8').catch(() => undefined);
  if (text === undefined) return { problem: `the data's ${name} cannot be read` };
  try {
    return parseCheckpoints(text, name);
  } catch (error) {
    return { problem: (error as Error).message };
  }
}

/** The binary log position the extracted data's own info file records (null: none), or why it cannot be read. */
async function readBinlogPositionIn(folder: string): Promise<BinlogPosition | null | { problem: string }> {
  const generation = toolFileGenerationIn(await readdir(folder).catch(() => []));
  const name = TOOL_FILE_GENERATIONS[generation ?? 'xtrabackup'].info;
  const text = await readFile(join(folder, name), 'utf8').catch(() => undefined);
  if (text === undefined) return { problem: `the data's ${name} cannot be read` };
  return parseBackupInfo(text).binlog ?? null;
}

/** Kills a prepare that a dead worker left running on this folder, so that nothing writes there any more. */
async function stopInterruptedPrepare(marker: string, folder: string): Promise<void> {
  const pid = Number(/^pid (\d+)/.exec(marker)?.[1] ?? 0);
  if (pid <= 0) return;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  if (!cmdline.includes(`--target-dir=${folder}`)) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  while (processExists(pid)) await new Promise((done) => setTimeout(done, 100));
}

/** System folders a clone may never go into (nor be one of). */
const SYSTEM_TREES = ['/bin', '/boot', '/dev', '/etc', '/lib', '/lib32', '/lib64', '/libx32', '/proc', '/run', '/sbin', '/sys', '/usr'];
/** Folders a clone may go inside, but never be. */
const SYSTEM_FOLDERS = ['/', '/home', '/media', '/mnt', '/opt', '/root', '/srv', '/tmp', '/var', '/var/lib', '/var/log', '/var/tmp'];

async function checkedCloneTarget(deps: ActivityDeps, clusterName: string, requested: string): Promise<string> {
  const refuse = (reason: string) => businessFailure(FailureType.InvalidRequest, `target.path ${requested} ${reason}; a clone goes into a new or empty folder of its own`);
  const path = await resolvedPath(requested);
  if (SYSTEM_FOLDERS.includes(path) || SYSTEM_TREES.some((tree) => isWithin(path, tree))) throw refuse(`is${path === requested ? '' : ` (${path})`} a system folder or inside one`);
  const cluster = deps.cluster(clusterName);
  const protectedPaths = await clusterPlaces(deps.config.clusters);
  for (const other of deps.config.clusters) {
    const datadir = await resolvedPath(other.datadir);
    const parent = dirname(datadir);
    for (const sibling of await readdir(parent).catch(() => [] as string[])) {
      if (sibling.startsWith(`${basename(datadir)}.before-restore-`)) protectedPaths.push({ path: join(parent, sibling), what: `the kept datadir of cluster ${other.name}` });
    }
  }
  protectedPaths.push({ path: await resolvedPath(restoreRoot(cluster.datadir, cluster.restore.workDir)), what: `the restore work folder of cluster ${cluster.name}` });
  for (const guarded of protectedPaths) {
    if (isWithin(path, guarded.path)) throw refuse(`lies inside ${guarded.what} (${guarded.path})`);
    if (isWithin(guarded.path, path)) throw refuse(`contains ${guarded.what} (${guarded.path})`);
  }
  const info = await lstat(path).catch(() => undefined);
  if (info && !info.isDirectory()) throw refuse('exists and is not a folder');
  if (info && (await readdir(path)).length > 0) throw refuse('is not empty');
  const roots = deps.config.worker.cloneRoots;
  const allowed = await Promise.all(roots.map(resolvedPath));
  if (!allowed.some((root) => path !== root && isWithin(path, root))) {
    throw refuse(`is not inside a folder this worker places clones in (worker.cloneRoots: ${roots.join(', ') || 'none'}); add the folder clones go in there to allow it`);
  }
  return path;
}

async function hashObject(store: ObjectStore, key: string): Promise<string> {
  const meter = new StreamMeter();
  await pipeline(await store.download(key), meter, new Writable({ write: (_chunk, _encoding, done) => done() }));
  return meter.digest();
}
