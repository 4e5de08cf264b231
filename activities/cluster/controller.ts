import { spawn } from 'node:child_process';
import { execa } from 'execa';
import type { ClusterConfig, ControllerConfig } from '../../domain/config.js';
import { readFile } from 'node:fs/promises';
import { pingServer } from '../database/sql.js';

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
      lastError = (error as Error).message;
    }
    if (!isAlive()) throw new ControllerError(`server of cluster ${cluster.name} exited while starting: ${await describeFailure()}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new ControllerError(`server of cluster ${cluster.name} did not answer within ${START_TIMEOUT_MS / 1000} s: ${lastError}`);
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
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

/** Runs configured stop and start commands, e.g. systemctl. */
class CommandController implements ClusterController {
  constructor(
    private readonly cluster: ClusterConfig,
    private readonly config: Extract<ControllerConfig, { kind: 'command' }>,
  ) {}

  private async run(command: string[], what: string): Promise<void> {
    const [file, ...args] = command as [string, ...string[]];
    const result = await execa(file, args, { reject: false, timeout: START_TIMEOUT_MS });
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

  /** Stops the server through the pid file named in its own option file: no login needed. */
  async pause(): Promise<void> {
    const pidFile = await serverOption(this.config.defaultsFile, 'pid-file');
    if (!pidFile) throw new ControllerError(`${this.config.defaultsFile} of cluster ${this.cluster.name} sets no pid-file; the process controller needs one`);
    const text = await readFile(pidFile, 'utf8').catch(() => undefined);
    if (text === undefined) return; // No pid file: the server is not running.
    const pid = Number(text.trim());
    if (!Number.isInteger(pid) || pid <= 0) throw new ControllerError(`pid file ${pidFile} of cluster ${this.cluster.name} holds no pid`);
    if (!processExists(pid)) return;
    process.kill(pid, 'SIGTERM');
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (processExists(pid)) {
      if (Date.now() > deadline) throw new ControllerError(`server of cluster ${this.cluster.name} (pid ${pid}) did not stop within ${START_TIMEOUT_MS / 1000} s`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  async unpause(): Promise<void> {
    const child = spawn(this.config.serverBinary, [`--defaults-file=${this.config.defaultsFile}`], { detached: true, stdio: 'ignore' });
    let exited = false;
    child.once('exit', () => (exited = true));
    child.once('error', () => (exited = true));
    child.unref();
    await waitUntilAnswering(this.cluster, () => !exited, async () => {
      const logFile = await serverOption(this.config.defaultsFile, 'log-error');
      return logFile ? await tail(logFile, 5) : 'see the server error log';
    });
  }
}

export function clusterController(cluster: ClusterConfig): ClusterController {
  const config = cluster.controller;
  return config.kind === 'command' ? new CommandController(cluster, config) : new ProcessController(cluster, config);
}
