/**
 * Issue 3: the incremental chain on real MariaDB and MinIO. A full backup and three increments
 * (layout, manifests, LSN continuity, sizes); two backups started at once (serialized by the
 * cluster lock); a backup cancelled mid-upload (nothing visible left, the chain continues); and
 * every refusal, with its message.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { refusalIn } from '../../domain/failures.js';
import { createHash } from 'node:crypto';
import type { Client } from '@temporalio/client';
import type { MariaDbSandbox } from '../../devtools/sandbox/mariadb.js';
import type { Manifest } from '../../domain/manifest.js';
import { BackupNameKey } from '../../domain/search-attributes.js';
import { backup as backupWorkflow, type BackupResult } from '../../workflows/index.js';
import { connectTestClient, createSandbox, failureChain, s3Storage, serverSeries, startWorker, TestBucket, toolFileNames, uniqueName, writeConfig, type WorkerProcess } from '../support/environment.js';

const taskQueue = uniqueName('chain');
const prefixes = { chain: `${taskQueue}-chain`, busy: `${taskQueue}-busy`, slow: `${taskQueue}-slow`, refuse: `${taskQueue}-refuse` };
const fastRetry = { maximumAttempts: 3, initialInterval: '200ms' };
const bucket = new TestBucket();
const refuseLabel = `s3://backups/${prefixes.refuse} at ${process.env.CHAINBACKUP_TEST_S3_ENDPOINT}`;

let source: MariaDbSandbox;
let worker: WorkerProcess;
let client: Client;
let closeClient: () => Promise<void>;

beforeAll(async () => {
  source = await createSandbox(`${taskQueue}-source`);
  await source.loadSampleData(50_000);
  // A restart checkpoints InnoDB, as a server that has been running for a while would have: the
  // freshly created tables are then part of the full backup's pages, not of every increment's redo.
  await source.stop();
  await source.start();
  const config = {
    temporal: { taskQueue },
    clusters: [
      source.clusterConfig('chain', s3Storage(prefixes.chain), { retry: fastRetry }),
      source.clusterConfig('busy', s3Storage(prefixes.busy), { retry: fastRetry }),
      // Throttled copy: a backup lasts long enough to be cancelled while it streams.
      source.clusterConfig('slow', s3Storage(prefixes.slow), { retry: fastRetry, backup: { throttle: 40 } }),
      source.clusterConfig('refuse', s3Storage(prefixes.refuse), { retry: fastRetry }),
      // Another cluster writing into the same storage as "refuse".
      source.clusterConfig('other', s3Storage(prefixes.refuse), { retry: fastRetry }),
    ],
  };
  worker = await startWorker(await writeConfig(taskQueue, config));
  ({ client, close: closeClient } = await connectTestClient());
});

afterAll(async () => {
  bucket.close();
  await closeClient?.();
  await worker?.stop();
  await source?.stop();
});

function startBackup(cluster: string, type: 'full' | 'incremental', extra: Record<string, unknown> = {}) {
  return client.workflow.start(backupWorkflow, { taskQueue, workflowId: uniqueName(`backup-${cluster}-${type}`), args: [{ cluster, type, ...extra }] });
}

async function runBackup(cluster: string, type: 'full' | 'incremental', extra: Record<string, unknown> = {}): Promise<BackupResult> {
  return (await startBackup(cluster, type, extra)).result();
}

/** The failure of a backup that must be refused: its type and message. */
async function refusal(cluster: string, type: 'full' | 'incremental', extra: Record<string, unknown> = {}): Promise<{ type?: string; message: string }> {
  const outcome = await runBackup(cluster, type, extra).then(
    (result) => ({ result }),
    (error: unknown) => ({ error }),
  );
  if ('result' in outcome && !refusalIn(outcome.result)) throw new Error(`expected a refusal, but backup ${outcome.result.name} was taken`);
  const ended = 'result' in outcome ? outcome.result : outcome.error;
  const [failure] = failureChain(ended);
  return failure ?? { message: String(ended) };
}

async function manifestOf(prefix: string, backup: BackupResult): Promise<Manifest> {
  return JSON.parse(await bucket.getText(`${prefix}/${backup.path}manifest.json`)) as Manifest;
}

describe('a full backup and three increments', () => {
  const backups: BackupResult[] = [];

  beforeAll(async () => {
    backups.push(await runBackup('chain', 'full'));
    await source.sql(`UPDATE shop.customers SET email = CONCAT('changed', id, '@example.org') WHERE id <= 40`);
    backups.push(await runBackup('chain', 'incremental'));
    await source.sql(`USE shop; INSERT INTO shop.orders (customer_id, total, note) SELECT seq, 9.99, 'new order' FROM seq_1_to_300`);
    backups.push(await runBackup('chain', 'incremental'));
    await source.sql(`DELETE FROM shop.orders WHERE id % 50 = 0; CREATE TABLE shop.audit (id INT PRIMARY KEY, what TEXT); INSERT INTO shop.audit VALUES (1, 'third increment')`);
    backups.push(await runBackup('chain', 'incremental'));
  });

  test('are stored in the documented layout, each folder ending with its manifest', async () => {
    const [full, ...increments] = backups as [BackupResult, ...BackupResult[]];
    expect(full.path).toBe(`${full.name}/`);
    for (const increment of increments) {
      expect(increment.name).toMatch(/^chain-\d{4}-\d{2}-\d{2}T\d{6}\.\d{3}Z-incr$/);
      expect(increment.path).toBe(`${full.name}.incr/${increment.name}/`);
    }
    const files = ['backup.xbstream.zst', 'manifest.json', toolFileNames.checkpoints, toolFileNames.info].sort();
    // And the cluster's ledger, which lists the backups the chain committed.
    const expected = [...backups.flatMap((backup) => files.map((file) => `${backup.path}${file}`)), 'ledger/chain.json'].sort();
    expect((JSON.parse(await bucket.getText(`${prefixes.chain}/ledger/chain.json`)) as { backups: { name: string }[] }).backups.map((entry) => entry.name)).toEqual(backups.map((backup) => backup.name).sort());
    expect((await bucket.list(prefixes.chain)).map((object) => object.key)).toEqual(expected);
  });

  test('record a continuous chain: each increment starts at its parent’s to_lsn', async () => {
    const manifests = await Promise.all(backups.map((backup) => manifestOf(prefixes.chain, backup)));
    const [full, ...increments] = manifests as [Manifest, ...Manifest[]];
    expect(full).toMatchObject({ type: 'full', base: full.name, parent: null, fromLsn: '0', cluster: 'chain', compression: 'zstd', encryption: 'none', flavour: 'mariadb' });
    expect(full.tool.name).toMatch(/mariadb-backup/);
    expect(full.serverVersion?.startsWith(`${serverSeries}.`)).toBe(true);
    // The tables the source had while the backup ran, with their engines: what a verification expects.
    expect(full.inventory).toEqual(expect.arrayContaining([{ schema: 'shop', table: 'customers', engine: 'InnoDB' }, { schema: 'shop', table: 'orders', engine: 'InnoDB' }]));
    expect(full.inventory?.some((entry) => ['mysql', 'sys', 'performance_schema', 'information_schema'].includes(entry.schema))).toBe(false);
    let parent = full;
    for (const increment of increments) {
      expect(increment).toMatchObject({ type: 'incremental', base: full.name, parent: parent.name, fromLsn: parent.toLsn });
      // to_lsn is the checkpoint when the copy began: it may not have moved, but the log always has.
      expect(BigInt(increment.toLsn)).toBeGreaterThanOrEqual(BigInt(increment.fromLsn));
      expect(BigInt(increment.lastLsn)).toBeGreaterThan(BigInt(parent.lastLsn));
      parent = increment;
    }
    // The stored checkpoints files say the same as the manifests.
    for (const [index, backup] of backups.entries()) {
      const checkpoints = await bucket.getText(`${prefixes.chain}/${backup.path}${toolFileNames.checkpoints}`);
      expect(checkpoints).toContain(`from_lsn = ${(manifests[index] as Manifest).fromLsn}`);
      expect(checkpoints).toContain(`to_lsn = ${(manifests[index] as Manifest).toLsn}`);
    }
  });

  test('list every object with its size and sha256, matching what storage holds', async () => {
    const stored = new Map((await bucket.list(prefixes.chain)).map((object) => [object.key, object.size]));
    for (const backup of backups) {
      const manifest = await manifestOf(prefixes.chain, backup);
      expect(manifest.sizeBytes).toBe(manifest.objects.reduce((sum, object) => sum + object.size, 0));
      for (const object of manifest.objects) expect(stored.get(`${backup.path}${object.name}`)).toBe(object.size);
      const checkpoints = await bucket.getText(`${prefixes.chain}/${backup.path}${toolFileNames.checkpoints}`);
      expect(manifest.objects.find((object) => object.name === toolFileNames.checkpoints)?.sha256).toBe(createHash('sha256').update(checkpoints).digest('hex'));
    }
  });

  test('increments are much smaller than the full backup', () => {
    const [full, ...increments] = backups as [BackupResult, ...BackupResult[]];
    for (const increment of increments) {
      expect(increment.streamBytes * 10).toBeLessThan(full.streamBytes);
      expect(increment.sizeBytes * 3).toBeLessThan(full.sizeBytes);
    }
  });
});

describe('one backup at a time per cluster', () => {
  test('two increments started at the same moment run one after the other; the second continues from the first', async () => {
    const full = await runBackup('busy', 'full');
    const [first, second] = await Promise.all([startBackup('busy', 'incremental'), startBackup('busy', 'incremental')]);
    const results = await Promise.all([first.result(), second.result()]);
    const [earlier, later] = results.sort((a, b) => a.finishedAt.localeCompare(b.finishedAt));
    expect(earlier.parent).toBe(full.name);
    expect(later.parent).toBe(earlier.name);
    expect(later.fromLsn).toBe(earlier.toLsn);
    // Serialized, not interleaved: the later one started after the earlier one finished.
    expect(Date.parse(later.startedAt)).toBeGreaterThanOrEqual(Date.parse(earlier.finishedAt));
  });

  test('a full backup and an increment started together both succeed without a fork', async () => {
    const [full, increment] = await Promise.all([startBackup('busy', 'full'), startBackup('busy', 'incremental')]);
    const [fullResult, incrementResult] = await Promise.all([full.result(), increment.result()]);
    const stored = await bucket.list(prefixes.busy);
    const parents = await Promise.all(
      stored.filter((object) => object.key.endsWith('manifest.json')).map(async (object) => (JSON.parse(await bucket.getText(`${prefixes.busy}/${object.key}`)) as Manifest).parent),
    );
    const nonNullParents = parents.filter((parent) => parent !== null);
    expect(new Set(nonNullParents).size).toBe(nonNullParents.length);
    // Whichever ran second saw the other one: an increment after the new full starts its chain.
    if (Date.parse(incrementResult.startedAt) >= Date.parse(fullResult.finishedAt)) expect(incrementResult.parent).toBe(fullResult.name);
  });
});

describe('a backup stopped mid-upload', () => {
  test('leaves no visible object behind, and the next increment continues from the last committed backup', async () => {
    const full = await runBackup('slow', 'full');
    const handle = await startBackup('slow', 'incremental');
    // Wait until the increment is streaming into storage: its heartbeat reports bytes.
    let name: string | undefined;
    for (let tries = 0; ; tries++) {
      if (tries > 600) throw new Error('the increment never started streaming');
      const description = await handle.describe();
      const pending = description.raw.pendingActivities?.find((activity) => activity.activityType?.name === 'takeBackup');
      const payload = pending?.heartbeatDetails?.payloads?.[0]?.data;
      const details = payload ? (JSON.parse(Buffer.from(payload).toString()) as { bytesDone: number }) : undefined;
      name = description.typedSearchAttributes.get(BackupNameKey);
      if (details && details.bytesDone > 0 && name) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await handle.cancel();
    const failure = failureChain(await handle.result().catch((error: unknown) => error));
    expect(failure.map((entry) => entry.message).join(' | ')).toMatch(/cancel/i);

    const stored = await bucket.list(prefixes.slow);
    expect(stored.filter((object) => object.key.includes(name))).toEqual([]);
    // MinIO lists multipart uploads only for a whole key: ask for the data objects the increment could have had.
    for (const object of ['backup.xbstream.zst', 'backup.xbstream']) expect(await bucket.openMultipartUploads(`${prefixes.slow}/${full.name}.incr/${name}/${object}`)).toEqual([]);

    const next = await runBackup('slow', 'incremental');
    expect(next.parent).toBe(full.name);
    expect(next.fromLsn).toBe(full.toLsn);
  });
});

describe('refusals', () => {
  test('an increment without a full backup of its cluster is refused, even when another cluster has one in the same storage', async () => {
    await runBackup('other', 'full');
    const failure = await refusal('refuse', 'incremental');
    expect(failure.type).toBe('NoFullBackup');
    expect(failure.message).toBe(`cluster "refuse" has no committed full backup in ${refuseLabel}; take a full backup first to start a chain`);
  });

  test('a named base must exist, be committed, be full and belong to the cluster', async () => {
    const full = await runBackup('refuse', 'full');
    const increment = await runBackup('refuse', 'incremental');
    const otherFull = (await bucket.list(prefixes.refuse)).find((object) => /^other-.*-full\/manifest\.json$/.test(object.key))?.key.split('/')[0] as string;
    const uncommitted = 'refuse-2026-01-01T000000.000Z-full';
    await bucket.put(`${prefixes.refuse}/${uncommitted}/backup.xbstream.zst`, 'partial upload');
    const before = await bucket.list(prefixes.refuse);

    const cases: [string, RegExp][] = [
      ['refuse-2020-01-01T000000.000Z-full', /^baseBackupName "refuse-2020-01-01T000000\.000Z-full" does not exist in s3:\/\/backups\//],
      [uncommitted, /is not committed \(no manifest: it failed or is still running\); name a committed full backup$/],
      [increment.name, /is an incremental backup; the base of a chain must be a full backup$/],
      [otherFull, /belongs to cluster "other", not "refuse"$/],
    ];
    for (const [baseBackupName, message] of cases) {
      const failure = await refusal('refuse', 'incremental', { baseBackupName });
      expect(failure.type).toBe('InvalidBaseBackup');
      expect(failure.message).toMatch(message);
    }
    const malformed = await refusal('refuse', 'incremental', { baseBackupName: 'last-week' });
    expect(malformed).toEqual({ type: 'InvalidRequest', message: 'invalid backup request: baseBackupName: must be a backup name such as "shop-2026-04-06T010000.000Z-full"' });
    // Refused requests change nothing in storage.
    expect(await bucket.list(prefixes.refuse)).toEqual(before);

    // A named base that is valid is honoured even when a newer full exists.
    const newerFull = await runBackup('refuse', 'full');
    const onOldChain = await runBackup('refuse', 'incremental', { baseBackupName: full.name });
    expect(onOldChain.base).toBe(full.name);
    expect(onOldChain.parent).toBe(increment.name);
    expect(onOldChain.base).not.toBe(newerFull.name);
  });

  test('a corrupt or missing checkpoint of the parent fails at once, naming the backup and what to do', async () => {
    const full = await runBackup('refuse', 'full');
    const parent = await runBackup('refuse', 'incremental');
    const checkpointsKey = `${prefixes.refuse}/${parent.path}${toolFileNames.checkpoints}`;

    await bucket.put(checkpointsKey, 'backup_type = incremental\nfrom_lsn = banana\n');
    const corrupt = await refusal('refuse', 'incremental');
    expect(corrupt.type).toBe('CorruptCheckpoints');
    expect(corrupt.message).toMatch(new RegExp(`^backup ${parent.name}: its stored ${toolFileNames.checkpoints} .*; its to_lsn cannot be trusted to continue the chain: start a new chain with a full backup$`));

    await bucket.put(checkpointsKey, `backup_type = incremental\nfrom_lsn = ${parent.fromLsn}\nto_lsn = ${BigInt(parent.toLsn) + 1000n}\nlast_lsn = ${BigInt(parent.toLsn) + 1000n}\n`);
    const disagreeing = await refusal('refuse', 'incremental');
    expect(disagreeing.message).toBe(`backup ${parent.name}: stored ${toolFileNames.checkpoints} says to_lsn ${BigInt(parent.toLsn) + 1000n} but its manifest says ${parent.toLsn}: start a new chain with a full backup`);

    await bucket.delete(checkpointsKey);
    const missing = await refusal('refuse', 'incremental');
    expect(missing.message).toBe(`backup ${parent.name}: its ${toolFileNames.checkpoints} is missing from ${refuseLabel}; its to_lsn cannot be trusted to continue the chain: start a new chain with a full backup`);

    // The way out the message names: a new full backup starts a healthy chain.
    const newFull = await runBackup('refuse', 'full');
    const continued = await runBackup('refuse', 'incremental');
    expect(continued.parent).toBe(newFull.name);
    expect(full.name).not.toBe(newFull.name);
  });
});
