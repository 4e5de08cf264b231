/**
 * Issue 32: the servers people run. This file runs twice in `npm test`: on the host's MariaDB
 * (10.11 on Debian 12) and in a root of the other Debian release (11.8 on Debian 13), each with that
 * release's own mariadb-backup, mariadbd and mariadb-binlog.
 *
 * - A server with data-at-rest encryption (file_key_management; tables, redo log, binlog, temporary
 *   files and Aria encrypted): a chain, a verification, a restore into a second such server, and a
 *   restore in place to a point in time, the data equal each time.
 * - The tool's file names of this release (xtrabackup_* before 11, mariadb_backup_* from 11 on), kept
 *   in storage as the tool wrote them and named by the manifest.
 * - A chain refused by a worker whose tool is of another release series, before anything is
 *   downloaded; a chain whose server moved to another series is not continued (a schedule's
 *   increment starts a new chain instead).
 * - A corrupted page fails the backup in one attempt, with a short message naming the file.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { chmod, open, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import type { MariaDbSandbox } from '../../devtools/sandbox/mariadb.js';
import type { Manifest } from '../../domain/manifest.js';
import { releaseSeries } from '../../domain/tool-version.js';
import { MAX_TOOL_MESSAGE_CHARS } from '../../domain/tool-failures.js';
import { WorkflowId } from '../../domain/workflow-contract.js';
import { backup as backupWorkflow, binlogArchiver, restore as restoreWorkflow, type BackupResult } from '../../workflows/index.js';
import { activityRuns, connectTestClient, typedFailureOf, createSandbox, failureChain, filesystemStorage, s3Storage, startWorker, testRoot, TestBucket, uniqueName, writeConfig, type WorkerProcess } from '../support/environment.js';
import { untilArchiveCaughtUp } from '../support/binlog-archive.js';
import { stopTestFile } from '../support/teardown.js';

const taskQueue = uniqueName('releases');
const encryptedStore = s3Storage(`${taskQueue}-encrypted`);
const plainStore = filesystemStorage(`${taskQueue}-plain`);
const storePath = plainStore.kind === 'filesystem' ? plainStore.path : '';
const archiverId = WorkflowId.binlogArchiver(taskQueue, 'rel-enc');
const fastRetry = { maximumAttempts: 3, initialInterval: '200ms', heartbeatTimeout: '10s' };
const bucket = new TestBucket();

let encrypted: MariaDbSandbox;
let encryptedCopy: MariaDbSandbox;
let plain: MariaDbSandbox;
let damaged: MariaDbSandbox;
let worker: WorkerProcess;
let client: Client;
let closeClient: () => Promise<void>;
/** The series of this run's server ("10.11" or "11.8"). */
let series: string;

/** A tool on the worker that says it is of another series (the one a restore must refuse), and otherwise is the real one. */
async function toolOfAnotherSeries(): Promise<string> {
  const path = join(testRoot(), `${taskQueue}-other-series-tool`);
  const other = series === '10.11' ? '11.8.9' : '10.11.19';
  await writeFile(path, `#!/bin/sh\nif [ "$1" = --version ]; then echo "mariadb-backup based on MariaDB server ${other}-MariaDB debian-linux-gnu (x86_64)"; exit 0; fi\nexec mariadb-backup "$@"\n`);
  await chmod(path, 0o755);
  return path;
}

beforeAll(async () => {
  [encrypted, plain, damaged] = await Promise.all([
    createSandbox(`${taskQueue}-enc`, [], { dataAtRestEncryption: true }),
    createSandbox(`${taskQueue}-plain`),
    createSandbox(`${taskQueue}-damaged`),
  ]);
  // A second encrypted server with the first one's keys: the only kind that can read its restored files.
  encryptedCopy = await createSandbox(`${taskQueue}-enc-copy`, [], { dataAtRestEncryption: { keysOf: encrypted } });
  series = releaseSeries((await plain.sql('SELECT @@version'))[0]?.[0]) ?? '?';
  await Promise.all([encrypted.loadSampleData(), plain.loadSampleData(), damaged.loadSampleData()]);
  // The archive reads an encrypted binlog through the server: the documented grants (README quick start) include REPLICATION SLAVE for it.
  const config = {
    temporal: { taskQueue },
    clusters: [
      encrypted.clusterConfig('rel-enc', encryptedStore, { retry: fastRetry, schedule: { enabled: false }, binlogs: { archive: true, interval: '1s' } }),
      encryptedCopy.clusterConfig('rel-enc-copy', encryptedStore, { retry: fastRetry, schedule: { enabled: false }, connection: { ...encrypted.connection(), socket: encryptedCopy.socket } }),
      plain.clusterConfig('rel-plain', plainStore, { retry: fastRetry, schedule: { enabled: false } }),
      plain.clusterConfig('rel-plain-other-tool', plainStore, { retry: fastRetry, schedule: { enabled: false }, backup: { toolPath: await toolOfAnotherSeries() } }),
      damaged.clusterConfig('rel-damaged', plainStore, { retry: fastRetry, schedule: { enabled: false } }),
    ],
  };
  worker = await startWorker(await writeConfig(taskQueue, config));
  ({ client, close: closeClient } = await connectTestClient());
});

afterAll(() => stopTestFile({ client, archivers: [archiverId], bucket, closeClient, worker, sandboxes: [encrypted, encryptedCopy, plain, damaged] }));

const takeBackup = (prefix: string, request: Parameters<typeof backupWorkflow>[0]) => client.workflow.execute(backupWorkflow, { taskQueue, workflowId: uniqueName(prefix), args: [request] });
const restore = (prefix: string, request: Parameters<typeof restoreWorkflow>[0]) => client.workflow.execute(restoreWorkflow, { taskQueue, workflowId: uniqueName(prefix), args: [request] });


const TABLES = ['shop.customers', 'shop.orders', 'shop.markers'];

describe('a server with data-at-rest encryption', () => {
  let full: BackupResult;
  let increment: BackupResult;
  let atIncrement: Record<string, string>;

  test('backs up a chain and archives its binlog, which the server encrypts on disk', async () => {
    // The files on disk are encrypted: no row's text is readable there.
    const orders = await readFile(join(encrypted.datadir, 'shop', 'orders.ibd'));
    expect(orders.includes(Buffer.from('AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'))).toBe(false);
    await client.workflow.start(binlogArchiver, { taskQueue, workflowId: archiverId, args: [{ cluster: 'rel-enc' }] });
    await encrypted.sql('CREATE TABLE shop.markers (id INT PRIMARY KEY, note VARCHAR(64)) ENGINE=InnoDB; INSERT INTO shop.markers VALUES (1, "before the full backup")');
    full = await takeBackup('backup-enc-full', { cluster: 'rel-enc', type: 'full' });
    await encrypted.sql('INSERT INTO shop.markers VALUES (2, "between the backups"); UPDATE shop.customers SET name = CONCAT(name, "*") WHERE id % 7 = 0');
    increment = await takeBackup('backup-enc-incr', { cluster: 'rel-enc', type: 'incremental' });
    expect(increment).toMatchObject({ type: 'incremental', parent: full.name });
    atIncrement = await encrypted.checksums(['shop']);
  });

  test('a verification starts its throw-away server with the key management plugin and passes', async () => {
    const verified = await restore('verify-enc', { cluster: 'rel-enc', backupName: increment.name, target: { kind: 'verify' } });
    expect(verified.verification?.tables).toBeGreaterThanOrEqual(3);
  });

  test('a restore into a second such server seeds its binlog history on the encrypted files, the data equal', async () => {
    const copied = await restore('restore-enc-copy', { cluster: 'rel-enc-copy', source: { storage: encryptedStore, path: `${full.name}.incr/${increment.name}/` } });
    expect(copied.chain).toEqual([full.name, increment.name]);
    expect(copied.gtidPosition).toBeDefined();
    expect(await encryptedCopy.checksums(['shop'])).toEqual(atIncrement);
  });

  test('a restore in place to a GTID applies the archived binlogs through a private server with the plugin, the data equal at that GTID', async () => {
    // After the increment: markers 3 and 4 with a rotation between them, then the point, then marker 5.
    await encrypted.sql('INSERT INTO shop.markers VALUES (3, "after the increment"); FLUSH BINARY LOGS; INSERT INTO shop.markers VALUES (4, "after a rotation")');
    const atPointGtid = (await encrypted.sql('SELECT @@gtid_binlog_pos'))[0]?.[0] ?? '';
    const atPoint = await encrypted.checksums(['shop']);
    await encrypted.sql('INSERT INTO shop.markers VALUES (5, "after the point")');
    await untilArchiveCaughtUp(client, archiverId, encrypted);
    // The archive holds the binlog as read through the server: decrypted, then sealed or not by the product's own setting.
    const archived = (await bucket.list(`${taskQueue}-encrypted/binlogs/rel-enc/history-0`)).filter((object) => object.key.endsWith('.zst'));
    expect(archived.length).toBeGreaterThanOrEqual(2);

    const pointed = await restore('restore-enc-gtid', { cluster: 'rel-enc', gtid: atPointGtid.split(',').find((gtid) => gtid.startsWith('0-')) });
    expect(pointed.restored).toBe(increment.name);
    expect(await encrypted.checksums(['shop'])).toEqual(atPoint);
    expect((await encrypted.sql('SELECT id FROM shop.markers ORDER BY id')).map(([id]) => Number(id))).toEqual([1, 2, 3, 4]);
    const checks = await encrypted.sql(`CHECK TABLE ${TABLES.join(', ')} EXTENDED`);
    expect(checks.filter((row) => row[2] === 'status').map((row) => row[3])).toEqual(['OK', 'OK', 'OK']);
    // Still encrypted on disk after the restore.
    expect((await encrypted.sql("SELECT COUNT(*) FROM information_schema.innodb_tablespaces_encryption WHERE name LIKE 'shop/%' AND current_key_version > 0"))[0]?.[0]).toBe('3');
  });
});

describe(`the backup tool of this release`, () => {
  let full: BackupResult;

  test('a chain stores the tool files under the names this release writes, and restores exactly', async () => {
    full = await takeBackup('backup-plain-full', { cluster: 'rel-plain', type: 'full' });
    await plain.sql('UPDATE shop.orders SET total = total + 1 WHERE id % 3 = 0');
    const increment = await takeBackup('backup-plain-incr', { cluster: 'rel-plain', type: 'incremental' });
    const expected = await plain.checksums(['shop']);
    const generation = Number(series.split('.')[0]) >= 11 ? 'mariadb_backup' : 'xtrabackup';
    for (const backup of [full, increment]) {
      const folder = join(storePath, backup.path);
      const names = await readdir(folder);
      expect(names).toEqual(expect.arrayContaining([`${generation}_checkpoints`, `${generation}_info`, 'manifest.json']));
      const manifest = JSON.parse(await readFile(join(folder, 'manifest.json'), 'utf8')) as Manifest;
      expect(manifest.toolFiles).toBe(generation === 'xtrabackup' ? undefined : 'mariadb_backup');
      expect(releaseSeries(manifest.tool.version)).toBe(series);
    }
    await plain.sql('DROP DATABASE shop');
    const restored = await restore('restore-plain', { cluster: 'rel-plain', backupName: increment.name });
    expect(restored.chain).toEqual([full.name, increment.name]);
    expect(await plain.checksums(['shop'])).toEqual(expected);
  });

  test('a worker whose tool is of another series refuses the chain before downloading anything, naming both versions', async () => {
    const refused = await typedFailureOf(restore('verify-other-tool', { cluster: 'rel-plain-other-tool', source: { storage: plainStore, path: full.path }, target: { kind: 'verify' } }));
    expect(refused.type).toBe('ToolVersionMismatch');
    expect(refused.message).toContain(`(series ${series})`);
    expect(refused.message).toContain(`this worker's`);
    expect(refused.message).toMatch(series === '10.11' ? /is 11\.8 \(/ : /is 10\.11 \(/);
  });

  test('an increment does not continue a chain taken on another series; a scheduled one starts a new chain', async () => {
    // The chain as it would look had the server been upgraded since its full backup: its manifest names the other series.
    const chainFull = await takeBackup('backup-plain-full-2', { cluster: 'rel-plain', type: 'full' });
    const manifestPath = join(storePath, chainFull.path, 'manifest.json');
    const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as Manifest;
    const older = series === '10.11' ? '10.6.20' : '10.11.19';
    await writeFile(manifestPath, JSON.stringify({ ...manifest, tool: { ...manifest.tool, version: `${older}-MariaDB` }, serverVersion: `${older}-MariaDB-log` }));

    const refused = await typedFailureOf(takeBackup('backup-plain-incr-refused', { cluster: 'rel-plain', type: 'incremental' }));
    expect(refused.type).toBe('ToolVersionMismatch');
    expect(refused.message).toContain(`the chain of ${chainFull.name} was taken on MariaDB/MySQL ${releaseSeries(older) ?? ''}`);
    expect(refused.message).toContain('chainbackup backup rel-plain --type full');

    // As the schedule sends it: a full backup instead, saying why.
    const scheduled = await takeBackup('backup-plain-scheduled', { cluster: 'rel-plain', type: 'incremental', newChainWhenNeeded: true });
    expect(scheduled.type).toBe('full');
    expect(scheduled.newChainBecause).toContain('cannot continue a chain across release series');
  });
});

describe('a tool failure that cannot succeed on a retry', () => {
  test('a corrupted page fails the backup in one attempt, with a short message naming the file', async () => {
    // A page in the middle of shop.orders, flipped while the server is down; the server starts without reading it.
    await damaged.stop();
    const file = await open(join(damaged.datadir, 'shop', 'orders.ibd'), 'r+');
    const page = 16_384;
    const { size } = await file.stat();
    const at = Math.floor(size / page / 2) * page + 2000;
    const original = Buffer.alloc(64);
    await file.read(original, 0, 64, at);
    await file.write(Buffer.from(original.map((byte) => byte ^ 0xff)), 0, 64, at);
    await file.close();
    await damaged.start();

    const workflowId = uniqueName('backup-damaged');
    const error = await client.workflow.execute(backupWorkflow, { taskQueue, workflowId, args: [{ cluster: 'rel-damaged', type: 'full' }] }).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    const failure = failureChain(error).find((entry) => entry.type === 'BackupToolFailed');
    expect(failure?.message).toMatch(/orders\.ibd/);
    expect(failure?.message).toContain('retrying cannot help');
    expect((failure?.message ?? '').length).toBeLessThan(MAX_TOOL_MESSAGE_CHARS + 300);
    expect(failure?.message).not.toMatch(/[0-9a-f]{64}/);
    const takes = (await activityRuns(client, workflowId)).filter((activity) => activity.type === 'takeBackup');
    expect(takes).toEqual([{ type: 'takeBackup', attempts: 1 }]);
  });
});
