import { appendFileSync } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import YAML from 'yaml';
import { execa, execaSync } from 'execa';
import { TOOL_FILE_GENERATIONS } from '../../domain/layout.js';
import { releaseSeries } from '../../domain/tool-version.js';
import { refusalIn } from '../../domain/failures.js';
import { CreateMultipartUploadCommand, DeleteObjectCommand, GetObjectCommand, ListMultipartUploadsCommand, UploadPartCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import type { StorageConfig } from '../../domain/config.js';
import type { RestoreRequestInput } from '../../domain/requests.js';
import { restore as restoreWorkflow } from '../../workflows/index.js';
import { MariaDbSandbox, type SandboxSettings } from '../../devtools/sandbox/mariadb.js';
import { repoRoot, stopPid } from '../../devtools/sandbox/processes.js';

/** The release series of the MariaDB this run tests ("10.11" on Debian 12, "11.8" on Debian 13). */
export const serverSeries = releaseSeries(execaSync('mariadbd', ['--version']).stdout) ?? '?';
/** The names this release's mariadb-backup gives its checkpoints and info files. */
export const toolFileNames = TOOL_FILE_GENERATIONS[Number(serverSeries.split('.')[0]) >= 11 ? 'mariadb_backup' : 'xtrabackup'];

export function testRoot(): string {
  const root = process.env.CHAINBACKUP_TEST_ROOT;
  if (!root) throw new Error('CHAINBACKUP_TEST_ROOT is not set: run the tests through `npm test`');
  return root;
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(3).toString('hex')}`;
}

/** A filesystem store in its own folder under the test root. */
export function filesystemStorage(name: string): StorageConfig {
  return { kind: 'filesystem', path: join(testRoot(), 'stores', name) };
}

/** A prefix of its own in the run's MinIO bucket. */
export function s3Storage(prefix: string): Extract<StorageConfig, { kind: 's3' }> {
  const endpoint = process.env.CHAINBACKUP_TEST_S3_ENDPOINT;
  if (!endpoint) throw new Error('CHAINBACKUP_TEST_S3_ENDPOINT is not set');
  return { kind: 's3', bucket: 'backups', prefix, region: 'us-east-1', endpoint, forcePathStyle: true };
}

export async function createSandbox(name: string, serverOptions: string[] = [], settings: SandboxSettings = {}): Promise<MariaDbSandbox> {
  return MariaDbSandbox.create(join(testRoot(), 'mariadb', name), serverOptions, settings);
}

/**
 * Writes a test's configuration. Its workers may place clones anywhere under the run's test root
 * (`worker.cloneRoots`, which allows none by default), unless the test says otherwise.
 */
export async function writeConfig(name: string, config: unknown): Promise<string> {
  const dir = join(testRoot(), 'configs');
  await mkdir(dir, { recursive: true });
  const path = join(dir, `${name}.yaml`);
  const given = config as { worker?: Record<string, unknown> };
  await writeFile(path, YAML.stringify({ ...given, worker: { cloneRoots: [testRoot()], ...given.worker } }));
  return path;
}

export interface WorkerProcess {
  child: ChildProcess;
  output(): string;
  /** Graceful stop (SIGTERM), waiting for the process to exit (SIGKILL after `timeoutMs`, default 30 s). */
  stop(timeoutMs?: number): Promise<void>;
  /** SIGKILL: the worker dies mid-work, as on a crash. */
  kill(): Promise<void>;
}

export interface WorkerLaunch {
  cwd?: string;
  /** A command prefix the worker runs under (another account: test/support/systemd-unit.ts). */
  launcher?: string[];
  /** An installed copy of the product: its root (dist/, node_modules/) and its Node binary. */
  installed?: { root: string; node: string };
  /** `env` alone, without this process's environment, as a service manager starts it. */
  exactEnv?: boolean;
}

/** Runs the real worker entry point (dist/worker/main.js) as a child process. */
export async function startWorker(configPath: string, args: string[] = [], env: Record<string, string> = {}, options: WorkerLaunch = {}): Promise<WorkerProcess> {
  const main = join(options.installed?.root ?? repoRoot, 'dist/worker/main.js');
  const [command = '', ...commandArgs] = [...(options.launcher ?? []), options.installed?.node ?? process.execPath, main, '--config', configPath, ...args];
  const child = spawn(command, commandArgs, { stdio: ['ignore', 'pipe', 'pipe'], env: options.exactEnv ? env : { ...process.env, ...env }, ...(options.cwd ? { cwd: options.cwd } : {}) });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  // For a developer following a worker while a test runs: its output, copied to a file.
  const copy = process.env.CHAINBACKUP_TEST_WORKER_LOG;
  if (copy) for (const stream of [child.stdout, child.stderr]) stream?.on('data', (chunk: Buffer) => appendFileSync(copy, chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker did not start within 60 s:\n${output}`)), 60_000);
    const check = () => {
      if (output.includes('chainbackup worker ready')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`worker exited with ${code}:\n${output}`));
    });
  });
  const stopWith = async (signal: NodeJS.Signals, timeoutMs = 30_000) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    if (signal === 'SIGTERM' && child.pid) {
      await Promise.race([exited, stopPid(child.pid, timeoutMs)]);
    } else {
      child.kill(signal);
    }
    await exited;
  };
  return { child, output: () => output, stop: (timeoutMs?: number) => stopWith('SIGTERM', timeoutMs), kill: () => stopWith('SIGKILL') };
}

/** A client of the run's Temporal; with `dataConverter`, one that reads and writes what sealed workers do. */
export async function connectTestClient(dataConverter?: DataConverter): Promise<{ client: Client; close: () => Promise<void> }> {
  const connection = await Connection.connect({ address: process.env.TEMPORAL_ADDRESS ?? '' });
  return { client: new Client({ connection, namespace: 'default', ...(dataConverter ? { dataConverter } : {}) }), close: () => connection.close() };
}

/** How a piece of work ended: its result, or the error it failed with (for failureChain). */
export function outcomeOf(work: Promise<unknown>): Promise<unknown> {
  return work.then(
    (result) => result,
    (error: unknown) => error,
  );
}

/**
 * The messages of a workflow failure and its causes, outermost first, with their types; for a run
 * that completed with a refusal (workflows/interceptors.ts), that refusal.
 */
export function failureChain(error: unknown): { type?: string; message: string }[] {
  const refusal = refusalIn(error);
  if (refusal) return [refusal];
  const chain: { type?: string; message: string }[] = [];
  let current: unknown = error instanceof WorkflowFailedError ? error.cause : error;
  while (current instanceof Error) {
    const typed = current as Error & { type?: string };
    chain.push({ ...(typed.type ? { type: typed.type } : {}), message: typed.message });
    current = (current as Error & { cause?: unknown }).cause;
  }
  return chain;
}

/** The first typed failure (or the error itself) of work that must fail or be refused; a success fails the test. */
export async function typedFailureOf(work: Promise<unknown>): Promise<{ type?: string; message: string }> {
  const error = await work.then(
    (result) => (refusalIn(result) ? result : undefined),
    (caught: unknown) => caught,
  );
  if (error === undefined) throw new Error('expected the work to fail or be refused, but it succeeded');
  return failureChain(error).find((failure) => failure.type !== undefined) ?? { message: error instanceof Error ? error.message : JSON.stringify(error) };
}

/**
 * An in-place restore that must be refused, or fail, before the pause: its first typed failure,
 * whether it ran `pauseCluster`, and whether the target server's process changed meanwhile.
 */
export async function refusedRestore(
  client: Client,
  target: MariaDbSandbox,
  start: { taskQueue: string; workflowId: string },
  request: RestoreRequestInput,
): Promise<{ type?: string; message: string; paused: boolean; serverRestarted: boolean }> {
  const pidBefore = await target.pid();
  const typed = await typedFailureOf(client.workflow.execute(restoreWorkflow, { ...start, args: [request] }));
  const paused = (await activityRuns(client, start.workflowId)).some((run) => run.type === 'pauseCluster');
  return { ...typed, paused, serverRestarted: (await target.pid()) !== pidBefore };
}

/** The activities a workflow scheduled, in order, with the attempt each one started last. */
export async function activityRuns(client: Client, workflowId: string): Promise<{ type: string; attempts: number }[]> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const runs: { type: string; attempts: number }[] = [];
  const byEvent = new Map<string, { type: string; attempts: number }>();
  for (const event of history.events ?? []) {
    const scheduled = event.activityTaskScheduledEventAttributes;
    if (scheduled) {
      const run = { type: scheduled.activityType?.name ?? '?', attempts: 0 };
      byEvent.set(String(event.eventId), run);
      runs.push(run);
    }
    const started = event.activityTaskStartedEventAttributes;
    if (started) {
      const run = byEvent.get(String(started.scheduledEventId));
      if (run) run.attempts = started.attempt ?? 1;
    }
  }
  return runs;
}

/** Direct access to the run's MinIO bucket, to inspect or damage what the product stored. */
export class TestBucket {
  private readonly s3: S3Client;

  constructor(readonly bucket = 'backups') {
    this.s3 = new S3Client({ endpoint: process.env.CHAINBACKUP_TEST_S3_ENDPOINT, region: 'us-east-1', forcePathStyle: true });
  }

  /** Keys, sizes and entity tags under a prefix, relative to it, sorted. */
  async list(prefix: string): Promise<{ key: string; size: number; etag: string }[]> {
    const found: { key: string; size: number; etag: string }[] = [];
    let token: string | undefined;
    do {
      const page = await this.s3.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: `${prefix}/`, ContinuationToken: token }));
      for (const object of page.Contents ?? []) found.push({ key: (object.Key ?? '').slice(prefix.length + 1), size: object.Size ?? 0, etag: object.ETag ?? '' });
      token = page.NextContinuationToken;
    } while (token);
    return found.sort((a, b) => a.key.localeCompare(b.key));
  }

  /** Open multipart uploads whose key starts with `prefix` (MinIO answers only for a whole object key). */
  async openMultipartUploads(prefix: string): Promise<string[]> {
    const page = await this.s3.send(new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: prefix }));
    return (page.Uploads ?? []).map((upload) => upload.Key ?? '');
  }

  async startMultipartUpload(key: string): Promise<void> {
    const { UploadId } = await this.s3.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: key }));
    await this.s3.send(new UploadPartCommand({ Bucket: this.bucket, Key: key, UploadId, PartNumber: 1, Body: Buffer.alloc(1024, 1) }));
  }

  async getText(key: string): Promise<string> {
    const object = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
    return (await object.Body?.transformToString()) ?? '';
  }

  async getBytes(key: string): Promise<Buffer> {
    const object = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
    return Buffer.from((await object.Body?.transformToByteArray()) ?? []);
  }

  /** Copies every object under one prefix to another, e.g. to damage a copy of a chain. */
  async copyPrefix(from: string, to: string): Promise<void> {
    for (const object of await this.list(from)) await this.put(`${to}/${object.key}`, await this.getBytes(`${from}/${object.key}`));
  }

  async put(key: string, body: string | Buffer): Promise<void> {
    await this.s3.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body }));
  }

  async delete(key: string): Promise<void> {
    await this.s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }

  close(): void {
    this.s3.destroy();
  }
}

export interface CliRun {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs the product's CLI as an operator would: a child process with the test's Temporal settings. */
export async function runCli(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  const result = await execa(process.execPath, [join(repoRoot, 'dist/client/cli.js'), ...args], { reject: false, env: { ...process.env, ...env } });
  return { exitCode: result.exitCode ?? -1, stdout: result.stdout, stderr: result.stderr };
}
