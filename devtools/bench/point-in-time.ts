/**
 * The point-in-time scenario: a sysbench write load on a server that logs ROW binlog, archived by
 * the product's archiver while it runs (its lag sampled), then one restore to the end of the load
 * through the product (the archived files applied by the replication applier of a private server)
 * and one through the serial path (`mariadb-binlog | mariadb` on the same archived files, after a
 * plain restore of the same backup). The tables must come out the same.
 */
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { execa } from 'execa';
import { gtidPosition, parseGtids } from '../../domain/binlog.js';
import type { Manifest } from '../../domain/manifest.js';
import { binlogArchiveQuery, WorkflowId } from '../../domain/workflow-contract.js';
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
  interval: string;
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

export async function pointInTimeScenario(bench: PointInTimeBench): Promise<ScenarioReport[]> {
  const { client, taskQueue, server, cluster, say } = bench;
  say(`Point-in-time: ${bench.binlogMb} MB of ROW binlog from a sysbench write load, archived every ${bench.interval}…`);
  const sysbench = ['--db-driver=mysql', `--mysql-socket=${server.socket}`, '--mysql-user=root', '--mysql-db=sbtest', `--tables=${TABLES}`, `--table-size=${TABLE_SIZE}`];
  await server.sql('CREATE DATABASE IF NOT EXISTS sbtest');
  await execa('sysbench', ['oltp_write_only', ...sysbench, '--threads=2', 'prepare']);
  const archiverId = WorkflowId.binlogArchiver(cluster);
  await client.workflow.start(binlogArchiver, { taskQueue, workflowId: archiverId, args: [{ cluster }] });
  try {
    const full = await client.workflow.execute(backupWorkflow, { taskQueue, workflowId: `bench-pitr-full-${Date.now()}`, args: [{ cluster, type: 'full' }] });
    await sleep(1100);

    // The load, until it has written the binlog asked for; the archive's lag sampled meanwhile.
    const before = await binlogBytes(server);
    const load = execa('sysbench', ['oltp_write_only', ...sysbench, '--threads=4', '--time=3600', '--report-interval=0', 'run'], { reject: false });
    const lags: number[] = [];
    const loadStarted = Date.now();
    while ((await binlogBytes(server)) - before < bench.binlogMb * 1e6) {
      await sleep(2000);
      const state = await client.workflow.getHandle(archiverId).query(binlogArchiveQuery);
      const newest = state.newest ? Date.parse(state.newest.lastEventTime) : undefined;
      if (newest !== undefined && newest >= loadStarted) lags.push((Date.now() - newest) / 1000);
    }
    load.kill('SIGTERM');
    await load;
    const loadSeconds = (Date.now() - loadStarted) / 1000;
    const written = (await binlogBytes(server)) - before;
    await sleep(1100);
    const pointMs = Date.now() - 1000;
    const expectedPosition = JSON.stringify(gtidPosition(parseGtids((await server.sql('SELECT @@gtid_binlog_pos'))[0]?.[0] ?? '') ?? []));
    for (;;) {
      const state = await client.workflow.getHandle(archiverId).query(binlogArchiveQuery);
      if (state.caughtUp && JSON.stringify(gtidPosition(parseGtids(state.newest?.endGtids ?? '') ?? [])) === expectedPosition) break;
      await sleep(1000);
    }
    say(`  ${(written / 1e6).toFixed(0)} MB of binlog in ${loadSeconds.toFixed(0)} s; archive lag median ${stats(lags).median.toFixed(1)} s, max ${Math.max(...lags).toFixed(1)} s`);

    // The product: the chain restored in place, then the archived files applied before the server starts.
    const productId = `bench-pitr-restore-${Date.now()}`;
    await client.workflow.execute(restoreWorkflow, { taskQueue, workflowId: productId, args: [{ cluster, pointInTime: new Date(pointMs).toISOString() }] });
    const applySeconds = (await activityProfile(client, productId)).applyArchivedBinlogs ?? Number.NaN;
    const productSums = await checksums(server);

    // The serial path on the same archived files, downloaded beforehand (its time is the replay alone).
    await client.workflow.execute(restoreWorkflow, { taskQueue, workflowId: `bench-pitr-plain-${Date.now()}`, args: [{ cluster, backupName: full.name }] });
    const manifest = JSON.parse(await readFile(join(bench.storePath, full.path, 'manifest.json'), 'utf8')) as Manifest;
    const binlog = manifest.binlog as NonNullable<Manifest['binlog']>;
    const archive = join(bench.storePath, 'binlogs', cluster, 'history-0');
    const names = (await readdir(archive)).filter((name) => name.endsWith('.zst')).map((name) => name.slice(0, -'.zst'.length)).sort();
    const files = names.slice(names.indexOf(binlog.file));
    const local = join(bench.scratch, 'pitr-serial');
    await mkdir(local, { recursive: true });
    for (const name of files) await execa('zstd', ['-q', '-d', '-f', join(archive, `${name}.zst`), '-o', join(local, name)]);
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
        scenario: `binlog archive lag under a sysbench write load (${(mb / loadSeconds).toFixed(1)} MB/s of binlog)`,
        figures: [{ contender: `now minus the newest archived event, sampled every 2 s (interval ${bench.interval})`, ...stats(lags), unit: 's' }],
        ratios: [],
        goal: `within the archive interval (${bench.interval}) and one round`,
        met: null,
        note: `${lags.length} samples over ${loadSeconds.toFixed(0)} s of load.`,
      },
    ];
  } finally {
    await client.workflow
      .getHandle(archiverId)
      .terminate('benchmark over')
      .catch(() => undefined);
  }
}
