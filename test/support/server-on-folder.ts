/** A throw-away server on a folder a test made (a clone, a kept datadir): to read what is in it. */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { freePort, stopPid, waitFor } from '../../devtools/sandbox/processes.js';

/**
 * Starts a server on `folder` (with `keptOptions`, such as its datadir and system tablespace), its
 * socket, pid and log under `workDir`, runs `read` with a root SQL function, and stops it whatever
 * happened. Returns what `read` returned and the server's log.
 */
export async function withServerOnFolder<T>(folder: string, keptOptions: string[], workDir: string, read: (sql: (query: string) => Promise<string>) => Promise<T>): Promise<{ value: T; log: string }> {
  const own = join(workDir, `server-${createHash('sha1').update(folder).digest('hex').slice(0, 8)}`);
  await mkdir(own, { recursive: true });
  const socket = join(own, 's.sock');
  const cnf = join(own, 'my.cnf');
  await writeFile(cnf, ['[mysqld]', ...keptOptions, `socket=${socket}`, `port=${await freePort()}`, 'bind-address=127.0.0.1', `pid-file=${join(own, 'pid')}`, 'user=root', `log-error=${join(own, 'err.log')}`, 'server-id=99', 'innodb_buffer_pool_size=64M', `tmpdir=${own}`, 'skip-slave-start', ''].join('\n'));
  const child = spawn('mariadbd', [`--defaults-file=${cnf}`], { detached: true, stdio: 'ignore' });
  child.unref();
  const sql = async (query: string) => (await execa('mariadb', ['--no-defaults', `--socket=${socket}`, '--user=root', '--batch', '--skip-column-names', '-e', query])).stdout;
  try {
    await waitFor(`a server on ${folder}`, async () => (await sql('SELECT 1').catch(() => '')) === '1', 60_000, () => child.exitCode === null).catch(async (error: unknown) => {
      throw new Error(`${(error as Error).message}: ${(await readFile(join(own, 'err.log'), 'utf8').catch(() => '')).split('\n').filter((line) => line.includes('ERROR')).join(' | ')}`);
    });
    const value = await read(sql);
    return { value, log: await readFile(join(own, 'err.log'), 'utf8') };
  } finally {
    if (child.pid) await stopPid(child.pid, 60_000);
  }
}
