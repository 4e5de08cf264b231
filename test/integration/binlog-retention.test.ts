/**
 * Issue 16, binlog retention follows backup retention, on real MariaDB and MinIO (keepChains: 1):
 * when the retention after a full backup removes the older chain, the archived binlogs only that
 * chain needed go with it, and not one that a kept backup needs; a manifest that cannot be read
 * stops all binlog removal; every run says what it removed and what it kept from.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { Client } from '@temporalio/client';
import type { MariaDbSandbox } from '../../devtools/sandbox/mariadb.js';
import type { Manifest } from '../../domain/manifest.js';
import { WorkflowId } from '../../domain/workflow-contract.js';
import { backup as backupWorkflow, binlogArchiver, retention as retentionWorkflow, type BackupResult, type ClusterCatalog } from '../../workflows/index.js';
import { connectTestClient, createSandbox, runCli, s3Storage, startWorker, TestBucket, uniqueName, writeConfig, type WorkerProcess } from '../support/environment.js';
import { untilArchiveCaughtUp } from '../support/binlog-archive.js';
import { stopTestFile } from '../support/teardown.js';

const taskQueue = uniqueName('binlog-keep');
const prefix = `${taskQueue}-store`;
const cluster = 'keep';
const archiveFolder = `${prefix}/binlogs/${cluster}/history-0`;
const archiverId = WorkflowId.binlogArchiver(taskQueue, cluster);
const bucket = new TestBucket();

let source: MariaDbSandbox;
let worker: WorkerProcess;
let client: Client;
let closeClient: () => Promise<void>;
let configPath: string;

beforeAll(async () => {
  source = await createSandbox(`${taskQueue}-source`);
  await source.loadSampleData(500);
  configPath = await writeConfig(taskQueue, {
    temporal: { taskQueue },
    clusters: [
      source.clusterConfig(cluster, s3Storage(prefix), {
        retry: { maximumAttempts: 3, initialInterval: '200ms', heartbeatTimeout: '10s' },
        schedule: { enabled: false },
        retention: { keepChains: 1 },
        binlogs: { archive: true, interval: '1s' },
      }),
    ],
  });
  worker = await startWorker(configPath);
  ({ client, close: closeClient } = await connectTestClient());
});

afterAll(() => stopTestFile({ client, archivers: [archiverId], bucket, closeClient, worker, sandboxes: [source] }));

/** The archived file names (by their records) and every key, in history 0. */
async function archive(): Promise<{ records: string[]; keys: string[] }> {
  const keys = (await bucket.list(archiveFolder)).map((object) => object.key);
  return { keys, records: keys.filter((key) => key.endsWith('.json') && !key.startsWith('gap-')).map((key) => key.slice(0, -'.json'.length)) };
}

async function backup(type: 'full' | 'incremental'): Promise<BackupResult> {
  return client.workflow.execute(backupWorkflow, { taskQueue, workflowId: uniqueName(`backup-keep-${type}`), args: [{ cluster, type }] });
}

async function manifestOf(backup: BackupResult): Promise<Manifest> {
  return JSON.parse(await bucket.getText(`${prefix}/${backup.path}manifest.json`)) as Manifest;
}

/** Writes a little and rotates, so each stretch of the test has binlog files of its own. */
async function writeAndRotate(rows: number): Promise<void> {
  for (let index = 0; index < rows; index++) await source.sql(`INSERT INTO shop.orders (customer_id, total) VALUES (1, ${index}); FLUSH BINARY LOGS`);
}

describe('binlog retention', () => {
  test('the binlogs only a removed chain needed go with it; every file a kept backup needs stays; an unreadable manifest stops it', async () => {
    await client.workflow.start(binlogArchiver, { taskQueue, workflowId: archiverId, args: [{ cluster }] });
    const first = await backup('full');
    await writeAndRotate(3);
    const firstIncrement = await backup('incremental');
    await writeAndRotate(3);
    await untilArchiveCaughtUp(client, archiverId, source);
    // Everything archived so far only the first chain needs: the second full backup starts in a later file.
    const onlyFirst = (await archive()).records;
    expect(onlyFirst.length).toBeGreaterThanOrEqual(6);
    const second = await backup('full');
    const secondFile = (await manifestOf(second)).binlog?.file as string;
    expect(onlyFirst.every((file) => file < secondFile)).toBe(true);
    await writeAndRotate(2);
    await untilArchiveCaughtUp(client, archiverId, source);
    const needed = (await archive()).records.filter((file) => file >= secondFile);
    expect(needed).toContain(secondFile);

    // The retention that followed the second full backup removed the first chain, and its binlogs.
    const after = second.retention;
    if (!after) throw new Error('the full backup reports no retention after it');
    expect(after.removed.sort()).toEqual([first.name, firstIncrement.name].sort());
    expect(after.binlogs).toMatchObject({ keptFrom: { file: secondFile, backup: second.name } });
    // Files archived after that run are not in its report, and none of the first chain's is left.
    expect(after.binlogs?.removed.every((name) => name.startsWith('history-0/') && name.slice('history-0/'.length) < secondFile)).toBe(true);
    await writeAndRotate(1);
    await untilArchiveCaughtUp(client, archiverId, source);
    const kept = await archive();
    // Every file only the first chain needed went, record and object, but perhaps the archive's
    // newest when the run looked (the archiver goes on from it): the next run takes that one.
    const mayStay = onlyFirst.slice(-1);
    expect(after.binlogs?.removed).toEqual(expect.arrayContaining(onlyFirst.slice(0, -1).map((file) => `history-0/${file}`)));
    expect(kept.records.filter((file) => onlyFirst.includes(file) && !mayStay.includes(file))).toEqual([]);
    expect(kept.keys.filter((key) => key.endsWith('.zst')).map((key) => key.slice(0, -'.zst'.length)).filter((file) => onlyFirst.includes(file) && !mayStay.includes(file))).toEqual([]);
    expect(kept.records).toEqual(expect.arrayContaining(needed));
    // The window still starts at the kept full backup.
    const [catalog] = JSON.parse((await runCli(['--config', configPath, 'list', cluster, '--json'])).stdout) as ClusterCatalog[];
    expect(catalog?.pointInTime?.from).toBe(second.finishedAt);

    // Trying to make it destroy more. A file older than the kept backup's may have stayed (the
    // newest then) or been archived after that run (the archive lagged): the next run takes only
    // such files; the one after it takes nothing; a dry run neither; the CLI says so.
    const again = await client.workflow.execute(retentionWorkflow, { taskQueue, workflowId: uniqueName('retention-keep'), args: [{ cluster }] });
    expect(again.binlogs).toMatchObject({ keptFrom: { file: secondFile, backup: second.name } });
    expect(again.binlogs?.removed.filter((name) => name.slice('history-0/'.length) >= secondFile)).toEqual([]);
    const settled = await client.workflow.execute(retentionWorkflow, { taskQueue, workflowId: uniqueName('retention-keep'), args: [{ cluster }] });
    expect(settled.binlogs).toMatchObject({ removed: [], keptFrom: { file: secondFile, backup: second.name } });
    const settledRecords = (await archive()).records;
    expect(settledRecords.filter((file) => file < secondFile)).toEqual([]);
    expect(settledRecords).toEqual(expect.arrayContaining(needed));
    const dryRun = await runCli(['--config', configPath, 'retention', cluster, '--dry-run']);
    expect(dryRun.stdout).toContain(`archived binlogs to remove: 0 (0 B); kept from ${secondFile}, which ${second.name} needs`);
    expect((await archive()).records).toEqual(expect.arrayContaining(settledRecords));

    // A kept backup whose manifest cannot be read: nothing is removed, whatever the others need.
    const increment = await backup('incremental');
    await writeAndRotate(2);
    await untilArchiveCaughtUp(client, archiverId, source);
    const manifestKey = `${prefix}/${second.path}manifest.json`;
    const intact = await bucket.getText(manifestKey);
    await bucket.put(manifestKey, Buffer.from('{ not a manifest'));
    try {
      const blocked = await client.workflow.execute(retentionWorkflow, { taskQueue, workflowId: uniqueName('retention-keep'), args: [{ cluster }] });
      expect(blocked.binlogs).toMatchObject({ removed: [], reason: expect.stringContaining('cannot be read') });
      expect(blocked.removed).toEqual([]);
    } finally {
      await bucket.put(manifestKey, Buffer.from(intact));
    }
    expect((await archive()).records).toEqual(expect.arrayContaining(settledRecords));
    expect((await manifestOf(increment)).binlog?.file).toBeDefined();
  });
});
