/**
 * Issue 4: restore from a chain on real MariaDB and MinIO. Restoring to each of four points gives
 * exactly that point's data; a second cluster restores from the first one's storage path; a corrupt
 * object and a missing middle increment fail before the pause, naming the problem, with the live
 * data untouched; a server that will not start after the swap is rolled back to its old data.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import type { MariaDbSandbox } from '../../devtools/sandbox/mariadb.js';
import { repoRoot } from '../../devtools/sandbox/processes.js';
import { backup as backupWorkflow, restore as restoreWorkflow, type BackupResult, type RestoreResult } from '../../workflows/index.js';
import { connectTestClient, createSandbox, failureChain, s3Storage, startWorker, testRoot, TestBucket, uniqueName, writeConfig, type WorkerProcess } from '../support/environment.js';

const taskQueue = uniqueName('restore');
const originStorage = s3Storage(`${taskQueue}-origin`);
const fastRetry = { maximumAttempts: 2, initialInterval: '200ms' };
const bucket = new TestBucket();
const faultMarker = join(testRoot(), `${taskQueue}-fail-next-start`);

let origin: MariaDbSandbox;
let copy: MariaDbSandbox;
let worker: WorkerProcess;
let client: Client;
let closeClient: () => Promise<void>;
/** The chain, and the checksums of every table at the moment each backup was taken. */
const points: { backup: BackupResult; checksums: Record<string, string> }[] = [];

const databases = ['shop'];

beforeAll(async () => {
  [origin, copy] = await Promise.all([createSandbox(`${taskQueue}-origin`), createSandbox(`${taskQueue}-copy`)]);
  await origin.loadSampleData(20_000);
  await origin.stop();
  await origin.start();
  const serverControl = join(repoRoot, 'test/fixtures/server-control.sh');
  const config = {
    temporal: { taskQueue },
    clusters: [
      origin.clusterConfig('origin', originStorage, { retry: fastRetry }),
      // A physical restore brings the source's users: the copy logs in with the origin's backup user.
      copy.clusterConfig('copy', s3Storage(`${taskQueue}-copy`), { retry: fastRetry, connection: { ...origin.connection(), socket: copy.socket } }),
      // The same server, paused and unpaused by commands whose start can be made to fail.
      {
        ...copy.clusterConfig('copy-flaky', s3Storage(`${taskQueue}-copy`), { retry: fastRetry, connection: { ...origin.connection(), socket: copy.socket } }),
        controller: { kind: 'command', stop: [serverControl, 'stop', copy.serverDefaultsFile, faultMarker], start: [serverControl, 'start', copy.serverDefaultsFile, faultMarker] },
      },
    ],
  };
  worker = await startWorker(await writeConfig(taskQueue, config));
  ({ client, close: closeClient } = await connectTestClient());

  const changes = [
    `UPDATE shop.customers SET name = CONCAT('renamed ', id) WHERE id % 7 = 0`,
    `USE shop; INSERT INTO orders (customer_id, total, note) SELECT seq, 5.00, 'second point' FROM seq_1_to_500`,
    `DELETE FROM shop.orders WHERE id % 11 = 0; CREATE TABLE shop.audit (id INT PRIMARY KEY, what TEXT); INSERT INTO shop.audit VALUES (1, 'third increment')`,
  ];
  for (const [index, type] of (['full', 'incremental', 'incremental', 'incremental'] as const).entries()) {
    if (index > 0) await origin.sql(changes[index - 1] as string);
    const backup = await client.workflow.execute(backupWorkflow, { taskQueue, workflowId: uniqueName(`backup-origin-${type}`), args: [{ cluster: 'origin', type }] });
    points.push({ backup, checksums: await origin.checksums(databases) });
  }
});

afterAll(async () => {
  bucket.close();
  await closeClient?.();
  await worker?.stop();
  await Promise.all([origin?.stop(), copy?.stop()]);
});

function restore(args: Record<string, unknown>, workflowId = uniqueName(`restore-${String(args.cluster)}`)) {
  return client.workflow.execute(restoreWorkflow, { taskQueue, workflowId, args: [args as never] });
}

async function activityTypes(workflowId: string): Promise<string[]> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  return (history.events ?? []).flatMap((event) => event.activityTaskScheduledEventAttributes?.activityType?.name ?? []);
}

describe('restore to each point of a chain', () => {
  test('the four points differ from each other', () => {
    const distinct = new Set(points.map((point) => JSON.stringify(point.checksums)));
    expect(distinct.size).toBe(4);
  });

  test.each([3, 1, 0, 2])('restoring point %i in place gives exactly that point’s data', async (index) => {
    const point = points[index] as (typeof points)[number];
    const result: RestoreResult = await restore({ cluster: 'origin', backupName: point.backup.name });
    expect(result.chain).toEqual(points.slice(0, index + 1).map((entry) => entry.backup.name));
    expect(result.toLsn).toBe(point.backup.toLsn);
    expect(await origin.checksums(databases)).toEqual(point.checksums);
  });
});

describe('backups after an in-place restore', () => {
  test('an increment is refused once the cluster was restored to an earlier point; a full backup starts a new chain', async () => {
    // The last in-place restore above went to point 2, not to the chain's tip.
    const error = await client.workflow.execute(backupWorkflow, { taskQueue, workflowId: uniqueName('backup-origin-after-restore'), args: [{ cluster: 'origin', type: 'incremental' }] }).catch((e: unknown) => e);
    const [failure] = failureChain(error);
    expect(failure?.type).toBe('RestoredSinceParent');
    expect(failure?.message).toMatch(
      new RegExp(`^cluster origin was restored in place to ${(points[2] as (typeof points)[number]).backup.name} at \\S+, after ${(points[3] as (typeof points)[number]).backup.name} was taken; its data no longer continues that chain: take a full backup to start a new chain$`),
    );
    const full = await client.workflow.execute(backupWorkflow, { taskQueue, workflowId: uniqueName('backup-origin-new-chain'), args: [{ cluster: 'origin', type: 'full' }] });
    const increment = await client.workflow.execute(backupWorkflow, { taskQueue, workflowId: uniqueName('backup-origin-new-chain'), args: [{ cluster: 'origin', type: 'incremental' }] });
    expect(increment.parent).toBe(full.name);
  });
});

describe('restore from another cluster’s storage', () => {
  test('a second cluster restores the first one’s increment by its storage path', async () => {
    const target = points[2] as (typeof points)[number];
    expect(await copy.checksums(databases)).toEqual({});
    const result = await restore({ cluster: 'copy', source: { storage: originStorage, path: `s3://backups/${originStorage.prefix}/${target.backup.path}` } });
    expect(result.chain).toEqual(points.slice(0, 3).map((entry) => entry.backup.name));
    expect(await copy.checksums(databases)).toEqual(target.checksums);
  });
});

describe('a damaged chain fails before the pause, and the live datadir is untouched', () => {
  async function damagedCopy(name: string, damage: (prefix: string) => Promise<void>): Promise<typeof originStorage> {
    const storage = s3Storage(`${taskQueue}-${name}`);
    await bucket.copyPrefix(originStorage.prefix, storage.prefix);
    await damage(storage.prefix);
    return storage;
  }

  async function refusedRestore(storage: typeof originStorage): Promise<{ messages: string; types: (string | undefined)[]; activities: string[] }> {
    const livePid = await copy.pid();
    const liveChecksums = await copy.checksums(databases);
    const workflowId = uniqueName('restore-copy-damaged');
    const target = points[3] as (typeof points)[number];
    const error = await restore({ cluster: 'copy', source: { storage, path: target.backup.path } }, workflowId).catch((e: unknown) => e);
    const chain = failureChain(error);
    // Never paused: the same server process still runs, with the same data.
    expect(await copy.pid()).toBe(livePid);
    expect(await copy.checksums(databases)).toEqual(liveChecksums);
    const activities = await activityTypes(workflowId);
    expect(activities).not.toContain('pauseCluster');
    return { messages: chain.map((entry) => entry.message).join(' | '), types: chain.map((entry) => entry.type), activities };
  }

  test('a corrupt object is found while streaming, and named', async () => {
    const victim = points[2] as (typeof points)[number];
    const storage = await damagedCopy('corrupt', async (prefix) => {
      const key = `${prefix}/${victim.backup.path}backup.xbstream.zst`;
      const bytes = await bucket.getBytes(key);
      const middle = Math.floor(bytes.length / 2);
      bytes.writeUInt8(bytes.readUInt8(middle) ^ 0xff, middle); // same size, different content
      await bucket.put(key, bytes);
    });
    const { messages, types } = await refusedRestore(storage);
    expect(types).toContain('ChecksumMismatch');
    expect(messages).toMatch(new RegExp(`object s3://backups/${storage.prefix} at \\S+/${victim.backup.path}backup\\.xbstream\\.zst is corrupt: sha256 [0-9a-f]{64} does not match [0-9a-f]{64} recorded in its manifest`));
  });

  test('a missing middle increment is named as the gap', async () => {
    const middle = points[2] as (typeof points)[number];
    const last = points[3] as (typeof points)[number];
    const storage = await damagedCopy('gap', async (prefix) => {
      for (const object of await bucket.list(`${prefix}/${middle.backup.path.slice(0, -1)}`)) await bucket.delete(`${prefix}/${middle.backup.path}${object.key}`);
    });
    const { messages, types, activities } = await refusedRestore(storage);
    expect(types[0]).toBe('BrokenChain');
    // The cluster's ledger knows it was committed: named as lost, not merely absent.
    expect(messages).toContain(`cannot restore ${last.backup.name}: ${middle.backup.name} is not committed (committed (ledger seq `);
    expect(messages).toContain('but nothing of it is left: it was removed from the store by something other than chainbackup)');
    // Found from the listing alone: nothing was downloaded.
    expect(activities).not.toContain('downloadBackup');
  });
});

describe('rollback', () => {
  test('a server that does not start after the swap gets its old datadir back and answers with the old data', async () => {
    const before = await copy.checksums(databases);
    expect(before).toEqual((points[2] as (typeof points)[number]).checksums);
    // Both attempts of the start after the swap fail (the cluster's retry policy allows two).
    await writeFile(faultMarker, '2\n');
    const workflowId = uniqueName('restore-copy-flaky');
    const error = await restore({ cluster: 'copy-flaky', source: { storage: originStorage, path: (points[3] as (typeof points)[number]).backup.path } }, workflowId).catch((e: unknown) => e);
    const messages = failureChain(error).map((entry) => entry.message).join(' | ');
    expect(messages).toMatch(/start command ".*server-control\.sh start .*" for cluster copy-flaky failed \(exit 1\): injected fault: the server refused to start/);
    const activities = await activityTypes(workflowId);
    expect(activities).toEqual(expect.arrayContaining(['pauseCluster', 'swapDatadir', 'rollbackDatadir']));
    expect(await copy.checksums(databases)).toEqual(before);
  });
});
