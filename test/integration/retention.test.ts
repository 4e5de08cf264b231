/**
 * Issue 6: retention and deletion with the chain as the unit, on MinIO and on the filesystem store:
 * `keepChains: 2` removes the oldest chain whole after a new full backup; the last increment and then
 * the base can be deleted, a middle increment cannot; uncommitted leftovers are swept; and a worker
 * killed in the middle of deleting a chain is replaced, the deletion completes, and no part of the
 * chain is listed as a backup at any moment in between.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { Client } from '@temporalio/client';
import { readCatalog } from '../../activities/catalog.js';
import { openStore } from '../../activities/storage/index.js';
import type { MariaDbSandbox } from '../../devtools/sandbox/mariadb.js';
import type { StorageConfig } from '../../domain/config.js';
import { backup as backupWorkflow, deleteBackup as deleteWorkflow, retention as retentionWorkflow, type BackupResult } from '../../workflows/index.js';
import { connectTestClient, createSandbox, failureChain, outcomeOf, filesystemStorage, runCli, s3Storage, startWorker, TestBucket, uniqueName, writeConfig, type WorkerProcess } from '../support/environment.js';

const taskQueue = uniqueName('retain');
const fastRetry = { maximumAttempts: 3, initialInterval: '200ms' };
const storages: Record<string, StorageConfig> = {
  'keep-s3': s3Storage(`${taskQueue}-keep`),
  'keep-fs': filesystemStorage(`${taskQueue}-keep`),
  'del-s3': s3Storage(`${taskQueue}-del`),
  'del-fs': filesystemStorage(`${taskQueue}-del`),
  crash: s3Storage(`${taskQueue}-crash`),
  'pin-fs': filesystemStorage(`${taskQueue}-pin`),
};
const bucket = new TestBucket();

let source: MariaDbSandbox;
let configPath: string;
let worker: WorkerProcess;
let client: Client;
let closeClient: () => Promise<void>;

beforeAll(async () => {
  source = await createSandbox(`${taskQueue}-source`);
  await source.loadSampleData();
  const config = {
    temporal: { taskQueue },
    clusters: Object.entries(storages).map(([name, storage]) =>
      source.clusterConfig(name, storage, { retry: fastRetry, retention: name.startsWith('keep') ? { keepChains: 2 } : name.startsWith('pin') ? { keepChains: 1 } : { orphanAgeHours: 0 } }),
    ),
  };
  configPath = await writeConfig(taskQueue, config);
  worker = await startWorker(configPath);
  ({ client, close: closeClient } = await connectTestClient());
});

afterAll(async () => {
  bucket.close();
  await closeClient?.();
  await worker?.stop();
  await source?.stop();
});

const runBackup = (cluster: string, type: 'full' | 'incremental'): Promise<BackupResult> =>
  client.workflow.execute(backupWorkflow, { taskQueue, workflowId: uniqueName(`backup-${cluster}`), args: [{ cluster, type }] });

const startDelete = (cluster: string, backupName: string) => client.workflow.start(deleteWorkflow, { taskQueue, workflowId: uniqueName(`delete-${cluster}`), args: [{ cluster, backupName }] });

/** The backups the cluster's ledger lists (domain/ledger.ts). */
async function ledgerNames(storage: StorageConfig, cluster: string): Promise<string[]> {
  const text = storage.kind === 's3' ? await bucket.getText(`${storage.prefix}/ledger/${cluster}.json`) : await readFile(join(storage.path, 'ledger', `${cluster}.json`), 'utf8');
  return (JSON.parse(text) as { backups: { name: string }[] }).backups.map((entry) => entry.name);
}

/** Every key the storage holds, relative to its root. */
async function storedKeys(storage: StorageConfig): Promise<string[]> {
  if (storage.kind === 's3') return (await bucket.list(storage.prefix)).map((object) => object.key);
  const entries = await readdir(storage.path, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((entry) => entry.isFile()).map((entry) => relative(storage.path, join(entry.parentPath, entry.name))).sort();
}

/** The backups the product itself considers committed, as every other part of it would list them. */
async function committedNames(storage: StorageConfig): Promise<string[]> {
  return (await readCatalog(openStore(storage))).filter((backup) => backup.manifest !== null).map((backup) => backup.name);
}

describe.each([['MinIO', 'keep-s3'], ['the filesystem store', 'keep-fs']])('retention on %s', (_store, cluster) => {
  test('with keepChains 2, a third full backup removes the oldest chain whole, base and increments', async () => {
    const storage = storages[cluster] as StorageConfig;
    const first = await runBackup(cluster, 'full');
    const firstIncrement = await runBackup(cluster, 'incremental');
    const second = await runBackup(cluster, 'full');
    const secondIncrement = await runBackup(cluster, 'incremental');
    const third = await runBackup(cluster, 'full');
    // The retention that followed the second full backup kept both chains; the one after the third removed the first.
    // Each ran inside its backup's own run, under the lock the backup held: the backup's result says what it removed.
    expect(second.retention).toMatchObject({ removed: [], keptChains: [second.name, first.name] });
    expect(third.retention).toEqual({
      workflowId: expect.stringMatching(new RegExp(`^backup-${cluster}-`)) as unknown,
      removed: [firstIncrement.name, first.name],
      freedBytes: first.sizeBytes + firstIncrement.sizeBytes,
      keptChains: [third.name, second.name],
      orphans: [],
      binlogs: expect.objectContaining({ removed: [] }) as unknown,
    });

    const keys = await storedKeys(storage);
    expect(keys.filter((key) => key.includes(first.name))).toEqual([]);
    expect(await committedNames(storage)).toEqual([second.name, secondIncrement.name, third.name].sort());
    for (const kept of [second, secondIncrement, third]) expect(keys).toContain(`${kept.path}manifest.json`);
  });
});

describe.each([['MinIO', 'del-s3'], ['the filesystem store', 'del-fs']])('deletion on %s', (_store, cluster) => {
  test('a middle increment is refused; the last increment, then the base, are deleted', async () => {
    const storage = storages[cluster] as StorageConfig;
    const full = await runBackup(cluster, 'full');
    const middle = await runBackup(cluster, 'incremental');
    const last = await runBackup(cluster, 'incremental');
    const before = await storedKeys(storage);

    const refused = failureChain(await (await startDelete(cluster, middle.name)).result().catch((error: unknown) => error));
    expect(refused[0]).toEqual({
      type: 'BrokenChain',
      message: `cannot delete ${middle.name}: it is in the middle of chain ${full.name}, and ${last.name} depends on it; delete the later increments first (newest first), or delete ${full.name} to remove the whole chain`,
    });
    expect(await storedKeys(storage)).toEqual(before);

    expect(await (await startDelete(cluster, last.name)).result()).toEqual({ cluster, removed: [last.name], freedBytes: last.sizeBytes });
    expect(await committedNames(storage)).toEqual([full.name, middle.name]);
    expect((await storedKeys(storage)).filter((key) => key.includes(last.name))).toEqual([]);

    expect(await (await startDelete(cluster, full.name)).result()).toEqual({ cluster, removed: [middle.name, full.name], freedBytes: middle.sizeBytes + full.sizeBytes });
    // Nothing is left but the cluster's ledger, which lists no backup now.
    expect(await storedKeys(storage)).toEqual([`ledger/${cluster}.json`]);
    expect(await ledgerNames(storage, cluster)).toEqual([]);
  });

  test('the orphan sweep removes uncommitted leftovers and reports them; a dry run removes nothing', async () => {
    const storage = storages[cluster] as StorageConfig;
    // The retention that follows every full backup ran inside it (it would sweep the orphan too): done once it returns.
    const committed = await runBackup(cluster, 'full');
    // A folder a crashed backup left behind (the configured orphan age is 0 hours).
    const orphan = `${cluster}-2026-01-01T000000.000Z-full`;
    const store = openStore(storage);
    await store.putText(`${orphan}/backup.xbstream.zst`, 'half a backup');
    const dryRun = await client.workflow.execute(retentionWorkflow, { taskQueue, workflowId: uniqueName(`retention-${cluster}`), args: [{ cluster, dryRun: true }] });
    expect(dryRun).toMatchObject({ dryRun: true, removed: [], orphans: [`${orphan}/`] });
    expect(await storedKeys(storage)).toContain(`${orphan}/backup.xbstream.zst`);
    const swept = await client.workflow.execute(retentionWorkflow, { taskQueue, workflowId: uniqueName(`retention-${cluster}`), args: [{ cluster }] });
    expect(swept).toMatchObject({ dryRun: false, removed: [], orphans: [`${orphan}/`], freedBytes: 'half a backup'.length });
    expect((await storedKeys(storage)).filter((key) => key.startsWith(orphan))).toEqual([]);
    expect(await committedNames(storage)).toEqual([committed.name]);
  });
});

describe('a pinned backup', () => {
  test('keeps its whole chain through retention, refuses deletion until unpinned, and shows in list', async () => {
    const cli = (...args: string[]) => runCli(['--config', configPath, ...args]);
    const storage = storages['pin-fs'] as StorageConfig;
    const old = await runBackup('pin-fs', 'full');
    const oldIncrement = await runBackup('pin-fs', 'incremental');
    const pinned = await cli('pin', 'pin-fs', oldIncrement.name, '--note', 'legal hold');
    expect(pinned).toMatchObject({ exitCode: 0, stdout: `pinned ${oldIncrement.name}: retention keeps ${old.name}, ${oldIncrement.name} and the binlogs from it` });
    expect((await cli('pin', 'pin-fs', 'pin-fs-2026-01-01T000000.000Z-full')).stderr).toContain('BackupNotFound');
    expect((await cli('list', 'pin-fs')).stdout).toMatch(new RegExp(`${oldIncrement.name} .* committed {2}PINNED \\(legal hold\\)`));

    // keepChains 1: the new full backup's retention would remove the old chain, but the pin keeps all of it.
    const next = await runBackup('pin-fs', 'full');
    expect(next.retention).toMatchObject({ removed: [], keptChains: [next.name, old.name], keptByPin: [old.name] });
    const before = await storedKeys(storage);
    for (const kept of [old, oldIncrement]) expect(before).toContain(`${kept.path}manifest.json`);
    const retentionRun = await cli('retention', 'pin-fs');
    expect(retentionRun.stdout).toContain(`kept by a pin (the rules would remove them): ${old.name}`);

    for (const name of [old.name, oldIncrement.name]) {
      const refused = failureChain(await outcomeOf(startDelete('pin-fs', name).then((handle) => handle.result()))).find((link) => link.type !== undefined);
      expect(refused).toMatchObject({ type: 'Pinned', message: expect.stringContaining(`${oldIncrement.name} is pinned (since `) as unknown });
      expect(refused?.message).toContain(': legal hold); unpin it first (chainbackup unpin pin-fs <backup>)');
    }
    // A dry run says what the deletion itself would: refused, naming the pin (exit 2), and nothing changed.
    for (const name of [old.name, oldIncrement.name]) {
      const dryRun = await cli('delete', 'pin-fs', name, '--dry-run');
      expect(dryRun.exitCode).toBe(2);
      expect(dryRun.stderr).toContain(`Pinned: cannot delete ${name}: ${oldIncrement.name} is pinned (since `);
      expect(dryRun.stderr).toContain('(dry run: nothing was changed)');
    }
    expect(await storedKeys(storage)).toEqual(before);

    // Unpinned, the next retention removes the old chain as its rules say.
    expect(await cli('unpin', 'pin-fs', oldIncrement.name)).toMatchObject({ exitCode: 0, stdout: `unpinned ${oldIncrement.name}` });
    expect((await cli('list', 'pin-fs')).stdout).not.toContain('PINNED');
    const after = await client.workflow.execute(retentionWorkflow, { taskQueue, workflowId: uniqueName('retention-pin-fs'), args: [{ cluster: 'pin-fs' }] });
    expect(after.removed).toEqual([oldIncrement.name, old.name]);
    expect(await committedNames(storage)).toEqual([next.name]);
  });
});

describe('a worker killed in the middle of deleting a chain', () => {
  test('is replaced, the deletion completes, and no part of the chain is listed as a backup meanwhile', async () => {
    const storage = storages.crash as StorageConfig;
    const chain = [await runBackup('crash', 'full')];
    for (let index = 0; index < 3; index++) chain.push(await runBackup('crash', 'incremental'));
    const names = chain.map((backup) => backup.name);
    const full = chain[0] as BackupResult;
    expect(await committedNames(storage)).toEqual(names);

    const handle = await startDelete('crash', full.name);
    const marker = `${full.path}deleting.json`;
    while (!(await storedKeys(storage)).includes(marker)) await new Promise((resolve) => setTimeout(resolve, 5));
    // Freeze the worker the moment the chain is marked, then kill it: the deletion is cut mid-way.
    worker.child.kill('SIGSTOP');
    const cut = await storedKeys(storage);
    expect(cut).toContain(marker);
    expect(cut.length).toBeGreaterThan(1);
    await worker.kill();
    expect(await committedNames(storage)).toEqual([]);

    worker = await startWorker(configPath);
    let done = false;
    const result = handle.result().finally(() => (done = true));
    while (!done) {
      expect((await committedNames(storage)).filter((name) => names.includes(name))).toEqual([]);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect((await result).removed).toEqual([...names].reverse());
    expect(await storedKeys(storage)).toEqual(['ledger/crash.json']);
    expect(await ledgerNames(storage, 'crash')).toEqual([]);
  });
});
