/**
 * Issue 33's kill matrix. For each kind of work (full and incremental backup, verification, clone,
 * restore to a GTID, restore in place, an archive round, deletion, retention), one run without a
 * kill learns every place the work passes (the end of each step, `after-<activity>`, and the named
 * places inside steps: a stream, a prepare, a private server, a swap). Then, for each of those
 * places, the same work again: its worker SIGKILLed there, a new worker started, and when the work
 * has ended, the invariants:
 * - the work completed, with the right data (checksums of the restored server or clone equal to
 *   what the source held; a backup committed; what deletion and retention remove gone), or, where
 *   the documentation says a kill fails it (a binlog replay cut mid-way), it failed saying so, and cleanly;
 * - no process the dead worker started is left (mariadbd, mariadb-backup, mbstream, zstd, mariadb,
 *   mariadb-binlog), and the cluster's own server is up;
 * - no scratch folder: no restore workspace, no private server's folder, no credential or scratch
 *   folder of a dead process, nothing stray beside a clone;
 * - no open multipart upload, no `started.json` without its backup;
 * - the cluster's lock free within a minute.
 *
 *
 * The same places again with the worker frozen instead (SIGSTOP: its host cut off from Temporal, or
 * its VM paused): a new worker takes the work over and finishes it; then the frozen one thaws, its
 * stale attempt runs on until its next heartbeat finds the step gone, and it is stopped. On top of
 * the invariants above: the thawed attempt changed nothing the work had stored (every object the
 * same, none added but archived binlogs), and the data checks hold after it.
 *
 * The whole matrix takes about 3 hours (45 minutes of kills, a freeze about 90 s a place), so the
 * suite runs a rotating part of it: one place per kind killed and one place of one kind frozen,
 * chosen by the day and the server's release, named in the output with the number that runs the
 * same part again (CHAINBACKUP_KILL_MATRIX=<number>), and the freeze that once lost a committed
 * backup. `npm run kill-matrix` runs every place with both faults (or those
 * CHAINBACKUP_KILL_MATRIX_FAULTS names; CHAINBACKUP_KILL_MATRIX_PLACES picks places;
 * CHAINBACKUP_KILL_MATRIX_RELEASE=other runs it in the other Debian release's root) and writes the
 * table to docs/kill-matrix.md.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { refusalIn } from '../../domain/failures.js';
import { createHash, randomBytes } from 'node:crypto';
import { appendFile, mkdir, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { MariaDbSandbox } from '../../devtools/sandbox/mariadb.js';
import type { EncryptionConfig } from '../../domain/config.js';
import { loadKeyRing } from '../../encryption/keys.js';
import { sealedDataConverter } from '../../encryption/payload-codec.js';
import { DATA_OBJECTS, STARTED_OBJECT, VERIFICATION_OBJECT } from '../../domain/layout.js';
import { binlogArchiveQuery, lockStateQuery, WorkflowId } from '../../domain/workflow-contract.js';
import { backup as backupWorkflow, binlogArchiver, deleteBackup, pinBackup, restore as restoreWorkflow, retention as retentionWorkflow } from '../../workflows/index.js';
import { connectTestClient, createSandbox, failureChain, filesystemStorage, s3Storage, serverSeries, startWorker, testRoot, TestBucket, uniqueName, writeConfig, type WorkerProcess } from '../support/environment.js';
import { untilArchiveCaughtUp } from '../support/binlog-archive.js';
import { inspectStore, type StoreInspector } from '../support/store-inspector.js';
import { withServerOnFolder } from '../support/server-on-folder.js';
import { stopTestFile } from '../support/teardown.js';
import { eventually } from '../support/workflow-worker.js';

const taskQueue = uniqueName('killmatrix');
const bucket = new TestBucket();
const dir = join(testRoot(), taskQueue);
const failpoints = join(dir, 'failpoints');
const workerTmp = join(dir, 'tmp');
const clones = join(dir, 'clones');
const archiverId = WorkflowId.binlogArchiver(taskQueue, 'km');
// A kill is noticed after a heartbeat time-out; a retry follows at once.
const retry = { maximumAttempts: 6, initialInterval: '500ms', heartbeatTimeout: '10s' };
const TOOL_PROCESSES = ['mariadbd', 'mariadb-backup', 'mbstream', 'zstd', 'mariadb', 'mariadb-binlog'];

/** `all`, or the number whose rotating part runs (default: the day number plus the server's major version, so the two release passes differ). */
const mode = process.env.CHAINBACKUP_KILL_MATRIX ?? String(Math.floor(Date.now() / 86_400_000) + Number(serverSeries.split('.')[0]));
const report = process.env.CHAINBACKUP_KILL_MATRIX_REPORT;
const FAULTS = ['kill', 'freeze'] as const;
type Fault = (typeof FAULTS)[number];
/** With `all`: the faults to run at every place. */
const allFaults = (process.env.CHAINBACKUP_KILL_MATRIX_FAULTS ?? FAULTS.join(',')).split(',').map((fault) => {
  if (!FAULTS.includes(fault as Fault)) throw new Error(`CHAINBACKUP_KILL_MATRIX_FAULTS: unknown fault "${fault}" (known: ${FAULTS.join(', ')})`);
  return fault as Fault;
});
/** With `all`: only these places (comma-separated), for a developer rerunning a few rows. */
const onlyPlaces = process.env.CHAINBACKUP_KILL_MATRIX_PLACES ? process.env.CHAINBACKUP_KILL_MATRIX_PLACES.split(',').map((place) => place.trim()) : undefined;
/**
 * The configuration the work runs in: `plain` (S3, nothing encrypted) or `sealed` (the filesystem
 * store, a server encrypting its data at rest, encryption at rest and payload encryption on). The
 * suite's two release passes run one each (the rotation number's parity); `all` runs plain unless
 * CHAINBACKUP_KILL_MATRIX_CONFIGURATION says otherwise.
 */
const CONFIGURATIONS = ['plain', 'sealed'] as const;
const configuration = process.env.CHAINBACKUP_KILL_MATRIX_CONFIGURATION ?? (mode !== 'all' && Number(mode) % 2 === 1 ? 'sealed' : 'plain');
if (!(CONFIGURATIONS as readonly string[]).includes(configuration)) throw new Error(`CHAINBACKUP_KILL_MATRIX_CONFIGURATION must be one of ${CONFIGURATIONS.join(', ')}, not ${configuration}`);
const sealed = configuration === 'sealed';
const store = sealed ? filesystemStorage(`${taskQueue}-store`) : s3Storage(`${taskQueue}-store`);
const removalStore = sealed ? filesystemStorage(`${taskQueue}-removal`) : s3Storage(`${taskQueue}-removal`);
const stored = inspectStore(store, bucket);
const removalStored = inspectStore(removalStore, bucket);
/** How long a thawed worker's stale attempt runs on before it is stopped: past its next heartbeat, which finds the step gone. */
const THAWED_RUN_MS = 20_000;

let source: MariaDbSandbox;
let configPath: string;
let worker: WorkerProcess;
let client: Client;
let closeClient: () => Promise<void>;
/** The chain the restores use: a full backup and one increment, with the data the increment holds. */
let full: string;
let increment: string;
let incrementChecksums: Record<string, string>;
/** A GTID committed after the increment, and the data as it was right after it. */
let laterGtid: string;
let laterChecksums: Record<string, string>;

const startOurWorker = () => startWorker(configPath, [], { CHAINBACKUP_FAILPOINTS: failpoints, TMPDIR: workerTmp }, { cwd: dir });

beforeAll(async () => {
  await mkdir(failpoints, { recursive: true });
  await mkdir(workerTmp, { recursive: true });
  await mkdir(clones, { recursive: true });
  source = await createSandbox(`${taskQueue}-source`, [], sealed ? { dataAtRestEncryption: true } : {});
  await source.loadSampleData(3000);
  const encryption = sealed ? { encryption: await newKeys('store-key') } : {};
  const payloadEncryption = sealed ? await newKeys('payload-key') : undefined;
  configPath = await writeConfig(taskQueue, {
    temporal: { taskQueue, ...(payloadEncryption ? { payloadEncryption } : {}) },
    ...encryption,
    clusters: [
      source.clusterConfig('km', store, { retry, schedule: { enabled: false }, binlogs: { archive: true, interval: '1s' } }),
      // The same server, another store: what deletion and retention remove (one chain kept).
      source.clusterConfig('km-removal', removalStore, { retry, schedule: { enabled: false }, retention: { keepChains: 1 } }),
    ],
  });
  worker = await startOurWorker();
  ({ client, close: closeClient } = await connectTestClient(sealedDataConverter(await loadKeyRing(payloadEncryption))));
  console.log(`kill matrix configuration: ${configuration} (${store.kind} store${sealed ? ', data at rest encrypted by the server, encryption at rest and payload encryption on' : ', nothing encrypted'})`);
  await client.workflow.start(binlogArchiver, { taskQueue, workflowId: archiverId, args: [{ cluster: 'km' }] });
  full = (await backupNow('km', 'full')).name;
  await source.sql('UPDATE shop.customers SET name = CONCAT(name, " (changed)") WHERE id % 7 = 0');
  increment = (await backupNow('km', 'incremental')).name;
  incrementChecksums = await source.checksums(['shop']);
  await source.sql('INSERT INTO shop.customers VALUES (800001, "after the increment", NULL)');
  laterGtid = ((await source.sql('SELECT @@gtid_binlog_pos'))[0]?.[0] ?? '').split(',')[0] ?? '';
  laterChecksums = await source.checksums(['shop']);
  // A write after it: the backups taken later hold more than the GTID, so a restore to it replays binlogs.
  await source.sql('INSERT INTO shop.customers VALUES (800002, "after the GTID", NULL)');
  await untilArchiveCaughtUp(client, archiverId, source);
}, 600_000);

afterAll(() => stopTestFile({ client, archivers: [archiverId], bucket, closeClient, worker, sandboxes: [source] }));

/** A key of its own in a 0600 file, as the configuration's `encryption` and `temporal.payloadEncryption` take it. */
async function newKeys(id: string): Promise<EncryptionConfig> {
  const file = join(dir, id);
  await writeFile(file, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  return { currentKey: id, keys: [{ id, file }] };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function backupNow(cluster: string, type: 'full' | 'incremental', extra: Record<string, unknown> = {}): Promise<{ name: string }> {
  return client.workflow.execute(backupWorkflow, { taskQueue, workflowId: uniqueName(`backup-${cluster}-${type}`), args: [{ cluster, type, ...extra }] });
}

/** The places the work passed, in order, from the worker's record of failpoints passed by `workflowIds`. */
async function passedPlaces(workflowIds: (id: string) => boolean, since: number): Promise<string[]> {
  const lines = (await readFile(join(failpoints, 'passed.log'), 'utf8').catch(() => '')).split('\n').slice(since);
  const places: string[] = [];
  for (const line of lines) {
    const [id = '', place = ''] = line.split(' ');
    if (place && workflowIds(id) && !places.includes(place)) places.push(place);
  }
  return places;
}

const passedCount = async () => (await readFile(join(failpoints, 'passed.log'), 'utf8').catch(() => '')).split('\n').length - 1;

/** What a kind of work needs: how to start it, which workflow ids are its own, and how to check what it left. */
interface WorkKind {
  name: string;
  /** Unkilled work it needs first (a backup to delete, say); returns what `start` and `check` need. */
  prepare?: () => Promise<Record<string, string>> | Record<string, string>;
  /** Starts the work under `workflowId`; resolves when it has ended, with its result. */
  start: (workflowId: string, prepared: Record<string, string>) => Promise<{ done: Promise<unknown> }>;
  /** The workflows whose steps belong to this work (the armed places hold only those). */
  ownWorkflow: (id: string, workflowId: string) => boolean;
  check: (result: unknown, prepared: Record<string, string>, workflowId: string) => Promise<void> | void;
  /** The places where a kill fails the work, as documented, with what must then hold instead of `check`. */
  failsAt?: Record<string, (failure: { type?: string; message: string }, prepared: Record<string, string>) => Promise<void>>;
}

function started<T>(handle: Promise<WorkflowHandle>): Promise<{ done: Promise<T> }> {
  return handle.then((started) => ({ done: started.result() as Promise<T> }));
}

const committed = async (inspector: StoreInspector, name: string) => (await inspector.list()).some((object) => object.key.endsWith(`${name}/manifest.json`));
const objectsOf = async (inspector: StoreInspector, name: string) => (await inspector.list()).filter((object) => object.key.split('/').includes(name));

/** The checksums of every table of `shop` in a clone, as `MariaDbSandbox.checksums` gives them. */
async function cloneChecksums(folder: string): Promise<Record<string, string>> {
  const { value } = await withServerOnFolder(folder, [`datadir=${folder}`, ...source.dataAtRestOptions], join(dir, 'clone-servers'), async (sql) => {
    const tables = (await sql("SELECT CONCAT(table_schema, '.', table_name) FROM information_schema.tables WHERE table_schema = 'shop' AND table_type = 'BASE TABLE' ORDER BY 1")).split('\n');
    const rows = (await sql(`CHECKSUM TABLE ${tables.join(', ')} EXTENDED`)).split('\n').map((line) => line.split('\t'));
    return Object.fromEntries(rows.map(([table = '', checksum = '']) => [table, checksum]));
  });
  return value;
}

const restoreStart = (request: Record<string, unknown>) => (workflowId: string) => started(client.workflow.start(restoreWorkflow, { taskQueue, workflowId, args: [{ cluster: 'km', ...request }] }));

const kinds: WorkKind[] = [
  {
    name: 'full backup',
    start: (workflowId) => started(client.workflow.start(backupWorkflow, { taskQueue, workflowId, args: [{ cluster: 'km', type: 'full' }] })),
    ownWorkflow: (id, workflowId) => id === workflowId,
    check: async (result) => expect(await committed(stored, (result as { name: string }).name)).toBe(true),
  },
  {
    name: 'incremental backup',
    start: (workflowId) => started(client.workflow.start(backupWorkflow, { taskQueue, workflowId, args: [{ cluster: 'km', type: 'incremental', baseBackupName: full }] })),
    ownWorkflow: (id, workflowId) => id === workflowId,
    check: async (result) => expect(await committed(stored, (result as { name: string }).name)).toBe(true),
  },
  {
    name: 'verification',
    // Its own increment: a recorded verification of the restores' chain would spare their proof before the pause.
    prepare: async () => ({ backup: (await backupNow('km', 'incremental', { baseBackupName: full })).name }),
    start: (workflowId, prepared) => restoreStart({ backupName: prepared.backup, target: { kind: 'verify' } })(workflowId),
    ownWorkflow: (id, workflowId) => id === workflowId,
    check: (result) => expect((result as { verification?: { tables: number } }).verification?.tables).toBe(Object.keys(incrementChecksums).length),
  },
  {
    name: 'clone',
    prepare: () => ({ path: join(clones, uniqueName('clone')) }),
    start: (workflowId, prepared) => restoreStart({ backupName: increment, target: { kind: 'new-datadir', path: prepared.path } })(workflowId),
    ownWorkflow: (id, workflowId) => id === workflowId,
    check: async (_result, prepared) => {
      expect(await readdir(clones)).toEqual([basename(prepared.path ?? '')]);
      expect(await cloneChecksums(prepared.path ?? '')).toEqual(incrementChecksums);
      await rm(prepared.path ?? '', { recursive: true, force: true });
    },
  },
  {
    name: 'restore to a GTID',
    prepare: () => ({ path: join(clones, uniqueName('gtid')) }),
    start: (workflowId, prepared) => restoreStart({ gtid: laterGtid, target: { kind: 'new-datadir', path: prepared.path } })(workflowId),
    ownWorkflow: (id, workflowId) => id === workflowId,
    check: async (_result, prepared) => {
      expect(await readdir(clones)).toEqual([basename(prepared.path ?? '')]);
      expect(await cloneChecksums(prepared.path ?? '')).toEqual(laterChecksums);
      await rm(prepared.path ?? '', { recursive: true, force: true });
    },
    failsAt: {
      // A replay cut mid-way leaves data holding part of it (docs/guide/point-in-time-recovery.md: a replay interrupted by a kill fails the restore):
      // the restore fails saying so, and the partial clone is set aside, never left at the path asked for.
      'binlog-applying': async (failure, prepared) => {
        expect(failure).toMatchObject({ type: 'RestoreFailed', message: expect.stringContaining('the binlog replay into km was interrupted (its worker stopped)') as unknown });
        const setAside = `${basename(prepared.path ?? '')}.incomplete-`;
        expect((await readdir(clones)).map((entry) => (entry.startsWith(setAside) ? setAside : entry))).toEqual([setAside]);
        await rm(clones, { recursive: true, force: true });
        await mkdir(clones);
      },
    },
  },
  {
    name: 'archive round',
    // The archiver's rounds are the work: a new closed binlog for it to upload.
    start: async () => {
      await source.sql(`INSERT INTO shop.customers VALUES (${800_100 + Math.floor(Math.random() * 100_000)}, "archived", NULL)`);
      await source.sql('FLUSH BINARY LOGS');
      return { done: untilArchiveCaughtUp(client, archiverId, source) };
    },
    ownWorkflow: (id) => id === archiverId,
    check: async () => {
      const state = await client.workflow.getHandle(archiverId).query(binlogArchiveQuery);
      expect(state.gaps).toEqual([]);
      const archived = new Set((await stored.list('binlogs/km')).map((object) => basename(object.key).replace(/\.zst$/, '')).filter((name) => /\.\d+$/.test(name)));
      const first = [...archived].sort()[0] ?? '';
      // Every binlog the server closed since the archive began is archived.
      const closed = (await source.sql('SHOW BINARY LOGS')).map(([file = '']) => file).slice(0, -1);
      expect(closed.filter((file) => file >= first && !archived.has(file))).toEqual([]);
    },
  },
  {
    name: 'deletion',
    prepare: async () => ({ backup: (await backupNow('km-removal', 'full')).name }),
    start: (workflowId, prepared) => started(client.workflow.start(deleteBackup, { taskQueue, workflowId, args: [{ cluster: 'km-removal', backupName: prepared.backup ?? '' }] })),
    ownWorkflow: (id, workflowId) => id === workflowId,
    check: async (_result, prepared) => expect(await objectsOf(removalStored, prepared.backup ?? '')).toEqual([]),
  },
  {
    name: 'retention',
    // A pinned chain outlives the retention after the next full backup; unpinned, the next retention removes it.
    prepare: async () => {
      const old = (await backupNow('km-removal', 'full')).name;
      await client.workflow.execute(pinBackup, { taskQueue, workflowId: uniqueName('pin'), args: [{ cluster: 'km-removal', backupName: old, pinned: true }] });
      // The retention after it ran inside the backup's run, which has completed.
      const kept = (await backupNow('km-removal', 'full')).name;
      await client.workflow.execute(pinBackup, { taskQueue, workflowId: uniqueName('unpin'), args: [{ cluster: 'km-removal', backupName: old, pinned: false }] });
      return { old, kept };
    },
    start: (workflowId) => started(client.workflow.start(retentionWorkflow, { taskQueue, workflowId, args: [{ cluster: 'km-removal' }] })),
    ownWorkflow: (id, workflowId) => id === workflowId,
    check: async (_result, prepared) => {
      expect(await objectsOf(removalStored, prepared.old ?? '')).toEqual([]);
      expect(await committed(removalStored, prepared.kept ?? '')).toBe(true);
    },
  },
  {
    // Last: it starts a new binlog history, after which the GTID above means something else.
    name: 'restore in place',
    prepare: async () => {
      await source.sql('UPDATE shop.customers SET name = "to be replaced" WHERE id < 50');
      // The proof before the pause runs each time: an earlier run's recorded verification of the chain would spare it.
      for (const object of await stored.list()) if (object.key.endsWith(`${increment}/${VERIFICATION_OBJECT}`)) await stored.delete(object.key);
      return {};
    },
    start: (workflowId) => restoreStart({ backupName: increment })(workflowId),
    ownWorkflow: (id, workflowId) => id === workflowId,
    check: async (result) => {
      expect((result as { restored: string }).restored).toBe(increment);
      expect(await source.checksums(['shop'])).toEqual(incrementChecksums);
    },
  },
];

/**
 * Waits until a worker is held at the armed `place` (or the work ended without passing it), then
 * SIGKILLs it, or freezes it (SIGSTOP); disarms and starts a new worker. Returns the frozen worker.
 */
async function faultAt(fault: Fault, place: string, done: Promise<unknown>): Promise<WorkerProcess | undefined> {
  let ended = false;
  done.then(
    () => (ended = true),
    () => (ended = true),
  );
  for (let tries = 0; ; tries++) {
    if (await readFile(join(failpoints, `${place}.reached`)).then(() => true, () => false)) break;
    if (ended) throw new Error(`the work ended without passing ${place}`);
    if (tries > 3000) throw new Error(`no worker reached ${place} within 5 minutes`);
    await sleep(100);
  }
  let frozen: WorkerProcess | undefined;
  if (fault === 'kill') await worker.kill();
  else {
    worker.child.kill('SIGSTOP');
    frozen = worker;
  }
  // Disarmed before any thaw: the frozen attempt goes on from where it was held.
  await rm(join(failpoints, place), { force: true });
  await rm(join(failpoints, `${place}.reached`), { force: true });
  worker = await startOurWorker();
  return frozen;
}

/** Every object of both stores with its tag, by store and key. */
async function storedObjects(): Promise<Map<string, string>> {
  const objects = new Map<string, string>();
  for (const [name, inspector] of [['store', stored], ['removal', removalStored]] as const) for (const object of await inspector.list()) objects.set(`${name}/${object.key}`, object.tag);
  return objects;
}

/**
 * Thaws a frozen worker after its work ended without it, lets its stale attempt run on as a cut-off
 * host's would, stops it, and expects the stores as the work left them: nothing replaced or
 * removed, nothing added but what the archiver keeps archiving.
 */
async function thawAndStop(frozen: WorkerProcess): Promise<void> {
  const before = await storedObjects();
  frozen.child.kill('SIGCONT');
  await sleep(THAWED_RUN_MS);
  // As long as a service manager should wait: the worker's shutdown grace (2 minutes by default) lets a running step finish.
  const stopping = Date.now();
  await frozen.stop(150_000);
  console.log(`the thawed worker stopped in ${Math.round((Date.now() - stopping) / 1000)} s`);
  if (frozen.child.exitCode !== 0) {
    console.log(`the thawed worker did not stop gracefully (exit code ${frozen.child.exitCode}, signal ${frozen.child.signalCode}); its output:\n${frozen.output().split('\n').slice(-80).join('\n')}`);
    // As after any death: the next worker to start sweeps its private folder, so that this case alone fails, not every later one.
    await worker.stop();
    worker = await startOurWorker();
  }
  // A graceful stop, as a person or a service manager would give it: the worker exits 0, its private folder gone.
  expect({ exitCode: frozen.child.exitCode, signal: frozen.child.signalCode, output: frozen.child.exitCode === 0 ? '' : frozen.output().split('\n').slice(-20).join('\n') }).toEqual({ exitCode: 0, signal: null, output: '' });
  const after = await storedObjects();
  const changed = [...before].filter(([key, etag]) => after.get(key) !== etag).map(([key, etag]) => `${key}: ${etag} → ${after.get(key) ?? 'gone'}`);
  const added = [...after.keys()].filter((key) => !before.has(key) && !key.startsWith('store/binlogs/'));
  if (changed.length + added.length > 0) console.log(`the thawed worker's output:\n${frozen.output().split('\n').slice(-30).join('\n')}`);
  expect({ changed, added }).toEqual({ changed: [], added: [] });
}

/** The tool processes under this file's folders: their working folder or command line names one. */
async function toolProcesses(): Promise<{ pid: number; name: string; cwd: string; command: string }[]> {
  const found: { pid: number; name: string; cwd: string; command: string }[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const name = (await readFile(`/proc/${entry}/comm`, 'utf8').catch(() => '')).trim();
    if (!TOOL_PROCESSES.includes(name)) continue;
    const cwd = await readlink(`/proc/${entry}/cwd`).catch(() => '');
    const command = (await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')).replace(/\0/g, ' ').trim();
    if ([dir, source.dir].some((ours) => cwd.startsWith(ours) || command.includes(ours))) found.push({ pid: Number(entry), name, cwd, command });
  }
  return found;
}

const isRunning = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Everything that must hold once the work has ended, whatever the kill interrupted. */
async function expectNothingLeft(): Promise<void> {
  // Processes: the cluster's own server only. A tool the dead worker started may take a moment to notice its pipe is gone.
  const leftovers = await eventually('no process of a dead worker is left', async () => {
    const running = (await toolProcesses()).filter((process) => !(process.name === 'mariadbd' && process.cwd === source.datadir));
    return running.length === 0 ? [] : undefined;
  }, 60_000).catch(async () => (await toolProcesses()).filter((process) => !(process.name === 'mariadbd' && process.cwd === source.datadir)).map((process) => `${process.name} ${process.cwd} ${process.command}`));
  expect(leftovers).toEqual([]);
  expect((await toolProcesses()).filter((process) => process.name === 'mariadbd')).toHaveLength(1);
  expect(await source.sql('SELECT 1')).toEqual([['1']]);

  // Scratch: the restore workspaces, private servers' folders, dead processes' credential and scratch folders.
  const restoreRoot = join(dirname(source.datadir), '.chainbackup-restore');
  expect(await readdir(restoreRoot, { recursive: true }).catch(() => [])).toEqual([]);
  const tmpEntries = await readdir(workerTmp);
  expect(tmpEntries.filter((entry) => entry.startsWith('chainbackup-') && !entry.startsWith('chainbackup-secrets-'))).toEqual([]);
  for (const secrets of tmpEntries.filter((entry) => entry.startsWith('chainbackup-secrets-'))) {
    const dead = (await readdir(join(workerTmp, secrets))).filter((entry) => !isRunning(Number(/^process-(\d+)$/.exec(entry)?.[1] ?? 0)));
    expect(dead).toEqual([]);
  }

  // Storage: no start marker without its backup, no open upload of a backup or an archived binlog.
  for (const inspector of [stored, removalStored]) {
    const objects = (await inspector.list()).map((object) => object.key);
    expect(objects.filter((key) => key.endsWith(`/${STARTED_OBJECT}`))).toEqual([]);
    const folders = [...new Set(objects.filter((key) => !key.startsWith('binlogs/')).map((key) => dirname(key)))];
    const binlogFolders = [...new Set(objects.filter((key) => key.startsWith('binlogs/')).map((key) => dirname(key)))];
    const binlogFiles = (await source.sql('SHOW BINARY LOGS')).map(([file = '']) => file);
    const candidates = [...folders.flatMap((folder) => DATA_OBJECTS.map((name) => `${folder}/${name}`)), ...binlogFolders.flatMap((folder) => binlogFiles.map((file) => `${folder}/${file}.zst`))];
    expect(await inspector.openWrites(candidates)).toEqual([]);
  }

  await expectBackupsAsTheirManifestsSay();

  // The lock: free within a minute of the work ending.
  for (const cluster of ['km', 'km-removal']) {
    await eventually(`the lock of ${cluster} is free`, async () => {
      const lock = client.workflow.getHandle(WorkflowId.clusterLock(taskQueue, cluster));
      const running = await lock.describe().then((description) => description.status.name === 'RUNNING', () => false);
      if (!running) return true;
      const state = await lock.query(lockStateQuery).catch(() => undefined);
      return state && state.holder === null ? true : undefined;
    }, 60_000);
  }
}

/** Objects already hashed, by key, with the entity tag they had: hashed again only when replaced. */
const hashedObjects = new Map<string, string>();

/** Every committed backup's objects are there with the size and sha256 its manifest names: no retry or stale attempt replaced one. */
async function expectBackupsAsTheirManifestsSay(): Promise<void> {
  const problems: string[] = [];
  for (const [name, inspector] of [['store', stored], ['removal', removalStored]] as const) {
    const objects = new Map((await inspector.list()).map((object) => [object.key, object.tag]));
    for (const manifestKey of [...objects.keys()].filter((key) => key.endsWith('/manifest.json'))) {
      const manifest = JSON.parse(await inspector.getText(manifestKey)) as { objects: { name: string; size: number; sha256: string }[] };
      for (const object of manifest.objects) {
        const objectKey = `${dirname(manifestKey)}/${object.name}`;
        const key = `${name}/${objectKey}`;
        const etag = objects.get(objectKey);
        if (etag === undefined) problems.push(`${key}: missing`);
        if (etag === undefined || hashedObjects.get(key) === etag) continue;
        const bytes = await inspector.getBytes(objectKey);
        const sha256 = createHash('sha256').update(bytes).digest('hex');
        if (bytes.length !== object.size || sha256 !== object.sha256) problems.push(`${key}: ${bytes.length} bytes, sha256 ${sha256}; its manifest says ${object.size} bytes, ${object.sha256}`);
        else hashedObjects.set(key, etag);
      }
    }
  }
  expect(problems).toEqual([]);
}

/**
 * Which places of a kind this run faults at, and how: all with every fault asked for, or, chosen by
 * the day number, one place killed for every kind and one place frozen for one kind (a freeze costs
 * a heartbeat time-out and a thaw, about 90 s, so one a run keeps the suite's time).
 */
function chosen(places: string[], kindIndex: number): { place: string; fault: Fault }[] {
  if (mode === 'all') return places.filter((place) => !onlyPlaces || onlyPlaces.includes(place)).flatMap((place) => allFaults.map((fault) => ({ place, fault })));
  const day = Number(mode);
  if (!Number.isInteger(day)) throw new Error(`CHAINBACKUP_KILL_MATRIX must be "all" or a day number, not ${mode}`);
  if (places.length === 0) return [];
  const killed = { place: places[(day * 7 + kindIndex) % places.length] ?? '', fault: 'kill' as const };
  if (day % kinds.length !== kindIndex) return [killed];
  return [killed, { place: places[(day * 3 + 1) % places.length] ?? '', fault: 'freeze' as const }];
}

async function record(line: string): Promise<void> {
  if (report) await appendFile(report, `${line}\n`);
}

/** One case: the work faulted at `place`; undefined when every invariant held, else what failed (also written to the report). */
async function runCase(kind: WorkKind, place: string, fault: Fault): Promise<string | undefined> {
  const startedAt = Date.now();
  const workflowId = uniqueName(`${fault}-${kind.name.replace(/\W+/g, '-')}`);
  let frozen: WorkerProcess | undefined;
  try {
    const prepared = (await kind.prepare?.()) ?? {};
    // Armed for this work's own workflow, or for the archiver's next round.
    await writeFile(join(failpoints, place), kind.name === 'archive round' ? archiverId : workflowId);
    const work = await kind.start(workflowId, prepared);
    frozen = await faultAt(fault, place, work.done);
    const outcome: { result: unknown } | { failure: { type?: string; message: string } } = await work.done.then(
      (result: unknown) => {
        const refusal = refusalIn(result);
        return refusal ? { failure: refusal } : { result };
      },
      (error: unknown) => ({ failure: failureChain(error).find((link) => link.type !== undefined) ?? failureChain(error).at(-1) ?? { message: String(error) } }),
    );
    // The data checks below run after the thawed attempt has had its chance to do damage.
    if (frozen) {
      const thawing = frozen;
      frozen = undefined;
      await thawAndStop(thawing);
    }
    const documented = kind.failsAt?.[place];
    if ('failure' in outcome) {
      if (!documented) throw new Error(`the work failed: ${outcome.failure.type ?? ''} ${outcome.failure.message}`);
      await documented(outcome.failure, prepared);
    } else {
      if (documented) throw new Error('the work completed where a kill must fail it, as documented');
      await kind.check(outcome.result, prepared, workflowId);
    }
    await expectNothingLeft();
    const outcomeText = `${documented ? 'failed as documented' : 'completed'}${fault === 'freeze' ? ', the thawed attempt changed nothing' : ''}, nothing left`;
    await record(`| ${kind.name} | ${fault} | ${place} | ${outcomeText} | ${Math.round((Date.now() - startedAt) / 1000)} |`);
    return undefined;
  } catch (error) {
    const message = (error instanceof Error ? error.message : String(error)).split('\n').map((line) => line.trim()).filter(Boolean).join(' ').slice(0, 800);
    await record(`| ${kind.name} | ${fault} | ${place} | FAILED: ${message.replace(/\|/g, '/')} | ${Math.round((Date.now() - startedAt) / 1000)} |`);
    await rm(join(failpoints, place), { force: true });
    return `${fault} at ${place}: ${message}`;
  } finally {
    // A worker left frozen by a failed case: thawed and stopped all the same.
    if (frozen) {
      frozen.child.kill('SIGCONT');
      await frozen.stop();
    }
  }
}

describe.each(kinds.map((kind, index) => [kind.name, kind, index] as const))('%s', (_name, kind, index) => {
  test(
    'killed or frozen at every place it passes (or the rotating part of them): it completes, leaving nothing behind',
    async () => {
      // The run without a kill: where this kind of work passes.
      const before = await passedCount();
      const referenceId = uniqueName(`ref-${kind.name.replace(/\W+/g, '-')}`);
      const referencePrepared = (await kind.prepare?.()) ?? {};
      const reference = await kind.start(referenceId, referencePrepared);
      await kind.check(await reference.done, referencePrepared, referenceId);
      await expectNothingLeft();
      const places = await passedPlaces((id) => kind.ownWorkflow(id, referenceId), before);
      expect(places.length).toBeGreaterThan(0);
      const cases = chosen(places, index);
      console.log(`kill matrix, ${kind.name}: ${places.length} places (${places.join(', ')}); ${cases.map(({ place, fault }) => `${fault} at ${place}`).join(', ') || 'nothing to fault'} (CHAINBACKUP_KILL_MATRIX=${mode})`);
      const failures: string[] = [];
      for (const { place, fault } of cases) {
        const failure = await runCase(kind, place, fault);
        if (failure) failures.push(failure);
      }
      expect(failures).toEqual([]);
    },
    mode === 'all' ? 6 * 3600_000 : 900_000,
  );
});

// In every run of the suite: a task for the next attempt of takeBackup reached the frozen worker's open
// poll and ran when it thawed, after the newer attempt had committed the backup: its clean-up of
// "what an earlier attempt left" deleted the committed backup (found by the freeze half of the matrix).
test('a full backup whose worker froze at the end of takeBackup: the stale attempt that runs when it thaws changes nothing', async () => {
  expect(await runCase(kinds[0] as WorkKind, 'after-takeBackup', 'freeze')).toBeUndefined();
}, 900_000);
