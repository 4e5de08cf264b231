/**
 * Issue 34, immutable backups: S3 Object Lock on MinIO (a bucket created with it). Every object of
 * every backup and archived binlog is written with a retention date; each increment moves its
 * chain's earlier members to its own; the worker's own credentials cannot remove a locked version;
 * a deletion is refused before anything changes, naming the date; retention reports what waits for
 * its lock and removes nothing of it; a restore still works, exactly; a bucket without a lock is
 * refused when the worker starts. Compliance mode holds even against a request to bypass it.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { CopyObjectCommand, DeleteObjectCommand, GetObjectCommand, GetObjectRetentionCommand, ListObjectVersionsCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import type { MariaDbSandbox } from '../../devtools/sandbox/mariadb.js';
import { WorkflowId } from '../../domain/workflow-contract.js';
import { backup as backupWorkflow, binlogArchiver, deleteBackup, restore as restoreWorkflow, retention, type BackupResult } from '../../workflows/index.js';
import { stopArchiver, untilArchiveCaughtUp } from '../support/binlog-archive.js';
import { connectTestClient, createSandbox, refusedRestore, runCli, s3Storage, startWorker, testRoot, typedFailureOf, uniqueName, writeConfig, type WorkerProcess } from '../support/environment.js';

const name = uniqueName('lock');
const BUCKET = 'backups-locked';
const DAY_MS = 86_400_000;
const locked = (prefix: string, mode: 'governance' | 'compliance') => ({ ...s3Storage(prefix), bucket: BUCKET, objectLock: { mode, days: 1 } });
const storage = locked(`${name}-gov`, 'governance');
const compliance = locked(`${name}-comp`, 'compliance');

let source: MariaDbSandbox;
let target: MariaDbSandbox;
let client: Client;
let closeClient: () => Promise<void>;
let worker: WorkerProcess | undefined;
let s3: S3Client;
let configPath: string;

const backup = (cluster: string, type: 'full' | 'incremental') => client.workflow.execute(backupWorkflow, { taskQueue: name, workflowId: uniqueName(`backup-${cluster}`), args: [{ cluster, type }] });

/** Every version of every object under a prefix, with its lock (mode and date), as the bucket reports it. */
async function locks(prefix: string): Promise<{ key: string; versionId: string; mode?: string; until?: number }[]> {
  const versions = (await s3.send(new ListObjectVersionsCommand({ Bucket: BUCKET, Prefix: `${prefix}/` }))).Versions ?? [];
  return Promise.all(
    versions.map(async (version) => {
      const key = (version.Key ?? '').slice(prefix.length + 1);
      const retention = await s3.send(new GetObjectRetentionCommand({ Bucket: BUCKET, Key: version.Key, VersionId: version.VersionId })).catch(() => ({ Retention: undefined }));
      return { key, versionId: version.VersionId ?? '', ...(retention.Retention?.Mode ? { mode: retention.Retention.Mode } : {}), ...(retention.Retention?.RetainUntilDate ? { until: retention.Retention.RetainUntilDate.getTime() } : {}) };
    }),
  );
}

beforeAll(async () => {
  source = await createSandbox(`${name}-source`);
  target = await createSandbox(`${name}-target`);
  await source.loadSampleData(1500);
  s3 = new S3Client({ endpoint: process.env.CHAINBACKUP_TEST_S3_ENDPOINT, region: 'us-east-1', forcePathStyle: true });
  ({ client, close: closeClient } = await connectTestClient());
});

afterAll(async () => {
  await stopArchiver(client, WorkflowId.binlogArchiver(name, 'lock'));
  s3?.destroy();
  await closeClient?.();
  await worker?.stop();
  await Promise.all([source?.stop(), target?.stop()]);
});

describe('S3 Object Lock', () => {
  test('a worker whose bucket has no Object Lock refuses to start, saying how to get one', async () => {
    const config = await writeConfig(`${name}-unlocked`, { temporal: { taskQueue: `${name}-unlocked` }, clusters: [source.clusterConfig('lock', { ...s3Storage(`${name}-plain`), objectLock: { mode: 'governance', days: 1 } })] });
    await expect(startWorker(config)).rejects.toThrow(/cluster lock: storage\.objectLock: bucket backups was not created with Object Lock/);
  });

  let full: BackupResult;
  let increment: BackupResult;

  test('every object of a backup and of an archived binlog is locked; an increment moves its chain to its own lock; the worker cannot remove a locked version', async () => {
    const clusters = [
      source.clusterConfig('lock', storage, { schedule: { enabled: false }, retention: { keepChains: 1 }, binlogs: { archive: true, interval: '1s' } }),
      source.clusterConfig('lock-comp', compliance, { schedule: { enabled: false } }),
      target.clusterConfig('lock-copy', storage, { schedule: { enabled: false }, connection: { ...source.connection(), socket: target.socket } }),
    ];
    // Records signed, so that a forged version of one is told from the authentic one it hides.
    const keyFile = join(testRoot(), `${name}-integrity-key`);
    await writeFile(keyFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
    configPath = await writeConfig(name, { temporal: { taskQueue: name }, clusters, integrity: { currentKey: 'records', keys: [{ id: 'records', file: keyFile }] } });
    worker = await startWorker(configPath);
    expect(worker.output()).toContain('cluster lock: backups and archived binlogs are locked (governance) for 1 days');
    await client.workflow.start(binlogArchiver, { taskQueue: name, workflowId: WorkflowId.binlogArchiver(name, 'lock'), args: [{ cluster: 'lock' }] });
    const before = Date.now();
    full = await backup('lock', 'full');
    await source.sql('USE shop; UPDATE orders SET total = total + 1 WHERE id % 3 = 0');
    await source.sql('FLUSH BINARY LOGS');
    await untilArchiveCaughtUp(client, WorkflowId.binlogArchiver(name, 'lock'), source);
    const incrementStarted = Date.now();
    increment = await backup('lock', 'incremental');

    const found = await locks(storage.prefix);
    const lockedKeys = found.filter((entry) => entry.key.startsWith(full.path) || entry.key.startsWith(increment.path) || (entry.key.startsWith('binlogs/') && !entry.key.includes('/gap-')));
    expect(lockedKeys.filter((entry) => entry.key.startsWith('binlogs/')).length).toBeGreaterThan(1);
    for (const entry of lockedKeys) expect({ key: entry.key, mode: entry.mode, atLeastADay: (entry.until ?? 0) >= before + DAY_MS - 60_000 }).toEqual({ key: entry.key, mode: 'GOVERNANCE', atLeastADay: true });
    // The full backup is kept as long as the increment that needs it.
    for (const entry of found.filter((candidate) => candidate.key.startsWith(full.path))) expect({ key: entry.key, extended: (entry.until ?? 0) >= incrementStarted + DAY_MS }).toEqual({ key: entry.key, extended: true });
    // The markers chainbackup rewrites are not locked.
    expect(found.filter((entry) => entry.key.startsWith('ledger/')).every((entry) => entry.mode === undefined)).toBe(true);

    // With the worker's own credentials (the test's are MinIO's root), a locked version cannot be removed.
    const manifest = found.find((entry) => entry.key === `${full.path}manifest.json`);
    const refused = await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: `${storage.prefix}/${full.path}manifest.json`, VersionId: manifest?.versionId })).then(
      () => 'deleted',
      (error: unknown) => (error as Error).message,
    );
    expect(refused).toContain('WORM protected');
  });

  test('a deletion is refused before anything changes, naming the date; retention reports what its lock keeps and removes nothing of it', async () => {
    const deletion = await typedFailureOf(client.workflow.execute(deleteBackup, { taskQueue: name, workflowId: uniqueName('delete-lock'), args: [{ cluster: 'lock', backupName: full.name }] }));
    expect(deletion).toMatchObject({ type: 'Locked', message: expect.stringMatching(new RegExp(`cannot delete ${full.name} yet: the storage's Object Lock keeps its chain \\(.*\\) until 20\\d\\d-`)) as unknown });
    const kept = await locks(storage.prefix);
    expect(kept.some((entry) => entry.key === `${full.path}manifest.json`)).toBe(true);
    expect(kept.some((entry) => entry.key === `${full.path}deleting.json`)).toBe(false);

    // A second chain: the first is due by keepChains 1, but its lock keeps it.
    await backup('lock', 'full');
    const result = await client.workflow.execute(retention, { taskQueue: name, workflowId: uniqueName('retention-lock'), args: [{ cluster: 'lock', dryRun: false }] });
    expect(result.removed).toEqual([]);
    expect(result.keptByLock?.map((wait) => wait.base)).toEqual([full.name]);
    expect(result.binlogs?.removed ?? []).toEqual([]);
    expect((await locks(storage.prefix)).filter((entry) => entry.key.startsWith(full.path)).length).toBeGreaterThan(0);
  });

  test('a restore of a locked chain is exact', async () => {
    const expected = await source.checksums(['shop']);
    await client.workflow.execute(restoreWorkflow, { taskQueue: name, workflowId: uniqueName('restore-lock'), args: [{ cluster: 'lock-copy', source: { storage, path: increment.path } }] });
    // The increment's state, and the source has not changed since.
    expect(await target.checksums(['shop'])).toEqual(expected);
  });

  test('check on a locked bucket: the storage and lock lines pass, and no version or delete marker of its probe stays', async () => {
    const run = await runCli(['--config', configPath, 'check', 'lock']);
    expect(run.stdout).toMatch(/^ok {4}lock {2}storage: .* written, read, listed and removed$/m);
    expect(run.stdout).toMatch(/^ok {4}lock {2}object lock: governance for 1 days$/m);
    const left = await s3.send(new ListObjectVersionsCommand({ Bucket: BUCKET, Prefix: `${storage.prefix}/.chainbackup-check/` }));
    expect([...(left.Versions ?? []), ...(left.DeleteMarkers ?? [])].map((version) => version.Key)).toEqual([]);
  });

  test('a forged newer version of a locked record is refused, naming the earlier version that is authentic; copied back, it restores', async () => {
    const key = `${storage.prefix}/${increment.path}manifest.json`;
    const [authentic] = (await locks(storage.prefix)).filter((entry) => entry.key === `${increment.path}manifest.json`);
    const original = await (await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))).Body?.transformToString('utf8');
    const manifest = JSON.parse(original ?? '{}') as { binlog?: { position?: number } };
    // Whoever holds the worker's credentials cannot remove the locked version, but can put a newer one on top.
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: JSON.stringify({ ...manifest, binlog: { ...manifest.binlog, position: (manifest.binlog?.position ?? 0) + 215 } }) }));
    const hint = `an authentic copy is its earlier version ${authentic?.versionId ?? '?'} of 20`;

    const refused = await refusedRestore(client, target, { taskQueue: name, workflowId: uniqueName('restore-lock-forged') }, { cluster: 'lock-copy', source: { storage, path: increment.path } });
    expect(refused).toMatchObject({ type: 'Unauthenticated', paused: false, serverRestarted: false });
    expect(refused.message).toContain(hint);
    const status = await runCli(['--config', configPath, 'status', 'lock']);
    expect(status.exitCode).toBe(4);
    expect(status.stdout).toContain(`BROKEN integrity: ${increment.name}: manifest fails authentication with key "records"`);
    expect(status.stdout).toContain(hint);

    // The operator's remedy: the authentic version copied back on top.
    await s3.send(new CopyObjectCommand({ Bucket: BUCKET, Key: key, CopySource: `${BUCKET}/${key}?versionId=${authentic?.versionId ?? ''}` }));
    const expected = await source.checksums(['shop']);
    await client.workflow.execute(restoreWorkflow, { taskQueue: name, workflowId: uniqueName('restore-lock-recovered'), args: [{ cluster: 'lock-copy', source: { storage, path: increment.path } }] });
    expect(await target.checksums(['shop'])).toEqual(expected);
  });

  test('a delete marker hides a locked backup: the listing counts it as removed and the ledger reports it; the marker removed, it is back', async () => {
    const taken = await backup('lock-comp', 'full');
    const key = `${compliance.prefix}/${taken.path}manifest.json`;
    const marker = await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key }));
    expect(marker.DeleteMarker).toBe(true);
    const hidden = await runCli(['--config', configPath, 'status', 'lock-comp']);
    expect(hidden.exitCode).toBe(4);
    expect(hidden.stdout).toMatch(new RegExp(`BROKEN integrity: ${taken.name}: committed \\(ledger seq \\d+ lists it\\) but`));
    await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key, VersionId: marker.VersionId }));
    const back = await runCli(['--config', configPath, 'status', 'lock-comp']);
    expect(back.stdout).not.toContain('BROKEN integrity');
  });

  test('in compliance mode, even a request to bypass the lock is refused', async () => {
    const taken = await backup('lock-comp', 'full');
    const found = await locks(compliance.prefix);
    const manifest = found.find((entry) => entry.key === `${taken.path}manifest.json`);
    expect(manifest?.mode).toBe('COMPLIANCE');
    const refused = await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: `${compliance.prefix}/${taken.path}manifest.json`, VersionId: manifest?.versionId, BypassGovernanceRetention: true })).then(
      () => 'deleted',
      (error: unknown) => (error as Error).message,
    );
    expect(refused).toContain('WORM protected');
  });
});

