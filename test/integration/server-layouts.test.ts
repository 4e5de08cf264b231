/**
 * Issue 21: restore honours the server's whole layout and history, on real MariaDB. A server with
 * its redo log, undo tablespaces (3), a two-file system tablespace and its binary logs in folders of
 * their own is restored in place and onto a second server of the same layout; a DATA DIRECTORY table
 * is restored in place and cloned on the same host without touching the source's file; after an
 * in-place restore the binlog history starts again at the backup's GTID position, with binlogs inside
 * and outside the datadir; and each kept copy starts as a server of its own with the data from
 * before the restore.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import type { MariaDbSandbox } from '../../devtools/sandbox/mariadb.js';
import { waitFor } from '../../devtools/sandbox/processes.js';
import { backup as backupWorkflow, restore as restoreWorkflow, type BackupResult, type RestoreResult } from '../../workflows/index.js';
import { withServerOnFolder } from '../support/server-on-folder.js';
import { connectTestClient, createSandbox, failureChain, s3Storage, startWorker, testRoot, uniqueName, writeConfig, type WorkerProcess } from '../support/environment.js';

const taskQueue = uniqueName('layout');
const fastRetry = { maximumAttempts: 2, initialInterval: '200ms' };
const dir = join(testRoot(), taskQueue);

let split: MariaDbSandbox;
let splitTwin: MariaDbSandbox;
let plain: MariaDbSandbox;
let worker: WorkerProcess;
let client: Client;
let closeClient: () => Promise<void>;

/** Redo, undo, a two-file system tablespace, the binlogs, the relay log and Aria's log in folders of their own, as many production installs have. */
async function splitLayout(name: string): Promise<{ sandbox: MariaDbSandbox; folders: Record<string, string> }> {
  const base = join(dir, name);
  const folders = { redo: join(base, 'redo'), undo: join(base, 'undo'), binlogs: join(base, 'binlogs'), relay: join(base, 'relay'), aria: join(base, 'aria') };
  for (const folder of Object.values(folders)) await mkdir(folder, { recursive: true });
  const sandbox = await createSandbox(`${taskQueue}-${name}`, [
    `innodb_log_group_home_dir=${folders.redo}`,
    `innodb_undo_directory=${folders.undo}`,
    'innodb_undo_tablespaces=3',
    'innodb_data_file_path=ibdata1:12M;ibdata2:12M:autoextend',
    `log-bin=${join(folders.binlogs, 'mysql-bin')}`,
    `relay-log=${join(folders.relay, 'relay-bin')}`,
    `aria_log_dir_path=${folders.aria}`,
  ]);
  return { sandbox, folders };
}

let splitFolders: Record<string, string>;
const remoteDir = join(dir, 'remote-tablespaces');
const failpoints = join(dir, 'failpoints');

beforeAll(async () => {
  await mkdir(remoteDir, { recursive: true });
  let twin: { sandbox: MariaDbSandbox };
  [{ sandbox: split, folders: splitFolders }, twin, plain] = await Promise.all([splitLayout('split'), splitLayout('twin'), createSandbox(`${taskQueue}-plain`)]);
  splitTwin = twin.sandbox;
  await Promise.all([split.loadSampleData(2000), plain.loadSampleData(2000)]);
  await split.sql(`CREATE TABLE shop.archive (id INT PRIMARY KEY, note TEXT) DATA DIRECTORY='${remoteDir}'; USE shop; INSERT INTO archive SELECT seq, CONCAT('archived ', seq) FROM seq_1_to_500`);
  const config = {
    temporal: { taskQueue },
    clusters: [
      split.clusterConfig('lay-split', s3Storage(`${taskQueue}-split`), { retry: fastRetry }),
      // The twin logs in with the split server's users: a physical restore brings them.
      splitTwin.clusterConfig('lay-twin', s3Storage(`${taskQueue}-twin`), { retry: fastRetry, connection: { ...split.connection(), socket: splitTwin.socket } }),
      plain.clusterConfig('lay-plain', s3Storage(`${taskQueue}-plain`), { retry: fastRetry }),
    ],
  };
  await mkdir(failpoints, { recursive: true });
  worker = await startWorker(await writeConfig(taskQueue, config), [], { CHAINBACKUP_FAILPOINTS: failpoints });
  ({ client, close: closeClient } = await connectTestClient());
}, 600_000);

afterAll(async () => {
  await closeClient?.();
  await worker?.stop();
  await Promise.all([split?.stop(), splitTwin?.stop(), plain?.stop()]);
});

const runBackup = (cluster: string, type: 'full' | 'incremental') => client.workflow.execute(backupWorkflow, { taskQueue, workflowId: uniqueName(`backup-${cluster}`), args: [{ cluster, type }] });
const runRestore = (args: Record<string, unknown>) => client.workflow.execute(restoreWorkflow, { taskQueue, workflowId: uniqueName(`restore-${String(args.cluster)}`), args: [args as never] });
const databases = ['shop'];

async function gtidPosition(sandbox: MariaDbSandbox): Promise<string> {
  return (await sandbox.sql('SELECT @@gtid_binlog_pos'))[0]?.[0] ?? '';
}

/** The next write's GTID on a server: one transaction, then its position. */
async function nextWriteGtid(sandbox: MariaDbSandbox): Promise<string> {
  await sandbox.sql(`INSERT INTO shop.orders (customer_id, total, note) VALUES (1, 1.00, 'the first write after the restore')`);
  return gtidPosition(sandbox);
}

const errorsIn = async (sandbox: MariaDbSandbox) => (await readFile(join(sandbox.dir, 'mariadbd.err'), 'utf8')).split('\n').filter((line) => line.includes('[ERROR]'));

/** Starts the kept copy with its own server.cnf (and a socket of its own), returns its checksums, stops it. */
async function keptCopyChecksums(kept: string): Promise<Record<string, string>> {
  const keptOptions = (await readFile(join(kept, '.chainbackup-kept', 'server.cnf'), 'utf8')).split('\n').filter((line) => line.includes('='));
  return (await serverOnFolder(kept, keptOptions)).checksums;
}

/** Starts a throw-away server on a folder with the given options (and a socket of its own); returns its checksums and error log, then stops it. */
async function serverOnFolder(folder: string, keptOptions: string[]): Promise<{ checksums: Record<string, string>; log: string }> {
  const { value, log } = await withServerOnFolder(folder, keptOptions, dir, async (sql) => {
    const tables = (await sql(`SELECT CONCAT(table_schema, '.', table_name) FROM information_schema.tables WHERE table_schema = 'shop' AND table_type = 'BASE TABLE' ORDER BY 1`)).split('\n');
    const rows = (await sql(`CHECKSUM TABLE ${tables.join(', ')} EXTENDED`)).split('\n').map((line) => line.split('\t'));
    return Object.fromEntries(rows.map(([table = '', checksum = '']) => [table, checksum]));
  });
  return { checksums: value, log };
}

describe('redo, undo and a two-file system tablespace in folders of their own', () => {
  let full: BackupResult;
  let increment: BackupResult;
  let atIncrement: Record<string, string>;
  let incrementGtid: string;

  beforeAll(async () => {
    full = await runBackup('lay-split', 'full');
    await split.sql(`UPDATE shop.customers SET name = CONCAT('second point ', id) WHERE id % 3 = 0; UPDATE shop.archive SET note = 'changed' WHERE id < 100`);
    increment = await runBackup('lay-split', 'incremental');
    atIncrement = await split.checksums(databases);
    incrementGtid = await gtidPosition(split);
  });

  test('in place: the data equals the backup, every restored file is where the server reads it, the GTID history starts again at the backup', async () => {
    await split.sql(`UPDATE shop.customers SET name = 'after the backups' WHERE id < 500; DELETE FROM shop.archive WHERE id > 400`);
    const before = await split.checksums(databases);
    const beforeGtid = await gtidPosition(split);
    const result: RestoreResult = await runRestore({ cluster: 'lay-split', backupName: increment.name });
    expect(await split.checksums(databases)).toEqual(atIncrement);
    expect(await errorsIn(split)).toEqual([]);
    // The replaced server's redo, undo and binlogs went with the kept copy.
    const kept = result.previousDatadir as string;
    expect((await readdir(join(kept, '.chainbackup-kept', 'undo'))).sort()).toEqual(['undo001', 'undo002', 'undo003']);
    expect(await readdir(join(kept, '.chainbackup-kept', 'redo'))).toContain('ib_logfile0');
    expect((await readdir(join(kept, '.chainbackup-kept', 'binlog'))).some((name) => /^mysql-bin\.\d+$/.test(name))).toBe(true);
    expect((await readdir(splitFolders.undo as string)).sort()).toEqual(['undo001', 'undo002', 'undo003']);
    expect(await readdir(join(kept, '.chainbackup-kept', 'aria'))).toContain('aria_log_control');
    expect(await readdir(splitFolders.aria as string)).toContain('aria_log_control');
    // The GTID state is the backup's, and the next write continues from it.
    expect(result.gtidPosition).toBe(incrementGtid);
    expect(await gtidPosition(split)).toBe(incrementGtid);
    // The position came from the binlog seeded before the server started (no RESET MASTER after it
    // started, which would have left one log): the seeded log, then the real server's.
    expect((await split.sql('SHOW BINARY LOGS')).length).toBeGreaterThanOrEqual(2);
    const [domain, server, sequence] = incrementGtid.split('-');
    expect(await nextWriteGtid(split)).toBe(`${domain}-${server}-${Number(sequence) + 1}`);
    expect(beforeGtid).not.toBe(incrementGtid);
    // Rolling back by hand is real: the kept copy starts as a server of its own, with the data from before.
    expect(await keptCopyChecksums(kept)).toEqual(before);
  });

  test('onto a second server with the same layout: the data equals the source at that point', async () => {
    await runRestore({ cluster: 'lay-twin', source: { storage: s3Storage(`${taskQueue}-split`), path: increment.path } });
    const restored = await splitTwin.checksums(databases);
    expect(restored).toEqual(atIncrement);
    expect(await errorsIn(splitTwin)).toEqual([]);
    // The DATA DIRECTORY table came into the twin's datadir: the split server's file is not its.
    expect(await readdir(join(splitTwin.datadir, 'shop'))).toContain('archive.ibd');
    expect(await readdir(join(splitTwin.datadir, 'shop'))).not.toContain('archive.isl');
    expect(full.type).toBe('full');
  });
});

describe('a DATA DIRECTORY table cloned on the same host', () => {
  test("the clone never opens or changes the source's file", async () => {
    const backup = await runBackup('lay-split', 'full');
    const atBackup = await split.checksums(databases);
    const sourceFile = join(remoteDir, 'shop', 'archive.ibd');
    const before = createHash('sha256').update(await readFile(sourceFile)).digest('hex');
    const clone = join(dir, 'clone');
    await runRestore({ cluster: 'lay-split', backupName: backup.name, target: { kind: 'new-datadir', path: clone } });
    expect(await readdir(join(clone, 'shop'))).toContain('archive.ibd');
    expect(await readdir(join(clone, 'shop'))).not.toContain('archive.isl');
    expect(await readFile(join(clone, 'backup-my.cnf'), 'utf8')).toContain('innodb_undo_directory=./');
    // A server started on the clone reads its own copy: the data of the backup, and no word of the source's file.
    const started = await serverOnFolder(clone, [`datadir=${clone}`, 'innodb_undo_tablespaces=3', 'innodb_data_file_path=ibdata1:12M;ibdata2:12M:autoextend']);
    expect(started.checksums).toEqual(atBackup);
    expect(started.log).not.toContain(remoteDir);
    expect(createHash('sha256').update(await readFile(sourceFile)).digest('hex')).toBe(before);
  });
});

describe('binlogs inside the datadir', () => {
  test('after an in-place restore the next write gets the GTID after the backup’s; the old binlogs are in the kept copy', async () => {
    const backup = await runBackup('lay-plain', 'full');
    const atBackup = await plain.checksums(databases);
    const backupGtid = await gtidPosition(plain);
    await plain.sql(`UPDATE shop.customers SET name = 'later' WHERE id < 100; UPDATE shop.orders SET total = 0 WHERE id < 100`);
    const before = await plain.checksums(databases);
    const result = await runRestore({ cluster: 'lay-plain', backupName: backup.name });
    expect(await plain.checksums(databases)).toEqual(atBackup);
    expect(result.gtidPosition).toBe(backupGtid);
    const [domain, server, sequence] = backupGtid.split('-');
    expect(await nextWriteGtid(plain)).toBe(`${domain}-${server}-${Number(sequence) + 1}`);
    const kept = result.previousDatadir as string;
    expect((await readdir(kept)).some((name) => /^binlog\.\d+$/.test(name))).toBe(true);
    expect(await keptCopyChecksums(kept)).toEqual(before);
  });
});

describe('a restored server with an unreadable table', () => {
  test('is rolled back, and the failure names the table', async () => {
    const backup = await runBackup('lay-plain', 'full');
    await plain.sql(`UPDATE shop.customers SET name = 'kept by the rollback' WHERE id < 100`);
    const before = await plain.checksums(databases);
    // Hold the restore once its files are placed, and lose one table's tablespace, as a bad disk would.
    await writeFile(join(failpoints, 'swap-placed'), '');
    const run = runRestore({ cluster: 'lay-plain', backupName: backup.name }).catch((error: unknown) => error);
    await waitFor('the swap', () => readFile(join(failpoints, 'swap-placed.reached')).then(() => true, () => false), 300_000);
    await rm(join(plain.datadir, 'shop', 'orders.ibd'));
    await rm(join(failpoints, 'swap-placed'));
    const messages = failureChain(await run).map((link) => link.message).join(' | ');
    expect(messages).toContain('unreadable tables: shop.orders');
    expect(await plain.checksums(databases)).toEqual(before);
  });
});
