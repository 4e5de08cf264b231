/**
 * Issue 35, a point in time at every edge, against recorded ground truth: a writer logs a marker
 * every ~15 ms with the time its statement began (the binlog's own time for it, to the microsecond),
 * so the markers a restore to a second must hold are known exactly. The archiver runs with an hour's
 * interval: its rounds happen when the test asks (a restore waiting for the archive asks the same
 * way). Its storage is a MinIO of this file's own, stopped for the outage case.
 *
 * - The archive's newest second (rotated partway through it) is refused as NotYetArchived, never
 *   restored short; with waitForArchive the archiver closes the binlog and the restore is exact.
 * - A fractional time means the end of its second, and the plan, the dry run and the result say so,
 *   with the last transaction applied.
 * - The backup's own second is reachable, written with a fraction or without.
 * - A gap: `list` shows where the window stops and what is unreachable until the next backup;
 *   `status` is broken; the next backup starts a range of its own.
 * - After an in-place restore: each history's ranges, and a point between them refused for what it is.
 * - Storage down: the archiver's state says it is failing and not caught up; back up, it recovers.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { refusalIn } from '../../domain/failures.js';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import type { MariaDbSandbox } from '../../devtools/sandbox/mariadb.js';
import { startMinio, type MinioServer } from '../../devtools/sandbox/minio.js';
import type { StorageConfig } from '../../domain/config.js';
import { binlogArchiveQuery, coverArchiveSignal, WorkflowId } from '../../domain/workflow-contract.js';
import { backup as backupWorkflow, binlogArchiver, restore as restoreWorkflow, type BackupResult, type ClusterCatalog, type RestoreResult } from '../../workflows/index.js';
import { stopArchiver, untilArchiveCaughtUp } from '../support/binlog-archive.js';
import { withServerOnFolder } from '../support/server-on-folder.js';
import { eventually } from '../support/workflow-worker.js';
import { connectTestClient, createSandbox, failureChain, runCli, startWorker, testRoot, uniqueName, writeConfig, type WorkerProcess } from '../support/environment.js';

const name = uniqueName('edges');
const dir = join(testRoot(), name);
const archiverId = WorkflowId.binlogArchiver(name, 'edges');

let minio: MinioServer;
let source: MariaDbSandbox;
let worker: WorkerProcess;
let client: Client;
let closeClient: () => Promise<void>;
let configPath: string;
let writer: ChildProcessWithoutNullStreams | undefined;
let full: BackupResult;

/** The worker's and the CLI's view of this file's MinIO. */
const minioEnv = () => ({ AWS_ACCESS_KEY_ID: minio.accessKeyId, AWS_SECRET_ACCESS_KEY: minio.secretAccessKey });
const storage = (): StorageConfig => ({ kind: 's3', bucket: 'backups', prefix: 'edges', region: 'us-east-1', endpoint: minio.endpoint, forcePathStyle: true });
const cli = (...args: string[]) => runCli(['--config', configPath, ...args], minioEnv());

beforeAll(async () => {
  [minio, source] = await Promise.all([startMinio(join(dir, 'minio')), createSandbox(`${name}-source`)]);
  await minio.createBucket('backups');
  await source.loadSampleData(500);
  await source.sql('CREATE TABLE shop.markers (id INT PRIMARY KEY AUTO_INCREMENT, at DECIMAL(17,6) NOT NULL) ENGINE=InnoDB');
  const cluster = source.clusterConfig('edges', storage(), {
    retry: { maximumAttempts: 2, initialInterval: '200ms', heartbeatTimeout: '10s' },
    schedule: { enabled: false },
    // Rounds only when asked: the test decides when the binlog rotates.
    binlogs: { archive: true, interval: '1h' },
  });
  configPath = await writeConfig(name, { temporal: { taskQueue: name }, clusters: [cluster] });
  worker = await startWorker(configPath, [], minioEnv());
  ({ client, close: closeClient } = await connectTestClient());
  full = await client.workflow.execute(backupWorkflow, { taskQueue: name, workflowId: uniqueName('backup-edges'), args: [{ cluster: 'edges', type: 'full' }] });
  await client.workflow.start(binlogArchiver, { taskQueue: name, workflowId: archiverId, args: [{ cluster: 'edges' }] });
  await eventually('the first round ran', async () => ((await archiveState()).rounds > 0 ? true : undefined), 120_000);
}, 300_000);

afterAll(async () => {
  writer?.stdin.end();
  await stopArchiver(client, archiverId);
  await closeClient?.();
  await worker?.stop();
  await Promise.all([source?.stop(), minio?.stop()]);
});

/** Each marker the writer logged: its GTID's sequence number, by id. */
const markerSeq = new Map<number, number>();

/** Starts the writer: one autocommitted marker every ~15 ms, each with the time its statement began; its GTID is noted. */
function startWriter(): void {
  writer = spawn('mariadb', ['--no-defaults', `--socket=${source.socket}`, '--user=root', '--batch', '--skip-column-names', '--unbuffered', 'shop'], { stdio: 'pipe' });
  let pending = '';
  writer.stdout.on('data', (chunk: Buffer) => {
    const lines = (pending + chunk.toString()).split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      const [id = '', gtid = ''] = line.split('\t');
      markerSeq.set(Number(id), Number(gtid.split('-').at(-1)));
    }
  });
  const write = () => {
    if (!writer || writer.stdin.destroyed) return;
    writer.stdin.write('INSERT INTO markers (at) VALUES (UNIX_TIMESTAMP(NOW(6))); SELECT LAST_INSERT_ID(), @@last_gtid;\n');
    setTimeout(write, 15);
  };
  write();
}

async function stopWriter(): Promise<void> {
  const stopping = writer;
  writer = undefined;
  if (!stopping) return;
  const exited = new Promise((resolve) => stopping.once('exit', resolve));
  stopping.stdin.end();
  await exited;
}

/** The server's clock, in seconds (its binlog times are its own). */
async function serverNow(): Promise<number> {
  return Number((await source.sql('SELECT UNIX_TIMESTAMP(NOW(6))'))[0]?.[0]);
}

async function untilServerPast(second: number): Promise<void> {
  while ((await serverNow()) < second + 1.05) await new Promise((resolve) => setTimeout(resolve, 100));
}

/** The marker ids a restore to the end of `second` must hold, and only they. */
async function markersUpTo(second: number): Promise<number[]> {
  return (await source.sql(`SELECT id FROM shop.markers WHERE FLOOR(at) <= ${second} ORDER BY id`)).map(([id = '']) => Number(id));
}

/** The archiver's state, once it answers (a run that has just started has not registered its query yet). */
const archiveState = () => eventually('the archiver answers', () => client.workflow.getHandle(archiverId).query(binlogArchiveQuery), 60_000);

/** One archiving round now (the archiver sleeps an hour between rounds otherwise), and the state after it, succeeded or failed. */
async function archiveRound(coverSecond: number) {
  const before = await archiveState();
  await client.workflow.getHandle(archiverId).signal(coverArchiveSignal, coverSecond);
  return eventually('the archiver ran a round', async () => {
    const state = await client.workflow.getHandle(archiverId).query(binlogArchiveQuery);
    return state.rounds > before.rounds || state.lastErrorAt !== before.lastErrorAt ? state : undefined;
  }, 120_000);
}

/** A round now, and every transaction the server has logged archived. */
async function catchUp() {
  await archiveRound(Math.floor(await serverNow()) - 1);
  return untilArchiveCaughtUp(client, archiverId, source);
}

const newestSecond = (iso: string | undefined) => Math.floor(Date.parse(iso ?? '') / 1000);
const iso = (second: number, fraction = '') => `${new Date(second * 1000).toISOString().slice(0, 19)}${fraction}Z`;

async function cloneTo(request: Record<string, unknown>, tag: string): Promise<{ result: RestoreResult; ids: number[] }> {
  const path = join(dir, `clone-${tag}`);
  const result = await client.workflow.execute(restoreWorkflow, { taskQueue: name, workflowId: uniqueName(`restore-edges-${tag}`), args: [{ cluster: 'edges', ...request, target: { kind: 'new-datadir', path } }] });
  const { value } = await withServerOnFolder(path, [`datadir=${path}`], join(dir, `reader-${tag}`), async (sql) => (await sql('SELECT id FROM shop.markers ORDER BY id')).split('\n').filter(Boolean).map(Number));
  return { result, ids: value };
}

async function refusalOf(request: Record<string, unknown>): Promise<{ type?: string; message: string }> {
  const outcome = await client.workflow.execute(restoreWorkflow, { taskQueue: name, workflowId: uniqueName('restore-edges-refused'), args: [{ cluster: 'edges', ...request }] }).then(
    (result: unknown) => (refusalIn(result) ? result : undefined),
    (error: unknown) => error,
  );
  if (outcome === undefined) throw new Error(`expected ${JSON.stringify(request)} to be refused`);
  return failureChain(outcome).find((failure) => failure.type !== undefined) ?? { message: outcome instanceof Error ? outcome.message : JSON.stringify(outcome) };
}

const plan = (request: Record<string, unknown>) => client.workflow.execute(restoreWorkflow, { taskQueue: name, workflowId: uniqueName('plan-edges'), args: [{ cluster: 'edges', dryRun: true, ...request }] });

describe('a point in time at every edge', () => {
  let rotated: number;

  test("the archive's newest second, rotated partway through, is refused as not yet archived; waiting for the archive, the restore is exact", async () => {
    startWriter();
    // A round rotates the binlog partway through a second; the writer goes on in that second, into the server's next file.
    let state = await archiveRound(Math.floor(await serverNow()) - 1);
    rotated = newestSecond(state.newest?.lastEventTime);
    let later = 0;
    for (let attempt = 0; attempt < 4 && later === 0; attempt++) {
      await untilServerPast(rotated);
      // Markers of the rotation's second that the archive does not hold: logged after the rotation.
      const archivedUpTo = Number(state.newest?.endGtids.split('-').at(-1));
      const inSecond = (await source.sql(`SELECT id FROM shop.markers WHERE FLOOR(at) = ${rotated}`)).map(([id = '']) => Number(id));
      later = inSecond.filter((id) => (markerSeq.get(id) ?? 0) > archivedUpTo).length;
      // Rotated at the very end of its second: another round, another second.
      if (later === 0) {
        state = await archiveRound(rotated + 1);
        rotated = newestSecond(state.newest?.lastEventTime);
      }
    }
    await stopWriter();
    expect(later).toBeGreaterThan(0);

    // Markers were logged in that second after the rotation: a restore to it would come back short. Refused instead, naming the cover.
    const refused = await refusalOf({ pointInTime: iso(rotated), target: { kind: 'new-datadir', path: join(dir, 'never') } });
    expect(refused.type).toBe('NotYetArchived');
    expect(refused.message).toContain(`${iso(rotated)} is not wholly archived yet`);
    expect(refused.message).toContain(`it covers every second up to ${iso(rotated - 1)}`);

    // Waiting: the restore asks the archiver to close the binlog, and replays the whole second.
    const { result, ids } = await cloneTo({ pointInTime: iso(rotated), waitForArchive: '2m' }, 'waited');
    expect(ids).toEqual(await markersUpTo(rotated));
    expect(result.pointTakenAs).toBe(iso(rotated));
    expect(result.lastApplied?.gtids).toBe(result.gtidPosition);
  });

  test('a fractional time means its whole second; the dry run, the plan and the result name the second and the last transaction applied', async () => {
    // The rotation's second: markers were logged in it after the rotation, and the waited restore made the archive cover it.
    const second = rotated;
    const fractional = iso(second, '.300');
    const dryRun = await cli('restore', 'edges', '--to-time', fractional, '--to-datadir', join(dir, 'never'), '--dry-run');
    expect(dryRun.exitCode).toBe(0);
    expect(dryRun.stdout).toContain(`${fractional} is taken as the whole second ${iso(second)}: every transaction logged in it or before it`);
    expect(dryRun.stdout).toMatch(new RegExp(`the last transaction applied: 0-1-\\d+, logged at ${iso(second)}`));
    const { result, ids } = await cloneTo({ pointInTime: fractional }, 'fraction');
    // Every marker of that second, also those logged after its 300th millisecond.
    expect(ids).toEqual(await markersUpTo(second));
    expect(result).toMatchObject({ pointInTime: fractional, pointTakenAs: iso(second), lastApplied: { loggedAt: iso(second) } });
    expect(dryRun.stdout).toContain(`the last transaction applied: ${result.lastApplied?.gtids ?? '?'}`);
  });

  test("the backup's own second is reachable, written with a fraction or without, and means the same", async () => {
    const second = newestSecond(full.finishedAt);
    const whole = await plan({ pointInTime: iso(second) });
    const fraction = await plan({ pointInTime: iso(second, '.999') });
    expect(whole).toMatchObject({ dryRun: true, restored: full.name, pointTakenAs: iso(second) });
    expect({ ...fraction, pointInTime: undefined }).toEqual({ ...whole, pointInTime: undefined });
    // The second before it is before every backup.
    expect(await refusalOf({ pointInTime: iso(second - 1) })).toMatchObject({ type: 'InvalidRequest', message: expect.stringContaining(`${iso(second - 1)} is before every backup that records its binlog position: reachable: ${full.finishedAt} to `) as unknown });
    // A GTID of a domain this server never logged is named as such, not as "after the newest".
    expect(await refusalOf({ gtid: '77-1-5' })).toMatchObject({ type: 'InvalidRequest', message: expect.stringContaining('no backup and no archived binlog holds a transaction of domain 77 from server 1 (77-1-5): they hold 0-1-…; check the GTID') as unknown });
  });

  test('a gap: list shows where the window stops and what is unreachable until the next backup, status is broken, and the next backup starts a range of its own', async () => {
    const covered = await catchUp();
    const lastBefore = covered.newest;
    await stopArchiver(client, archiverId);
    await source.sql("INSERT INTO shop.markers (at) VALUES (UNIX_TIMESTAMP(NOW(6))); FLUSH BINARY LOGS; INSERT INTO shop.markers (at) VALUES (UNIX_TIMESTAMP(NOW(6))); FLUSH BINARY LOGS");
    const files = (await source.sql('SHOW BINARY LOGS')).map(([file = '']) => file);
    await eventually('the server purges the files before the current one', async () => {
      await source.sql(`PURGE BINARY LOGS TO '${files.at(-1) ?? ''}'`);
      return (await source.sql('SHOW BINARY LOGS'))[0]?.[0] === files.at(-1) ? true : undefined;
    }, 30_000);
    await source.sql('INSERT INTO shop.markers (at) VALUES (UNIX_TIMESTAMP(NOW(6)))');
    await client.workflow.start(binlogArchiver, { taskQueue: name, workflowId: archiverId, args: [{ cluster: 'edges' }] });
    await eventually('the restarted archiver ran its first round', async () => ((await archiveState()).rounds > 0 ? true : undefined), 120_000);
    const after = await catchUp();
    expect(after.gaps).toHaveLength(1);
    const gapFrom = lastBefore?.lastEventTime ?? '?';

    const [catalog] = JSON.parse((await cli('list', 'edges', '--json')).stdout) as ClusterCatalog[];
    expect(catalog?.pointInTime).toMatchObject({ ranges: [{ from: full.finishedAt, to: iso(newestSecond(gapFrom) - 1), history: 0 }], unreachableFrom: { from: gapFrom, after: lastBefore?.file } });
    const listed = (await cli('list', 'edges')).stdout;
    expect(listed).toContain(`point in time: ${full.finishedAt} to ${iso(newestSecond(gapFrom) - 1)}`);
    expect(listed).toContain(`GAP after ${lastBefore?.file ?? '?'}: binlogs from ${gapFrom} to`);
    expect(listed).toContain(`unreachable from ${gapFrom} until the next backup`);
    const status = await cli('status', 'edges');
    expect(status.exitCode).toBe(4);
    expect(status.stdout).toContain(`BROKEN binlogs.gap: binlogs after ${lastBefore?.file ?? '?'} were purged before they were archived: no point in time from ${gapFrom} on can be restored until the next backup`);
    const past = await refusalOf({ pointInTime: iso(newestSecond(after.newest?.lastEventTime) - 1) });
    expect(past).toMatchObject({ type: 'BrokenChain', message: expect.stringContaining(`nothing from ${gapFrom} on (binlogs after ${lastBefore?.file ?? '?'} were lost) until the next backup`) as unknown });

    // The next backup: a range of its own from it on, and nothing broken.
    const next = await client.workflow.execute(backupWorkflow, { taskQueue: name, workflowId: uniqueName('backup-edges-after-gap'), args: [{ cluster: 'edges', type: 'full' }] });
    await source.sql('INSERT INTO shop.markers (at) VALUES (UNIX_TIMESTAMP(NOW(6)))');
    await untilServerPast(Math.floor(await serverNow()));
    await archiveRound(Math.floor(await serverNow()) - 1);
    const [again] = JSON.parse((await cli('list', 'edges', '--json')).stdout) as ClusterCatalog[];
    expect(again?.pointInTime?.ranges).toMatchObject([{ from: full.finishedAt }, { from: next.finishedAt }]);
    expect(again?.pointInTime).not.toHaveProperty('unreachableFrom');
    expect((await cli('status', 'edges')).stdout).not.toContain('BROKEN binlogs.gap');
    expect(await plan({ pointInTime: iso(newestSecond(next.finishedAt)) })).toMatchObject({ restored: next.name });
  });

  test('after an in-place restore each history has its own ranges, and a point between them is refused for what it is', async () => {
    const newest = (JSON.parse((await cli('list', 'edges', '--json')).stdout) as ClusterCatalog[])[0]?.chains.at(-1)?.base.name ?? '';
    await client.workflow.execute(restoreWorkflow, { taskQueue: name, workflowId: uniqueName('restore-edges-in-place'), args: [{ cluster: 'edges', backupName: newest }] });
    await source.sql('INSERT INTO shop.markers (at) VALUES (UNIX_TIMESTAMP(NOW(6)))');
    const between = Math.floor(await serverNow());
    await untilServerPast(between);
    const refused = await refusalOf({ pointInTime: iso(between) });
    expect(refused.type).toBe('InvalidRequest');
    expect(refused.message).toContain(`${iso(between)} is after the cluster's in-place restore of`);
    expect(refused.message).toContain('and before the first backup taken since it');
    expect(refused.message).toMatch(/\(history 0, before the last in-place restore\)/);

    const first = await client.workflow.execute(backupWorkflow, { taskQueue: name, workflowId: uniqueName('backup-edges-history-1'), args: [{ cluster: 'edges', type: 'full' }] });
    await source.sql('INSERT INTO shop.markers (at) VALUES (UNIX_TIMESTAMP(NOW(6)))');
    await untilServerPast(Math.floor(await serverNow()));
    await archiveRound(Math.floor(await serverNow()) - 1);
    const [catalog] = JSON.parse((await cli('list', 'edges', '--json')).stdout) as ClusterCatalog[];
    const ranges = catalog?.pointInTime?.ranges ?? [];
    expect(ranges.filter((range) => range.history === 0).length).toBeGreaterThanOrEqual(1);
    expect(ranges.filter((range) => range.history === 1)).toMatchObject([{ from: first.finishedAt }]);
    const listed = (await cli('list', 'edges')).stdout;
    expect(listed).toContain(`point in time: ${first.finishedAt} to `);
    expect(listed).toContain('(since the last in-place restore)');
    expect(listed).toContain('(before the last in-place restore)');
  });

  test("storage down: the archiver's state says it is failing and not caught up, in the query and the Web UI's details; storage back, it recovers", async () => {
    await minio.stop();
    try {
      await source.sql('INSERT INTO shop.markers (at) VALUES (UNIX_TIMESTAMP(NOW(6)))');
      const failing = await archiveRound(Math.floor(await serverNow()));
      expect(failing).toMatchObject({ caughtUp: false, failingSince: expect.any(String) as unknown, lastError: expect.any(String) as unknown });
      // What the Web UI shows as the workflow's current details.
      const details = await eventually('the details say it is failing', async () => {
        const current = (await client.workflow.getHandle(archiverId).query<{ currentDetails?: string }>('__temporal_workflow_metadata')).currentDetails ?? '';
        return current.startsWith('FAILING since') ? current : undefined;
      }, 30_000);
      expect(details).toContain('FAILING since');
    } finally {
      minio = { ...minio, ...(await startMinio(join(dir, 'minio'), minio)) };
    }
    const recovered = await catchUp();
    expect(recovered).toMatchObject({ caughtUp: true });
    expect(recovered.failingSince).toBeUndefined();
  });
});
