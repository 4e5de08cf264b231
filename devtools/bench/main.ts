#!/usr/bin/env node
/**
 * `npm run bench`: speed, size and memory of chainbackup measured side by side with the tool's own
 * limit (mariadb-backup into /dev/null, bare prepare/apply on local files) and, when it could be
 * built, WAL-G. A sysbench dataset; each scenario a few times with the contenders alternating;
 * median, min and max, and ratios computed pair by pair (machines are noisy: the ratios count).
 * Writes docs/benchmarks/results/<release>/<mode>.json and docs/benchmarks/<mode>.md, which sets each
 * figure beside the previous release's. Everything runs under .sandbox/bench.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { Command } from 'commander';
import { execa } from 'execa';
import YAML from 'yaml';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Client, Connection } from '@temporalio/client';
import { backup as backupWorkflow, restore as restoreWorkflow, type BackupResult } from '../../workflows/index.js';
import { MariaDbSandbox } from '../sandbox/mariadb.js';
import { startMinio, type MinioServer } from '../sandbox/minio.js';
import { repoRoot, startServer, stopRecordedServers } from '../sandbox/processes.js';
import { startTemporalDevServer } from '../sandbox/temporal.js';
import { applySchedules } from '../../client/schedules.js';
import { configSchema } from '../../domain/config.js';
import { WorkflowType } from '../../domain/workflow-contract.js';
import { productVersion } from '../../config/release.js';
import { pointInTimeScenario } from './point-in-time.js';
import { encryptionScenario } from './encryption.js';
import { proofBeforePauseScenario } from './proof-before-pause.js';
import { activityProfile, describeSpans, describeTimeline, median, pairwise, round, stats, timed, workflowTimeline, type ScenarioReport } from './measure.js';

const options = new Command()
  .name('bench')
  .option('--quick', 'about 200 MB of data instead of about 2 GB')
  .option('--size-mb <mb>', 'dataset size in MB (default 2000, or 200 with --quick)', process.env.BENCH_SIZE_MB)
  .option('--repeat <n>', 'runs of each contender per scenario', '3')
  .option('--only <scenarios>', 'run only these, comma-separated: backups (backups, restores, memory, overhead, fleet), pitr (point-in-time replay and archive lag), encryption (backup and restore with encryption on against off); the stored results of the others are kept')
  .option('--render-only', 'rewrite the Markdown (and, for the full mode, the summary in docs/benchmarks/README.md) from the stored JSON results, without running anything')
  .parse()
  .opts<{ quick?: boolean; sizeMb?: string; repeat: string; only?: string; renderOnly?: boolean }>();

const mode = options.quick ? 'quick' : 'full';
const sizeMb = Number(options.sizeMb ?? (options.quick ? 200 : 2000));
const repeat = Number(options.repeat);
const only = options.only?.split(',').map((name) => name.trim());
const SCENARIO_SETS = ['backups', 'pitr', 'encryption'];
if (only?.some((name) => !SCENARIO_SETS.includes(name))) throw new Error(`--only: unknown scenarios ${only.filter((name) => !SCENARIO_SETS.includes(name)).join(', ')} (known: ${SCENARIO_SETS.join(', ')})`);
const wants = (set: string) => !only || only.includes(set);
/** How often the benchmark's archiver runs: the product's default is a minute; a shorter one shows the lag under load. */
/** The streamed archive's recovery point objective in the point-in-time scenario (binlogs.rpo). */
const PITR_RPO = '5s';
const dir = join(repoRoot, '.sandbox/bench');
const say = (line: string) => console.log(line);
/** sysbench rows per MB of InnoDB data (table and its secondary index), measured on MariaDB 10.11. */
const ROWS_PER_MB = 4200;
const TABLES = 8;

interface Measured {
  contender: string;
  seconds: number[];
  bytes: number[];
}




/** Peak resident memory of a process while `work` runs, sampled every 50 ms from /proc. */
async function peakRss<T>(pid: number, work: () => Promise<T>): Promise<{ peakMb: number; value: T }> {
  let peak = 0;
  const sample = async () => {
    const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    peak = Math.max(peak, kb / 1024);
  };
  const timer = setInterval(() => void sample(), 50);
  try {
    const value = await work();
    await sample();
    return { peakMb: peak, value };
  } finally {
    clearInterval(timer);
  }
}

/** What every scenario uses: the servers, the workers, the client, and the run counter that keeps workflow ids apart. */
interface Bench {
  client: Client;
  source: MariaDbSandbox;
  tiny: MariaDbSandbox;
  minio: MinioServer;
  s3: { kind: 's3'; bucket: string; prefix: string; region: string; endpoint: string; forcePathStyle: boolean };
  /** The host worker: the one whose memory counts. */
  workerPid: number;
  tableSize: number;
  reports: ScenarioReport[];
  nextRun(): number;
}

async function main(): Promise<void> {
  await stopRecordedServers(dir);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const reports: ScenarioReport[] = [];
  try {
    say(`chainbackup benchmark, ${mode} mode: ~${sizeMb} MB of sysbench data, ${repeat} runs per contender`);
    const [temporal, minio, source, target, tiny, pitr] = await Promise.all([
      startTemporalDevServer(join(dir, 'temporal'), { ui: false }),
      startMinio(join(dir, 'minio')),
      MariaDbSandbox.create(join(dir, 'source'), ['innodb_buffer_pool_size=512M', 'innodb_io_capacity=4000', 'innodb_io_capacity_max=8000']),
      MariaDbSandbox.create(join(dir, 'target')),
      MariaDbSandbox.create(join(dir, 'tiny'), ['max_connections=500']),
      // ROW binlog, as most operators run it, and a pool large enough for the load.
      MariaDbSandbox.create(join(dir, 'pitr'), ['innodb_buffer_pool_size=512M', 'binlog_format=ROW', 'max_binlog_size=256M']),
    ]);
    await minio.createBucket('bench');
    const s3Env = { AWS_ACCESS_KEY_ID: minio.accessKeyId, AWS_SECRET_ACCESS_KEY: minio.secretAccessKey, AWS_REGION: 'us-east-1' };
    Object.assign(process.env, s3Env, { TEMPORAL_ADDRESS: temporal.address });
    const { tableSize, dataMb } = wants('backups') || wants('encryption') ? await prepareDataset(source) : { tableSize: 0, dataMb: 0 };

    const s3 = { kind: 's3' as const, bucket: 'bench', prefix: 'chainbackup', region: 'us-east-1', endpoint: minio.endpoint, forcePathStyle: true };
    const fs = { kind: 'filesystem' as const, path: join(dir, 'store') };
    const configPath = join(dir, 'chainbackup.yaml');
    await writeFile(
      configPath,
      YAML.stringify({
        // The restore rows clone into the bench folder.
        worker: { cloneRoots: [dir] },
        clusters: [
          source.clusterConfig('bench-s3', s3),
          source.clusterConfig('bench-fs', fs),
          source.clusterConfig('bench-raw', { ...fs, path: join(dir, 'store-raw') }, { backup: { compression: 'none' } }),
          target.clusterConfig('target', s3, { connection: { ...source.connection(), socket: target.socket } }),
          tiny.clusterConfig('tiny', { ...fs, path: join(dir, 'store-tiny') }),
          pitr.clusterConfig('bench-pitr', { ...fs, path: join(dir, 'store-pitr') }, { binlogs: { archive: true, rpo: PITR_RPO } }),
          ...fleetClusters(tiny, '01:00'),
        ],
      }),
    );
    // As in production: the database host runs a host-only worker; orchestration runs in another process.
    const startWorker = (name: string, flags: string[], config = configPath) =>
      startServer({
        name,
        dir,
        command: process.execPath,
        args: [join(repoRoot, 'dist/worker/main.js'), '--config', config, ...flags],
        env: { ...process.env },
        ready: async () => (await readFile(join(dir, `${name}.log`), 'utf8')).includes('chainbackup worker ready'),
      });
    const [worker, orchestrator] = await Promise.all([startWorker('host-worker', ['--no-orchestrator']), startWorker('orchestrator', ['--no-host'])]);
    const idleMb = (await peakRss(worker.pid, () => new Promise((resolve) => setTimeout(resolve, 500)))).peakMb;
    const connection = await Connection.connect({ address: temporal.address });
    let runs = 0;
    const bench: Bench = { client: new Client({ connection }), source, tiny, minio, s3, workerPid: worker.pid, tableSize, reports, nextRun: () => ++runs };

    let orchestratorPeakMb = 0;
    const orchestratorSampler = setInterval(() => {
      void readFile(`/proc/${orchestrator.pid}/status`, 'utf8')
        .then((status) => (orchestratorPeakMb = Math.max(orchestratorPeakMb, Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024)))
        .catch(() => undefined);
    }, 200);
    if (wants('backups')) {
      const backupPeakMb = await fullBackups(bench);
      const chain = await incrementalBackups(bench);
      const restorePeakMb = await restores(bench, chain);
      reports.push(await proofBeforePauseScenario({ client: bench.client, s3, chainCluster: 'bench-s3', targetCluster: 'target', chain, repeat, runId: () => bench.nextRun(), say }));
      reports.push({
        scenario: `worker memory (${mode}: ${dataMb} MB of data)`,
        figures: [
          { contender: 'host worker RSS, idle', median: idleMb, min: idleMb, max: idleMb, unit: 'MiB' },
          { contender: 'peak worker RSS during full backups', median: backupPeakMb, min: backupPeakMb, max: backupPeakMb, unit: 'MiB' },
          { contender: 'peak worker RSS during restores', median: restorePeakMb, min: restorePeakMb, max: restorePeakMb, unit: 'MiB' },
        ],
        ratios: [],
        goal: '≤ 300 MB, and the same at both sizes',
        met: Math.max(backupPeakMb, restorePeakMb) <= 300,
        note: `the host worker process (--no-orchestrator), as on a database host; the tool, zstd and mbstream are separate processes. The orchestration worker, which may run anywhere, peaked at ${Math.round(orchestratorPeakMb)} MiB.`,
      });
      await orchestrationOverhead(bench);
      await fleet(bench.client, tiny, reports);
    }
    if (wants('encryption')) {
      const keyed = { client: bench.client, dir, source, target, s3, repeat, say, startWorker: (name: string, config: string) => startWorker(name, [], config) };
      reports.push(await encryptionScenario(keyed, 'encryption'));
      reports.push(await encryptionScenario(keyed, 'integrity'));
    }
    if (wants('pitr')) {
      reports.push(
        ...(await pointInTimeScenario({
          client: bench.client,
          taskQueue: 'chainbackup',
          server: pitr,
          cluster: 'bench-pitr',
          storePath: join(dir, 'store-pitr'),
          rpo: PITR_RPO,
          binlogMb: mode === 'quick' ? 300 : 1000,
          scratch: dir,
          say,
        })),
      );
    }
    clearInterval(orchestratorSampler);
    await connection.close();
    await writeResults(reports, { mode, sizeMb, dataMb, repeat, tableSize });
  } finally {
    await stopRecordedServers(dir);
  }
}

/** The sysbench dataset, checkpointed by a restart as on a server that has been running for a while. */
async function prepareDataset(source: MariaDbSandbox): Promise<{ tableSize: number; dataMb: number }> {
  say('Preparing the dataset with sysbench oltp_read_write…');
  const tableSize = Math.max(1000, Math.round((sizeMb * ROWS_PER_MB) / TABLES));
  await source.sql('CREATE DATABASE sbtest');
  const sysbench = ['oltp_read_write', '--db-driver=mysql', `--mysql-socket=${source.socket}`, '--mysql-user=root', '--mysql-db=sbtest', `--tables=${TABLES}`, `--table-size=${tableSize}`, '--threads=2'];
  const prepared = await timed(() => execa('sysbench', [...sysbench, 'prepare']));
  await source.stop();
  await source.start();
  const dataMb = Number((await source.sql(`SELECT ROUND(SUM(data_length + index_length) / 1048576) FROM information_schema.tables WHERE table_schema = 'sbtest'`))[0]?.[0]);
  say(`  ${TABLES} tables × ${tableSize} rows, ${dataMb} MB in InnoDB, prepared in ${prepared.seconds.toFixed(0)} s`);
  return { tableSize, dataMb };
}

/**
 * An idle sandbox seldom checkpoints, and an increment starts at its parent's checkpoint LSN: let
 * the server flush and checkpoint before each backup, as a server under steady load keeps doing.
 */
async function settle(source: MariaDbSandbox): Promise<void> {
  await source.sql('SET GLOBAL innodb_max_dirty_pages_pct = 0');
  for (let tries = 0; tries < 300; tries++) {
    const [[, dirty = '0'] = []] = await source.sql(`SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_pages_dirty'`);
    if (Number(dirty) === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await new Promise((resolve) => setTimeout(resolve, 1000));
  await source.sql('SET GLOBAL innodb_max_dirty_pages_pct = 90');
}

function benchBackupId(cluster: string, type: 'full' | 'incremental', run: number): string {
  return `bench-backup-${cluster}-${type}-${run}`;
}

/** One backup through the product; returns its result and its workflow id. */
async function takeBackup(bench: Bench, cluster: string, type: 'full' | 'incremental'): Promise<{ result: BackupResult; workflowId: string }> {
  const workflowId = benchBackupId(cluster, type, bench.nextRun());
  return { result: await bench.client.workflow.execute(backupWorkflow, { taskQueue: 'chainbackup', workflowId, args: [{ cluster, type }] }), workflowId };
}


/**
 * The bare tool into /dev/null; with `zstd`, through the same compressor chainbackup runs, as one
 * shell pipeline would; with `intoFile` as well, into a file flushed to disk at the end
 * (`mariadb-backup … | zstd -1 -T2 > file && sync`): by hand, what chainbackup → filesystem does.
 */
async function toolLimit(bench: Bench, sandbox: MariaDbSandbox, { zstd = false, intoFile = false } = {}): Promise<number> {
  const scratch = join(dir, `limit-${bench.nextRun()}`);
  await mkdir(scratch);
  const run = await timed(async () => {
    // 'ignore' is /dev/null for the child: the bytes are written and thrown away by the kernel.
    const tool = execa('mariadb-backup', ['--no-defaults', `--socket=${sandbox.socket}`, '--user=root', '--backup', '--stream=xbstream', `--datadir=${sandbox.datadir}`, `--target-dir=${scratch}/t`, `--extra-lsndir=${scratch}/l`, '--parallel=2'], {
      stdout: zstd ? 'pipe' : 'ignore',
      buffer: false,
      stderr: 'ignore',
    });
    const compressor = zstd && tool.stdout ? execa('zstd', ['-q', '-c', '-1', '-T2'], { stdin: tool.stdout, stdout: intoFile ? { file: `${scratch}/backup.xbstream.zst` } : 'ignore', buffer: false }) : undefined;
    tool.stdout?.destroy(); // zstd holds the pipe now
    await Promise.all([tool, compressor]);
    if (intoFile) await execa('sync', ['--data', `${scratch}/backup.xbstream.zst`]);
  });
  await rm(scratch, { recursive: true, force: true });
  return run.seconds;
}

/** WAL-G streaming the same mariadb-backup command into the same MinIO. */
async function walgPush(bench: Bench, walg: string): Promise<{ seconds: number; bytes: number }> {
  const { source, minio } = bench;
  const env = {
    ...process.env,
    AWS_ENDPOINT: minio.endpoint,
    AWS_S3_FORCE_PATH_STYLE: 'true',
    WALG_S3_PREFIX: 's3://bench/walg',
    WALG_MYSQL_DATASOURCE_NAME: `root@unix(${source.socket})/mysql`,
    // v0.2.19 offers lz4 and lzma; lz4 is its default and the faster one.
    WALG_COMPRESSION_METHOD: 'lz4',
  };
  const scratch = join(dir, `walg-${bench.nextRun()}`);
  const command = `mariadb-backup --no-defaults --socket=${source.socket} --user=root --backup --stream=xbstream --datadir=${source.datadir} --target-dir=${scratch} --parallel=2`;
  const run = await timed(() => execa(walg, ['backup-push'], { env: { ...env, WALG_STREAM_CREATE_COMMAND: command } }));
  await rm(scratch, { recursive: true, force: true });
  return { seconds: run.seconds, bytes: 0 };
}

/** Full backup: the tool's limit, chainbackup to MinIO and to the filesystem, with and without zstd, and the peer. Reports the compression figures too; returns the worker's peak memory. */
async function fullBackups(bench: Bench): Promise<number> {
  say('Full backups…');
  let backupPeakMb = 0;
  let backupProfile: Record<string, number> = {};
  const productFull = async (cluster: string): Promise<{ seconds: number; bytes: number }> => {
    const measured = await peakRss(bench.workerPid, () => timed(() => takeBackup(bench, cluster, 'full')));
    backupPeakMb = Math.max(backupPeakMb, measured.peakMb);
    if (cluster === 'bench-fs') backupProfile = await activityProfile(bench.client, measured.value.value.workflowId);
    return { seconds: measured.value.seconds, bytes: measured.value.value.result.sizeBytes };
  };
  const walg = join(repoRoot, '.tools/bin/wal-g-mysql');
  const contenders: [string, () => Promise<{ seconds: number; bytes: number }>][] = [
    ...(existsSync(walg) ? [['WAL-G v0.2.19 → MinIO (lz4)', () => walgPush(bench, walg)] as [string, () => Promise<{ seconds: number; bytes: number }>]] : []),
    ['tool limit', async () => ({ seconds: await toolLimit(bench, bench.source), bytes: 0 })],
    ['tool → zstd -1 -T2 → /dev/null', async () => ({ seconds: await toolLimit(bench, bench.source, { zstd: true }), bytes: 0 })],
    ['tool → zstd -1 -T2 → file, synced (by hand)', async () => ({ seconds: await toolLimit(bench, bench.source, { zstd: true, intoFile: true }), bytes: 0 })],
    ['chainbackup → MinIO', () => productFull('bench-s3')],
    ['chainbackup → filesystem', () => productFull('bench-fs')],
    ['chainbackup → filesystem, no compression', () => productFull('bench-raw')],
  ];
  const full: Record<string, Measured> = Object.fromEntries(contenders.map(([name]) => [name, { contender: name, seconds: [], bytes: [] }]));
  for (let run = 0; run < repeat; run++) {
    // Alternate the order so that no contender always runs on a warmer cache.
    const order = contenders.map((_, index) => contenders[(index + run) % contenders.length] as (typeof contenders)[number]);
    for (const [name, measure] of order) {
      const measured = await measure();
      (full[name] as Measured).seconds.push(measured.seconds);
      (full[name] as Measured).bytes.push(measured.bytes);
    }
    say(`  run ${run + 1}: ${Object.values(full).map((entry) => `${entry.contender} ${entry.seconds.at(-1)?.toFixed(2)} s`).join(', ')}`);
  }
  const limit = full['tool limit'] as Measured;
  const toMinio = full['chainbackup → MinIO'] as Measured;
  const toFs = full['chainbackup → filesystem'] as Measured;
  const raw = full['chainbackup → filesystem, no compression'] as Measured;
  const peer = full['WAL-G v0.2.19 → MinIO (lz4)'];
  const compressedLimit = full['tool → zstd -1 -T2 → /dev/null'] as Measured;
  const byHand = full['tool → zstd -1 -T2 → file, synced (by hand)'] as Measured;
  const fullRatio = pairwise(toMinio.seconds, limit.seconds);
  bench.reports.push({
    scenario: 'full backup',
    figures: Object.values(full).map((entry) => ({ contender: entry.contender, ...stats(entry.seconds), unit: 's' })),
    ratios: [
      { of: toMinio.contender, to: limit.contender, ...fullRatio },
      { of: toFs.contender, to: limit.contender, ...pairwise(toFs.seconds, limit.seconds) },
      { of: toFs.contender, to: compressedLimit.contender, ...pairwise(toFs.seconds, compressedLimit.seconds) },
      { of: toFs.contender, to: byHand.contender, ...pairwise(toFs.seconds, byHand.seconds) },
      { of: raw.contender, to: limit.contender, ...pairwise(raw.seconds, limit.seconds) },
      ...(peer ? [{ of: toMinio.contender, to: peer.contender, ...pairwise(toMinio.seconds, peer.seconds) }] : []),
    ],
    goal: '≤ 1.15 × the tool limit; faster than the peer',
    met: fullRatio.median <= 1.15 && (peer ? median(toMinio.seconds) < median(peer.seconds) : true),
    note: `${peer ? 'WAL-G streams the same mariadb-backup command into the same MinIO.' : 'WAL-G could not be built on this run: no peer.'} The tool limit stores nothing: compressing costs CPU on the same cores (tool → zstd → /dev/null), and storing costs disk (the same pipeline into a synced file, by hand); MinIO runs on this machine too. Where a chainbackup backup's time went (seconds of activity time, last run to the filesystem): ${Object.entries(backupProfile)
      .map(([type, seconds]) => `${type} ${seconds.toFixed(2)}`)
      .join(', ')}; the rest is Temporal round trips between them.`,
  });
  bench.reports.push({
    scenario: 'compression',
    figures: [
      { contender: 'zstd -1 (default), stored', ...stats(toFs.bytes.map((bytes) => bytes / 1048576)), unit: 'MiB' },
      { contender: 'none, stored', ...stats(raw.bytes.map((bytes) => bytes / 1048576)), unit: 'MiB' },
    ],
    ratios: [
      { of: 'size with zstd', to: 'size without', ...pairwise(toFs.bytes, raw.bytes) },
      { of: 'time with zstd', to: 'time without', ...pairwise(toFs.seconds, raw.seconds) },
    ],
    goal: 'decide the default from these numbers',
    met: null,
    note: 'zstd stays the default when it stores far fewer bytes for little or no extra time',
  });
  return backupPeakMb;
}

/** Increments after updating 1% of the rows, on the MinIO chain; returns the chain the restores use (the full backup and its first three increments). */
async function incrementalBackups(bench: Bench): Promise<BackupResult[]> {
  // Increments after updating 1% of the rows, on the MinIO chain; they also build the restore chain.
  // Two shapes of 1%: a contiguous range (recent rows, the common case) and rows scattered evenly
  // over every page (the worst case for any page-level incremental backup).
  say('Incremental backups after updating 1% of the rows…');
  await settle(bench.source);
  const { result: base } = await takeBackup(bench, 'bench-s3', 'full');
  const increments: BackupResult[] = [];
  const incrementRuns: { shape: string; seconds: number; bytes: number }[] = [];
  const shapes: [string, (table: number, run: number) => string][] = [
    // The non-indexed column, as sysbench's oltp_update_non_index does: the rows' own pages change, no index is reshuffled.
    ['contiguous 1%', (table, run) => `UPDATE sbtest.sbtest${table} SET c = REVERSE(c) WHERE id BETWEEN ${run * Math.ceil(bench.tableSize / 100) + 1} AND ${(run + 1) * Math.ceil(bench.tableSize / 100)}`],
    ['scattered 1%', (table, run) => `UPDATE sbtest.sbtest${table} SET c = REVERSE(c) WHERE id % 100 = ${run}`],
  ];
  for (let run = 0; run < 3; run++) {
    for (const [shape, update] of shapes) {
      if (shape === 'scattered 1%' && run > 0) continue; // one scattered increment is enough to show the shape
      for (let table = 1; table <= TABLES; table++) await bench.source.sql(update(table, run));
      await settle(bench.source);
      const measured = await timed(() => takeBackup(bench, 'bench-s3', 'incremental'));
      increments.push(measured.value.result);
      incrementRuns.push({ shape, seconds: measured.seconds, bytes: measured.value.result.sizeBytes });
    }
  }
  const share = (shape: string) => stats(incrementRuns.filter((entry) => entry.shape === shape).map((entry) => entry.bytes / base.sizeBytes));
  const contiguousShare = share('contiguous 1%');
  bench.reports.push({
    scenario: 'incremental after updating 1% of rows',
    figures: [
      { contender: 'full backup, stored', ...stats([base.sizeBytes / 1048576]), unit: 'MiB' },
      ...shapes.flatMap(([shape]) => [
        { contender: `increment after ${shape}, stored`, ...stats(incrementRuns.filter((entry) => entry.shape === shape).map((entry) => entry.bytes / 1048576)), unit: 'MiB' },
        { contender: `increment after ${shape}, time`, ...stats(incrementRuns.filter((entry) => entry.shape === shape).map((entry) => entry.seconds)), unit: 's' },
      ]),
    ],
    ratios: shapes.map(([shape]) => ({ of: `increment after ${shape}`, to: 'full backup', ...share(shape) })),
    goal: 'size ≤ 5% of the full backup',
    met: contiguousShare.median <= 0.05,
    note: 'Met or missed on the contiguous case. A physical increment holds whole 16 KiB pages: 1% of rows scattered evenly touches most pages of every table, so no page-level tool can make that increment small.',
  });
  return [base, ...increments.slice(0, 3)];
}

/** Restore of full + 3 increments: chainbackup (downloads overlap applies) against a hand-written serial restore; returns the worker's peak memory. */
async function restores(bench: Bench, chain: BackupResult[]): Promise<number> {
  // Restore of full + 3 increments (the last three increments above continue one chain): chainbackup (downloads overlap applies) vs a hand-written serial restore.
  say('Restores of the full backup and three increments…');
  const s3Client = new S3Client({ endpoint: bench.minio.endpoint, region: 'us-east-1', forcePathStyle: true });
  const serialRestore = async (): Promise<number> => {
    const work = join(dir, `serial-${bench.nextRun()}`);
    const seconds = (
      await timed(async () => {
        for (const [index, piece] of chain.entries()) {
          const into = join(work, String(index));
          await mkdir(into, { recursive: true });
          const object = await s3Client.send(new GetObjectCommand({ Bucket: 'bench', Key: `chainbackup/${piece.path}backup.xbstream.zst` }));
          const unzstd = execa('zstd', ['-d', '-c'], { buffer: false });
          const extract = execa('mbstream', ['-x', '-C', into], { buffer: false });
          await Promise.all([pipeline(object.Body as Readable, unzstd.stdin), pipeline(unzstd.stdout, extract.stdin), unzstd, extract]);
        }
        await execa('mariadb-backup', ['--prepare', `--target-dir=${join(work, '0')}`]);
        for (let index = 1; index < chain.length; index++) await execa('mariadb-backup', ['--prepare', `--target-dir=${join(work, '0')}`, `--incremental-dir=${join(work, String(index))}`]);
      })
    ).seconds;
    await rm(work, { recursive: true, force: true });
    return seconds;
  };
  let restorePeakMb = 0;
  const restoreProfiles: Record<string, number>[] = [];
  const restoreSpans: string[] = [];
  const productRestore = async (): Promise<number> => {
    const run = bench.nextRun();
    const clone = join(dir, `clone-${run}`);
    const measured = await peakRss(bench.workerPid, () =>
      timed(() =>
        bench.client.workflow.execute(restoreWorkflow, {
          taskQueue: 'chainbackup',
          workflowId: `bench-restore-${run}`,
          args: [{ cluster: 'target', source: { storage: bench.s3 as never, path: (chain.at(-1) as BackupResult).path }, target: { kind: 'new-datadir', path: clone } }],
        }),
      ),
    );
    restorePeakMb = Math.max(restorePeakMb, measured.peakMb);
    restoreProfiles.push(await activityProfile(bench.client, `bench-restore-${run}`));
    restoreSpans.push(`${measured.value.seconds.toFixed(2)} s: ${describeSpans(await workflowTimeline(bench.client, `bench-restore-${run}`))}`);
    await rm(clone, { recursive: true, force: true });
    return measured.value.seconds;
  };
  // A verification: the same chain restored into the scratch folder, then a throw-away server on it checks and reads every table.
  let verifiedTables = 0;
  const productVerify = async (): Promise<number> => {
    const run = bench.nextRun();
    const measured = await timed(() =>
      bench.client.workflow.execute(restoreWorkflow, {
        taskQueue: 'chainbackup',
        workflowId: `bench-verify-${run}`,
        args: [{ cluster: 'target', source: { storage: bench.s3 as never, path: (chain.at(-1) as BackupResult).path }, target: { kind: 'verify' } }],
      }),
    );
    verifiedTables = measured.value.verification?.tables ?? 0;
    verifyServerSeconds.push(measured.value.verification?.durationSeconds ?? NaN);
    return measured.seconds;
  };
  const serialSeconds: number[] = [];
  const productSeconds: number[] = [];
  const verifySeconds: number[] = [];
  const verifyServerSeconds: number[] = [];
  for (let run = 0; run < repeat; run++) {
    // Alternate the order so that no contender always runs on a warmer cache.
    const order: [number[], () => Promise<number>][] = [
      [serialSeconds, serialRestore],
      [productSeconds, productRestore],
      [verifySeconds, productVerify],
    ];
    for (let index = 0; index < order.length; index++) {
      const [into, measure] = order[(index + run) % order.length] as [number[], () => Promise<number>];
      into.push(await measure());
    }
    say(`  run ${run + 1}: serial ${serialSeconds.at(-1)?.toFixed(2)} s, chainbackup ${productSeconds.at(-1)?.toFixed(2)} s, chainbackup verify ${verifySeconds.at(-1)?.toFixed(2)} s`);
  }
  s3Client.destroy();
  const restoreRatio = pairwise(productSeconds, serialSeconds);
  bench.reports.push({
    scenario: 'restore of full + 3 increments',
    figures: [
      { contender: 'hand-written serial restore (download, extract, prepare, apply)', ...stats(serialSeconds), unit: 's' },
      { contender: 'chainbackup restore into a new datadir (sha256 verified)', ...stats(productSeconds), unit: 's' },
    ],
    ratios: [{ of: 'chainbackup', to: 'serial', ...restoreRatio }],
    goal: '≤ 0.7 × the serial restore',
    met: restoreRatio.median <= 0.7,
    note: `chainbackup also verifies every sha256 and goes through Temporal for each step. Where its time went (seconds of activity time, median run; downloads overlap prepares): ${Object.entries(restoreProfiles[Math.floor(restoreProfiles.length / 2)] ?? {})
      .map(([type, seconds]) => `${type} ${seconds.toFixed(2)}`)
      .join(', ')}. Each run's steps, from the workflow's start: ${restoreSpans.join('; ')}.`,
  });
  const verifyRatio = pairwise(verifySeconds, productSeconds);
  bench.reports.push({
    scenario: 'verification of full + 3 increments by a real restore',
    figures: [
      { contender: 'chainbackup restore into a new datadir', ...stats(productSeconds), unit: 's' },
      { contender: 'chainbackup verify (the same restore in a scratch folder, then a throw-away server)', ...stats(verifySeconds), unit: 's' },
      { contender: 'of which the throw-away server: start, CHECK TABLE EXTENDED and a full read of every table, stop', ...stats(verifyServerSeconds), unit: 's' },
    ],
    ratios: [{ of: 'verify', to: 'restore', ...verifyRatio }],
    goal: 'reported: what proving a chain costs beside restoring it',
    met: null,
    note: `the server checked ${verifiedTables} tables with the default verification.bufferPool (256M); its checks read every page of every table and index once.`,
  });
  return restorePeakMb;
}

/** Orchestration overhead: a tiny database through Temporal minus the bare tool run. */
async function orchestrationOverhead(bench: Bench): Promise<void> {
  // Orchestration overhead: a tiny database through Temporal minus the bare tool run.
  say('Orchestration overhead on a tiny database…');
  const bare: number[] = [];
  const through: number[] = [];
  const workflowIds: string[] = [];
  for (let run = 0; run < repeat; run++) {
    bare.push(await toolLimit(bench, bench.tiny));
    const taken = await timed(() => takeBackup(bench, 'tiny', 'full'));
    through.push(taken.seconds);
    workflowIds.push(taken.value.workflowId);
  }
  const overhead = stats(through.map((seconds, index) => seconds - (bare[index] as number)));
  // The median run's history says where the time beyond the tool went.
  const medianRun = through.indexOf([...through].sort((a, b) => a - b)[Math.floor(through.length / 2)] as number);
  const timeline = describeTimeline(await workflowTimeline(bench.client, workflowIds[medianRun] ?? ''));
  bench.reports.push({
    scenario: 'orchestration overhead',
    figures: [
      { contender: 'bare mariadb-backup into /dev/null', ...stats(bare), unit: 's' },
      { contender: 'chainbackup full backup through Temporal', ...stats(through), unit: 's' },
      { contender: 'difference, pair by pair', ...overhead, unit: 's' },
    ],
    ratios: [],
    goal: '≤ 0.5 s',
    met: overhead.median <= 0.5,
    note: `the median run's history: ${timeline}.`,
  });
}

const FLEET_SIZE = Number(process.env.BENCH_FLEET ?? 200);

/** The fleet's cluster entries: one shared host queue, the stand-in tool, one server for their look-ups. */
function fleetClusters(server: MariaDbSandbox, time: string): Record<string, unknown>[] {
  const standIn = join(repoRoot, 'devtools/bench/stand-in-backup-tool.sh');
  return Array.from({ length: FLEET_SIZE }, (_, index) =>
    server.clusterConfig(`fleet-${String(index + 1).padStart(3, '0')}`, { kind: 'filesystem', path: join(dir, 'fleet-store') }, { taskQueue: 'chainbackup-host-fleet', backup: { toolPath: standIn }, schedule: { time, timezone: 'UTC' } }),
  );
}

/**
 * 200 clusters whose schedules fire in the same minute, each backed up by a stand-in tool that
 * streams a few MB: the Temporal side at fleet scale (schedules, locks, queues), not the tool.
 */
async function fleet(client: Client, server: MariaDbSandbox, reports: ScenarioReport[]): Promise<void> {
  const clusters = FLEET_SIZE;
  say(`Fleet: ${clusters} clusters scheduled for the same minute…`);
  const now = new Date();
  // The next minute that is at least 20 s away, in UTC.
  const fireAt = new Date(Math.ceil((now.getTime() + 20_000) / 60_000) * 60_000);
  const time = `${String(fireAt.getUTCHours()).padStart(2, '0')}:${String(fireAt.getUTCMinutes()).padStart(2, '0')}`;
  const config = configSchema.parse({ temporal: { taskQueue: 'chainbackup' }, clusters: fleetClusters(server, time) });
  const applying = await timed(() => applySchedules(client, config));
  const appliedBeforeFire = Date.now() < fireAt.getTime();
  say(`  ${applying.value.created.length} schedules created for ${fireAt.toISOString()} in ${applying.seconds.toFixed(1)} s${appliedBeforeFire ? '' : ' (after that minute had begun)'}`);
  const cpuAtStart = await cpuTimes();
  const finished = new Map<string, { start: number; close: number }>();
  const deadline = Date.now() + 15 * 60_000;
  while (finished.size < clusters && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 2000));
    for await (const execution of client.workflow.list({ query: `WorkflowType = "${WorkflowType.backup}" AND ExecutionStatus = "Completed"` })) {
      if (execution.workflowId.startsWith('backup-fleet-') && execution.closeTime) finished.set(execution.workflowId, { start: execution.startTime.getTime(), close: execution.closeTime.getTime() });
    }
  }
  const cpuAtEnd = await cpuTimes();
  const cpuBusy = 1 - (cpuAtEnd.idle - cpuAtStart.idle) / (cpuAtEnd.total - cpuAtStart.total);
  const delays = [...finished.values()].map((run) => (run.start - fireAt.getTime()) / 1000);
  const starts = [...finished.values()].map((run) => run.start);
  const startsPerSecond = (starts.length - 1) / Math.max(0.001, (Math.max(...starts) - Math.min(...starts)) / 1000);
  const sorted = [...delays].sort((a, b) => a - b);
  const percentile = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
  const total = (Math.max(...[...finished.values()].map((run) => run.close)) - fireAt.getTime()) / 1000;
  reports.push({
    scenario: `fleet: ${clusters} clusters, schedules firing in the same minute`,
    figures: [
      { contender: 'backups completed', median: finished.size, min: finished.size, max: finished.size, unit: `of ${clusters}` },
      { contender: 'workflow start delay after the scheduled minute, p50', median: percentile(50), min: sorted[0] ?? NaN, max: percentile(50), unit: 's' },
      { contender: 'workflow start delay, p99', median: percentile(99), min: percentile(99), max: sorted.at(-1) ?? NaN, unit: 's' },
      { contender: 'scheduled minute to the last backup committed', median: total, min: total, max: total, unit: 's' },
    ],
    ratios: [],
    goal: 'all complete; p50/p99 start delay and total time reported',
    met: finished.size === clusters,
    note: `a stand-in tool streams ${process.env.STAND_IN_MB ?? 4} MB per backup; one host worker serves every cluster's queue; \`schedule apply\` created the ${clusters} schedules in ${applying.seconds.toFixed(1)} s${appliedBeforeFire ? ', before the minute began' : ', finishing after the minute had begun'}. A start time is set when the Temporal server's scheduler starts the workflow (the workers take no part in that step); this dev server started them at about ${startsPerSecond.toFixed(1)} per second, while the machine's ${availableParallelism()} cores were ${Math.round(cpuBusy * 100)}% busy from the apply to the last commit`,
  });
}

/** Jiffies the CPUs spent in total and idle since boot, from /proc/stat. */
async function cpuTimes(): Promise<{ total: number; idle: number }> {
  const fields = ((await readFile('/proc/stat', 'utf8')).split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  return { total: fields.reduce((sum, value) => sum + value, 0), idle: (fields[3] ?? 0) + (fields[4] ?? 0) };
}

/** Each release's results are kept, so that a regression shows before it ships: results/<version>/<mode>.json. */
const RESULTS_DIR = join(repoRoot, 'docs/benchmarks/results');
const resultsFile = (version: string) => join(RESULTS_DIR, version, `${mode}.json`);

/** x.y.z of a released version, for ordering; undefined for a pre-release (0.2.0-dev), which is never a baseline. */
function releaseCore(version: string): number[] | undefined {
  const match = /^(\d+)\.(\d+)\.(\d+)$/.exec(version);
  return match ? match.slice(1).map(Number) : undefined;
}

/** Whether release `a` comes before release `b` (their x.y.z). */
function isEarlier(a: number[], b: number[]): boolean {
  const index = a.findIndex((part, at) => part !== b[at]);
  return index >= 0 && (a[index] ?? 0) < (b[index] ?? 0);
}

/** The newest release before this code's whose results of this mode are kept. */
async function previousRelease(): Promise<{ version: string; results: BenchResults } | undefined> {
  const current = releaseCore(productVersion.replace(/-.*$/, '')) ?? [0, 0, 0];
  const versions = (await readdir(RESULTS_DIR).catch(() => [] as string[]))
    .flatMap((version) => {
      const core = releaseCore(version);
      return core && isEarlier(core, current) && existsSync(resultsFile(version)) ? [{ version, core }] : [];
    })
    .sort((a, b) => (isEarlier(a.core, b.core) ? -1 : 1));
  const newest = versions.at(-1);
  return newest ? { version: newest.version, results: JSON.parse(await readFile(resultsFile(newest.version), 'utf8')) as BenchResults } : undefined;
}

async function writeResults(reports: ScenarioReport[], run: Record<string, unknown>): Promise<void> {
  const out = join(RESULTS_DIR, productVersion);
  await mkdir(out, { recursive: true });
  const machine = { cpus: availableParallelism(), node: process.version, date: new Date().toISOString() };
  const rounded = reports.map((report) => ({
    ...report,
    figures: report.figures.map((figure) => ({ ...figure, median: round(figure.median), min: round(figure.min), max: round(figure.max) })),
    ratios: report.ratios.map((ratio) => ({ ...ratio, median: round(ratio.median), min: round(ratio.min), max: round(ratio.max) })),
  }));
  // A run of some scenario sets keeps the stored results of the others, and the run they came from.
  const stored = only ? ((await readFile(resultsFile(productVersion), 'utf8').then((text) => JSON.parse(text) as BenchResults).catch(() => undefined)) ?? undefined) : undefined;
  const kept = (stored?.scenarios ?? []).filter((report) => !only?.includes(report.set ?? 'backups'));
  const results: BenchResults = { run: stored && !wants('backups') ? stored.run : { ...run, release: productVersion }, machine, scenarios: [...kept, ...rounded] };
  await writeFile(resultsFile(productVersion), `${JSON.stringify(results, null, 2)}\n`);
  await renderResults(results);
}

interface BenchResults {
  run: Record<string, unknown>;
  machine: { cpus: number; node: string; date: string };
  scenarios: ScenarioReport[];
}

/** docs/benchmarks/README.md quotes the full run between these lines. */
const SUMMARY_FILE = 'docs/benchmarks/README.md';
const README_START = '<!-- benchmark-summary:start -->';
const README_END = '<!-- benchmark-summary:end -->';

/** Writes docs/benchmarks/<mode>.md from the results and, for the full mode, the summary table of docs/benchmarks/README.md. */
/** A median beside the previous release's: `0.70 (0.93 in 0.1.0, −25%)`; the median alone when that release had none. */
function besidePrevious(median: number, previous: number | undefined, version: string | undefined): string {
  if (previous === undefined || version === undefined) return String(median);
  const change = previous === 0 ? '' : `, ${median >= previous ? '+' : '−'}${Math.abs(Math.round(((median - previous) / previous) * 100))}%`;
  return `${median} (${previous} in ${version}${change})`;
}

async function renderResults({ run, machine, scenarios }: BenchResults): Promise<void> {
  const previous = await previousRelease();
  const before = (scenario: string) => previous?.results.scenarios.find((report) => report.scenario === scenario);
  const release = typeof run.release === 'string' ? run.release : productVersion;
  const described = `release ${release}: ${String(run.dataMb)} MB of sysbench data (${TABLES} tables × ${String(run.tableSize)} rows), ${String(run.repeat)} runs per contender, ${machine.cpus} cores, Node ${machine.node}, ${machine.date}`;
  const against = previous ? `Each median is set beside release ${previous.version}'s (${previous.results.machine.date.slice(0, 10)}, Node ${previous.results.machine.node}) where that release measured the same.` : 'No earlier release kept results of this mode.';
  const lines = [`# Benchmark results (${mode} mode)`, '', `${described}.`, `Reproduce with \`npm run bench${mode === 'quick' ? ' -- --quick' : ''}\`. ${against}`, ''];
  for (const report of scenarios) {
    const earlier = before(report.scenario);
    lines.push(`## ${report.scenario}`, '', `Goal: ${report.goal}. ${verdict(report.met, '**')} ${report.note}`.trim(), '', '| contender | median | min | max |', '| --- | --- | --- | --- |');
    for (const figure of report.figures) {
      const was = earlier?.figures.find((old) => old.contender === figure.contender && old.unit === figure.unit)?.median;
      lines.push(`| ${figure.contender} | ${besidePrevious(figure.median, was, previous?.version)} ${figure.unit} | ${figure.min} ${figure.unit} | ${figure.max} ${figure.unit} |`);
    }
    if (report.ratios.length > 0) {
      lines.push('', '| ratio (pair by pair) | median | min | max |', '| --- | --- | --- | --- |');
      for (const ratio of report.ratios) {
        const was = earlier?.ratios.find((old) => old.of === ratio.of && old.to === ratio.to)?.median;
        lines.push(`| ${ratio.of} / ${ratio.to} | ${besidePrevious(ratio.median, was, previous?.version)} | ${ratio.min} | ${ratio.max} |`);
      }
    }
    lines.push('');
  }
  const out = join(repoRoot, 'docs/benchmarks');
  await writeFile(join(out, `${mode}.md`), `${lines.join('\n')}\n`);
  say(lines.join('\n'));
  say(`Written to docs/benchmarks/results/${release}/${mode}.json and docs/benchmarks/${mode}.md`);
  if (mode !== 'full') return;
  // docs/benchmarks/README.md quotes the full run: medians, pair-by-pair ratios and the verdict of every goal.
  const summary = [
    README_START,
    `From [full.md](full.md): ${described}.`,
    '',
    '| scenario | goal | median (pair-by-pair ratios where there are contenders) | |',
    '| --- | --- | --- | --- |',
    ...scenarios.map((report) => {
      const earlier = before(report.scenario);
      const figures =
        report.ratios.length > 0
          ? report.ratios.map((ratio) => `${ratio.of} / ${ratio.to}: ${besidePrevious(ratio.median, earlier?.ratios.find((old) => old.of === ratio.of && old.to === ratio.to)?.median, previous?.version)}`)
          : report.figures.map((figure) => `${figure.contender}: ${besidePrevious(figure.median, earlier?.figures.find((old) => old.contender === figure.contender && old.unit === figure.unit)?.median, previous?.version)} ${figure.unit}`);
      return `| ${report.scenario} | ${report.goal} | ${figures.join('; ')} | ${verdict(report.met, '')} |`;
    }),
    README_END,
  ].join('\n');
  const readmePath = join(repoRoot, SUMMARY_FILE);
  const readme = await readFile(readmePath, 'utf8');
  const from = readme.indexOf(README_START);
  const to = readme.indexOf(README_END);
  if (from < 0 || to < from) throw new Error(`${SUMMARY_FILE} has no ${README_START} … ${README_END} section for the summary`);
  await writeFile(readmePath, readme.slice(0, from) + summary + readme.slice(to + README_END.length));
  say(`${SUMMARY_FILE} benchmark summary updated`);
}

function verdict(met: boolean | null, emphasis: string): string {
  return met === null ? '' : `${emphasis}${met ? 'Met.' : 'Missed.'}${emphasis}`;
}

const run = options.renderOnly ? async () => renderResults(JSON.parse(await readFile(resultsFile(productVersion), 'utf8')) as BenchResults) : main;
run().catch((error: unknown) => {
  console.error(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  process.exitCode = 1;
});
