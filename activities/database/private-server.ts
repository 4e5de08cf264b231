import { spawn } from 'node:child_process';
import { chown, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { execa } from 'execa';
import type { Flavour } from '../../domain/manifest.js';
import { childEnv, childProcessOptions } from '../child-env.js';
import { runSql, runSqlQueries } from './sql.js';
import { processExists } from '../processes.js';
import { assertAttemptHolds, removeUnlessReplaced } from '../attempt-lease.js';
import { readStorageOptions, type TargetServer } from './server-layout.js';

const START_TIMEOUT_MS = 5 * 60_000;

export interface PrivateServerOptions {
  /** Statements run once at start-up, before any connection (`--init-file`). */
  initStatements: string[];
  /** Server options beyond the layout, the private socket and logs, and the user. */
  options?: string[];
  serverId: number;
  /** Write the binlog where the target server writes it (its basename and index). */
  logBin: boolean;
  bufferPool?: string;
  serverBinary?: string;
  /**
   * A folder that outlives a worker that died (in the restore's workspace, or the cluster's restore
   * folder): the pid file goes there, so the next attempt of the same step, and the clean-up at the
   * end of the work (stopLeftoverServers), stop a private server a dead worker left running.
   */
  stateDir: string;
}

export interface PrivateServer {
  /** The socket of the server, in a short private folder: no network port is opened. */
  socket: string;
  /** A folder owned by the server's user, removed when the server stops. */
  work: string;
  /** The `[ERROR]` lines of its log so far. */
  errors(): Promise<string[]>;
  /** Stops it (a clean shutdown) and removes its folder; safe to call twice. */
  stop(): Promise<void>;
}

/** A clean shutdown (SIGTERM); a server still there after this long is killed (InnoDB recovers from that). */
const SHUTDOWN_TIMEOUT_MS = 5 * 60_000;

async function stopProcess(pid: number): Promise<void> {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + SHUTDOWN_TIMEOUT_MS;
  while (processExists(pid)) {
    if (Date.now() > deadline) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        return;
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Stops every private server recorded anywhere under `root` (a restore's workspace, or the cluster's
 * restore folder): what a killed worker left running there, before its files are moved or removed.
 */
export async function stopLeftoverServers(root: string): Promise<void> {
  const entries = await readdir(root, { recursive: true }).catch(() => [] as string[]);
  // Its own pid file, or the one written at spawn (a worker killed before the server wrote its own).
  const stateDirs = new Set(entries.filter((entry) => ['server.pid', 'spawned.pid'].includes(basename(entry))).map((entry) => join(root, dirname(entry))));
  for (const stateDir of stateDirs) await stopLeftoverServer(stateDir);
}

/** Stops a private server an earlier attempt left running (its worker died), by the pid file in `stateDir`. */
export async function stopLeftoverServer(stateDir: string): Promise<void> {
  // What runs there may be a newer attempt's server: a replaced attempt (attempt-lease.ts) leaves it alone.
  assertAttemptHolds(`stop the private server of ${stateDir}`);
  // The server's own pid file, and the one written at spawn (a worker killed before the server wrote its own).
  for (const file of ['server.pid', 'spawned.pid']) {
    const pid = Number((await readFile(join(stateDir, file), 'utf8').catch(() => '')).trim());
    const command = Number.isInteger(pid) && pid > 0 && processExists(pid) ? await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '') : '';
    // Only a server started for this state folder: a recycled pid is left alone.
    if (command.includes(stateDir)) await stopProcess(pid);
  }
  // Its private folder (socket, log, one-time password) goes too, then the state folder itself.
  const work = (await readFile(join(stateDir, 'work-dir'), 'utf8').catch(() => '')).trim();
  if (work.startsWith(join(tmpdir(), 'chainbackup-server-'))) await rm(work, { recursive: true, force: true });
  await rm(stateDir, { recursive: true, force: true });
}

/**
 * A server of our own on the target's placed files, before the real one starts: it opens no network
 * port, listens on a socket in a private folder, reads no option file of the host, and takes the
 * target's layout (where its redo, undo, system tablespace and binlog live) so that it sees the
 * files exactly as the real server will. It runs as the owner of the datadir.
 */
export async function startPrivateServer(target: TargetServer, settings: PrivateServerOptions): Promise<PrivateServer> {
  const { layout } = target;
  await stopLeftoverServer(settings.stateDir);
  await mkdir(settings.stateDir, { recursive: true, mode: 0o700 });
  // A short path of its own: a server's socket path may not exceed 107 bytes.
  const work = await mkdtemp(join(tmpdir(), 'chainbackup-server-'));
  await writeFile(join(settings.stateDir, 'work-dir'), `${work}\n`);
  const owner = await stat(layout.datadir);
  const user = (await execa('id', ['-nu', String(owner.uid)], childProcessOptions())).stdout.trim();
  const initFile = join(work, 'init.sql');
  await writeFile(initFile, `${settings.initStatements.join('\n')}\n`, { mode: 0o600 });
  // In the state folder, so that a leftover is recognised by its command line.
  const cnf = join(settings.stateDir, 'server.cnf');
  const pidFile = join(settings.stateDir, 'server.pid');
  const options = [
    '[mysqld]',
    `datadir=${layout.datadir}`,
    `innodb_data_home_dir=${layout.dataHomeDir}`,
    `innodb_data_file_path=${layout.dataFilePath}`,
    `innodb_undo_tablespaces=${layout.undoTablespaces}`,
    `innodb_log_group_home_dir=${layout.logGroupHomeDir}`,
    `innodb_undo_directory=${layout.undoDirectory}`,
    `aria_log_dir_path=${layout.ariaLogDir}`,
    ...(target.logFileSize ? [`innodb_log_file_size=${target.logFileSize}`] : []),
    ...(settings.logBin && layout.binlogBasename !== null ? [`log-bin=${layout.binlogBasename}`, ...(layout.binlogIndex ? [`log-bin-index=${layout.binlogIndex}`] : [])] : []),
    `server-id=${settings.serverId}`,
    'skip-networking',
    'skip-slave-start',
    'event-scheduler=OFF',
    `socket=${join(work, 'server.sock')}`,
    `pid-file=${pidFile}`,
    `log-error=${join(work, 'server.err')}`,
    `tmpdir=${work}`,
    `user=${user}`,
    `innodb_buffer_pool_size=${settings.bufferPool ?? '64M'}`,
    `init-file=${initFile}`,
    // What the server needs to read these files at all (key management, page size), from the target's own configuration.
    ...(await readStorageOptions(target)),
    ...(settings.options ?? []),
  ];
  // 0600: a key management plugin's settings can hold the key of its key file.
  await writeFile(cnf, `${options.join('\n')}\n`, { mode: 0o600 });
  for (const path of [work, initFile, cnf, settings.stateDir]) await chown(path, owner.uid, owner.gid);
  const log = () => readFile(join(work, 'server.err'), 'utf8').catch(() => '');
  const errors = async () => (await log()).split('\n').filter((line) => line.includes('[ERROR]'));
  const child = spawn(settings.serverBinary ?? 'mariadbd', [`--defaults-file=${cnf}`], { stdio: 'ignore', env: childEnv() });
  if (child.pid !== undefined) await writeFile(join(settings.stateDir, 'spawned.pid'), `${child.pid}\n`);
  let exited = false;
  child.once('exit', () => (exited = true));
  child.once('error', () => (exited = true));
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (child.pid !== undefined && !exited) await stopProcess(child.pid);
    await rm(work, { recursive: true, force: true });
    // Nothing of it is left: its pid files, its option file, the state folder (unless this attempt was
    // replaced: the folder is a newer attempt's now, and its pid files name that attempt's server).
    await removeUnlessReplaced(settings.stateDir);
  };
  try {
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!(await log()).includes('ready for connections')) {
      if (exited || Date.now() > deadline) throw new Error(`the private server on ${layout.datadir} did not start: ${(await errors()).join(' | ') || 'see its log'}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { socket: join(work, 'server.sock'), work, errors, stop };
}

/** The user the product signs in to its private servers as: created at start with a random password, dropped before the server stops, never logged. */
const PRIVATE_ACCOUNT = 'chainbackup_private';

export interface PrivateSession extends PrivateServer {
  /** Runs SQL as the one-time account (rows of columns; with `columnNames`, the first row names them). */
  sql: (query: string, options?: { columnNames?: boolean; timeoutMs?: number }) => Promise<string[][]>;
  /** Runs several queries through one client process: the rows of each, in order. */
  sqlQueries: (queries: string[], options?: { timeoutMs?: number }) => Promise<string[][][]>;
  /** Drops the one-time account (unlogged); call before a clean stop. */
  dropAccount: () => Promise<void>;
}

/**
 * A private server with a one-time account of all privileges for the worker to sign in with: its
 * password is random, lives only in the init file and a 0600 defaults file, and is never stored;
 * `sql_log_bin=0` keeps the account out of any binlog.
 */
export async function startPrivateSession(target: TargetServer, settings: PrivateServerOptions & { flavour: Flavour }): Promise<PrivateSession> {
  const password = randomBytes(24).toString('hex');
  const account = `'${PRIVATE_ACCOUNT}'@'localhost'`;
  const server = await startPrivateServer(target, {
    ...settings,
    initStatements: [...settings.initStatements, 'SET sql_log_bin = 0;', `CREATE OR REPLACE USER ${account} IDENTIFIED BY '${password}';`, `GRANT ALL PRIVILEGES ON *.* TO ${account};`],
  });
  const sql = (query: string, options: { columnNames?: boolean; timeoutMs?: number } = {}) => runSql(settings.flavour, { socket: server.socket, user: PRIVATE_ACCOUNT }, query, { password, ...options });
  const sqlQueries = (queries: string[], options: { timeoutMs?: number } = {}) => runSqlQueries(settings.flavour, { socket: server.socket, user: PRIVATE_ACCOUNT }, queries, { password, ...options });
  return { ...server, sql, sqlQueries, dropAccount: async () => void (await sql(`SET sql_log_bin = 0; DROP USER ${account}`)) };
}
