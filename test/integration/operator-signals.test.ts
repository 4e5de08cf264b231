/**
 * Issue 36: what the CLI and the metrics tell an operator, with payload encryption on and storage in
 * MinIO (the configuration where the progress line used to go blind): progress and a retry's last
 * error decoded with the worker's codec; `watch` joining work midway; a storage outage reported as
 * what it is, not as a missing worker; work no worker takes named as such; the metrics keeping the
 * last values through the outage (checked by promtool); Ctrl-C at a confirmation; a metrics port
 * taken; the after-backup verification said in the backup's output.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { productVersion } from '../../config/release.js';
import { randomBytes } from 'node:crypto';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import type { Client } from '@temporalio/client';
import type { MariaDbSandbox } from '../../devtools/sandbox/mariadb.js';
import { startMinio, type MinioServer } from '../../devtools/sandbox/minio.js';
import { freePort, repoRoot } from '../../devtools/sandbox/processes.js';
import type { StorageConfig } from '../../domain/config.js';
import { loadKeyRing } from '../../encryption/keys.js';
import { sealedDataConverter } from '../../encryption/payload-codec.js';
import { heartbeatDetails } from '../../activities/pending-activity.js';
import { connectTestClient, createSandbox, runCli, startWorker, testRoot, uniqueName, writeConfig, type WorkerProcess } from '../support/environment.js';
import { eventually } from '../support/workflow-worker.js';

const name = uniqueName('signals');
const dir = join(testRoot(), name);
let minio: MinioServer;
let source: MariaDbSandbox;
let worker: WorkerProcess;
let client: Client;
let closeClient: () => Promise<void>;
let configPath: string;
let metricsUrl: string;
let metricsListen: string;
let payloadEncryption: { currentKey: string; keys: { id: string; file: string }[] };

const minioEnv = () => ({ AWS_ACCESS_KEY_ID: minio.accessKeyId, AWS_SECRET_ACCESS_KEY: minio.secretAccessKey });
const storage = (prefix: string): StorageConfig => ({ kind: 's3', bucket: 'backups', prefix, region: 'us-east-1', endpoint: minio.endpoint, forcePathStyle: true });
const cli = (...args: string[]) => runCli(['--config', configPath, ...args], minioEnv());
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function toolScript(file: string, lines: string[]): Promise<string> {
  const path = join(testRoot(), `${name}-${file}.sh`);
  await writeFile(path, ['#!/bin/sh', ...lines, ''].join('\n'));
  await chmod(path, 0o755);
  return path;
}

async function metrics(): Promise<string> {
  const response = await fetch(metricsUrl);
  return response.text();
}

beforeAll(async () => {
  [minio, source] = await Promise.all([startMinio(join(dir, 'minio')), createSandbox(`${name}-source`)]);
  await minio.createBucket('backups');
  await source.loadSampleData(20_000);
  const keyFile = join(testRoot(), `${name}-payload-key`);
  await writeFile(keyFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  payloadEncryption = { currentKey: 'p1', keys: [{ id: 'p1', file: keyFile }] };
  metricsListen = `127.0.0.1:${await freePort()}`;
  metricsUrl = `http://${metricsListen}/metrics`;
  configPath = await writeConfig(name, {
    temporal: { taskQueue: name, payloadEncryption },
    clusters: [
      source.clusterConfig('signals', storage('signals'), { schedule: { enabled: false } }),
      // A tool that always fails: the step is retried, and its last error is shown decoded.
      source.clusterConfig('signals-flaky', storage('flaky'), {
        schedule: { enabled: false },
        backup: { toolPath: await toolScript('failing-tool', ['echo "simulated tool failure: disk quota exceeded" >&2', 'exit 1']) },
        retry: { maximumAttempts: 2, initialInterval: '2s' },
      }),
      // A tool that holds its output open a while after it has read everything: `watch` joins it midway.
      source.clusterConfig('signals-slow', storage('slow'), {
        schedule: { enabled: false },
        backup: { toolPath: await toolScript('slow-tool', ['mariadb-backup "$@"', 'status=$?', 'sleep 8', 'exit $status']) },
      }),
      source.clusterConfig('signals-verified', storage('verified'), { schedule: { enabled: false }, verification: { afterBackup: true } }),
    ],
    worker: { metrics: { listen: metricsListen, cacheFor: '1s' } },
  });
  worker = await startWorker(configPath, [], minioEnv());
  ({ client, close: closeClient } = await connectTestClient(sealedDataConverter(await loadKeyRing(payloadEncryption))));
  // The backup the metrics, the outage and the confirmation below read.
  expect((await cli('backup', 'signals', '--type', 'full')).exitCode).toBe(0);
});

afterAll(async () => {
  await closeClient?.();
  await worker?.stop();
  await Promise.all([source?.stop(), minio?.stop()]);
});

/** The progress lines a command wrote (stderr without a terminal: one line per change). */
const progressLines = (stderr: string) => stderr.split('\n').filter((line) => /^\[\d\d:\d\d\] /.test(line));

describe('with payload encryption on', () => {
  test("a backup's progress line, on a terminal, shows its bytes and total, decoded with the codec", async () => {
    const command = [process.execPath, join(repoRoot, 'dist/client/cli.js'), '--config', configPath, 'backup', 'signals-slow', '--type', 'full'].map((word) => `'${word}'`).join(' ');
    // `script` gives the CLI a terminal: the line is redrawn every second, as an operator sees it.
    const run = await execa('script', ['-qefc', command, '/dev/null'], { reject: false, env: { ...process.env, ...minioEnv() } });
    expect(run.exitCode).toBe(0);
    // The bytes come only from the step's heartbeats, which are sealed: before they were decoded, the line stayed at its first phase.
    expect(run.stdout).toMatch(/\[\d\d:\d\d\] Streaming full backup [^\r\n]*\d+(\.\d)? [KMG]iB\/\d+(\.\d)? [KMG]iB \d+%/);
  });

  test("a retried step's last error is the tool's own message, not \"Encoded failure\"", async () => {
    const run = await cli('backup', 'signals-flaky', '--type', 'full');
    expect(run.exitCode).toBe(1);
    const retried = progressLines(run.stderr).find((line) => line.includes('attempt 2'));
    expect(retried).toMatch(/last error: .*simulated tool failure: disk quota exceeded/);
    expect(run.stderr).not.toContain('Encoded failure');
  });

  test('watch, joining a backup midway, counts the time from its start and shows no rate before it has measured one', async () => {
    const started = await cli('backup', 'signals-slow', '--type', 'full', '--no-wait');
    expect(started.exitCode).toBe(0);
    const workflowId = started.stdout.trim();
    const handle = client.workflow.getHandle(workflowId);
    // Joined once the tool has read everything: the first look sees bytes already done.
    await eventually('the backup has streamed bytes', async () => {
      const pending = (await handle.describe()).raw.pendingActivities ?? [];
      for (const activity of pending) {
        const details = (await heartbeatDetails(client, activity)) as { readBytes?: number } | undefined;
        if ((details?.readBytes ?? 0) > 0) return true;
      }
      return undefined;
    }, 60_000);
    await sleep(1000);
    const watched = await cli('watch', workflowId);
    expect(watched.exitCode).toBe(0);
    const [first] = progressLines(watched.stderr);
    expect(first).toMatch(/\d+(\.\d)? [KMG]iB/);
    expect(first).not.toMatch(/\d (B|[KMG]iB)\/s\b/);
    expect(first).not.toMatch(/^\[00:00\]/);
  });

  test('a backup with verification.afterBackup says in its output that the verification ran, and what it found', async () => {
    const run = await cli('backup', 'signals-verified', '--type', 'full');
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toMatch(/\n {2}verified after it \(verification\.afterBackup\): a throw-away server on it found \d+ tables/);
  });
});

describe('the metrics endpoint', () => {
  test('counts the work that ended, by result, and passes promtool check metrics', async () => {
    const text = await eventually('the ended backups are counted', async () => {
      const found = await metrics();
      return found.includes('chainbackup_work_ended_total{cluster="signals",type="full",result="success"} 1') ? found : undefined;
    }, 60_000);
    expect(text).toContain(`chainbackup_build_info{version="${productVersion}",node="${process.versions.node}"} 1`);
    expect(text).toContain('chainbackup_work_ended_total{cluster="signals-flaky",type="full",result="failed"} 1');
    expect(text).toContain('chainbackup_status_up{cluster="signals"} 1');
    const checked = await execa('promtool', ['check', 'metrics'], { input: text, reject: false });
    expect(`${checked.stdout}${checked.stderr}`).toBe('');
  });

  test('a second worker whose metrics address is taken stops at once, naming the address', async () => {
    const second = await execa(process.execPath, [join(repoRoot, 'dist/worker/main.js'), '--config', configPath, '--no-orchestrator'], { reject: false, env: { ...process.env, ...minioEnv() }, timeout: 60_000 });
    expect(second.exitCode).toBe(1);
    expect(second.stderr).toContain(`worker.metrics.listen: cannot serve metrics at ${metricsListen}: the address is in use`);
    expect(second.stderr).not.toContain('Cannot close connection');
  });
});

describe('a worker that cannot start', () => {
  test('says which address of Temporal it could not reach', async () => {
    const closed = `127.0.0.1:${await freePort()}`;
    const run = await execa(process.execPath, [join(repoRoot, 'dist/worker/main.js'), '--config', configPath, '--no-orchestrator'], { reject: false, env: { ...process.env, ...minioEnv(), TEMPORAL_ADDRESS: closed }, timeout: 60_000 });
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toContain(`chainbackup worker: cannot reach Temporal at ${closed} (`);
    expect(run.stderr).toContain('set TEMPORAL_ADDRESS or a profile');
  });
});

describe('storage down', () => {
  test('list says which step waits and why, not that no worker runs; the metrics keep the last backup served', async () => {
    const before = await metrics();
    const lastBackup = /chainbackup_last_backup_timestamp_seconds\{cluster="signals"\} (\d+)/.exec(before)?.[1];
    expect(lastBackup).toBeDefined();
    await minio.stop();
    try {
      for (const [command, step] of [['list', 'listBackups'], ['status', 'clusterHealth']] as const) {
        const read = await runCli(['--config', configPath, '--worker-timeout', '5', '--read-timeout', '25', command, 'signals'], minioEnv());
        expect(read.exitCode).toBe(3);
        expect(read.stderr).not.toContain('no worker answered');
        expect(read.stderr).toMatch(new RegExp(`did not finish within 25 s \\(--read-timeout\\), waiting on step ${step} \\(attempt \\d+, last failure: [^)]*(ECONNREFUSED|connect|socket)`, 'i'));
      }
      const during = await eventually('the endpoint says storage is not read', async () => {
        const found = await metrics();
        return found.includes('chainbackup_status_up{cluster="signals"} 0') ? found : undefined;
      }, 120_000);
      expect(during).toContain(`chainbackup_last_backup_timestamp_seconds{cluster="signals"} ${lastBackup}`);
      expect(during).toMatch(/chainbackup_status_read_timestamp_seconds\{cluster="signals"\} \d+/);
    } finally {
      minio = { ...minio, ...(await startMinio(join(dir, 'minio'), minio)) };
    }
    await eventually('the endpoint reads storage again', async () => ((await metrics()).includes('chainbackup_status_up{cluster="signals"} 1') ? true : undefined), 120_000);
  });
});

describe('no worker', () => {
  test('a backup no worker takes says so within seconds, naming the queue', async () => {
    const queue = uniqueName('nobody');
    const lonely = await writeConfig(`${name}-lonely`, { temporal: { taskQueue: queue, payloadEncryption }, clusters: [source.clusterConfig('signals', storage('signals'), { schedule: { enabled: false } })] });
    const run = execa(process.execPath, [join(repoRoot, 'dist/client/cli.js'), '--config', lonely, 'backup', 'signals'], { reject: false, env: { ...process.env, ...minioEnv() } });
    let stderr = '';
    run.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    try {
      await eventually('the notice', () => Promise.resolve(stderr.includes('no worker has taken this work') ? true : undefined), 60_000);
      expect(stderr).toContain(`is a chainbackup worker serving queue ${queue} running?`);
    } finally {
      run.kill('SIGINT');
      await run;
      const workflowId = /^workflow (\S+)/m.exec(stderr)?.[1];
      if (workflowId) await client.workflow.getHandle(workflowId).terminate('test: no worker serves its queue');
    }
  });
});

describe('a confirmation', () => {
  test('Ctrl-C at "Go on?" exits 130, says nothing was changed, and changes nothing', async () => {
    const listed = JSON.parse((await cli('list', 'signals', '--json')).stdout) as { chains: { base: { name: string } }[] }[];
    const full = listed[0]?.chains[0]?.base.name ?? '';
    expect(full).toMatch(/-full$/);
    const command = [process.execPath, join(repoRoot, 'dist/client/cli.js'), '--config', configPath, 'delete', 'signals', full].map((word) => `'${word}'`).join(' ');
    // `script` gives the CLI a terminal, as an operator has: the question is asked only on one.
    const session = execa('script', ['-qefc', command, '/dev/null'], { reject: false, env: { ...process.env, ...minioEnv() }, stdin: 'pipe' });
    let output = '';
    session.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    await eventually('the question', () => Promise.resolve(output.includes('Go on? [y/N]') ? true : undefined), 120_000);
    session.stdin?.write('\x03');
    const ended = await session;
    expect(ended.exitCode).toBe(130);
    expect(output).toContain('stopped at the question (Ctrl-C): nothing was changed');
    const after = JSON.parse((await cli('list', 'signals', '--json')).stdout) as { chains: { base: { name: string } }[] }[];
    expect(after[0]?.chains.map((chain) => chain.base.name)).toContain(full);
  });
});
