import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { finished } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { execa } from 'execa';
import { isCommitted, type StoredBackup } from '../domain/chain.js';
import { parseBackupInfo, parseCheckpoints, CheckpointsError, type BackupInfo, type Checkpoints } from '../domain/checkpoints.js';
import { businessFailure, FailureType } from '../domain/failures.js';
import { backupFolder, dataObjectName, MANIFEST_OBJECT, STARTED_OBJECT, TOOL_FILE_GENERATIONS, toolFileGenerationIn, toolFilesOf, type BackupLocation, type Compression, type ToolFileGeneration } from '../domain/layout.js';
import { classifyToolFailure } from '../domain/tool-failures.js';
import { checkContinuableBy } from '../domain/tool-version.js';
import { stableInventory, type Manifest, type ManifestObject, type TableInventory } from '../domain/manifest.js';
import { readCatalog } from './catalog.js';
import { childProcessOptions } from './child-env.js';
import { SUPERSEDED_ATTEMPT } from './current-attempt.js';
import { attemptLapsed } from './attempt-lease.js';
import { removeFolder } from './deletion.js';
import { privateScratchFolder, readPassword, writeDefaultsFile } from './database/defaults-file.js';
import { failpointInStream } from './failpoints.js';
import { runSql, runSqlQueries, SERVER_FACTS_SQL, serverFactsIn } from './database/sql.js';
import { readTargetServer } from './database/server-layout.js';
import type { ServerLayout } from '../domain/server-layout.js';
import type { ClusterConfig } from '../domain/config.js';
import type { ActivityDeps } from './deps.js';
import type { ObjectStore } from './storage/index.js';
import { ENCRYPTION_SCHEME, type EncryptionKey } from '../encryption/objects.js';
import { backupObjectIdentity, getSmallObject, plaintextAdmitted, putSmallObject, sealing } from './sealed-store.js';
import { eachLine, Progress, StreamMeter, tailLines } from './streams.js';
import { toolCopyTracker } from '../domain/units.js';
import { backupToolFor } from './tools/backup-tool.js';
import { writeRecord } from './records.js';
import { updateLedger } from './ledger.js';
import { isLockedKey, lockEnd } from '../domain/object-lock.js';

export interface TakeBackupInput {
  cluster: string;
  location: BackupLocation;
  /** For an increment: the parent's to_lsn. */
  incrementalLsn?: string;
  /** For an increment: the backup it continues, whose tool series the server's must match. */
  parent?: { name: string; manifest: Pick<Manifest, 'tool' | 'serverVersion'> };
}

export interface TakenBackup {
  objects: ManifestObject[];
  dataObject: string;
  /** Bytes the tool wrote, before compression. */
  streamBytes: number;
  checkpoints: Checkpoints;
  info: BackupInfo;
  /** Which names the tool gave its checkpoints and info files. */
  toolFiles: ToolFileGeneration;
  compression: Compression;
  /** How the stored objects are sealed (absent: not encrypted, and from workers before encryption). */
  encryption?: { scheme: typeof ENCRYPTION_SCHEME; keyId: string };
  parallel: number;
  toolName: string;
  serverVersion: string;
  startedAt: string;
  finishedAt: string;
  layout?: ServerLayout;
  remoteTablespaces?: { name: string; path: string }[];
  inventory?: TableInventory;
  /** Why no inventory was recorded (a missing grant). */
  inventoryProblem?: string;
}

function sha256(text: string | Buffer): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * The byte counts of zstd's closing report: "(2048 B => 512 B, …)" since zstd 1.5, "(2048 => 512 bytes, …)" before.
 * Returns the count before compression.
 */
export function bytesBeforeCompression(zstdReport: string): number | undefined {
  const counts = /\((\d+)\s*B?\s*=>\s*(\d+)\s*(?:B|bytes)\b/.exec(zstdReport);
  return counts ? Number(counts[1]) : undefined;
}

/** Bytes in a folder's files: the datadir's size bounds what a backup of it streams. Unreadable entries count as 0. */
async function folderBytes(root: string): Promise<number> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
  let total = 0;
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    total += (await stat(join(entry.parentPath, entry.name)).catch(() => undefined))?.size ?? 0;
  }
  return total;
}

/** A restore needs room for the extracted stream: if zstd's own count is missing, assume the worst ratio seen on InnoDB data. */
function upperBoundRawBytes(storedBytes: number): number {
  return storedBytes * 8;
}

/** The source's base tables and their engines, outside the server's own schemas. */
const INVENTORY_SQL = `SELECT table_schema, table_name, engine FROM information_schema.tables WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')`;
const inventoryIn = (rows: string[][]): TableInventory => rows.map(([schema = '', table = '', engine = '']) => ({ schema, table, engine }));

/**
 * Whether the backup user holds SELECT on *.*: information_schema shows a user only the tables it
 * holds a privilege on, so without it the inventory would be empty, and a verification would compare nothing.
 */
const INVENTORY_GRANT_SQL = "SELECT COUNT(*), CURRENT_USER() FROM information_schema.user_privileges WHERE privilege_type = 'SELECT' AND grantee = CONCAT(\"'\", SUBSTRING_INDEX(CURRENT_USER(), '@', 1), \"'@'\", SUBSTRING_INDEX(CURRENT_USER(), '@', -1), \"'\")";
function inventoryProblemIn([[granted = '0', user = ''] = []]: string[][]): string | undefined {
  if (granted !== '0') return undefined;
  const [name = user, host = '%'] = user.split('@');
  return `the backup user ${user} lacks SELECT on *.*, so information_schema hides the tables: no inventory was recorded, and a verification cannot compare one (GRANT SELECT ON *.* TO '${name}'@'${host}')`;
}

/** Tablespaces a MariaDB server keeps outside its datadir (an absolute path). */
const REMOTE_TABLESPACES_SQL = `SELECT name, filename FROM information_schema.innodb_sys_tablespaces WHERE filename LIKE '/%'`;

interface SourceFacts {
  version: string;
  layout?: ServerLayout;
  remoteTablespaces?: { name: string; path: string }[];
  /** The tables before the backup (empty when they cannot be read: see inventoryProblem). */
  inventory: TableInventory;
  /** Why no inventory can be recorded (a missing grant). */
  inventoryProblem: string | undefined;
}

/**
 * What the manifest records about the source server, asked before the tool runs (in one client
 * process): a wrong endpoint or password fails here, naming the endpoint. Also where the source kept
 * its files, which tablespaces lived outside its datadir, and its tables.
 */
async function readSource(cluster: ClusterConfig): Promise<SourceFacts> {
  const mariadb = cluster.flavour === 'mariadb';
  const [[facts = [], grant = [], inventory = [], tablespaces = []], target] = await Promise.all([
    runSqlQueries(cluster.flavour, cluster.connection, [SERVER_FACTS_SQL, INVENTORY_GRANT_SQL, INVENTORY_SQL, ...(mariadb ? [REMOTE_TABLESPACES_SQL] : [])]),
    mariadb ? readTargetServer(cluster) : undefined,
  ]);
  const problem = inventoryProblemIn(grant);
  const read = { version: serverFactsIn(facts).version, inventory: problem ? [] : inventoryIn(inventory), inventoryProblem: problem };
  if (!target) return read;
  return { ...read, layout: target.layout, remoteTablespaces: tablespaces.map(([name = '', path = '']) => ({ name, path })) };
}

interface StreamInput {
  cluster: ClusterConfig;
  store: ObjectStore;
  folder: string;
  defaultsFile: string;
  scratch: string;
  /** Aborted on cancellation, and by the first step that fails, so that no step is left blocked on a pipe. */
  abort: AbortController;
  /** The activity's cancellation. */
  cancelled: AbortSignal;
  progress: Progress;
  incrementalLsn?: string;
  /** The backup's name, which sealed objects are bound to. */
  backup: string;
  /** The key to seal the stream with; none: stored as the tool (and zstd) wrote it. */
  seal: EncryptionKey | undefined;
}

interface StreamedBackup {
  dataObject: string;
  storedBytes: number;
  sha256: string;
  /** Bytes before compression, when zstd reported them. */
  rawBytes: number | undefined;
  lsnDir: string;
  toolBinary: string;
}

/**
 * Runs the backup tool and streams its output straight into storage (through zstd when asked),
 * counting bytes and hashing on the fly. Nothing is staged on local disk.
 */
/** Where the kill tests hold a backup's stream: the tool and the upload running. */
const STREAM_HOLD_BYTES = 1024 * 1024;

async function streamBackup({ cluster, store, folder, defaultsFile, scratch, abort, cancelled, progress, incrementalLsn, backup, seal }: StreamInput): Promise<StreamedBackup> {
  const tool = backupToolFor(cluster.flavour);
  // A configured path (a specific tool build, or a stand-in in benchmarks) replaces the one on PATH.
  const toolBinary = cluster.backup.toolPath ?? tool.binary;
  const datadirBytes = await folderBytes(cluster.datadir);
  const lsnDir = join(scratch, 'lsn');
  await mkdir(lsnDir);
  const parallel = cluster.backup.parallel;
  const toolCompression = cluster.backup.compression === 'zstd' ? tool.compressionArgs(parallel) : undefined;
  const compressStream = cluster.backup.compression === 'zstd' && toolCompression === undefined;
  const dataObject = dataObjectName(compressStream ? 'zstd' : 'none');
  const backupProcess = execa(
    toolBinary,
    [
      ...tool.backupArgs({
        defaultsFile,
        datadir: cluster.datadir,
        targetDir: join(scratch, 'target'),
        extraLsnDir: lsnDir,
        parallel,
        ...(cluster.backup.throttle !== undefined ? { throttle: cluster.backup.throttle } : {}),
        ...(incrementalLsn !== undefined ? { incrementalLsn } : {}),
      }),
      ...(toolCompression ?? []),
    ],
    { stdin: 'ignore', buffer: false, cancelSignal: abort.signal, forceKillAfterDelay: 5000, ...childProcessOptions() },
  );
  const toolLog = tailLines(backupProcess.stderr);
  // How much of the datadir the tool has read, from the files its log says it finished: the total is known, the stored bytes are compressed.
  const finishedFile = toolCopyTracker();
  let readBytes = 0;
  eachLine(backupProcess.stderr, (line) => {
    const path = finishedFile(line);
    if (path === undefined) return;
    void stat(resolve(cluster.datadir, path)).then(
      (file) => progress.read((readBytes += file.size)),
      () => undefined,
    );
  });
  const steps: [string, Promise<unknown>][] = [[toolBinary, backupProcess]];
  // Progress counts the bytes stored; the stream goes through Node only once, after compression.
  const storedMeter = new StreamMeter((bytes) => progress.update(bytes));
  let source: Readable = backupProcess.stdout;
  let rawBytes: () => number | undefined = () => storedMeter.bytes;
  if (compressStream) {
    // The tool writes straight into zstd through an OS pipe: no copy of the raw stream in this process.
    // -vv reports the exact byte counts at the end, which gives the size before compression.
    const zstd = execa('zstd', ['-vv', '--no-progress', '-c', '-1', `-T${parallel}`], { stdin: backupProcess.stdout, buffer: false, cancelSignal: abort.signal, ...childProcessOptions() });
    // zstd holds the pipe's read end now; this process's copy must close, or the tool's stream never ends here.
    backupProcess.stdout.destroy();
    const zstdLog = tailLines(zstd.stderr);
    rawBytes = () => bytesBeforeCompression(zstdLog());
    steps.push(['zstd', zstd], ['zstd report', finished(zstd.stderr)]);
    source = zstd.stdout;
  }
  // Compression before encryption: sealed bytes do not compress.
  const sealer = sealing(seal, backupObjectIdentity(backup, dataObject));
  if (sealer) source = source.pipe(sealer);
  // For the kill tests: a worker killed mid-stream, with the tool running and the upload open.
  const hold = failpointInStream('backup-streaming', STREAM_HOLD_BYTES);
  if (hold) source = source.pipe(hold);
  progress.phase('streaming', { bytesTotal: datadirBytes });
  steps.push(['upload', store.upload(`${folder}${dataObject}`, source.pipe(storedMeter), { signal: abort.signal, expectedBytes: datadirBytes })]);
  // The first step to fail stops the others, so a dead upload never leaves the tool blocked on a full pipe.
  let firstFailure: { step: string; error: unknown } | undefined;
  // Heartbeat on a timer while the tool runs, not only when compressed bytes arrive: a throttled
  // or quiet stream must not look like a dead worker (and restart from zero for ever).
  await progress.during(
    Promise.allSettled(
      steps.map(([step, promise]) =>
        promise.catch((error: unknown) => {
          firstFailure ??= { step, error };
          abort.abort(error);
        }),
      ),
    ),
  );
  // A cancelled backup reports the cancellation, not the tool it stopped.
  if (cancelled.aborted) throw cancelled.reason;
  if (firstFailure) {
    if (firstFailure.step === toolBinary) throw toolFailure(`${toolBinary} failed for cluster ${cluster.name}`, toolLog() || (firstFailure.error as Error).message);
    throw firstFailure.error;
  }
  return { dataObject, storedBytes: storedMeter.bytes, sha256: storedMeter.digest(), rawBytes: rawBytes(), lsnDir, toolBinary };
}

/**
 * A tool's failure: one that would fail the same way again fails the work at once (a business
 * failure naming what went wrong); any other is retried. Either way the message is the tool's last
 * meaningful lines, never a page dump.
 */
export function toolFailure(what: string, log: string): Error {
  const failure = classifyToolFailure(log);
  if (failure.deterministic) return businessFailure(FailureType.BackupToolFailed, `${what}: ${failure.reason} (retrying cannot help): ${failure.message}`);
  return new Error(`${what}: ${failure.message}`);
}

/** Stores the tool's checkpoints and info files beside the data, under the names the tool gave them, and parses them for the manifest. */
async function storeCheckpoints(store: ObjectStore, folder: string, lsnDir: string, toolBinary: string, backup: string, seal: EncryptionKey | undefined): Promise<{ objects: ManifestObject[]; checkpoints: Checkpoints; info: BackupInfo; toolFiles: ToolFileGeneration }> {
  const written = await readdir(lsnDir).catch(() => []);
  const toolFiles = toolFileGenerationIn(written);
  if (toolFiles === undefined) {
    const expected = Object.values(TOOL_FILE_GENERATIONS).map((names) => names.checkpoints).join(' or ');
    throw businessFailure(FailureType.BackupToolFailed, `${toolBinary} finished but wrote no ${expected} into its --extra-lsndir for ${backup} (it wrote: ${written.join(', ') || 'nothing'}); this tool version is not supported`);
  }
  const names = TOOL_FILE_GENERATIONS[toolFiles];
  const checkpointsText = await readFile(join(lsnDir, names.checkpoints), 'utf8');
  const infoText = await readFile(join(lsnDir, names.info), 'utf8').catch(() => '');
  let checkpoints: Checkpoints;
  try {
    checkpoints = parseCheckpoints(checkpointsText, names.checkpoints);
  } catch (error) {
    throw businessFailure(FailureType.BackupToolFailed, `${toolBinary} wrote an unusable ${names.checkpoints} for ${backup}: ${(error as Error).message}`);
  }
  const stored: ManifestObject[] = [];
  for (const [name, text] of [[names.checkpoints, checkpointsText], [names.info, infoText]] as const) {
    if (!text) continue;
    const { size, bytes } = await putSmallObject(store, `${folder}${name}`, backupObjectIdentity(backup, name), text, seal);
    stored.push({ name, size, sha256: sha256(bytes) });
  }
  return {
    objects: stored,
    checkpoints,
    info: parseBackupInfo(infoText),
    toolFiles,
  };
}

/**
 * Clears what an earlier attempt of this backup left, never a committed backup: a manifest there
 * means a newer attempt committed it while this one was frozen or cut off, so this one is stale.
 */
async function clearUncommittedFolder(deps: ActivityDeps, cluster: string, location: BackupLocation): Promise<void> {
  const store = deps.store(deps.cluster(cluster));
  if ((await store.getText(`${backupFolder(location)}${MANIFEST_OBJECT}`)) !== undefined) {
    throw ApplicationFailure.create({ type: SUPERSEDED_ATTEMPT, nonRetryable: true, message: `backup ${location.name} is already committed: this attempt of it is stale and removes nothing` });
  }
  await removeFolder(deps, cluster, location);
}

/**
 * With Object Lock, a chain is kept as long as its newest member: each increment's commit moves the
 * lock of every earlier member's objects to its own end, or the base could be deleted while an
 * increment that needs it is still kept.
 */
async function extendChainLock(deps: ActivityDeps, clusterName: string, manifest: Manifest): Promise<void> {
  const cluster = deps.cluster(clusterName);
  const lock = cluster.storage.kind === 's3' ? cluster.storage.objectLock : undefined;
  const store = deps.store(cluster);
  if (!lock || !store.extendLocks || manifest.type !== 'incremental') return;
  const earlier = (await readCatalog(store, { cluster: clusterName })).filter((backup) => backup.base === manifest.base && backup.name !== manifest.name && isCommitted(backup));
  const keys = earlier.flatMap((backup) => backup.objects.map((object) => object.key)).filter(isLockedKey);
  await store.extendLocks(keys, new Date(lockEnd(Date.now(), lock.days)));
}

export function backupActivities(deps: ActivityDeps) {
  return {
    /**
     * Lists the cluster's storage: every backup folder, committed or not (another cluster's too: a
     * request naming one is told whose it is), held against the cluster's ledger (a committed backup
     * gone from the store is listed, and says so).
     */
    async listBackups(input: { cluster: string }): Promise<StoredBackup[]> {
      const cluster = deps.cluster(input.cluster);
      return readCatalog(deps.store(cluster), { ledgerOf: cluster.name });
    },

    /**
     * Reads a backup's stored xtrabackup_checkpoints. A missing or unreadable file is reported as a
     * problem (not thrown) so the workflow can refuse with a message that says what to do.
     */
    async readStoredCheckpoints(input: { cluster: string; location: BackupLocation & { manifest?: Pick<Manifest, 'toolFiles'> & Partial<Pick<Manifest, 'encryption' | 'finishedAt'>> } }): Promise<Checkpoints | { problem: string }> {
      const store = deps.store(deps.cluster(input.cluster));
      // The parent's manifest names the file its tool wrote (a parent passed without one: the old name).
      const name = toolFilesOf(input.location.manifest ?? {}).checkpoints;
      const record = { encryption: input.location.manifest?.encryption, storedAt: input.location.manifest?.finishedAt };
      const text = await getSmallObject(store, `${backupFolder(input.location)}${name}`, backupObjectIdentity(input.location.name, name), await deps.keys(), {
        admitted: plaintextAdmitted(deps.config.encryption, record),
        what: `the checkpoints of ${input.location.name}`,
        record,
      });
      if (text === undefined) return { problem: `its ${name} is missing from ${store.label}` };
      try {
        return parseCheckpoints(text, name);
      } catch (error) {
        if (error instanceof CheckpointsError) return { problem: `its stored ${error.message}` };
        throw error;
      }
    },

    /**
     * Takes one backup into its folder: the tool's stream, then its checkpoints. On failure or
     * cancellation the tool is stopped and everything this backup wrote is removed.
     */
    async takeBackup(input: TakeBackupInput): Promise<TakenBackup> {
      const cluster = deps.cluster(input.cluster);
      const store = deps.store(cluster);
      const folder = backupFolder(input.location);
      const activitySignal = Context.current().cancellationSignal;
      const startedAt = new Date().toISOString();
      const progress = new Progress('connecting', { object: folder });

      // An earlier attempt that died with its worker may have left objects or an open multipart upload.
      if (Context.current().info.attempt > 1) await clearUncommittedFolder(deps, input.cluster, input.location);
      // Written first, so the folder is visible to the sweep even if this attempt dies before any upload completes.
      const { workflowExecution, attempt } = Context.current().info;
      const workflowId = workflowExecution?.workflowId ?? '';
      // The marker, the keys and the source's facts are independent and each waits on the store, a disk or the server:
      // asked at once. A key that cannot be read fails the backup before the tool runs, naming the key (the first failure
      // in this order is the one reported, whichever came first).
      const [marker, keys, sourceRead] = await Promise.allSettled([
        store.putText(`${folder}${STARTED_OBJECT}`, `${JSON.stringify({ backup: input.location.name, workflowId, attempt, startedAt })}\n`),
        deps.keys(),
        readSource(cluster),
      ]);
      if (marker.status === 'rejected') throw marker.reason;
      if (keys.status === 'rejected') throw keys.reason;
      if (sourceRead.status === 'rejected') throw sourceRead.reason;
      const seal = keys.value.current;
      const source = sourceRead.value;
      // A server upgraded to another release series since its chain began cannot continue it.
      if (input.parent) {
        const continuable = checkContinuableBy(input.parent, { serverVersion: source.version, cluster: cluster.name });
        if (!continuable.ok) throw businessFailure(continuable.code, continuable.reason);
      }
      const defaults = await writeDefaultsFile(cluster.connection, await readPassword(cluster.connection));
      const scratch = await privateScratchFolder('backup-');
      const abort = new AbortController();
      const onCancel = () => abort.abort(activitySignal.reason);
      activitySignal.addEventListener('abort', onCancel, { once: true });
      try {
        const streamed = await streamBackup({ cluster, store, folder, defaultsFile: defaults.path, scratch, abort, cancelled: activitySignal, progress, backup: input.location.name, seal, ...(input.incrementalLsn !== undefined ? { incrementalLsn: input.incrementalLsn } : {}) });
        progress.phase('recording checkpoints');
        // The tables after the backup are read while its checkpoints are stored.
        const [recorded, inventoryAfter] = await Promise.all([
          storeCheckpoints(store, folder, streamed.lsnDir, streamed.toolBinary, input.location.name, seal),
          source.inventoryProblem ? undefined : runSql(cluster.flavour, cluster.connection, INVENTORY_SQL),
        ]);
        const inventory = inventoryAfter ? stableInventory(source.inventory, inventoryIn(inventoryAfter)) : undefined;
        return {
          objects: [{ name: streamed.dataObject, size: streamed.storedBytes, sha256: streamed.sha256 }, ...recorded.objects],
          dataObject: streamed.dataObject,
          streamBytes: streamed.rawBytes ?? upperBoundRawBytes(streamed.storedBytes),
          checkpoints: recorded.checkpoints,
          info: recorded.info,
          toolFiles: recorded.toolFiles,
          compression: cluster.backup.compression,
          ...(seal ? { encryption: { scheme: ENCRYPTION_SCHEME, keyId: seal.id } } : {}),
          parallel: cluster.backup.parallel,
          toolName: recorded.info.toolName ?? streamed.toolBinary,
          serverVersion: recorded.info.serverVersion ?? source.version,
          startedAt,
          finishedAt: new Date().toISOString(),
          ...(source.layout ? { layout: source.layout } : {}),
          ...(source.remoteTablespaces ? { remoteTablespaces: source.remoteTablespaces } : {}),
          ...(inventory ? { inventory } : { inventoryProblem: source.inventoryProblem }),
        };
      } catch (error) {
        // An attempt the server timed out has been replaced by a newer one that owns the folder now (its
        // heartbeat answered TIMED_OUT, or NOT_FOUND once the step or its workflow moved on): its clean-up
        // would delete the newer attempt's objects, or the committed backup. Only its own upload goes (aborted above).
        // The same for an attempt that went silent long enough to have been replaced (attempt-lease.ts).
        const superseded = attemptLapsed() || (activitySignal.aborted && ['TIMED_OUT', 'NOT_FOUND'].includes((activitySignal.reason as Error | undefined)?.message ?? ''));
        if (!superseded) await clearUncommittedFolder(deps, input.cluster, input.location).catch(() => undefined);
        throw error;
      } finally {
        activitySignal.removeEventListener('abort', onCancel);
        await defaults.dispose();
        await rm(scratch, { recursive: true, force: true });
      }
    },

    /**
     * Writes the manifest: the moment the backup starts to exist. Only over every object it names, at
     * its size. Then lists it in the cluster's ledger: the ledger's new number, for Temporal.
     */
    async commitBackup(input: { cluster: string; manifest: Manifest }): Promise<{ ledgerSeq: number }> {
      const store = deps.store(deps.cluster(input.cluster));
      const folder = backupFolder({ name: input.manifest.name, base: input.manifest.base });
      // A stale attempt may have cleared the folder after the stream was stored: never commit what is not there.
      const stored = new Map((await store.list(folder)).map((object) => [object.key, object.size]));
      const missing = input.manifest.objects.filter((object) => stored.get(`${folder}${object.name}`) !== object.size);
      if (missing.length > 0) {
        throw businessFailure(FailureType.ChecksumMismatch, `backup ${input.manifest.name} is not committed: ${missing.map((object) => `${object.name} (${object.size} bytes written) is ${stored.has(`${folder}${object.name}`) ? `${stored.get(`${folder}${object.name}`)} bytes` : 'missing'}`).join(', ')} in ${store.label}; take the backup again`);
      }
      await writeRecord(store, `${folder}${MANIFEST_OBJECT}`, input.manifest, { pretty: true });
      // The start marker only made an unfinished folder visible to the sweep; a committed one needs it no more.
      await store.delete([`${folder}${STARTED_OBJECT}`]).catch(() => undefined);
      const ledgerSeq = await updateLedger(store, input.cluster, { add: [{ name: input.manifest.name, base: input.manifest.base }] });
      await extendChainLock(deps, input.cluster, input.manifest);
      return { ledgerSeq };
    },

    /** Removes every object of an uncommitted backup, including unfinished multipart uploads. */
    async discardBackup(input: { cluster: string; location: BackupLocation }): Promise<void> {
      await removeFolder(deps, input.cluster, input.location);
    },
  };
}
