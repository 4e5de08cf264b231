/**
 * Issue 38: two deployments (two configurations with their own `temporal.taskQueue`, each with its
 * own worker, server and store) share one Temporal namespace and name their cluster alike. Each has
 * its own lock, host queue and verification ids, so a backup of one never waits for the other's:
 * the east deployment's backup is held at the end of its copy, holding its lock, while the west
 * deployment's backup of the cluster of the same name runs from start to end; each backup holds the
 * data of its own server (its verification counts that server's rows).
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import type { MariaDbSandbox } from '../../devtools/sandbox/mariadb.js';
import { lockStateQuery, WorkflowId } from '../../domain/workflow-contract.js';
import { backup as backupWorkflow } from '../../workflows/index.js';
import { connectTestClient, createSandbox, filesystemStorage, startWorker, testRoot, uniqueName, writeConfig, type WorkerProcess } from '../support/environment.js';
import { eventually } from '../support/workflow-worker.js';

const cluster = 'twin';
const east = { queue: uniqueName('east'), customers: 3000 };
const west = { queue: uniqueName('west'), customers: 2000 };
const failpoints = join(testRoot(), `${east.queue}-failpoints`);
const holdEastCopy = join(failpoints, 'after-takeBackup');

const servers: MariaDbSandbox[] = [];
const workers: WorkerProcess[] = [];
let client: Client;
let closeClient: () => Promise<void>;

/** A deployment of its own: a server with `customers` rows, its store, its configuration and its worker. */
async function deploy(deployment: { queue: string; customers: number }, env: Record<string, string> = {}): Promise<void> {
  const server = await createSandbox(`${deployment.queue}-source`);
  servers.push(server);
  await server.loadSampleData(deployment.customers);
  const rows = { name: "this deployment's customers", query: 'SELECT COUNT(*) FROM shop.customers', equals: deployment.customers };
  const twin = server.clusterConfig(cluster, filesystemStorage(`${deployment.queue}-store`), {
    schedule: { enabled: false },
    retry: { maximumAttempts: 2, initialInterval: '200ms' },
    verification: { afterBackup: true, checks: [rows] },
  });
  workers.push(await startWorker(await writeConfig(deployment.queue, { temporal: { taskQueue: deployment.queue }, clusters: [twin] }), [], env));
}

beforeAll(async () => {
  await mkdir(failpoints, { recursive: true });
  await deploy(east, { CHAINBACKUP_FAILPOINTS: failpoints });
  await deploy(west);
  ({ client, close: closeClient } = await connectTestClient());
});

afterAll(async () => {
  await rm(holdEastCopy, { force: true });
  await closeClient?.();
  for (const worker of workers) await worker.stop();
  await Promise.all(servers.map((server) => server.stop()));
});

const lockHolder = async (queue: string) => (await client.workflow.getHandle(WorkflowId.clusterLock(queue, cluster)).query(lockStateQuery)).holder?.workflowId ?? null;

describe('two deployments in one namespace', () => {
  test('back up their clusters of the same name at the same time, each its own server', async () => {
    await writeFile(holdEastCopy, '');
    const eastRun = await client.workflow.start(backupWorkflow, { taskQueue: east.queue, workflowId: uniqueName('backup-twin-east'), args: [{ cluster, type: 'full' }] });
    await eventually('the east backup is held after its copy, holding its lock', async () => {
      const reached = await stat(`${holdEastCopy}.reached`).then(() => true, () => false);
      return reached && (await lockHolder(east.queue)) === eastRun.workflowId ? true : undefined;
    });

    const westResult = await client.workflow.execute(backupWorkflow, { taskQueue: west.queue, workflowId: uniqueName('backup-twin-west'), args: [{ cluster, type: 'full' }] });
    // Done from start to end while the east backup still holds the east lock: it waited for nothing of the east's.
    expect((await eastRun.describe()).status.name).toBe('RUNNING');
    expect(await lockHolder(east.queue)).toBe(eastRun.workflowId);

    await rm(holdEastCopy);
    const eastResult = await eastRun.result();
    expect(eastResult.verification).toMatchObject({ checks: ["this deployment's customers"] });
    expect(westResult.verification).toMatchObject({ checks: ["this deployment's customers"] });
    // Each verification (a restore of the backup that counted its server's rows) ran under its own deployment's id.
    for (const [deployment, result] of [[east, eastResult], [west, westResult]] as const) {
      const verification = await client.workflow.getHandle(WorkflowId.verifyAfter(deployment.queue, cluster, result.name)).describe();
      expect(verification.status.name).toBe('COMPLETED');
      expect(verification.taskQueue).toBe(deployment.queue);
    }
  });
});
