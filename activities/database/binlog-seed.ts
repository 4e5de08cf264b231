import { spawn } from 'node:child_process';
import { chown, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { gtidRestartStatements } from '../../domain/server-layout.js';
import { childEnv, childProcessOptions } from '../child-env.js';
import { processExists } from '../processes.js';
import type { TargetServer } from './server-layout.js';

const START_TIMEOUT_MS = 5 * 60_000;

/**
 * Starts the restored server's binlog history at the backup's GTID position before the server takes
 * any connection: a private server (no network, a socket of its own) runs once on the placed files
 * with an `--init-file` that resets the binlog and sets `gtid_binlog_state` and `gtid_slave_pos`,
 * then stops. Its binlog carries that state, so the real server, however it is started (a systemd
 * unit included), continues from it. Returns the private server's error log when it failed.
 */
export async function seedBinlogHistory(target: TargetServer, gtid: string, serverBinary = 'mariadbd'): Promise<void> {
  const statements = gtidRestartStatements(gtid);
  const { layout } = target;
  if (!statements || layout.binlogBasename === null) return;
  // A short path of its own: a server's socket path may not exceed 107 bytes.
  const work = await mkdtemp(join(tmpdir(), 'chainbackup-seed-'));
  const owner = await stat(layout.datadir);
  const user = (await execa('id', ['-nu', String(owner.uid)], childProcessOptions())).stdout.trim();
  const initFile = join(work, 'init.sql');
  await writeFile(initFile, `${statements.join('\n')}\n`);
  const cnf = join(work, 'seed.cnf');
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
    `log-bin=${layout.binlogBasename}`,
    ...(layout.binlogIndex ? [`log-bin-index=${layout.binlogIndex}`] : []),
    `server-id=${target.serverId}`,
    'skip-networking',
    'skip-slave-start',
    `socket=${join(work, 'seed.sock')}`,
    `pid-file=${join(work, 'seed.pid')}`,
    `log-error=${join(work, 'seed.err')}`,
    `tmpdir=${work}`,
    `user=${user}`,
    'innodb_buffer_pool_size=64M',
    `init-file=${initFile}`,
  ];
  await writeFile(cnf, `${options.join('\n')}\n`);
  for (const path of [work, initFile, cnf]) await chown(path, owner.uid, owner.gid);
  const log = () => readFile(join(work, 'seed.err'), 'utf8').catch(() => '');
  const child = spawn(serverBinary, [`--defaults-file=${cnf}`], { stdio: 'ignore', env: childEnv() });
  let exited = false;
  child.once('exit', () => (exited = true));
  child.once('error', () => (exited = true));
  try {
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!(await log()).includes('ready for connections')) {
      if (exited || Date.now() > deadline) throw new Error(`the private server that seeds the binlog history did not start: ${(await log()).split('\n').filter((line) => line.includes('ERROR')).join(' | ') || 'see its log'}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const failed = (await log()).split('\n').filter((line) => line.includes('[ERROR]'));
    if (failed.length > 0) throw new Error(`seeding the binlog history at GTID ${gtid} failed: ${failed.join(' | ')}`);
  } finally {
    if (child.pid !== undefined && !exited) {
      child.kill('SIGTERM');
      while (processExists(child.pid) && !exited) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await rm(work, { recursive: true, force: true });
  }
}
