/**
 * The point-in-time scenario: a sysbench write load on a server that logs ROW binlog, streamed into
 * the archive while it runs (binlogs.rpo). Its lag is measured from outside: every second the
 * server's GTID position is taken, and the time until the store holds it is the lag of that sample.
 * The archiver's Temporal history is counted, and the objects the stream wrote. Then one restore to the end of the load
 * through the product (the archived files applied by the replication applier of a private server)
 * and one through the serial path (`mariadb-binlog | mariadb` on the same archived files, after a
 * plain restore of the same backup). The tables must come out the same.
 */
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { execa } from 'execa';
import { parseGtids } from '../../domain/binlog.js';
import type { Manifest } from '../../domain/manifest.js';
import { WorkflowId } from '../../domain/workflow-contract.js';
import { backup as backupWorkflow, binlogArchiver, restore as restoreWorkflow } from '../../workflows/index.js';
import type { MariaDbSandbox } from '../sandbox/mariadb.js';
import { activityProfile, stats, timed, type ScenarioReport } from './measure.js';

export interface PointInTimeBench {
  client: Client;
  taskQueue: string;
  /** A server of its own with `binlog_format=ROW`, configured as `cluster` with `binlogs.archive: true`. */
  server: MariaDbSandbox;
  cluster: string;
  /** The cluster's filesystem storage folder. */
  storePath: string;
  rpo: string;
  /** Megabytes of binlog the load writes. */
  binlogMb: number;
  scratch: string;
  say: (line: string) => void;
}

const TABLES = 4;
const TABLE_SIZE = 50_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function binlogBytes(server: MariaDbSandbox): Promise<number> {
  return (await server.sql('SHOW BINARY LOGS')).reduce((sum, [, size = '0']) => sum + Number(size), 0);
}

async function checksums(server: MariaDbSandbox): Promise<string> {
  const tables = Array.from({ length: TABLES }, (_, index) => `sbtest.sbtest${index + 1}`).join(', ');
  return JSON.stringify(await server.sql(`CHECKSUM TABLE ${tables} EXTENDED`));
}

/** The sequence number of domain 0 in a GTID position (the load writes only there). */
function serverSeq(rows: string[][]): bigint {
  const gtid = (parseGtids(rows[0]?.[0] ?? '') ?? []).find((one) => one.domain === 0);
  return BigInt(gtid?.seq ?? '0');
}

/** Every record of the cluster's archive in the filesystem store (closed files and streamed parts). */
async function archiveRecords(storePath: string, cluster: string): Promise<string[]> {
  const folder = join(storePath, 'binlogs', cluster, 'history-0');
  const entries = await readdir(folder, { recursive: true }).catch(() => [] as string[]);
  return entries.filter((entry) => entry.endsWith('.json') && !entry.startsWith('gap-') && !entry.endsWith('covered.json')).map((entry) => join(folder, entry));
}

/** Every streamed part seen while the load ran (a file's parts go once it is archived whole, so they are counted as they come). */
const partsSeen = new Set<string>();

/** The newest sequence number (domain 0) the archive holds. */
async function archivedSeq(storePath: string, cluster: string): Promise<bigint> {
  let newest = 0n;
  const records = await archiveRecords(storePath, cluster);
  for (const path of records) if (path.includes('/segments/')) partsSeen.add(path);
  // The newest parts are the last by name within each file's folder; reading a few of the newest is enough.
  for (const path of records.sort().slice(-3)) {
    const record = JSON.parse(await readFile(path, 'utf8').catch(() => '{}')) as { endGtids?: string; payload?: { endGtids?: string } };
    const end = record.endGtids ?? record.payload?.endGtids ?? '';
    const seq = BigInt((parseGtids(end) ?? []).find((one) => one.domain === 0)?.seq ?? '0');
    if (seq > newest) newest = seq;
  }
  return newest;
}

/** How many streamed parts the archive has held since the load began. */
async function storedParts(storePath: string, cluster: string): Promise<number> {
  for (const path of await archiveRecords(storePath, cluster)) if (path.includes('/segments/')) partsSeen.add(path);
  return partsSeen.size;
}

export async function pointInTimeScenario(bench: PointInTimeBench): Promise<ScenarioReport[]> {
  const { client, taskQueue, server, cluster, say } = bench;
  say(`Point-in-time: ${bench.binlogMb} MB of ROW binlog from a sysbench write load, streamed into the archive (RPO ${bench.rpo})…`);
  const sysbench = ['--db-driver=mysql', `--mysql-socket=${server.socket}`, '--mysql-user=root', '--mysql-db=sbtest', `--tables=${TABLES}`, `--table-size=${TABLE_SIZE}`];
  await server.sql('CREATE DATABASE IF NOT EXISTS sbtest');
  await execa('sysbench', ['oltp_write_only', ...sysbench, '--threads=2', 'prepare']);
  const archiverId = WorkflowId.binlogArchiver(taskQueue, cluster);
  await client.workflow.start(binlogArchiver, { taskQueue, workflowId: archiverId, args: [{ cluster }] });
  try {
    const fullId = `bench-pitr-full-${Date.now()}`;
    const full = await client.workflow.execute(backupWorkflow, { taskQueue, workflowId: fullId, args: [{ cluster, type: 'full' }] });
    await sleep(1100);

    // The load, until it has written the binlog asked for; the archive's lag measured meanwhile.
    const before = await binlogBytes(server);
    const archiver = client.workflow.getHandle(archiverId);
    const eventsBefore = (await archiver.describe()).historyLength;
    const load = execa('sysbench', ['oltp_write_only', ...sysbench, '--threads=4', '--time=3600', '--report-interval=0', 'run'], { reject: false });
    const lags: number[] = [];
    const waiting: { at: number; seq: bigint }[] = [];
    const loadStarted = Date.now();
    let nextSample = loadStarted;
    while ((await binlogBytes(server)) - before < bench.binlogMb * 1e6) {
      if (Date.now() >= nextSample) {
        nextSample += 1000;
        waiting.push({ at: Date.now(), seq: serverSeq(await server.sql('SELECT @@gtid_binlog_pos')) });
      }
      const archived = await archivedSeq(bench.storePath, cluster);
      while (waiting[0] && waiting[0].seq <= archived) lags.push((Date.now() - (waiting.shift()?.at ?? 0)) / 1000);
      await sleep(100);
    }
    load.kill('SIGTERM');
    await load;
    const loadSeconds = (Date.now() - loadStarted) / 1000;
    const written = (await binlogBytes(server)) - before;
    const parts = await storedParts(bench.storePath, cluster);
    const archiverEvents = (await archiver.describe()).historyLength - eventsBefore;
    await sleep(1100);
    const pointMs = Date.now() - 1000;
    const expectedSeq = serverSeq(await server.sql('SELECT @@gtid_binlog_pos'));
    while ((await archivedSeq(bench.storePath, cluster)) < expectedSeq) await sleep(200);
    const sorted = [...lags].sort((a, b) => a - b);
    const p99 = sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)] ?? Number.NaN;
    say(`  ${(written / 1e6).toFixed(0)} MB of binlog in ${loadSeconds.toFixed(0)} s; archive lag median ${stats(lags).median.toFixed(2)} s, p99 ${p99.toFixed(2)} s, max ${Math.max(...lags).toFixed(2)} s; ${parts} parts stored; ${archiverEvents} archiver history events`);

    // The product: the chain restored in place, then the archived files applied before the server starts.
    const productId = `bench-pitr-restore-${Date.now()}`;
    await client.workflow.execute(restoreWorkflow, { taskQueue, workflowId: productId, args: [{ cluster, pointInTime: new Date(pointMs).toISOString(), waitForArchive: '2m' }] });
    const applySeconds = (await activityProfile(client, productId)).applyArchivedBinlogs ?? Number.NaN;
    const restoreEvents = (await client.workflow.getHandle(productId).describe()).historyLength;
    const backupEvents = (await client.workflow.getHandle(fullId).describe()).historyLength;
    // A verification of the same backup by a real restore on a throw-away server: its history too.
    const verifyId = `bench-pitr-verify-${Date.now()}`;
    await client.workflow.execute(restoreWorkflow, { taskQueue, workflowId: verifyId, args: [{ cluster, backupName: full.name, target: { kind: 'verify' } }] });
    const verifyEvents = (await client.workflow.getHandle(verifyId).describe()).historyLength;
    const productSums = await checksums(server);

    // The serial path on the same archived files, downloaded beforehand (its time is the replay alone).
    await client.workflow.execute(restoreWorkflow, { taskQueue, workflowId: `bench-pitr-plain-${Date.now()}`, args: [{ cluster, backupName: full.name }] });
    const manifest = JSON.parse(await readFile(join(bench.storePath, full.path, 'manifest.json'), 'utf8')) as Manifest;
    const binlog = manifest.binlog as NonNullable<Manifest['binlog']>;
    const archive = join(bench.storePath, 'binlogs', cluster, 'history-0');
    const closed = (await readdir(archive)).filter((name) => name.endsWith('.zst')).map((name) => name.slice(0, -'.zst'.length));
    const streamed = await readdir(join(archive, 'segments')).catch(() => [] as string[]);
    const names = [...new Set([...closed, ...streamed])].sort();
    const files = names.slice(names.indexOf(binlog.file));
    const local = join(bench.scratch, 'pitr-serial');
    await mkdir(local, { recursive: true });
    for (const name of files) {
      if (closed.includes(name)) {
        await execa('zstd', ['-q', '-d', '-f', join(archive, `${name}.zst`), '-o', join(local, name)]);
        continue;
      }
      // A file the server still writes: its streamed parts, end to end (their names are their start positions).
      const parts = (await readdir(join(archive, 'segments', name))).filter((part) => part.endsWith('.zst')).sort();
      for (const part of parts) await execa('zstd', ['-q', '-d', '-c', join(archive, 'segments', name, part)], { stdout: { file: join(local, name), append: true } });
    }
    const stop = new Date((Math.floor(pointMs / 1000) + 1) * 1000).toISOString().slice(0, 19).replace('T', ' ');
    const serial = await timed(() =>
      execa('mariadb-binlog', ['--no-defaults', `--start-position=${binlog.position}`, `--stop-datetime=${stop}`, ...files.map((name) => join(local, name))], { env: { TZ: 'UTC' }, buffer: { stdout: false } }).pipe('mariadb', ['--no-defaults', `--socket=${server.socket}`, '--user=root', '--binary-mode']),
    );
    await rm(local, { recursive: true, force: true });
    const same = (await checksums(server)) === productSums;
    say(`  applier ${applySeconds.toFixed(1)} s (download and checks included), mariadb-binlog | mariadb ${serial.seconds.toFixed(1)} s; tables ${same ? 'identical' : 'DIFFERENT'}`);
    const mb = written / 1e6;
    const one = (value: number) => ({ median: value, min: value, max: value });
    return [
      {
        set: 'pitr',
        scenario: `point-in-time replay of ${mb.toFixed(0)} MB of ROW binlog (sysbench oltp_write_only)`,
        figures: [
          { contender: 'mariadb-binlog piped into mariadb (files already local)', ...one(serial.seconds), unit: 's' },
          { contender: 'chainbackup: download, sha256, replication applier (4 threads) before the server starts', ...one(applySeconds), unit: 's' },
          { contender: 'mariadb-binlog piped into mariadb, rate', ...one(mb / serial.seconds), unit: 'MB/s' },
          { contender: 'chainbackup, rate', ...one(mb / applySeconds), unit: 'MB/s' },
        ],
        ratios: [{ of: 'chainbackup', to: 'serial', ...one(applySeconds / serial.seconds) }],
        goal: 'faster than the serial pipe, with the same tables',
        met: same && applySeconds < serial.seconds,
        note: `One run of each (a point-in-time restore reaches the archive of the cluster's current history only, which an in-place restore ends). Tables after both: ${same ? 'identical checksums' : 'DIFFERENT checksums'}.`,
      },
      {
        set: 'pitr',
        scenario: `binlog archive lag under a sysbench write load (${(mb / loadSeconds).toFixed(1)} MB/s of binlog, RPO ${bench.rpo})`,
        figures: [
          { contender: 'from a GTID position read on the server to the store holding it, sampled every second', ...stats(lags), unit: 's' },
          { contender: 'the same, 99th percentile', median: p99, min: p99, max: p99, unit: 's' },
          { contender: 'objects written per hour of this load (parts and their records)', ...one((parts * 2 * 3600) / loadSeconds), unit: 'objects/h' },
        ],
        ratios: [],
        goal: 'p99 ≤ 5 s',
        met: p99 <= 5,
        note: `${lags.length} samples over ${loadSeconds.toFixed(0)} s of load; the server's binlog was not rotated for the archive.`,
      },
      {
        set: 'pitr',
        scenario: 'Temporal history events (each is billed as actions on Temporal Cloud)',
        figures: [
          { contender: `the archiver during ${loadSeconds.toFixed(0)} s of streaming (one step an hour: 6 events per cluster-hour)`, ...one(archiverEvents), unit: 'events' },
          { contender: 'a full backup', ...one(backupEvents), unit: 'events' },
          { contender: 'a restore to a point in time', ...one(restoreEvents), unit: 'events' },
          { contender: 'a verification (a real restore on a throw-away server)', ...one(verifyEvents), unit: 'events' },
        ],
        ratios: [],
        goal: 'the archive near zero events per cluster-hour (rounds every minute: 720)',
        met: archiverEvents <= 10,
        note: 'history lengths from describe(); the archive counted from the start of the load to its end.',
      },
    ];
  } finally {
    await client.workflow
      .getHandle(archiverId)
      .terminate('benchmark over')
      .catch(() => undefined);
  }
}
