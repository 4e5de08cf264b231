/**
 * Local servers for the demo and the tests. Every server started here records its pid in a
 * `*.pid` file under the sandbox folder, so `stopRecordedServers` can stop all of them on success,
 * on failure, or from a later process (`npm run demo -- --stop`, the test script's exit trap).
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { openSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { processExists } from '../../activities/processes.js';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** Binaries built by scripts/install-deps.sh into .tools/bin (CHAINBACKUP_TOOLS_BIN overrides). */
export function toolPath(name: 'temporal' | 'minio'): string {
  return join(process.env.CHAINBACKUP_TOOLS_BIN ?? join(repoRoot, '.tools/bin'), name);
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolvePort(address.port) : reject(new Error('no port'))));
    });
  });
}

export const isRunning = processExists;

export async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 60_000, alive?: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    if (alive && !alive()) throw new Error(`${what} exited before it was ready`);
    await new Promise((resolveDelay) => setTimeout(resolveDelay, 200));
  }
  throw new Error(`${what} was not ready within ${timeoutMs / 1000} s`);
}

export async function stopPid(pid: number, timeoutMs = 30_000): Promise<void> {
  if (!isRunning(pid)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + timeoutMs;
  while (isRunning(pid) && Date.now() < deadline) await new Promise((resolveDelay) => setTimeout(resolveDelay, 100));
  if (isRunning(pid)) process.kill(pid, 'SIGKILL');
}

export interface ServerProcess {
  name: string;
  pid: number;
  logFile: string;
  stop(): Promise<void>;
}

/** Starts a detached server whose output goes to `<dir>/<name>.log`, and records its pid. */
export async function startServer(options: { name: string; dir: string; command: string; args: string[]; env?: NodeJS.ProcessEnv; ready: () => Promise<boolean>; timeoutMs?: number }): Promise<ServerProcess> {
  await mkdir(options.dir, { recursive: true });
  const logFile = join(options.dir, `${options.name}.log`);
  const log = openSync(logFile, 'a');
  const child = spawn(options.command, options.args, { detached: true, stdio: ['ignore', log, log], env: { ...process.env, ...options.env } });
  if (child.pid === undefined) throw new Error(`could not start ${options.command}`);
  const pid = child.pid;
  child.unref();
  const pidFile = join(options.dir, `${options.name}.pid`);
  await writeFile(pidFile, `${pid}\n`);
  const stop = async () => {
    await stopPid(pid);
    await rm(pidFile, { force: true });
  };
  try {
    await waitFor(options.name, options.ready, options.timeoutMs, () => isRunning(pid));
  } catch (error) {
    const tail = (await readFile(logFile, 'utf8').catch(() => '')).trim().split('\n').slice(-10).join('\n');
    await stop();
    throw new Error(`${(error as Error).message}\n${tail}`);
  }
  return { name: options.name, pid, logFile, stop };
}

/** Stops every server whose pid is recorded in a `*.pid` file under `root`. */
export async function stopRecordedServers(root: string): Promise<number> {
  const entries = await readdir(root, { recursive: true }).catch(() => [] as string[]);
  let stopped = 0;
  await Promise.all(
    entries
      .filter((entry) => entry.endsWith('.pid'))
      .map(async (entry) => {
        const pid = Number((await readFile(join(root, entry), 'utf8').catch(() => '')).trim());
        if (Number.isInteger(pid) && pid > 0 && isRunning(pid)) {
          await stopPid(pid);
          stopped++;
        }
        await rm(join(root, entry), { force: true });
      }),
  );
  return stopped;
}
