/**
 * Issue 33: a worker killed, or gone for good, leaves nothing behind. The worker is SIGKILLed while
 * a private server of its runs (a verification's throw-away server; the server that seeds the binlog
 * history after an in-place restore), and a new worker takes over: the work completes, and no server
 * of the dead worker runs on. A cluster whose host worker never comes fails its work after the
 * configured wait, naming the queue, and its lock is free again. A binlog upload a killed attempt
 * left open is aborted by the next archive round.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Client } from '@temporalio/client';
import type { MariaDbSandbox } from '../../devtools/sandbox/mariadb.js';
import { WorkflowId } from '../../domain/workflow-contract.js';
import { backup as backupWorkflow, binlogArchiver, restore as restoreWorkflow } from '../../workflows/index.js';
import { activityRuns, connectTestClient, createSandbox, failureChain, runCli, s3Storage, startWorker, testRoot, TestBucket, uniqueName, writeConfig, type WorkerProcess } from '../support/environment.js';
import { untilArchiveCaughtUp } from '../support/binlog-archive.js';
import { stopTestFile } from '../support/teardown.js';

const taskQueue = uniqueName('kills');
const dir = join(testRoot(), taskQueue);
const failpoints = join(dir, 'failpoints');
const store = s3Storage(`${taskQueue}-store`);
const archiverId = WorkflowId.binlogArchiver(taskQueue, 'k');
const bucket = new TestBucket();
const retry = { maximumAttempts: 5, initialInterval: '500ms', heartbeatTimeout: '10s' };
/** Cluster k's: long enough for a killed worker's successor to start, shorter than the absence below. */
const HOST_WORKER_WAIT = '20s';

let source: MariaDbSandbox;
let configPath: string;
let worker: WorkerProcess;
let client: Client;
let closeClient: () => Promise<void>;

/** The worker serves cluster k's host queue only: k-absent's host worker never comes. */
const startOurWorker = () => startWorker(configPath, ['--clusters', 'k'], { CHAINBACKUP_FAILPOINTS: failpoints });

beforeAll(async () => {
  await mkdir(failpoints, { recursive: true });
  source = await createSandbox(`${taskQueue}-source`);
  await source.loadSampleData(3000);
  configPath = await writeConfig(taskQueue, {
    temporal: { taskQueue },
    clusters: [
      source.clusterConfig('k', store, { retry: { ...retry, hostWorkerWait: HOST_WORKER_WAIT }, schedule: { enabled: false }, binlogs: { archive: true, interval: '1s' } }),
      source.clusterConfig('k-absent', s3Storage(`${taskQueue}-absent`), { retry: { ...retry, hostWorkerWait: '3s' }, schedule: { enabled: false } }),
    ],
  });
  worker = await startOurWorker();
  ({ client, close: closeClient } = await connectTestClient());
});

afterAll(() => stopTestFile({ client, archivers: [archiverId], bucket, closeClient, worker, sandboxes: [source] }));

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Arms a failpoint, waits until the worker is held there, SIGKILLs it, disarms the failpoint and starts a new worker (after `absentMs`). */
async function killAt(name: string, absentMs = 0): Promise<void> {
  await writeFile(join(failpoints, name), '');
  for (let tries = 0; !(await stat(join(failpoints, `${name}.reached`)).then(() => true, () => false)); tries++) {
    if (tries > 1200) throw new Error(`no worker reached failpoint ${name}`);
    await sleep(100);
  }
  await worker.kill();
  await rm(join(failpoints, name), { force: true });
  await rm(join(failpoints, `${name}.reached`), { force: true });
  await sleep(absentMs);
  worker = await startOurWorker();
}

/** Every mariadbd whose command line names a folder under the cluster's restore folder (a private server of ours). */
async function privateServers(): Promise<string[]> {
  const restoreRoot = join(dirname(source.datadir), '.chainbackup-restore');
  const found: string[] = [];
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const command = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).replace(/\0/g, ' ');
    if (command.includes('mariadbd') && command.includes(restoreRoot)) found.push(command.trim());
  }
  return found;
}

describe('the worker SIGKILLed while a private server of its runs', () => {
  test("a verification's throw-away server: the next attempt stops it and the verification passes; none runs on", async () => {
    const full = await client.workflow.execute(backupWorkflow, { taskQueue, workflowId: uniqueName('backup-k'), args: [{ cluster: 'k', type: 'full' }] });
    const verifying = await client.workflow.start(restoreWorkflow, { taskQueue, workflowId: uniqueName('verify-k'), args: [{ cluster: 'k', backupName: full.name, target: { kind: 'verify' } }] });
    await killAt('verify-server-running');
    const result = await verifying.result();
    expect(result.verification?.tables).toBeGreaterThanOrEqual(2);
    expect((await activityRuns(client, verifying.workflowId)).find((step) => step.type === 'verifyPreparedData')?.attempts).toBeGreaterThan(1);
    expect(await privateServers()).toEqual([]);
  });

  test('the server seeding the binlog history after an in-place restore: the next attempt stops it, the restore completes exactly; none runs on', async () => {
    const full = await client.workflow.execute(backupWorkflow, { taskQueue, workflowId: uniqueName('backup-k'), args: [{ cluster: 'k', type: 'full' }] });
    const expected = await source.checksums(['shop']);
    const backupGtid = (await source.sql('SELECT @@gtid_binlog_pos'))[0]?.[0];
    await source.sql('UPDATE shop.customers SET name = "after the backup" WHERE id < 100');
    const restoring = await client.workflow.start(restoreWorkflow, { taskQueue, workflowId: uniqueName('restore-k'), args: [{ cluster: 'k', backupName: full.name }] });
    await killAt('seed-server-running');
    const result = await restoring.result();
    expect(result.restored).toBe(full.name);
    expect(result.gtidPosition).toBe(backupGtid);
    expect(await source.checksums(['shop'])).toEqual(expected);
    expect((await activityRuns(client, restoring.workflowId)).find((step) => step.type === 'seedBinlogHistory')?.attempts).toBeGreaterThan(1);
    expect(await privateServers()).toEqual([]);
  });
});

describe('a host worker gone while the server is stopped', () => {
  test('an in-place restore waits for it past hostWorkerWait, however long, and completes exactly when it is back', async () => {
    const full = await client.workflow.execute(backupWorkflow, { taskQueue, workflowId: uniqueName('backup-k'), args: [{ cluster: 'k', type: 'full' }] });
    const expected = await source.checksums(['shop']);
    await source.sql('UPDATE shop.customers SET name = "after the backup" WHERE id < 100');
    const restoring = await client.workflow.start(restoreWorkflow, { taskQueue, workflowId: uniqueName('restore-k'), args: [{ cluster: 'k', backupName: full.name }] });
    // Paused, then the host gone for longer than hostWorkerWait (and the step's heartbeat time-out before it): no step may give up on it.
    await killAt('after-pauseCluster', 45_000);
    const result = await restoring.result();
    expect(result.restored).toBe(full.name);
    expect(await source.checksums(['shop'])).toEqual(expected);
    expect((await activityRuns(client, restoring.workflowId)).find((step) => step.type === 'pauseCluster')?.attempts).toBeGreaterThan(1);
  });
});

describe('a host worker that never comes', () => {
  test('fails the work after hostWorkerWait, naming the queue that had no worker; the lock is free for the next request', async () => {
    for (const attempt of [1, 2]) {
      const error = await client.workflow.execute(backupWorkflow, { taskQueue, workflowId: uniqueName(`backup-k-absent-${attempt}`), args: [{ cluster: 'k-absent', type: 'full' }] }).then(
        () => undefined,
        (caught: unknown) => caught,
      );
      const failure = failureChain(error).find((link) => link.type === 'HostWorkerMissing');
      expect(failure?.message).toMatch(new RegExp(`^no worker took the step \\w+ of cluster k-absent from its host queue ${taskQueue}-host-k-absent within 3s: start a chainbackup worker`));
      // The second request fails the same way instead of waiting for ever behind the first: the lock was released.
    }
  });
});

describe('a read-only command whose step a worker took and never finishes', () => {
  test('status gives up after --read-timeout, naming the step, with exit 3, and leaves no workflow running', async () => {
    // Held after its work, heartbeating: alive to Temporal, so only the CLI's own bound can end the wait.
    await writeFile(join(failpoints, 'after-clusterHealth'), '');
    const run = await runCli(['--config', configPath, '--worker-timeout', '3', '--read-timeout', '12', 'status', 'k']);
    await rm(join(failpoints, 'after-clusterHealth'), { force: true });
    expect(run.stderr).toMatch(/workflow status-k-\S+ did not finish within 12 s \(--read-timeout\), waiting on step clusterHealth \(attempt 1\); see the worker's log/);
    expect(run.exitCode).toBe(3);
    const id = /workflow (status-k-\S+)/.exec(run.stderr)?.[1] ?? '';
    expect((await client.workflow.getHandle(id).describe()).status.name).toBe('TERMINATED');
  });
});

describe('an archive round after a killed one', () => {
  test('aborts the multipart upload the killed attempt left open', async () => {
    await client.workflow.start(binlogArchiver, { taskQueue, workflowId: archiverId, args: [{ cluster: 'k' }] });
    const { history } = await untilArchiveCaughtUp(client, archiverId, source);
    // What a killed attempt leaves: an open upload of the next file it was archiving.
    const [[current = ''] = []] = await source.sql('SHOW MASTER STATUS');
    const openKey = `${taskQueue}-store/binlogs/k/history-${history}/${current}.zst`;
    await bucket.startMultipartUpload(openKey);
    expect(await bucket.openMultipartUploads(openKey)).toEqual([openKey]);
    await source.sql('INSERT INTO shop.customers VALUES (900001, "archived", NULL)');
    await untilArchiveCaughtUp(client, archiverId, source);
    expect(await bucket.openMultipartUploads(openKey)).toEqual([]);
    expect((await bucket.list(`${taskQueue}-store/binlogs/k/history-${history}`)).map((object) => object.key)).toContain(`${current}.zst`);
  });
});
