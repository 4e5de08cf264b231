/**
 * Issue 2: a full backup through Temporal into MinIO and into the filesystem store, restored into a
 * fresh server each time; the restored tables must have the source's checksums.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { chmod, lstat, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import type { MariaDbSandbox } from '../../devtools/sandbox/mariadb.js';
import type { StorageConfig } from '../../domain/config.js';
import { WorkflowType } from '../../domain/workflow-contract.js';
import { backup as backupWorkflow, restore as restoreWorkflow, type BackupResult, type RestoreResult } from '../../workflows/index.js';
import { connectTestClient, createSandbox, failureChain, filesystemStorage, s3Storage, startWorker, uniqueName, writeConfig, type WorkerProcess } from '../support/environment.js';

const taskQueue = uniqueName('full');
const fsStorage = filesystemStorage(taskQueue);
const minioStorage = s3Storage(taskQueue);
const fastRetry = { maximumAttempts: 3, initialInterval: '200ms' };

let source: MariaDbSandbox;
let targets: MariaDbSandbox[] = [];
let worker: WorkerProcess;
let client: Client;
let closeClient: () => Promise<void>;
let sourceChecksums: Record<string, string>;

beforeAll(async () => {
  source = await createSandbox(`${taskQueue}-source`);
  await source.loadSampleData();
  sourceChecksums = await source.checksums(['shop']);
  targets = [await createSandbox(`${taskQueue}-copy-fs`), await createSandbox(`${taskQueue}-copy-s3`)];
  const [copyFs, copyS3] = targets as [MariaDbSandbox, MariaDbSandbox];
  const config = {
    temporal: { taskQueue },
    clusters: [
      source.clusterConfig('src-fs', fsStorage, { retry: fastRetry }),
      source.clusterConfig('src-s3', minioStorage, { retry: fastRetry }),
      // A physical restore brings the source's users: the copies log in with the source's backup user.
      copyFs.clusterConfig('copy-fs', fsStorage, { retry: fastRetry, connection: { ...source.connection(), socket: copyFs.socket } }),
      copyS3.clusterConfig('copy-s3', minioStorage, { retry: fastRetry, connection: { ...source.connection(), socket: copyS3.socket } }),
      { ...source.clusterConfig('no-db', fsStorage, { retry: fastRetry }), connection: { socket: '/nonexistent/mariadb.sock', user: 'backup' } },
      source.clusterConfig('no-s3', { ...minioStorage, endpoint: 'http://127.0.0.1:9' }, { retry: fastRetry }),
    ],
  };
  worker = await startWorker(await writeConfig(taskQueue, config));
  ({ client, close: closeClient } = await connectTestClient());
});

afterAll(async () => {
  await closeClient?.();
  await worker?.stop();
  await Promise.all([source, ...targets].map((sandbox) => sandbox?.stop()));
});

async function backupAndRestore(sourceCluster: string, targetCluster: string, target: MariaDbSandbox, storage: StorageConfig): Promise<{ backup: BackupResult; restore: RestoreResult }> {
  const backup = await client.workflow.execute(backupWorkflow, { taskQueue, workflowId: uniqueName(`backup-${sourceCluster}`), args: [{ cluster: sourceCluster, type: 'full' }] });
  const restore = await client.workflow.execute(restoreWorkflow, {
    taskQueue,
    workflowId: uniqueName(`restore-${targetCluster}`),
    args: [{ cluster: targetCluster, source: { storage, path: backup.path } }],
  });
  return { backup, restore };
}

describe('full backup and restore on real MariaDB', () => {
  test.each([
    ['filesystem', 'src-fs', 'copy-fs', 0],
    ['MinIO', 'src-s3', 'copy-s3', 1],
  ] as const)('through the %s store, into a fresh server', async (_store, sourceCluster, targetCluster, targetIndex) => {
    const target = targets[targetIndex] as MariaDbSandbox;
    expect(await target.checksums(['shop'])).toEqual({});
    const storage = sourceCluster === 'src-fs' ? fsStorage : minioStorage;
    // A datadir only its owner may enter: the restored one must be the same (the tool extracts 0644 files in 0755 folders).
    await chmod(target.datadir, 0o700);
    const { backup, restore } = await backupAndRestore(sourceCluster, targetCluster, target, storage);
    expect(((await stat(target.datadir)).mode & 0o777).toString(8)).toBe('700');
    // The restored tables' files too (the server's own new files follow its umask, behind the 0700 folder).
    const open = [];
    for (const entry of ['shop', ...(await readdir(join(target.datadir, 'shop'))).map((name) => join('shop', name))]) if ((await lstat(join(target.datadir, entry))).mode & 0o077) open.push(entry);
    expect(open).toEqual([]);

    expect(backup.type).toBe('full');
    expect(backup.path).toBe(`${backup.name}/`);
    expect(backup.name).toMatch(new RegExp(`^${sourceCluster}-\\d{4}-\\d{2}-\\d{2}T\\d{6}\\.\\d{3}Z-full$`));
    expect(backup.fromLsn).toBe('0');
    expect(BigInt(backup.toLsn)).toBeGreaterThan(0n);
    expect(restore.chain).toEqual([backup.name]);
    expect(restore.previousDatadir).toMatch(/\.before-restore-/);
    // The datadir that was replaced is kept beside the new one, never deleted.
    expect((await readdir(restore.previousDatadir as string)).length).toBeGreaterThan(0);

    const restored = await target.checksums(['shop']);
    expect(Object.keys(restored)).toEqual(['shop.customers', 'shop.orders']);
    expect(restored).toEqual(sourceChecksums);
  });

  test('an unknown cluster fails at once, naming it', async () => {
    const error = await client.workflow.execute(backupWorkflow, { taskQueue, workflowId: uniqueName('backup-unknown'), args: [{ cluster: 'nope', type: 'full' }] }).catch((e: unknown) => e);
    const chain = failureChain(error);
    expect(chain.map((failure) => failure.type)).toContain('UnknownCluster');
    expect(chain.map((failure) => failure.message).join(' | ')).toMatch(/unknown cluster "nope": the configuration lists src-fs, src-s3/);
  });

  test('invalid input is refused, naming the field', async () => {
    const error: unknown = await client.workflow.execute(WorkflowType.backup, { taskQueue, workflowId: uniqueName('backup-invalid'), args: [{ cluster: 'src-fs', type: 'weekly' }] }).catch((e: unknown) => e);
    const [failure] = failureChain(error);
    expect(failure?.type).toBe('InvalidRequest');
    expect(failure?.message).toMatch(/^invalid backup request: type: /);
  });

  test('an unreachable database is retried a bounded number of times, then named', async () => {
    const workflowId = uniqueName('backup-no-db');
    const error = await client.workflow.execute(backupWorkflow, { taskQueue, workflowId, args: [{ cluster: 'no-db', type: 'full' }] }).catch((e: unknown) => e);
    const messages = failureChain(error).map((failure) => failure.message).join(' | ');
    expect(messages).toMatch(/database at socket \/nonexistent\/mariadb\.sock \(user backup\)/);
    // The cluster's retry policy allows 3 attempts: the last one ran, and the retries stopped there.
    const history = await client.workflow.getHandle(workflowId).fetchHistory();
    const attempts = (history.events ?? []).flatMap((event) => (event.activityTaskStartedEventAttributes?.attempt ? [event.activityTaskStartedEventAttributes.attempt] : []));
    expect(Math.max(...attempts)).toBe(3);
  });

  test('an unreachable storage endpoint is retried a bounded number of times, then named', async () => {
    const error = await client.workflow.execute(backupWorkflow, { taskQueue, workflowId: uniqueName('backup-no-s3'), args: [{ cluster: 'no-s3', type: 'full' }] }).catch((e: unknown) => e);
    const messages = failureChain(error).map((failure) => failure.message).join(' | ');
    // The first request names the store and what it was doing (the ledger is read before the listing).
    expect(messages).toMatch(/storage s3:\/\/backups\/\S+ at http:\/\/127\.0\.0\.1:9: (listing \/|reading ledger\/no-s3\.json) failed: connect ECONNREFUSED/);
  });
});
