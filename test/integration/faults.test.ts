/**
 * Issue 14, faults on real parts (slow: about five minutes). This file runs its own Temporal dev
 * server and MinIO, so that it can kill them without touching the other tests. The worker is
 * SIGKILLed mid-upload and at each step of a restore (failpoints hold it at the exact step); MinIO
 * is stopped mid-backup and then for good; the Temporal dev server is killed and restarted on its
 * database file mid-backup and mid-restore; the restore's scratch filesystem fills up. After each,
 * the data that comes back is compared with the source, and storage is checked for leftovers.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { execa } from 'execa';
import { S3Client, ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { readCatalog } from '../../activities/catalog.js';
import { exists } from '../../activities/files.js';
import { serverProcesses } from '../../activities/cluster/controller.js';
import { openStore } from '../../activities/storage/index.js';
import type { MariaDbSandbox } from '../../devtools/sandbox/mariadb.js';
import { startMinio, type MinioServer } from '../../devtools/sandbox/minio.js';
import { startTemporalDevServer, type TemporalDevServer } from '../../devtools/sandbox/temporal.js';
import type { StorageConfig } from '../../domain/config.js';
import { DATA_OBJECTS } from '../../domain/layout.js';
import { backup as backupWorkflow, restore as restoreWorkflow, type BackupResult, type RestoreResult } from '../../workflows/index.js';
import { activityRuns, createSandbox, failureChain, startWorker, testRoot, uniqueName, writeConfig, type WorkerProcess } from '../support/environment.js';
import { eventually } from '../support/workflow-worker.js';

const taskQueue = uniqueName('faults');
const dir = join(testRoot(), taskQueue);
const failpoints = join(dir, 'failpoints');
const scratch = join(dir, 'scratch');
const retry = { maximumAttempts: 6, initialInterval: '500ms', heartbeatTimeout: '10s' };

let temporal: TemporalDevServer;
let minio: MinioServer;
let source: MariaDbSandbox;
let configPath: string;
let worker: WorkerProcess;
let client: Client;
let connection: Connection;
const storage = (prefix: string): StorageConfig => ({ kind: 's3', bucket: 'backups', prefix, region: 'us-east-1', endpoint: minio.endpoint, forcePathStyle: true });
const downtimes: { step: string; seconds: number }[] = [];
let savedCredentials: { id: string | undefined; secret: string | undefined } | undefined;

function workerEnv(): Record<string, string> {
  return { TEMPORAL_ADDRESS: temporal.address, AWS_ACCESS_KEY_ID: minio.accessKeyId, AWS_SECRET_ACCESS_KEY: minio.secretAccessKey, CHAINBACKUP_FAILPOINTS: failpoints };
}

beforeAll(async () => {
  await mkdir(failpoints, { recursive: true });
  await mkdir(scratch, { recursive: true });
  [temporal, minio, source] = await Promise.all([startTemporalDevServer(join(dir, 'temporal'), { ui: false }), startMinio(join(dir, 'minio')), createSandbox(`${taskQueue}-source`)]);
  await minio.createBucket('backups');
  // This file's own reads of storage (the catalog, open uploads) go to its own MinIO; put back in afterAll.
  savedCredentials = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
  process.env.AWS_ACCESS_KEY_ID = minio.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = minio.secretAccessKey;
  await source.loadSampleData(20_000);
  const config = {
    temporal: { taskQueue },
    // A SIGTERM cancels a running step after 2 s (not 2 minutes): the stop below sees the step clean up.
    worker: { shutdownGraceTime: '2s' },
    clusters: [
      // Uncompressed and throttled, so that a backup streams for a few seconds in multipart parts.
      source.clusterConfig('killed', storage('killed'), { retry, backup: { compression: 'none', parallel: 1, throttle: 40 } }),
      source.clusterConfig('outage', storage('outage'), { retry, backup: { compression: 'none', parallel: 1, throttle: 40 } }),
      source.clusterConfig('full-disk', storage('killed'), { retry, restore: { workDir: scratch } }),
    ],
  };
  configPath = await writeConfig(taskQueue, config);
  worker = await startWorker(configPath, [], workerEnv());
  connection = await Connection.connect({ address: temporal.address });
  client = new Client({ connection, namespace: 'default' });
}, 600_000);

afterAll(async () => {
  if (savedCredentials) Object.assign(process.env, { AWS_ACCESS_KEY_ID: savedCredentials.id, AWS_SECRET_ACCESS_KEY: savedCredentials.secret });
  await connection?.close();
  await worker?.stop();
  await execa('umount', ['-l', scratch], { reject: false });
  await Promise.all([source?.stop(), minio?.stop(), temporal?.stop()]);
  if (downtimes.length > 0) console.log(`server downtime after a worker SIGKILL while the server was stopped:\n${downtimes.map((d) => `  ${d.step}: ${d.seconds.toFixed(1)} s`).join('\n')}`);
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function restartWorker(): Promise<void> {
  await worker.kill();
  worker = await startWorker(configPath, [], workerEnv());
}

/** Waits until the workflow runs an activity of this type (and, if given, its heartbeat says it streamed that many bytes). */
async function whenRunning(handle: WorkflowHandle, type: string, minBytes = 0): Promise<void> {
  for (let tries = 0; tries < 1200; tries++) {
    const { raw, status } = await handle.describe();
    if (status.name !== 'RUNNING') throw new Error(`${handle.workflowId} ended (${status.name}) before it ran ${type}: ${JSON.stringify(await handle.result().catch((error: unknown) => String(error)))}`);
    const pending = (raw.pendingActivities ?? []).find((activity) => activity.activityType?.name === type && Number(activity.state) === 2 /* PENDING_ACTIVITY_STATE_STARTED */);
    const details = pending?.heartbeatDetails?.payloads?.[0]?.data;
    const bytes = details ? ((JSON.parse(Buffer.from(details).toString()) as { bytesDone?: number }).bytesDone ?? 0) : 0;
    if (pending && bytes >= minBytes) return;
    await sleep(100);
  }
  throw new Error(`${handle.workflowId} never ran ${type}`);
}

async function arm(name: string): Promise<void> {
  await writeFile(join(failpoints, name), '');
}

/** Waits until a worker is held at an armed failpoint. */
async function heldAt(name: string): Promise<void> {
  for (let tries = 0; tries < 1200; tries++) {
    if (await stat(join(failpoints, `${name}.reached`)).then(() => true, () => false)) return;
    await sleep(100);
  }
  throw new Error(`no worker reached failpoint ${name}`);
}

async function release(name: string): Promise<void> {
  await rm(join(failpoints, name), { force: true });
}

/** Open multipart uploads of the data object of any backup folder listed now, or of `folders` (MinIO lists them only per key). */
async function openUploads(prefix: string, folders: string[] = []): Promise<string[]> {
  const s3 = new S3Client({ endpoint: minio.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: minio.accessKeyId, secretAccessKey: minio.secretAccessKey } });
  const backups = [...(await readCatalog(openStore(storage(prefix)))), ...folders.map((folder) => ({ folder }))];
  const open: string[] = [];
  for (const backup of backups) {
    for (const name of DATA_OBJECTS) {
      const key = `${prefix}/${backup.folder}${name}`;
      const page = await s3.send(new ListMultipartUploadsCommand({ Bucket: 'backups', Prefix: key }));
      open.push(...(page.Uploads ?? []).filter((upload) => upload.Key === key).map((upload) => upload.Key ?? ''));
    }
  }
  s3.destroy();
  return open;
}

const backupArgs = (cluster: string, type: 'full' | 'incremental') => ({ taskQueue, workflowId: uniqueName(`backup-${cluster}-${type}`), args: [{ cluster, type }] as [{ cluster: string; type: typeof type }] });

describe('the worker SIGKILLed mid-upload', () => {
  test('at several moments: each backup completes on retry, the chain stays continuous, nothing is left behind', async () => {
    const taken: BackupResult[] = [];
    const checksums: Record<string, string>[] = [];
    // The full backup killed with parts of its multipart upload stored; an increment as soon as its stream
    // starts; another after its stream (while it records its checkpoints).
    for (const [index, killAtBytes] of [20 * 1024 * 1024, 1, 0].entries()) {
      if (index > 0) await source.sql(`UPDATE shop.orders SET total = total + ${index} WHERE id % ${index + 3} = 0`);
      const handle = await client.workflow.start(backupWorkflow, backupArgs('killed', index === 0 ? 'full' : 'incremental'));
      await whenRunning(handle, 'takeBackup', killAtBytes);
      if (killAtBytes === 0) await sleep(2500);
      await restartWorker();
      taken.push(await handle.result());
      checksums.push(await source.checksums(['shop']));
      const runs = await activityRuns(client, handle.workflowId);
      expect(runs.find((run) => run.type === 'takeBackup')?.attempts).toBeGreaterThan(1);
    }
    for (let index = 1; index < taken.length; index++) {
      expect(taken[index]?.fromLsn).toBe(taken[index - 1]?.toLsn);
      expect(taken[index]?.parent).toBe(taken[index - 1]?.name);
    }
    const stored = await readCatalog(openStore(storage('killed')));
    expect(stored.map((backup) => [backup.name, backup.manifest !== null])).toEqual(taken.map((backup) => [backup.name, true]).sort());
    expect(await openUploads('killed')).toEqual([]);
    // The chain restores to its tip, exactly.
    const restored = await client.workflow.execute(restoreWorkflow, { taskQueue, workflowId: uniqueName('restore-killed'), args: [{ cluster: 'killed', backupName: (taken.at(-1) as BackupResult).name }] });
    expect(restored.chain).toEqual(taken.map((backup) => backup.name));
    expect(await source.checksums(['shop'])).toEqual(checksums.at(-1));
  });
});

describe('the worker stopped with SIGTERM mid-backup', () => {
  test('cleans up the running step before it exits: the backup completes on a new worker, nothing is left behind', async () => {
    const handle = await client.workflow.start(backupWorkflow, backupArgs('killed', 'full'));
    await whenRunning(handle, 'takeBackup', 1);
    const streaming = (await readCatalog(openStore(storage('killed')))).filter((stored) => stored.manifest === null).map((stored) => stored.folder);
    expect(streaming).toHaveLength(1);
    const stopping = worker;
    const exited = new Promise<void>((resolve) => stopping.child.once('exit', () => resolve()));
    stopping.child.kill('SIGTERM');
    // A second signal while it stops (within the 2 s shutdownGraceTime of this file) changes nothing but a line of output.
    await eventually('the worker says it is stopping', () => Promise.resolve(stopping.output().includes('chainbackup worker stopping (SIGTERM)') ? true : undefined), 10_000);
    stopping.child.kill('SIGTERM');
    await exited;
    expect(stopping.output()).toContain('chainbackup worker: SIGTERM again; already stopping');
    // A graceful stop, not a death by the signal: once a tool ran, a single SIGTERM used to kill the
    // worker (the SDK's listener removed itself, and execa's exit hook raised the signal again).
    expect({ exitCode: stopping.child.exitCode, signal: stopping.child.signalCode }).toEqual({ exitCode: 0, signal: null });
    expect(stopping.output()).toMatch(/chainbackup worker stopping: waiting for takeBackup of workflow /);
    expect(stopping.output()).toContain('chainbackup worker stopped');
    // The stopped worker cancelled its step and cleaned up, then exited: no tool of it runs any more,
    // and its upload is aborted (a killed worker would have left it open).
    expect((await execa('pgrep', ['-f', `--datadir=${source.datadir}`], { reject: false })).stdout).toBe('');
    expect(await openUploads('killed', streaming)).toEqual([]);
    // Its private folder (the step's credentials file, scratch) went with it.
    expect(await exists(join(tmpdir(), `chainbackup-secrets-${process.getuid?.() ?? 'user'}`, `process-${stopping.child.pid}`))).toBe(false);
    worker = await startWorker(configPath, [], workerEnv());
    const backup = await handle.result();
    expect(backup.type).toBe('full');
    expect(await openUploads('killed')).toEqual([]);
    expect((await readCatalog(openStore(storage('killed')))).filter((stored) => stored.manifest === null)).toEqual([]);
  });
});

describe('the worker SIGKILLed during a restore', () => {
  let chain: BackupResult[] = [];
  let expected: Record<string, string> = {};

  beforeAll(async () => {
    const full = await client.workflow.execute(backupWorkflow, backupArgs('killed', 'full'));
    await source.sql(`UPDATE shop.customers SET name = CONCAT('restore point ', id) WHERE id % 5 = 0`);
    const increment = await client.workflow.execute(backupWorkflow, backupArgs('killed', 'incremental'));
    chain = [full, increment];
    expected = await source.checksums(['shop']);
  });

  /** Runs an in-place restore of the chain's tip, with `fault` run against it; checks the data that comes back. */
  async function restoreThrough(fault: (handle: WorkflowHandle) => Promise<void>, failpoint?: string): Promise<{ result: RestoreResult; workflowId: string }> {
    // Changed after the backups, so that a restore that did nothing would be noticed.
    await source.sql(`UPDATE shop.customers SET name = 'changed after the backups' WHERE id < 10`);
    if (failpoint) await arm(failpoint);
    const workflowId = uniqueName('restore-killed');
    const handle = await client.workflow.start(restoreWorkflow, { taskQueue, workflowId, args: [{ cluster: 'killed', backupName: (chain.at(-1) as BackupResult).name }] });
    await fault(handle);
    const result = await handle.result();
    expect(await source.checksums(['shop'])).toEqual(expected);
    expect(result.previousDatadir).toBeDefined();
    expect((await readdir(result.previousDatadir as string)).length).toBeGreaterThan(0);
    expect(await serverProcesses(source.serverDefaultsFile, source.datadir)).toHaveLength(1);
    return { result, workflowId };
  }

  /** Polls the server every 100 ms from now on: how long it did not answer. */
  function watchDowntime(): () => number {
    let down: number | undefined;
    let up: number | undefined;
    let stop = false;
    void (async () => {
      while (!stop) {
        const answering = await source.sql('SELECT 1').then(() => true, () => false);
        if (!answering) down ??= Date.now();
        else if (down !== undefined) up ??= Date.now();
        await sleep(100);
      }
    })();
    return () => {
      stop = true;
      return ((up ?? Date.now()) - (down ?? Date.now())) / 1000;
    };
  }

  test('while downloading', async () => {
    await restoreThrough(async (handle) => {
      await whenRunning(handle, 'downloadBackup');
      await restartWorker();
    });
  });

  test('while preparing the full backup, and while applying an increment: the prepare starts again from a clean extraction', async () => {
    for (const step of ['prepare-running', 'apply-running']) {
      const { workflowId } = await restoreThrough(async () => {
        await heldAt(step);
        await release(step);
        await restartWorker();
      }, step);
      const prepares = (await activityRuns(client, workflowId)).filter((run) => run.type === 'prepareBackup');
      // The interrupted round, then a whole new round: the full backup and the increment again.
      expect(prepares.length).toBeGreaterThanOrEqual(3);
    }
  });

  test('between moving the datadir aside and putting the prepared one in: the server is back within seconds', async () => {
    const downtime = watchDowntime();
    await restoreThrough(async () => {
      await heldAt('swap-moved-aside');
      await release('swap-moved-aside');
      await restartWorker();
    }, 'swap-moved-aside');
    downtimes.push({ step: 'mid-swap', seconds: downtime() });
  });

  test('just after starting the server: the retried start finds it and starts no second one', async () => {
    const downtime = watchDowntime();
    await restoreThrough(async () => {
      await heldAt('unpause-spawned');
      await release('unpause-spawned');
      await restartWorker();
    }, 'unpause-spawned');
    downtimes.push({ step: 'just after the server start', seconds: downtime() });
  });
});

describe('storage and Temporal outages', () => {
  test('MinIO stopped mid-backup and started again: bounded retries, then success', async () => {
    const handle = await client.workflow.start(backupWorkflow, backupArgs('outage', 'full'));
    await whenRunning(handle, 'takeBackup', 1);
    await minio.stop();
    await sleep(3000);
    minio = { ...minio, ...(await startMinio(join(dir, 'minio'), minio)) };
    const result = await handle.result();
    expect(result.type).toBe('full');
    expect(await openUploads('outage')).toEqual([]);
  });

  test('MinIO stopped for good: a clean failure within a bounded time, naming the endpoint', async () => {
    const handle = await client.workflow.start(backupWorkflow, backupArgs('outage', 'full'));
    await whenRunning(handle, 'takeBackup', 1);
    await minio.stop();
    try {
      const error = await handle.result().catch((caught: unknown) => caught);
      const messages = failureChain(error).map((link) => link.message).join(' | ');
      expect(messages).toContain(minio.endpoint);
    } finally {
      minio = { ...minio, ...(await startMinio(join(dir, 'minio'), minio)) };
    }
  });

  test('the Temporal dev server killed and restarted on its database file mid-backup and mid-restore: both finish', async () => {
    const restartTemporal = async () => {
      const port = Number(temporal.address.split(':')[1]);
      process.kill(temporal.pid, 'SIGKILL');
      await sleep(2000);
      temporal = await startTemporalDevServer(join(dir, 'temporal'), { ui: false, port });
    };
    const backupHandle = await client.workflow.start(backupWorkflow, backupArgs('killed', 'full'));
    await whenRunning(backupHandle, 'takeBackup', 1);
    await restartTemporal();
    const backup = await backupHandle.result();
    const expected = await source.checksums(['shop']);
    await source.sql(`UPDATE shop.customers SET name = 'after the temporal restart' WHERE id < 10`);
    const restoreHandle = await client.workflow.start(restoreWorkflow, { taskQueue, workflowId: uniqueName('restore-temporal'), args: [{ cluster: 'killed', backupName: backup.name }] });
    await whenRunning(restoreHandle, 'downloadBackup');
    await restartTemporal();
    await expect(restoreHandle.result()).resolves.toMatchObject({ restored: backup.name });
    expect(await source.checksums(['shop'])).toEqual(expected);
  });
});

describe('a full scratch filesystem', () => {
  test('fails cleanly before the pause: the live data unchanged, the scratch data removed', async () => {
    const backup = await client.workflow.execute(backupWorkflow, backupArgs('killed', 'full'));
    const before = await source.checksums(['shop']);
    // The restore's scratch filesystem: just large enough for the free-space check to pass.
    await execa('mount', ['-t', 'tmpfs', '-o', `size=${Math.ceil((backup.streamBytes * 1.25) / 1024 / 1024) + 1}m`, 'tmpfs', scratch]);
    const handle = await client.workflow.start(restoreWorkflow, { taskQueue, workflowId: uniqueName('restore-full-disk'), args: [{ cluster: 'full-disk', source: { storage: storage('killed'), path: backup.path } }] });
    await whenRunning(handle, 'downloadBackup');
    // Something else on the host takes the room the restore counted on.
    const { stdout } = await execa('df', ['--output=avail', '-B1', scratch]);
    const free = Number(stdout.trim().split('\n').at(-1));
    // The restore may fill the rest first: either way the disk is full.
    await writeFile(join(scratch, 'ballast'), Buffer.alloc(Math.max(0, free - 1024 * 1024))).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOSPC') throw error;
    });
    const error = await handle.result().catch((caught: unknown) => caught);
    expect(failureChain(error).map((link) => link.message).join(' | ')).toMatch(/No space left|ENOSPC|needs \d+ bytes/);
    const types = (await activityRuns(client, handle.workflowId)).map((run) => run.type);
    expect(types).not.toContain('pauseCluster');
    expect(await source.checksums(['shop'])).toEqual(before);
    expect(await readdir(scratch)).toEqual(['ballast']);
    await execa('umount', [scratch]);
  });
});
