import { spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { execa } from 'execa';
import type { ClusterConfig, ControllerConfig } from '../../domain/config.js';
import { childEnv, childProcessOptions } from '../child-env.js';
import { pingServer } from '../database/sql.js';
import { failpoint } from '../failpoints.js';
import { processExists } from '../processes.js';
import { assertAttemptHolds } from '../attempt-lease.js';

/**
 * Pauses and unpauses a cluster's server around a restore. Pause stops the server so its datadir can
 * be swapped; unpause starts it and returns once it answers queries.
 */
export interface ClusterController {
  pause(): Promise<void>;
  unpause(): Promise<void>;
}

export class ControllerError extends Error {}

const START_TIMEOUT_MS = 5 * 60_000;

/**
 * Waits until the server responds. This asks for liveness only (`ping` succeeds even when the login is
 * refused): whether the configured user can log in to the restored data is the verify step's question.
 */
async function waitUntilAnswering(cluster: ClusterConfig, isAlive: () => boolean, describeFailure: () => Promise<string>): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  let lastError = '';
  while (Date.now() < deadline) {
    try {
      await pingServer(cluster.flavour, cluster.connection);
      return;
    } catch (error) {
      // A missing password is no reason to wait: it will still be missing in five minutes.
      if (error instanceof ApplicationFailure && error.nonRetryable) throw error;
      lastError = (error as Error).message;
    }
    if (!isAlive()) throw new ControllerError(`server of cluster ${cluster.name} exited while starting: ${await describeFailure()}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new ControllerError(`server of cluster ${cluster.name} did not answer within ${START_TIMEOUT_MS / 1000} s: ${lastError}`);
}


async function tail(path: string, lines: number): Promise<string> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return text.trim().split('\n').slice(-lines).join(' | ') || '(no log)';
}

/** The value of `name` (dashes or underscores) in a server option file's [mysqld] or [mariadbd] group. */
async function serverOption(defaultsFile: string, name: string): Promise<string | undefined> {
  const text = await readFile(defaultsFile, 'utf8').catch(() => '');
  let inServerGroup = false;
  let value: string | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const group = /^\[(.+)\]$/.exec(line);
    if (group) {
      inServerGroup = ['mysqld', 'mariadbd', 'server', 'mariadb'].includes(group[1] ?? '');
      continue;
    }
    const option = /^([\w-]+)\s*=\s*(.*)$/.exec(line);
    if (inServerGroup && option && option[1]?.replace(/_/g, '-') === name) value = option[2]?.replace(/^["']|["']$/g, '');
  }
  return value;
}

/**
 * The processes of this machine that run a server on the given defaults file or datadir, read from
 * /proc: a start or stop retried after a worker died must see a server that the dead worker started
 * (perhaps still starting, before it wrote its pid file) instead of starting a second one.
 */
export async function serverProcesses(defaultsFile: string, datadir: string): Promise<number[]> {
  const wantedDefaults = resolve(defaultsFile);
  const wantedDatadir = resolve(datadir);
  const pids: number[] = [];
  for (const name of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    const argv = (await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '')).split('\0').filter(Boolean);
    const program = basename(argv[0] ?? '');
    if (!['mariadbd', 'mysqld', 'mariadbd-safe', 'mysqld_safe'].includes(program)) continue;
    const onThisServer = argv.slice(1).some((arg) => {
      const [option, value] = arg.split(/=(.*)/s) as [string, string | undefined];
      if (value === undefined) return false;
      return (option === '--defaults-file' && resolve(value) === wantedDefaults) || (option === '--datadir' && resolve(value) === wantedDatadir);
    });
    if (onThisServer) pids.push(Number(name));
  }
  return pids;
}

/** Runs configured stop and start commands, e.g. systemctl. */
class CommandController implements ClusterController {
  constructor(
    private readonly cluster: ClusterConfig,
    private readonly config: Extract<ControllerConfig, { kind: 'command' }>,
  ) {}

  private async run(command: string[], what: string): Promise<void> {
    const [file, ...args] = command as [string, ...string[]];
    // A replaced attempt (attempt-lease.ts) neither stops nor starts the cluster's server: a newer one may have moved on.
    assertAttemptHolds(`run the ${what} command of cluster ${this.cluster.name}`);
    const result = await execa(file, args, { reject: false, timeout: START_TIMEOUT_MS, ...childProcessOptions() });
    if (result.exitCode !== 0) {
      throw new ControllerError(`${what} command "${command.join(' ')}" for cluster ${this.cluster.name} failed (exit ${result.exitCode}): ${(result.stderr || result.stdout).trim().slice(-500)}`);
    }
  }

  async pause(): Promise<void> {
    await this.run(this.config.stop, 'stop');
  }

  async unpause(): Promise<void> {
    await this.run(this.config.start, 'start');
    await waitUntilAnswering(this.cluster, () => true, () => Promise.resolve('start command returned but the server does not answer'));
  }
}

/** Starts and stops a local server process from its defaults file (the demo, tests, simple hosts). */
class ProcessController implements ClusterController {
  constructor(
    private readonly cluster: ClusterConfig,
    private readonly config: Extract<ControllerConfig, { kind: 'process' }>,
  ) {}

  /** The server's processes: the pid file's, and any other running on this defaults file or datadir. */
  private async running(): Promise<number[]> {
    const pidFile = await serverOption(this.config.defaultsFile, 'pid-file');
    const datadir = (await serverOption(this.config.defaultsFile, 'datadir')) ?? this.cluster.datadir;
    const pids = new Set(await serverProcesses(this.config.defaultsFile, datadir));
    const recorded = pidFile ? Number((await readFile(pidFile, 'utf8').catch(() => '')).trim()) : NaN;
    if (Number.isInteger(recorded) && recorded > 0 && processExists(recorded)) pids.add(recorded);
    return [...pids];
  }

  /** Stops every server process on this datadir (signalled, no login needed). Stopping a stopped server does nothing. */
  async pause(): Promise<void> {
    const pids = await this.running();
    assertAttemptHolds(`stop the server of cluster ${this.cluster.name}`);
    for (const pid of pids) process.kill(pid, 'SIGTERM');
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (pids.some(processExists)) {
      if (Date.now() > deadline) throw new ControllerError(`server of cluster ${this.cluster.name} (pid ${pids.join(', ')}) did not stop within ${START_TIMEOUT_MS / 1000} s`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Starts the server unless one already runs on this datadir (a retry after a worker died mid-start), then waits until it answers. */
  async unpause(): Promise<void> {
    const describe = async () => {
      const logFile = await serverOption(this.config.defaultsFile, 'log-error');
      return logFile ? await tail(logFile, 5) : 'see the server error log';
    };
    const already = await this.running();
    if (already.length > 0) {
      await waitUntilAnswering(this.cluster, () => already.some(processExists), describe);
      return;
    }
    assertAttemptHolds(`start the server of cluster ${this.cluster.name}`);
    const child = spawn(this.config.serverBinary, [`--defaults-file=${this.config.defaultsFile}`], { detached: true, stdio: 'ignore', env: childEnv() });
    let exited = false;
    child.once('exit', () => (exited = true));
    child.once('error', () => (exited = true));
    child.unref();
    await failpoint('unpause-spawned');
    await waitUntilAnswering(this.cluster, () => !exited, describe);
  }
}

export function clusterController(cluster: ClusterConfig): ClusterController {
  const config = cluster.controller;
  return config.kind === 'command' ? new CommandController(cluster, config) : new ProcessController(cluster, config);
}
