/**
 * Issue 18, restore by hand: docs/restore-by-hand.md, followed literally. A real chain (a full
 * backup and two increments of a MariaDB with writes between them) and the binlogs archived after
 * it, in a filesystem store and in MinIO; then every `by-hand` block of the document for that store,
 * in order, typed into one bash session with the settings of its section 0, the target server
 * stopped for the blocks that say so and started after them, as the text says. The restored server
 * must have the source's tables at the last increment, and after the replay the source's tables
 * and GTID position now.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Client } from '@temporalio/client';
import type { MariaDbSandbox } from '../../devtools/sandbox/mariadb.js';
import { repoRoot } from '../../devtools/sandbox/processes.js';
import type { StorageConfig } from '../../domain/config.js';
import { WorkflowId } from '../../domain/workflow-contract.js';
import { backup as backupWorkflow, binlogArchiver } from '../../workflows/index.js';
import { connectTestClient, createSandbox, filesystemStorage, s3Storage, startWorker, testRoot, TestBucket, uniqueName, writeConfig, type WorkerProcess } from '../support/environment.js';
import { stopArchiver, untilArchiveCaughtUp } from '../support/binlog-archive.js';
import { ShellSession, shellBlocks, type DocumentBlock } from '../support/shell-session.js';

const taskQueue = uniqueName('by-hand');
const stores = {
  filesystem: filesystemStorage(`${taskQueue}-store`),
  s3: s3Storage(`${taskQueue}-store`),
} satisfies Record<string, StorageConfig>;
type Store = keyof typeof stores;
/** A block is for every store unless it names one. */
const forStore = (block: DocumentBlock, store: string) => !block.tags.some((tag) => tag in stores) || block.tags.includes(store);
const clusterOf = (store: Store) => `hand-${store === 'filesystem' ? 'fs' : 's3'}`;

const servers: Partial<Record<Store, { source: MariaDbSandbox; target: MariaDbSandbox }>> = {};
const workers: WorkerProcess[] = [];
const queueOf = (store: Store) => `${taskQueue}-${store}`;
const keys = join(testRoot(), `${taskQueue}-keys`);
const bin = join(testRoot(), `${taskQueue}-bin`);
let client: Client;
let closeClient: () => Promise<void>;

beforeAll(async () => {
  for (const store of Object.keys(stores) as Store[]) {
    servers[store] = { source: await createSandbox(`${taskQueue}-${store}-source`), target: await createSandbox(`${taskQueue}-${store}-target`) };
  }
  // One worker per store: the filesystem one stores plain objects, the S3 one seals them (a key folder, as the text asks for).
  await mkdir(keys, { recursive: true, mode: 0o700 });
  await writeFile(join(keys, 'hand-key-1'), `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  for (const store of Object.keys(stores) as Store[]) {
    const cluster = (servers[store] as { source: MariaDbSandbox }).source.clusterConfig(clusterOf(store), stores[store], {
      taskQueue: `${queueOf(store)}-host`,
      retry: { maximumAttempts: 3, initialInterval: '200ms' },
      schedule: { enabled: false },
      binlogs: { archive: true, interval: '1s' },
    });
    const encryption = store === 's3' ? { encryption: { currentKey: 'hand-key-1', keys: [{ id: 'hand-key-1', file: join(keys, 'hand-key-1') }] } } : {};
    workers.push(await startWorker(await writeConfig(queueOf(store), { temporal: { taskQueue: queueOf(store) }, clusters: [cluster], ...encryption })));
  }
  // The product's CLI on the PATH, as `npm install -g` would put it there.
  await mkdir(bin, { recursive: true });
  await writeFile(join(bin, 'chainbackup'), `#!/bin/sh\nexec "${process.execPath}" "${join(repoRoot, 'dist/client/cli.js')}" "$@"\n`, { mode: 0o755 });
  ({ client, close: closeClient } = await connectTestClient());
});

afterAll(async () => {
  for (const store of Object.keys(stores) as Store[]) await stopArchiver(client, WorkflowId.binlogArchiver(queueOf(store), clusterOf(store)));
  await closeClient?.();
  for (const worker of workers) await worker.stop();
  await Promise.all(Object.values(servers).flatMap((pair) => [pair.source.stop(), pair.target.stop()]));
});

async function takeBackup(store: Store, type: 'full' | 'incremental') {
  const cluster = clusterOf(store);
  return client.workflow.execute(backupWorkflow, { taskQueue: queueOf(store), workflowId: uniqueName(`backup-${cluster}`), args: [{ cluster, type }] });
}

describe('docs/restore-by-hand.md, followed literally', () => {
  test('the document has blocks for every step of both stores', async () => {
    const blocks = shellBlocks(await readFile(join(repoRoot, 'docs/restore-by-hand.md'), 'utf8'), 'by-hand');
    for (const store of ['filesystem', 's3']) {
      const text = blocks.filter((block) => forStore(block, store)).map((block) => block.text).join('\n');
      for (const step of ['sha256sum --check', 'mbstream -x', 'mariadb-backup --prepare', 'mv "$WORK/0" "$DATADIR"', 'gtid_binlog_state', 'mariadb-binlog']) expect(text).toContain(step);
    }
    expect(blocks.filter((block) => block.tags.includes('server-stopped'))).toHaveLength(1);
  });

  test.each(['filesystem', 's3'] as const)('a full backup and two increments from the %s store, then the archived binlogs', async (store) => {
    const { source, target } = servers[store] as { source: MariaDbSandbox; target: MariaDbSandbox };
    const cluster = clusterOf(store);
    const archiverId = WorkflowId.binlogArchiver(queueOf(store), cluster);
    await client.workflow.start(binlogArchiver, { taskQueue: queueOf(store), workflowId: archiverId, args: [{ cluster }] });

    await source.loadSampleData(3000);
    await takeBackup(store, 'full');
    await source.sql('USE shop; UPDATE shop.orders SET total = total + 1 WHERE id % 7 = 0; INSERT INTO shop.customers SELECT 100000 + seq, CONCAT(\'late \', seq), NULL FROM seq_1_to_500');
    await takeBackup(store, 'incremental');
    await source.sql('USE shop; DELETE FROM shop.orders WHERE id % 11 = 0; CREATE TABLE shop.notes (id INT PRIMARY KEY, body TEXT) ENGINE=InnoDB; INSERT INTO shop.notes SELECT seq, REPEAT(\'n\', seq % 300) FROM seq_1_to_800');
    const last = await takeBackup(store, 'incremental');
    const atLastBackup = await source.checksums(['shop']);
    const stored = stores[store];
    if (stored.kind === 's3') {
      // The S3 chain is sealed: the text's decrypt step is what opens it.
      const bucket = new TestBucket();
      try {
        expect(JSON.parse(await bucket.getText(`${stored.prefix}/${last.path}manifest.json`))).toMatchObject({ encryption: 'aes-256-gcm-chunked', encryptionKeyId: 'hand-key-1' });
      } finally {
        bucket.close();
      }
    }
    // Written after the last backup: only the archived binlogs bring these back.
    await source.sql('USE shop; INSERT INTO shop.notes SELECT 1000 + seq, \'after the backup\' FROM seq_1_to_300; UPDATE shop.customers SET email = NULL WHERE id % 5 = 0; CREATE TABLE shop.later (id INT PRIMARY KEY) ENGINE=InnoDB; INSERT INTO shop.later VALUES (1), (2)');
    await source.sql('FLUSH BINARY LOGS');
    await untilArchiveCaughtUp(client, archiverId, source);
    const now = await source.checksums(['shop']);
    const [[sourceGtid = ''] = []] = await source.sql('SELECT @@gtid_binlog_pos');
    expect(Object.keys(now)).toEqual(['shop.customers', 'shop.later', 'shop.notes', 'shop.orders']);
    expect(now).not.toEqual(atLastBackup);

    // An operator's shell: the client finds the restored server through ~/.my.cnf, as the text says.
    const work = join(testRoot(), `${taskQueue}-${store}-operator`);
    const home = join(work, 'home');
    await mkdir(home, { recursive: true });
    await writeFile(join(home, '.my.cnf'), `[client]\nsocket=${target.socket}\nuser=root\n`);
    const storage = stores[store];
    const env: Record<string, string> = {
      PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`,
      KEYS: keys,
      HOME: home,
      LANG: 'C.UTF-8',
      STORE: storage.kind === 's3' ? `s3://${storage.bucket}/${storage.prefix}` : storage.path,
      BACKUP_PATH: last.path,
      WORK: join(work, 'restore'),
      DATADIR: target.datadir,
      ...(storage.kind === 's3'
        ? { S3_ENDPOINT: storage.endpoint ?? '', AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID ?? '', AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY ?? '', AWS_DEFAULT_REGION: storage.region ?? 'us-east-1' }
        : {}),
    };
    const blocks = shellBlocks(await readFile(join(repoRoot, 'docs/restore-by-hand.md'), 'utf8'), 'by-hand').filter((block) => forStore(block, store));
    const shell = new ShellSession(env, work);
    let phase: 'running' | 'stopped' | 'restarted' = 'running';
    try {
      for (const block of blocks) {
        if (block.tags.includes('server-stopped') && phase === 'running') {
          await target.stop();
          phase = 'stopped';
        }
        if (!block.tags.includes('server-stopped') && phase === 'stopped') {
          await target.start();
          phase = 'restarted';
          // The prepared chain alone: the source as it was at the last increment.
          expect(await target.checksums(['shop'])).toEqual(atLastBackup);
        }
        await shell.run(block.text);
      }
    } finally {
      await shell.close();
    }
    expect(phase).toBe('restarted');
    const { stdout } = shell.output();
    expect(stdout).toContain(`the chain, oldest first: ${last.path.split('/')[0]}`);
    expect(stdout.match(/^the chain, oldest first: /gm)).toHaveLength(3);

    // The replay brought every later transaction, with its own GTID.
    expect(await target.checksums(['shop'])).toEqual(now);
    expect((await target.sql('SELECT @@gtid_binlog_pos'))[0]?.[0]).toBe(sourceGtid);
    // The replaced datadir is kept beside it, as the text says.
    expect((await readdir(dirname(target.datadir))).filter((name) => name.startsWith(`${basename(target.datadir)}.before-by-hand-`))).toHaveLength(1);
  });
});
