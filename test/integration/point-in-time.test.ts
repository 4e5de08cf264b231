/**
 * Issue 16, restore to a point: a full backup and an increment of a real MariaDB, then marker rows
 * every half second (each stores the second its statement ran, the second its binlog event
 * carries), binlog rotations in between, a transaction just before a rotation, and a temporary
 * table filled before a rotation and read after it in the same session; the archiver uploads it
 * all. Restored in place to a chosen second: exactly the markers of that second and before are
 * there, none after, and every table checks clean. Points outside the archive, and a point across
 * a gap, are refused before anything is touched, giving the recoverable window.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { refusalIn } from '../../domain/failures.js';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { execa } from 'execa';
import type { Manifest } from '../../domain/manifest.js';
import type { MariaDbSandbox } from '../../devtools/sandbox/mariadb.js';
import { binlogArchiveQuery, WorkflowId } from '../../domain/workflow-contract.js';
import { backup as backupWorkflow, binlogArchiver, restore as restoreWorkflow, type ClusterCatalog } from '../../workflows/index.js';
import { connectTestClient, createSandbox, failureChain, runCli, s3Storage, startWorker, testRoot, TestBucket, uniqueName, writeConfig, type WorkerProcess } from '../support/environment.js';
import { untilArchiveCaughtUp } from '../support/binlog-archive.js';
import { stopTestFile } from '../support/teardown.js';
import { eventually } from '../support/workflow-worker.js';
import { withServerOnFolder } from '../support/server-on-folder.js';

const taskQueue = uniqueName('pitr');
const archiverId = WorkflowId.binlogArchiver(taskQueue, 'pit');
const bucket = new TestBucket();
const failpoints = join(testRoot(), `${taskQueue}-failpoints`);

let source: MariaDbSandbox;
let worker: WorkerProcess;
let client: Client;
let closeClient: () => Promise<void>;
let configPath: string;

beforeAll(async () => {
  source = await createSandbox(`${taskQueue}-source`);
  await source.loadSampleData(2000);
  const cluster = source.clusterConfig('pit', s3Storage(`${taskQueue}-store`), {
    retry: { maximumAttempts: 3, initialInterval: '200ms', heartbeatTimeout: '10s' },
    schedule: { enabled: false },
    binlogs: { archive: true, interval: '1s' },
  });
  // Another cluster, to restore pit's data into from pit's storage.
  const copy = source.clusterConfig('pit-copy', s3Storage(`${taskQueue}-copy`), { schedule: { enabled: false } });
  configPath = await writeConfig(taskQueue, { temporal: { taskQueue }, clusters: [cluster, copy] });
  await mkdir(failpoints, { recursive: true });
  worker = await startWorker(configPath, [], { CHAINBACKUP_FAILPOINTS: failpoints });
  ({ client, close: closeClient } = await connectTestClient());
});

afterAll(() => stopTestFile({ client, archivers: [archiverId], bucket, closeClient, worker, sandboxes: [source] }));

/** From the first test, for the one that goes back before the cluster's in-place restores: the point, and the markers it holds. */
let firstPoint: { second: number; markers: { id: number; at: number }[]; firstMarkerGtid: string } | undefined;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The archive's object keys in one history of the cluster. */
async function archivedKeys(history: number): Promise<string[]> {
  return (await bucket.list(`${taskQueue}-store/binlogs/pit/history-${history}`)).map((object) => object.key);
}

async function markers(): Promise<{ id: number; at: number }[]> {
  return (await source.sql('SELECT id, at FROM shop.markers ORDER BY id')).map(([id = '', at = '']) => ({ id: Number(id), at: Number(at) }));
}

const TABLES = 'shop.markers, shop.customers, shop.orders';

async function checksums(): Promise<string[][]> {
  return source.sql(`CHECKSUM TABLE ${TABLES} EXTENDED`);
}

/**
 * The serial path, as an oracle: the archived files of history 0 from the backup's position,
 * through one `mariadb-binlog | mariadb` session as root, stopping at the first event after the point.
 */
async function replaySerially(manifest: Manifest, pointSecond: number): Promise<void> {
  const binlog = manifest.binlog as NonNullable<Manifest['binlog']>;
  const folder = await mkdtemp(join(testRoot(), 'serial-'));
  const names = (await archivedKeys(0)).map((key) => key.split('/').at(-1) ?? '').filter((name) => name.endsWith('.zst')).map((name) => name.slice(0, -'.zst'.length)).sort();
  const files = names.slice(names.indexOf(binlog.file));
  for (const name of files) {
    await writeFile(join(folder, `${name}.zst`), await bucket.getBytes(`${taskQueue}-store/binlogs/pit/history-0/${name}.zst`));
    await execa('zstd', ['-q', '-d', '--rm', join(folder, `${name}.zst`)]);
  }
  const stop = new Date((pointSecond + 1) * 1000).toISOString().slice(0, 19).replace('T', ' ');
  await execa('mariadb-binlog', ['--no-defaults', `--start-position=${binlog.position}`, `--stop-datetime=${stop}`, ...files.map((name) => join(folder, name))], { env: { TZ: 'UTC' } }).pipe('mariadb', ['--no-defaults', `--socket=${source.socket}`, '--user=root', '--binary-mode']);
  await rm(folder, { recursive: true, force: true });
}

async function restoreTo(pointMs: number) {
  return client.workflow.execute(restoreWorkflow, { taskQueue, workflowId: uniqueName('restore-pit'), args: [{ cluster: 'pit', pointInTime: new Date(pointMs).toISOString() }] });
}

/** The first typed failure of a run that failed or completed refused. */
const firstTyped = (ended: unknown) => failureChain(ended).find((failure) => failure.type !== undefined);

async function refusal(pointMs: number): Promise<{ type?: string; message: string }> {
  const outcome = await restoreTo(pointMs).then(
    (result: unknown) => (refusalIn(result) ? result : undefined),
    (error: unknown) => error,
  );
  if (outcome === undefined) throw new Error(`expected the restore to ${new Date(pointMs).toISOString()} to be refused`);
  return failureChain(outcome).find((failure) => failure.type !== undefined) ?? { message: outcome instanceof Error ? outcome.message : JSON.stringify(outcome) };
}

describe('restore to a point in time', () => {

  test('points outside the window are refused; exactly the transactions up to the chosen second are restored; a temporary table lives across a rotation; every table checks clean', async () => {
    await client.workflow.start(binlogArchiver, { taskQueue, workflowId: archiverId, args: [{ cluster: 'pit' }] });
    await source.sql('CREATE TABLE shop.markers (id INT PRIMARY KEY, at BIGINT NOT NULL, note VARCHAR(64)) ENGINE=InnoDB');
    await client.workflow.execute(backupWorkflow, { taskQueue, workflowId: uniqueName('backup-pit-full'), args: [{ cluster: 'pit', type: 'full' }] });
    await source.sql("INSERT INTO shop.markers VALUES (1, UNIX_TIMESTAMP(), 'between the backups')");
    const increment = await client.workflow.execute(backupWorkflow, { taskQueue, workflowId: uniqueName('backup-pit-incr'), args: [{ cluster: 'pit', type: 'incremental' }] });
    const backupFinished = Date.now();
    expect(increment.type).toBe('incremental');
    // Every marker is a second or more after the increment finished, so none is in the backup.
    await sleep(1100);

    // The server's GTID position after each marker: the replay must end exactly at the last one it applies.
    const positions = new Map<number, string>();
    for (let id = 10; id < 22; id++) {
      if (id === 14) {
        // A transaction of two statements, then a rotation right after it.
        await source.sql(`BEGIN; INSERT INTO shop.markers VALUES (${id}, UNIX_TIMESTAMP(), 'transaction, first'); INSERT INTO shop.markers VALUES (${id + 100}, UNIX_TIMESTAMP(), 'transaction, second'); COMMIT; FLUSH BINARY LOGS`);
      } else if (id === 17) {
        // One session: a temporary table filled before a rotation and read after it. Dropped in the
        // session: the drop a disconnect logs could land after the position below is read.
        await source.sql(`USE shop; CREATE TEMPORARY TABLE carry (v INT); INSERT INTO carry VALUES (${id}); FLUSH BINARY LOGS; INSERT INTO shop.markers SELECT v, UNIX_TIMESTAMP(), 'through a temporary table' FROM carry; DROP TEMPORARY TABLE carry`);
      } else {
        await source.sql(`INSERT INTO shop.markers VALUES (${id}, UNIX_TIMESTAMP(), 'marker')`);
      }
      positions.set(id, (await source.sql('SELECT @@gtid_binlog_pos'))[0]?.[0] ?? '');
      await sleep(500);
    }
    const written = await markers();
    const seconds = [...new Set(written.filter((marker) => marker.id >= 10).map((marker) => marker.at))].sort((a, b) => a - b);
    expect(seconds.length).toBeGreaterThanOrEqual(4);
    // A second in the middle, after the temporary table's row.
    const carried = written.find((marker) => marker.id === 17) as { at: number };
    const point = seconds.find((second) => second >= carried.at && second < (seconds.at(-1) as number)) as number;
    expect(point).toBeDefined();
    const archived = await untilArchiveCaughtUp(client, archiverId, source);

    // `list` shows the window: from the oldest backup whose position the archive holds to the last second the archive wholly covers.
    const listed = await runCli(['--config', configPath, 'list', 'pit', '--json']);
    const [catalog] = JSON.parse(listed.stdout) as ClusterCatalog[];
    const from = catalog?.chains[0]?.base.finishedAt ?? '?';
    const to = `${new Date((Math.floor(Date.parse(archived.newest?.lastEventTime ?? '') / 1000) - 1) * 1000).toISOString().slice(0, 19)}Z`;
    expect(catalog?.pointInTime).toEqual({ from, to, ranges: [{ from, to, history: 0 }], gaps: [] });
    expect((await runCli(['--config', configPath, 'list', 'pit'])).stdout).toContain(`point in time: ${from} to ${to}`);

    // Points outside what the backups and the archive cover are refused, giving the window, and change nothing.
    const early = await refusal(backupFinished - 3_600_000);
    expect(early.type).toBe('InvalidRequest');
    expect(early.message).toMatch(/Z is before every backup that records its binlog position: reachable: \S+Z to \S+Z$/);
    const late = await refusal(Date.now() + 86_400_000);
    expect(late.type).toBe('NotYetArchived');
    expect(late.message).toContain(`is not wholly archived yet: the archive's newest event is at ${archived.newest?.lastEventTime ?? '?'}`);
    expect(await markers()).toEqual(written);

    // The archiver keeps running through the restore: it is held off from before the pause until the new history is recorded.
    const historyZero = await archivedKeys(0);
    // Held at the step after the swap, the restored data in place and the server still stopped: the archiver says it is held.
    const armed = join(failpoints, 'swap-placed');
    await writeFile(armed, '');
    const restoring = await client.workflow.start(restoreWorkflow, { taskQueue, workflowId: uniqueName('restore-pit'), args: [{ cluster: 'pit', pointInTime: new Date(point * 1000 + 999).toISOString() }] });
    await eventually('the restore reaches the swap', async () => (await stat(`${armed}.reached`).then(() => true, () => false)) || undefined, 120_000);
    await eventually('the archiver is held by the restore', async () => ((await client.workflow.getHandle(archiverId).query(binlogArchiveQuery)).heldBy === restoring.workflowId ? true : undefined), 30_000);
    await rm(armed);
    const result = await restoring.result();
    // Applied before the server started, through the replication applier (not the serial pipe into the running server).
    const activities = ((await restoring.fetchHistory()).events ?? []).map((event) => event.activityTaskScheduledEventAttributes?.activityType?.name).filter(Boolean);
    expect(activities).toContain('applyArchivedBinlogs');
    expect(activities).not.toContain('replayBinlogs');
    expect(result).toMatchObject({ cluster: 'pit', restored: increment.name, pointInTime: new Date(point * 1000 + 999).toISOString() });
    expect(result.replayedBinlogs).toBeGreaterThanOrEqual(3);
    const expected = written.filter((marker) => marker.at <= point);
    expect(await markers()).toEqual(expected);
    firstPoint = { second: point, markers: expected, firstMarkerGtid: positions.get(10) ?? '' };
    expect(expected.map((marker) => marker.id)).toEqual(expect.arrayContaining([1, 10, 14, 114, 17]));
    expect(expected.length).toBeLessThan(written.length);
    const checks = await source.sql(`CHECK TABLE ${TABLES} EXTENDED`);
    expect(checks.filter((row) => row[2] === 'status').map((row) => row[3])).toEqual(['OK', 'OK', 'OK']);
    // The replayed transactions are in the restored binlog with their own GTIDs, up to the last one applied.
    const lastApplied = Math.max(...expected.filter((marker) => marker.id >= 10 && marker.id < 100).map((marker) => marker.id));
    expect(result.gtidPosition).toBe(positions.get(lastApplied));
    expect((await source.sql('SELECT @@gtid_binlog_pos'))[0]?.[0]).toBe(positions.get(lastApplied));
    const applied = await checksums();

    // The restored server's binlogs go to history 1; nothing of them was filed under history 0.
    await source.sql("INSERT INTO shop.markers VALUES (500, UNIX_TIMESTAMP(), 'after the restore')");
    const after = await untilArchiveCaughtUp(client, archiverId, source);
    expect(after).toMatchObject({ history: 1, gaps: [] });
    expect(after.heldBy).toBeUndefined();
    expect(await archivedKeys(0)).toEqual(historyZero);
    expect((await archivedKeys(1)).length).toBeGreaterThan(0);

    // The serial path gives the same tables: the increment restored alone, then the same files
    // through `mariadb-binlog | mariadb` up to the same second.
    await client.workflow.execute(restoreWorkflow, { taskQueue, workflowId: uniqueName('restore-pit-plain'), args: [{ cluster: 'pit', backupName: increment.name }] });
    expect(await markers()).toEqual(written.filter((marker) => marker.id === 1));
    await replaySerially(JSON.parse(await bucket.getText(`${taskQueue}-store/${increment.path}manifest.json`)) as Manifest, point);
    expect(await markers()).toEqual(expected);
    expect(await checksums()).toEqual(applied);
  });

  // The suite's Temporal server suggests continue-as-new after 150 events (test/support/global-setup.ts): an archiver
  // in rounds of 1 s gets there within a minute, so the replay recording has a continued archiver too.
  test('the archiver in rounds continues as new when the server suggests it, and the run that goes on carries its state', async () => {
    await eventually('the archiver continued as new', async () => ((await client.workflow.count(`WorkflowId = "${archiverId}" AND ExecutionStatus = "ContinuedAsNew"`)).count > 0 ? true : undefined), 180_000);
    const archiver = client.workflow.getHandle(archiverId);
    expect((await archiver.describe()).status.name).toBe('RUNNING');
    expect((await archiver.query(binlogArchiveQuery)).newest).toBeDefined();
  });

  test('to a GTID, into a new datadir, from the cluster itself and from another cluster: each clone holds exactly the transactions up to it; the running server is untouched; refusals name the field and change nothing', async () => {
    // Backups of the cluster's current history (the first test restored it in place).
    await client.workflow.execute(backupWorkflow, { taskQueue, workflowId: uniqueName('backup-pit-full'), args: [{ cluster: 'pit', type: 'full' }] });
    const positions = new Map<number, string>();
    for (let id = 600; id < 606; id++) {
      await source.sql(`INSERT INTO shop.markers VALUES (${id}, UNIX_TIMESTAMP(), 'before the GTID restore')`);
      if (id === 602) await source.sql('FLUSH BINARY LOGS');
      positions.set(id, (await source.sql('SELECT @@gtid_binlog_pos'))[0]?.[0] ?? '');
    }
    await untilArchiveCaughtUp(client, archiverId, source);
    const live = await markers();
    const liveSums = await checksums();
    const gtid = positions.get(603) as string;

    // Bad GTIDs are refused naming the field; a GTID past the archive names what it holds.
    const bad = await runCli(['--config', configPath, 'restore', 'pit', '--to-gtid', '0-1']);
    expect(bad.exitCode).not.toBe(0);
    expect(bad.stderr).toContain('gtid: must be one GTID such as "0-1-1234"');
    const [domain, server, sequence] = gtid.split('-');
    const past = await client.workflow.execute(restoreWorkflow, { taskQueue, workflowId: uniqueName('restore-pit-gtid'), args: [{ cluster: 'pit', gtid: `${domain}-${server}-${Number(sequence) + 1000}` }] }).then(firstTyped, firstTyped);
    expect(past).toMatchObject({ type: 'NotYetArchived', message: expect.stringContaining(`is not archived yet: the archive's newest transaction of domain ${domain ?? '?'} from server ${server ?? '?'} is`) });

    const clone = join(testRoot(), `${taskQueue}-gtid-clone`);
    const run = await runCli(['--config', configPath, 'restore', 'pit', '--to-gtid', gtid, '--to-datadir', clone]);
    // Progress goes to stderr (shown only when it fails); the result to stdout.
    expect({ exitCode: run.exitCode, stderr: run.exitCode === 0 ? '' : run.stderr }).toEqual({ exitCode: 0, stderr: '' });
    expect(run.stdout).toContain(`into ${clone} to GTID ${gtid}:`);
    expect(run.stdout).toContain(`the clone is at GTID ${gtid}`);
    const { value: cloned } = await withServerOnFolder(clone, [`datadir=${clone}`], join(testRoot(), `${taskQueue}-clone-server`), async (sql) => ({
      ids: (await sql('SELECT id FROM shop.markers WHERE id >= 600 ORDER BY id')).split('\n').map(Number),
      check: (await sql('CHECK TABLE shop.markers EXTENDED')).split('\n').map((line) => line.split('\t')[3]),
    }));
    expect(cloned).toEqual({ ids: [600, 601, 602, 603], check: ['OK'] });
    // Another cluster restores pit's data to the same GTID from pit's storage and archive.
    const copyClone = join(testRoot(), `${taskQueue}-gtid-copy`);
    const copied = await runCli(['--config', configPath, 'restore', 'pit-copy', '--from-cluster', 'pit', '--to-gtid', gtid, '--to-datadir', copyClone]);
    expect({ exitCode: copied.exitCode, stderr: copied.exitCode === 0 ? '' : copied.stderr }).toEqual({ exitCode: 0, stderr: '' });
    // pit-copy's own storage holds no backup: what the clone holds came from pit's.
    expect(await bucket.list(`${taskQueue}-copy`)).toEqual([]);
    const { value: copiedIds } = await withServerOnFolder(copyClone, [`datadir=${copyClone}`], join(testRoot(), `${taskQueue}-copy-server`), async (sql) => (await sql('SELECT id FROM shop.markers WHERE id >= 600 ORDER BY id')).split('\n').map(Number));
    expect(copiedIds).toEqual([600, 601, 602, 603]);
    // The running server went on as it was.
    expect(await markers()).toEqual(live);
    expect(await checksums()).toEqual(liveSums);
  });

  test('a point before the cluster’s last in-place restores: from the older history the backup was taken in, into a new datadir', async () => {
    const { second, markers: expected, firstMarkerGtid } = firstPoint as NonNullable<typeof firstPoint>;
    const clone = join(testRoot(), `${taskQueue}-history-0-clone`);
    const live = await markers();
    const result = await client.workflow.execute(restoreWorkflow, { taskQueue, workflowId: uniqueName('restore-pit-old'), args: [{ cluster: 'pit', pointInTime: new Date(second * 1000 + 999).toISOString(), target: { kind: 'new-datadir', path: clone } }] });
    expect(result.replayedBinlogs).toBeGreaterThanOrEqual(3);
    const { value: cloned } = await withServerOnFolder(clone, [`datadir=${clone}`], join(testRoot(), `${taskQueue}-history-0-server`), async (sql) =>
      (await sql('SELECT id, at FROM shop.markers ORDER BY id')).split('\n').map((line) => line.split('\t')).map(([id = '', at = '']) => ({ id: Number(id), at: Number(at) })),
    );
    expect(cloned).toEqual(expected);
    expect(await markers()).toEqual(live);
    // A GTID names no older history (GTIDs started again at the restore): refused, saying to give a time.
    const refused = await client.workflow.execute(restoreWorkflow, { taskQueue, workflowId: uniqueName('restore-pit-old-gtid'), args: [{ cluster: 'pit', gtid: firstMarkerGtid, target: { kind: 'new-datadir', path: `${clone}-gtid` } }] }).then(firstTyped, firstTyped);
    expect(refused).toMatchObject({ type: 'InvalidRequest', message: expect.stringContaining('GTIDs started again at the in-place restore of') });
    await expect(stat(`${clone}-gtid`)).rejects.toThrow('ENOENT');
  });

  test('a worker killed while the applier runs: its private server is stopped, the clone is moved aside (not deleted), and the restore fails saying so', async () => {
    await source.sql("INSERT INTO shop.markers VALUES (700, UNIX_TIMESTAMP(), 'before the killed replay')");
    const gtid = (await source.sql('SELECT @@gtid_binlog_pos'))[0]?.[0] ?? '';
    await untilArchiveCaughtUp(client, archiverId, source);
    const clone = join(testRoot(), `${taskQueue}-killed-clone`);
    const armed = join(failpoints, 'binlog-applying');
    await writeFile(armed, '');
    const handle = await client.workflow.start(restoreWorkflow, { taskQueue, workflowId: uniqueName('restore-pit-killed'), args: [{ cluster: 'pit', gtid, target: { kind: 'new-datadir', path: clone } }] });
    await eventually('the applier runs', async () => (await stat(`${armed}.reached`).then(() => true, () => false)) || undefined, 120_000);
    const privateServers = async () => (await execa('pgrep', ['-f', `${taskQueue}-source/.chainbackup-restore/.*/replay-server/server.cnf`], { reject: false })).stdout.split('\n').filter(Boolean);
    expect(await privateServers()).toHaveLength(1);
    await worker.kill();
    await rm(armed);
    await rm(`${armed}.reached`, { force: true });
    // The dead worker's private server still runs on the clone until the next attempt stops it.
    expect(await privateServers()).toHaveLength(1);
    worker = await startWorker(configPath, [], { CHAINBACKUP_FAILPOINTS: failpoints });
    const failure = await handle.result().then(
      () => undefined,
      (error: unknown) => failureChain(error).find((item) => item.type !== undefined),
    );
    expect(failure).toMatchObject({ type: 'RestoreFailed', message: expect.stringContaining('was interrupted (its worker stopped)') });
    expect(await privateServers()).toEqual([]);
    await expect(stat(clone)).rejects.toThrow('ENOENT');
    const parent = await readdir(testRoot());
    const asides = parent.filter((name) => name.startsWith(`${taskQueue}-killed-clone.incomplete-`));
    expect(asides).toHaveLength(1);
    expect(await readdir(join(testRoot(), asides[0] as string))).toContain('backup-my.cnf');
  });
});
