/**
 * Issue 35, the streamed archive (binlogs.rpo): the binary log is read as a replica reads it and
 * stored in parts cut after whole transactions, without rotating the server's binlog. A writer logs
 * a marker every ~15 ms; after each fault, a restore to a second after it must hold exactly the
 * markers logged up to that second: none missing, none twice (a doubled transaction fails the replay
 * on the markers' primary key or shows as an extra row).
 *
 * - Quiet and busy: restores to a recent second are exact, and the server's binlog was never rotated.
 * - The server restarted, and the stream's connection killed on the server.
 * - The worker SIGKILLed between a part's upload and its record, and away for a while.
 * - Storage down for a minute: `status` breaks `binlogs.rpo` while it is, and nothing is lost.
 * - No gap is recorded for any of these; one is recorded where the server purged what the archive lacked.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import type { Client } from '@temporalio/client';
import type { MariaDbSandbox } from '../../devtools/sandbox/mariadb.js';
import { startMinio, type MinioServer } from '../../devtools/sandbox/minio.js';
import type { StorageConfig } from '../../domain/config.js';
import { WorkflowId } from '../../domain/workflow-contract.js';
import type { StreamReport } from '../../domain/binlog-archive.js';
import { heartbeatDetails } from '../../activities/pending-activity.js';
import { streamServerId } from '../../activities/binlogs/archive.js';
import type { ProgressDetails } from '../../activities/streams.js';
import { backup as backupWorkflow, binlogArchiver, restore as restoreWorkflow, retention as retentionWorkflow, type ClusterCatalog, type RestoreResult } from '../../workflows/index.js';
import { stopArchiver } from '../support/binlog-archive.js';
import { withServerOnFolder } from '../support/server-on-folder.js';
import { eventually } from '../support/workflow-worker.js';
import { connectTestClient, createSandbox, runCli, startWorker, testRoot, uniqueName, writeConfig, type WorkerProcess } from '../support/environment.js';

const name = uniqueName('stream');
const dir = join(testRoot(), name);
const failpoints = join(dir, 'failpoints');
const archiverId = WorkflowId.binlogArchiver(name, 'stream');

let minio: MinioServer;
let source: MariaDbSandbox;
let worker: WorkerProcess;
let client: Client;
let closeClient: () => Promise<void>;
let configPath: string;
let writer: ChildProcessWithoutNullStreams | undefined;

const minioEnv = () => ({ AWS_ACCESS_KEY_ID: minio.accessKeyId, AWS_SECRET_ACCESS_KEY: minio.secretAccessKey });
const storage = (): StorageConfig => ({ kind: 's3', bucket: 'backups', prefix: 'stream', region: 'us-east-1', endpoint: minio.endpoint, forcePathStyle: true });
const cli = (...args: string[]) => runCli(['--config', configPath, ...args], minioEnv());
const startOurWorker = () => startWorker(configPath, [], { ...minioEnv(), CHAINBACKUP_FAILPOINTS: failpoints });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  await mkdir(failpoints, { recursive: true });
  [minio, source] = await Promise.all([startMinio(join(dir, 'minio')), createSandbox(`${name}-source`)]);
  await minio.createBucket('backups');
  await source.loadSampleData(200);
  await source.sql('CREATE TABLE shop.markers (id INT PRIMARY KEY AUTO_INCREMENT, at DECIMAL(17,6) NOT NULL) ENGINE=InnoDB');
  const cluster = source.clusterConfig('stream', storage(), {
    retry: { maximumAttempts: 3, initialInterval: '200ms', heartbeatTimeout: '10s' },
    schedule: { enabled: false },
    binlogs: { archive: true, rpo: '2s' },
    health: {},
  });
  configPath = await writeConfig(name, { temporal: { taskQueue: name }, clusters: [cluster] });
  worker = await startOurWorker();
  ({ client, close: closeClient } = await connectTestClient());
  await client.workflow.execute(backupWorkflow, { taskQueue: name, workflowId: uniqueName('backup-stream'), args: [{ cluster: 'stream', type: 'full' }] });
  await client.workflow.start(binlogArchiver, { taskQueue: name, workflowId: archiverId, args: [{ cluster: 'stream' }] });
}, 300_000);

afterAll(async () => {
  await stopWriter();
  await stopArchiver(client, archiverId);
  await closeClient?.();
  await worker?.stop();
  await Promise.all([source?.stop(), minio?.stop()]);
});

/** Starts the writer: one autocommitted marker every ~15 ms, each with the time its statement began. */
function startWriter(): void {
  const started = spawn('mariadb', ['--no-defaults', `--socket=${source.socket}`, '--user=root', '--batch', '--unbuffered', 'shop'], { stdio: 'pipe' });
  writer = started;
  // A server that goes away ends the writer; its last statements may fail, which is what a client sees.
  started.stdin.on('error', () => undefined);
  started.stdout.resume();
  started.stderr.resume();
  const write = () => {
    if (writer !== started || started.stdin.destroyed || started.exitCode !== null) return;
    started.stdin.write('INSERT INTO markers (at) VALUES (UNIX_TIMESTAMP(NOW(6)));\n');
    setTimeout(write, 15);
  };
  write();
}

async function stopWriter(): Promise<void> {
  const stopping = writer;
  writer = undefined;
  if (!stopping || stopping.exitCode !== null) return;
  const exited = new Promise((resolve) => stopping.once('exit', resolve));
  stopping.stdin.end();
  await exited;
}

async function serverNow(): Promise<number> {
  return Number((await source.sql('SELECT UNIX_TIMESTAMP(NOW(6))'))[0]?.[0]);
}

const iso = (second: number) => `${new Date(second * 1000).toISOString().slice(0, 19)}Z`;

/** The writer stops; the second now, once the server's clock is past it: every marker is in it or before it. */
async function quietSecond(): Promise<number> {
  await stopWriter();
  const second = Math.floor(await serverNow());
  while ((await serverNow()) < second + 1.05) await sleep(100);
  return second;
}

/** A restore to the end of `second` into a new datadir (waiting for the archive to cover it), and the markers it holds. */
async function exactAt(second: number, tag: string): Promise<RestoreResult> {
  const path = join(dir, `clone-${tag}`);
  const result = await client.workflow.execute(restoreWorkflow, {
    taskQueue: name,
    workflowId: uniqueName(`restore-stream-${tag}`),
    args: [{ cluster: 'stream', pointInTime: iso(second), waitForArchive: '3m', target: { kind: 'new-datadir', path } }],
  });
  const { value: restored } = await withServerOnFolder(path, [`datadir=${path}`], join(dir, `reader-${tag}`), async (sql) => (await sql('SELECT id FROM shop.markers ORDER BY id')).split('\n').filter(Boolean).map(Number));
  const expected = (await source.sql(`SELECT id FROM shop.markers WHERE FLOOR(at) <= ${second} ORDER BY id`)).map(([id = '']) => Number(id));
  expect(expected.length).toBeGreaterThan(0);
  expect(restored).toEqual(expected);
  await rm(path, { recursive: true, force: true });
  return result;
}

/** The running streaming step's own report, from its last heartbeat. */
async function streamReport(): Promise<StreamReport | undefined> {
  const pending = (await client.workflow.getHandle(archiverId).describe()).raw.pendingActivities ?? [];
  const step = pending.find((activity) => activity.activityType?.name === 'streamBinlogs');
  return step ? ((await heartbeatDetails(client, step)) as ProgressDetails | undefined)?.archive : undefined;
}

async function pointInTimeOf() {
  const [catalog] = JSON.parse((await cli('list', 'stream', '--json')).stdout) as ClusterCatalog[];
  return catalog?.pointInTime;
}

/** Keys under a prefix of this file's MinIO. */
async function storedKeys(prefix: string): Promise<string[]> {
  const s3 = new S3Client({ endpoint: minio.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: minio.accessKeyId, secretAccessKey: minio.secretAccessKey } });
  try {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: 'backups', Prefix: prefix }));
    return (page.Contents ?? []).map((item) => item.Key ?? '');
  } finally {
    s3.destroy();
  }
}

/** The processes streaming this cluster's binlog (by the replica id the stream takes). */
async function streamProcesses(): Promise<string[]> {
  const found: string[] = [];
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const command = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
    if (command.includes(`--stop-never-slave-server-id=${streamServerId('stream')}`) && !command.includes('setpriv')) found.push(pid);
  }
  return found;
}

async function binlogFiles(): Promise<string[]> {
  return (await source.sql('SHOW BINARY LOGS')).map(([file = '']) => file);
}

describe('the streamed binlog archive', () => {
  test('busy and then quiet: restores to a recent second are exact, from parts of the file the server still writes, which it never rotated', async () => {
    const filesBefore = await binlogFiles();
    await eventually('the stream reports', () => streamReport(), 60_000);
    const eventsBefore = (await client.workflow.getHandle(archiverId).describe()).historyLength;
    startWriter();
    await sleep(6000);
    const busy = Math.floor(await serverNow()) - 1;
    await sleep(3000);
    const quiet = await quietSecond();
    // Streaming all that while cost the archiver's history no event: one step runs for an hour.
    expect((await client.workflow.getHandle(archiverId).describe()).historyLength).toBe(eventsBefore);
    await exactAt(busy, 'busy');
    // A quiet server: the seconds after its last transaction are covered too.
    await exactAt(quiet, 'quiet');
    expect(await binlogFiles()).toEqual(filesBefore);
    // The two restores that waited asked the archiver once each (a signal: 4 events), to learn that it runs.
    expect((await client.workflow.getHandle(archiverId).describe()).historyLength).toBeLessThanOrEqual(eventsBefore + 8);
    const parts = (await storedKeys(`stream/binlogs/stream/history-0/segments/${filesBefore.at(-1) ?? ''}/`)).filter((key) => key.endsWith('.zst'));
    expect(parts.length).toBeGreaterThan(1);
    // Retention removes nothing of a file the server still writes, which the kept backup needs: its parts stay.
    const retained = await client.workflow.execute(retentionWorkflow, { taskQueue: name, workflowId: uniqueName('retention-stream'), args: [{ cluster: 'stream' }] });
    expect(retained.binlogs?.removed ?? []).toEqual([]);
    const partsAfter = (await storedKeys(`stream/binlogs/stream/history-0/segments/${filesBefore.at(-1) ?? ''}/`)).filter((key) => key.endsWith('.zst'));
    expect(partsAfter).toEqual(expect.arrayContaining(parts));
    expect((await pointInTimeOf())?.gaps ?? []).toEqual([]);
    // The stream's live report: no rule broken.
    const status = await cli('status', 'stream');
    expect(status.stdout).not.toContain('BROKEN');
    expect(status.stdout).toMatch(/archive .* behind|caught up/);
  });

  test('a file that grows past what the stream keeps of it locally (64 MiB): the stream starts again after its stored parts, and nothing is missing or twice', async () => {
    await source.sql('CREATE TABLE shop.bulk (id INT PRIMARY KEY AUTO_INCREMENT, pad LONGBLOB NOT NULL) ENGINE=InnoDB');
    const [streamBefore] = await streamProcesses();
    const sizeBefore = Number((await source.sql('SHOW BINARY LOGS')).at(-1)?.[1]);
    startWriter();
    // UUID() makes the statement unsafe for statement logging: each 7 MB row goes to the binlog as a row event.
    for (let row = 0; row < 12; row++) await source.sql("INSERT INTO shop.bulk (pad) VALUES (REPEAT(UUID(), 200000))");
    const logged = Number((await source.sql('SHOW BINARY LOGS')).at(-1)?.[1]);
    expect(logged - sizeBefore).toBeGreaterThan(64 * 1024 * 1024);
    // The stream started again after its stored parts: another process reads the same file on.
    await eventually('the stream started again', async () => {
      const [now] = await streamProcesses();
      return now !== undefined && now !== streamBefore ? now : undefined;
    }, 60_000);
    await sleep(2000);
    const second = await quietSecond();
    await exactAt(second, 'large');
  });

  test("the server down, then restarted, and the stream's connection killed on the server: status breaks binlogs.rpo while the stream is down; nothing missing, nothing twice", async () => {
    startWriter();
    await sleep(3000);
    await stopWriter();
    await source.stop();
    try {
      const broken = await eventually('status breaks binlogs.rpo', async () => {
        const status = await cli('status', 'stream');
        return status.stdout.includes('BROKEN binlogs.rpo') ? status : undefined;
      }, 120_000);
      expect(broken.exitCode).toBe(4);
      expect(broken.stdout).toMatch(/BROKEN binlogs\.rpo: the binlog archive is .* behind the server, more than its RPO of 2s \(last error: /);
    } finally {
      await source.start();
    }
    startWriter();
    await sleep(3000);
    // The stream connects again by itself once the server is back (its retries back off, so not at a fixed moment): one connection.
    const dumps = await eventually('the stream connected again', async () => {
      const found = await source.sql("SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'");
      return found.length > 0 ? found : undefined;
    }, 120_000);
    expect(dumps.length).toBe(1);
    await source.sql(`KILL ${dumps[0]?.[0] ?? ''}`);
    await sleep(3000);
    const second = await quietSecond();
    await exactAt(second, 'restarted');
    expect((await pointInTimeOf())?.gaps ?? []).toEqual([]);
  });

  test('the worker SIGKILLed between a part and its record, and away for a while: nothing missing, nothing twice', async () => {
    startWriter();
    await writeFile(join(failpoints, 'binlog-part-uploaded'), '');
    for (let tries = 0; !(await stat(join(failpoints, 'binlog-part-uploaded.reached')).then(() => true, () => false)); tries++) {
      if (tries > 1200) throw new Error('no worker reached failpoint binlog-part-uploaded');
      await sleep(100);
    }
    await worker.kill();
    // The killed worker's stream goes with it: nothing reads the server's binlog for a worker that is gone.
    await eventually('the killed worker left no stream behind', async () => ((await streamProcesses()).length === 0 ? true : undefined), 30_000);
    await rm(join(failpoints, 'binlog-part-uploaded'), { force: true });
    await rm(join(failpoints, 'binlog-part-uploaded.reached'), { force: true });
    await sleep(5000);
    worker = await startOurWorker();
    await sleep(3000);
    const second = await quietSecond();
    await exactAt(second, 'killed');
    expect((await pointInTimeOf())?.gaps ?? []).toEqual([]);
  });

  test("storage down for a minute: the stream's report (the Web UI's pending step) says how far behind it is and why; storage back, nothing is missing", async () => {
    startWriter();
    await sleep(2000);
    await minio.stop();
    const downAt = Date.now();
    try {
      const report = await eventually('the stream reports the outage', async () => {
        const found = await streamReport();
        return found?.lastError !== undefined && found.lagSeconds > 2 ? found : undefined;
      }, 120_000);
      expect(report.caughtUp).toBe(false);
      await sleep(Math.max(0, 60_000 - (Date.now() - downAt)));
    } finally {
      minio = { ...minio, ...(await startMinio(join(dir, 'minio'), minio)) };
    }
    await sleep(3000);
    const second = await quietSecond();
    await exactAt(second, 'storage-down');
    expect((await pointInTimeOf())?.gaps ?? []).toEqual([]);
    await eventually('the stream is caught up again', async () => ((await streamReport())?.caughtUp ? true : undefined), 60_000);
    expect((await cli('status', 'stream')).stdout).not.toContain('BROKEN');
  });

  test('an in-place restore: the stream is held off while it runs, then goes on in the restored server\'s history, from which a restore to a point is exact', async () => {
    const [catalog] = JSON.parse((await cli('list', 'stream', '--json')).stdout) as ClusterCatalog[];
    const newest = catalog?.chains.at(-1)?.base.name ?? '';
    const archiver = client.workflow.getHandle(archiverId);
    await eventually('the stream reports', () => streamReport(), 60_000);
    const stepOf = async () => (await archiver.describe()).raw.pendingActivities?.find((activity) => activity.activityType?.name === 'streamBinlogs')?.activityId ?? undefined;
    const stepBefore = await stepOf();
    const eventsBefore = (await archiver.describe()).historyLength;
    await client.workflow.execute(restoreWorkflow, { taskQueue: name, workflowId: uniqueName('restore-stream-in-place'), args: [{ cluster: 'stream', backupName: newest }] });
    // The step held during the restore ends once the new history is recorded, and the next streams in it: what one
    // whole step costs the archiver's history (one step an hour: its events per cluster-hour).
    await eventually('the next step runs', async () => {
      const step = await stepOf();
      return step !== undefined && step !== stepBefore ? step : undefined;
    }, 120_000);
    const stepEvents = (await archiver.describe()).historyLength - eventsBefore;
    // The step's start, its completion, one workflow task, the next step's schedule; the first step of a run also
    // writes its search attribute once.
    expect(stepEvents).toBeGreaterThanOrEqual(6);
    expect(stepEvents).toBeLessThanOrEqual(7);
    await client.workflow.execute(backupWorkflow, { taskQueue: name, workflowId: uniqueName('backup-stream-history-1'), args: [{ cluster: 'stream', type: 'full' }] });
    startWriter();
    await sleep(4000);
    const second = await quietSecond();
    const result = await exactAt(second, 'history-1');
    expect(result.pointTakenAs).toBe(iso(second));
    expect((await storedKeys('stream/binlogs/stream/history-1/segments/')).some((key) => key.endsWith('.zst'))).toBe(true);
  });

  test('a gap is recorded where the server purged what the archive lacked, and only there', async () => {
    await stopArchiver(client, archiverId);
    // The terminated archiver's step stops at its next heartbeat: until then it may archive what is flushed.
    await eventually('the stream has stopped', async () => ((await streamProcesses()).length === 0 ? true : undefined), 60_000);
    await source.sql('INSERT INTO shop.markers (at) VALUES (UNIX_TIMESTAMP(NOW(6))); FLUSH BINARY LOGS; INSERT INTO shop.markers (at) VALUES (UNIX_TIMESTAMP(NOW(6))); FLUSH BINARY LOGS');
    const files = await binlogFiles();
    await source.sql(`PURGE BINARY LOGS TO '${files.at(-1) ?? ''}'`);
    await client.workflow.start(binlogArchiver, { taskQueue: name, workflowId: archiverId, args: [{ cluster: 'stream' }] });
    const window = await eventually('the gap is recorded', async () => {
      const found = await pointInTimeOf();
      return (found?.gaps.length ?? 0) > 0 ? found : undefined;
    }, 120_000);
    expect(window?.gaps).toHaveLength(1);
    expect(window?.unreachableFrom).toBeDefined();
  });
});
