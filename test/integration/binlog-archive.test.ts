/**
 * Issue 16, archiving: the binlog archiver on real MariaDB (log_bin on, GTIDs in two domains) into
 * MinIO, started and stopped by `schedule apply` as an operator would. Every closed binlog is
 * archived once, byte for byte, with the facts of its events; a quiet server is neither rotated nor
 * archived again; a binlog purged before it was archived is a gap, recorded in storage, in the
 * archiver's state and in its search attribute.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import type { Client } from '@temporalio/client';
import type { MariaDbSandbox } from '../../devtools/sandbox/mariadb.js';
import { binlogGapSchema, binlogRecordSchema, continues, type BinlogRecord } from '../../domain/binlog-archive.js';
import { BinlogGapsKey } from '../../domain/search-attributes.js';
import { binlogArchiveQuery, WorkflowId, type BinlogArchiveState } from '../../domain/workflow-contract.js';
import { backup as backupWorkflow, restore as restoreWorkflow, type ClusterCatalog } from '../../workflows/index.js';
import type { ApplyReport } from '../../domain/schedules.js';
import { connectTestClient, createSandbox, failureChain, runCli, s3Storage, startWorker, testRoot, TestBucket, uniqueName, writeConfig, type WorkerProcess } from '../support/environment.js';
import { untilArchiveCaughtUp } from '../support/binlog-archive.js';
import { stopTestFile } from '../support/teardown.js';
import { eventually } from '../support/workflow-worker.js';

const taskQueue = uniqueName('binlogs');
const prefix = `${taskQueue}-archive`;
const archiveFolder = `${prefix}/binlogs/pitr/history-0/`;
const bucket = new TestBucket();
const archiverId = WorkflowId.binlogArchiver(taskQueue, 'pitr');
const failpoints = join(testRoot(), `${taskQueue}-failpoints`);

let source: MariaDbSandbox;
let worker: WorkerProcess;
let client: Client;
let closeClient: () => Promise<void>;
let configPath: string;
let archiveOffPath: string;

beforeAll(async () => {
  source = await createSandbox(`${taskQueue}-source`);
  await source.loadSampleData(1000);
  // A short heartbeat timeout: a killed worker's round is retried on the next worker within seconds.
  const cluster = (archive: boolean) =>
    source.clusterConfig('pitr', s3Storage(prefix), { retry: { maximumAttempts: 3, initialInterval: '200ms', heartbeatTimeout: '10s' }, schedule: { enabled: false }, binlogs: { archive, interval: '1s' } });
  await mkdir(failpoints, { recursive: true });
  configPath = await writeConfig(taskQueue, { temporal: { taskQueue }, clusters: [cluster(true)] });
  archiveOffPath = await writeConfig(`${taskQueue}-off`, { temporal: { taskQueue }, clusters: [cluster(false)] });
  worker = await startWorker(configPath, [], { CHAINBACKUP_FAILPOINTS: failpoints });
  ({ client, close: closeClient } = await connectTestClient());
});

afterAll(() => stopTestFile({ client, archivers: [archiverId], bucket, closeClient, worker, sandboxes: [source] }));

const archiver = () => client.workflow.getHandle(archiverId);
const state = (): Promise<BinlogArchiveState> => archiver().query(binlogArchiveQuery);

/** `chainbackup schedule apply` with a configuration: starts or stops the archiver. */
async function apply(path: string): Promise<ApplyReport> {
  const run = await runCli(['--config', path, 'schedule', 'apply', '--json']);
  expect(run).toMatchObject({ exitCode: 0, stderr: '' });
  return JSON.parse(run.stdout) as ApplyReport;
}

async function serverFiles(): Promise<string[]> {
  return (await source.sql('SHOW BINARY LOGS')).map(([name = '']) => name);
}

async function records(): Promise<BinlogRecord[]> {
  const keys = (await bucket.list(archiveFolder.slice(0, -1))).map((object) => object.key).filter((key) => key.endsWith('.json') && !key.startsWith('gap-'));
  const found = await Promise.all(keys.map(async (key) => binlogRecordSchema.parse(JSON.parse(await bucket.getText(`${archiveFolder}${key}`)))));
  return found.sort((a, b) => a.file.localeCompare(b.file));
}

describe('the binlog archiver', () => {
  test('archives every closed binlog once, byte for byte, with its events’ facts; a quiet server is not rotated or archived again', async () => {
    expect(await apply(configPath)).toEqual({ created: [archiverId], updated: [], deleted: [], unchanged: [] });
    expect(await apply(configPath)).toEqual({ created: [], updated: [], deleted: [], unchanged: [archiverId] });
    await source.sql("INSERT INTO shop.customers VALUES (100001, 'marker one', NULL)");
    await source.sql("SET SESSION gtid_domain_id = 5; INSERT INTO shop.customers VALUES (100002, 'marker two', NULL)");
    const caughtUp = await untilArchiveCaughtUp(client, archiverId, source);
    expect(caughtUp.gaps).toEqual([]);

    const archived = await records();
    expect(archived.length).toBeGreaterThan(0);
    const onServer = await serverFiles();
    // Everything but the file the server writes now.
    expect(archived.map((record) => record.file)).toEqual(onServer.slice(0, -1));
    for (const [index, record] of archived.entries()) {
      const stored = await bucket.getBytes(`${archiveFolder}${record.object}`);
      expect(createHash('sha256').update(stored).digest('hex')).toBe(record.sha256);
      expect(stored.length).toBe(record.size);
      const { stdout } = await execa('zstd', ['-d', '-c'], { input: stored, encoding: 'buffer', stripFinalNewline: false });
      expect(Buffer.compare(Buffer.from(stdout), await readFile(join(source.datadir, record.file)))).toBe(0);
      expect(record).toMatchObject({ cluster: 'pitr', history: 0, serverId: 1, fileSize: stdout.length, endPosition: stdout.length, closedBy: 'rotate' });
      const previous = archived[index - 1];
      if (previous) expect(continues(previous, record)).toBe(true);
    }
    const newest = archived.at(-1) as BinlogRecord;
    expect(newest.endGtids).toMatch(/^0-1-\d+,5-1-1$/);
    expect(Date.parse(newest.lastEventTime)).toBeGreaterThan(Date.now() - 10 * 60_000);
    expect(newest.seconds.at(-1)?.[1]).toContain('5-1-1');

    // Three more rounds on a quiet server: no rotation, no upload.
    const rounds = caughtUp.rounds;
    await eventually('three more rounds', async () => ((await state()).rounds >= rounds + 3 ? true : undefined), 60_000);
    expect(await serverFiles()).toEqual(onServer);
    expect((await bucket.list(archiveFolder.slice(0, -1))).length).toBe(archived.length * 2);
    expect((await state()).archivedFiles).toBe(caughtUp.archivedFiles);
  });

  test('a binlog purged before it was archived is a gap: recorded in storage, in the state and in the search attribute; a restore across it is refused', async () => {
    // A backup whose binlog position is archived, so that a restore to a later point would replay from it.
    const full = await client.workflow.execute(backupWorkflow, { taskQueue, workflowId: uniqueName('backup-pitr'), args: [{ cluster: 'pitr', type: 'full' }] });
    await source.sql("INSERT INTO shop.customers VALUES (100007, 'after the backup', NULL)");
    await untilArchiveCaughtUp(client, archiverId, source);
    // Archiving switched off: apply stops the archiver.
    await eventually('the archiver is listed as running', async () => ((await client.workflow.count(`WorkflowId = "${archiverId}" AND ExecutionStatus = "Running"`)).count === 1 ? true : undefined), 30_000);
    expect(await apply(archiveOffPath)).toMatchObject({ deleted: [archiverId] });
    await expect(archiver().result()).rejects.toThrow();
    const before = (await records()).at(-1) as BinlogRecord;
    await source.sql("INSERT INTO shop.customers VALUES (100003, 'lost one', NULL); FLUSH BINARY LOGS");
    await source.sql("INSERT INTO shop.customers VALUES (100004, 'lost two', NULL); FLUSH BINARY LOGS");
    const files = await serverFiles();
    const lost = files.slice(files.indexOf(before.file) + 1, -1);
    expect(lost.length).toBeGreaterThanOrEqual(2);
    // The server keeps a file its binlog checkpoint still needs, so purge until it has let them go.
    const current = files.at(-1) as string;
    await eventually('the server purges the files before the current one', async () => {
      await source.sql(`PURGE BINARY LOGS TO '${current}'`);
      return (await serverFiles())[0] === current ? true : undefined;
    }, 30_000);

    await source.sql("INSERT INTO shop.customers VALUES (100005, 'after the gap', NULL)");
    expect(await apply(configPath)).toMatchObject({ created: [archiverId] });
    const caughtUp = await untilArchiveCaughtUp(client, archiverId, source);
    expect(caughtUp.gaps).toHaveLength(1);
    const [gap] = caughtUp.gaps;
    expect(gap).toMatchObject({ cluster: 'pitr', history: 0, after: before.file, lost, fromGtids: before.endGtids });
    expect(binlogGapSchema.parse(JSON.parse(await bucket.getText(`${archiveFolder}gap-${before.file}.json`)))).toEqual(gap);
    await eventually('the search attribute shows the gap', async () => ((await archiver().describe()).typedSearchAttributes.get(BinlogGapsKey) === 1 ? true : undefined), 30_000);
    // Nothing of the lost files is in the archive, and what followed them is.
    const files2 = (await records()).map((record) => record.file);
    for (const file of lost) expect(files2).not.toContain(file);
    expect(files2.at(-1)).toBe((await serverFiles()).at(-2));

    // Restoring to a point after the gap would lose what the gap held: refused before anything is touched, giving the window.
    const point = caughtUp.newest?.lastEventTime as string;
    const refused = await client.workflow.execute(restoreWorkflow, { taskQueue, workflowId: uniqueName('restore-pitr'), args: [{ cluster: 'pitr', pointInTime: point }] }).then(
      (result: unknown) => failureChain(result).find((failure) => failure.type !== undefined),
      (error: unknown) => failureChain(error).find((failure) => failure.type !== undefined),
    );
    expect(refused?.type).toBe('BrokenChain');
    expect(refused?.message).toContain(`the binlog archive has a gap between ${before.file} and`);
    const [catalog] = JSON.parse((await runCli(['--config', configPath, 'list', 'pitr', '--json'])).stdout) as ClusterCatalog[];
    expect(catalog?.pointInTime?.gaps).toEqual([{ after: before.file, before: gap?.before, from: before.lastEventTime, to: expect.any(String) as unknown as string }]);
    expect(refused?.message).toMatch(new RegExp(`reachable: ${full.name.slice(5, 15)}\\S+ to \\S+Z; nothing from ${before.lastEventTime.replace(/[.]/g, '\\.')} on \\(binlogs after ${before.file.replace(/[.]/g, '\\.')} were lost\\) until the next backup$`));
  });

  test('a worker killed after an upload but before its record leaves nothing archived; the next worker archives the file whole', async () => {
    const armed = join(failpoints, 'binlog-uploaded');
    await writeFile(armed, '');
    const files = (await records()).map((record) => record.file);
    await source.sql("INSERT INTO shop.customers VALUES (100006, 'killed upload', NULL)");
    await eventually('the archiver holds after an upload', async () => (await stat(`${armed}.reached`).then(() => true, () => false)) || undefined, 60_000);
    const held = (await serverFiles()).at(-2) as string;
    const keys = (await bucket.list(archiveFolder.slice(0, -1))).map((object) => object.key);
    expect(keys).toContain(`${held}.zst`);
    expect(keys).not.toContain(`${held}.json`);
    expect((await records()).map((record) => record.file)).toEqual(files);

    await worker.kill();
    await rm(armed);
    await rm(`${armed}.reached`, { force: true });
    worker = await startWorker(configPath, [], { CHAINBACKUP_FAILPOINTS: failpoints });
    const caughtUp = await untilArchiveCaughtUp(client, archiverId, source);
    const after = await records();
    expect(after.map((record) => record.file)).toEqual([...files, held]);
    const record = after.at(-1) as BinlogRecord;
    const stored = await bucket.getBytes(`${archiveFolder}${record.object}`);
    expect(createHash('sha256').update(stored).digest('hex')).toBe(record.sha256);
    const { stdout } = await execa('zstd', ['-d', '-c'], { input: stored, encoding: 'buffer', stripFinalNewline: false });
    expect(Buffer.compare(Buffer.from(stdout), await readFile(join(source.datadir, held)))).toBe(0);
    expect(caughtUp.gaps).toHaveLength(1); // the one of the test before, no new one
  });
});
