import { chmod, lstat, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConnectionConfig } from '../../domain/config.js';
import { businessFailure, FailureType } from '../../domain/failures.js';
import { processExists } from '../processes.js';
import { readSecretFile, secretFileProblem } from '../../encryption/secret-files.js';

/** Quotes a value for a MySQL option file. */
function optionValue(value: string): string {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/**
 * The password named by the connection's passwordEnv or passwordFile, read on this worker only. A
 * missing variable or file is a configuration problem no retry can fix: a non-retryable failure naming it.
 */
export async function readPassword(connection: ConnectionConfig, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  if (connection.passwordEnv) {
    const value = env[connection.passwordEnv];
    if (value === undefined) throw businessFailure(FailureType.ConfigInvalid, `environment variable ${connection.passwordEnv} (connection.passwordEnv) is not set on this worker`);
    return value;
  }
  if (connection.passwordFile) {
    try {
      return (await readSecretFile(connection.passwordFile)).trim();
    } catch (error) {
      throw businessFailure(FailureType.ConfigInvalid, `cannot read the password file ${connection.passwordFile} (connection.passwordFile): ${secretFileProblem(error)}`);
    }
  }
  return undefined;
}

export function describeEndpoint(connection: ConnectionConfig): string {
  return connection.socket ? `socket ${connection.socket}` : `${connection.host}:${connection.port ?? 3306}`;
}

/**
 * Credential files live under one private folder (mode 0700), one sub-folder per process
 * (`process-<pid>`). A worker empties the sub-folders of processes that no longer run when it
 * starts, so a password written by a worker that was SIGKILLed does not outlive it.
 */
let secretsRoot = process.env.CHAINBACKUP_SECRETS_DIR ?? join(tmpdir(), `chainbackup-secrets-${process.getuid?.() ?? 'user'}`);

export function secretsFolderRoot(): string {
  return secretsRoot;
}


async function ensurePrivateFolder(path: string): Promise<void> {
  await mkdir(path, { recursive: true, mode: 0o700 });
  const info = await lstat(path);
  // Someone else's folder, or a link planted in a shared /tmp, must never receive a password.
  if (!info.isDirectory() || (process.getuid && info.uid !== process.getuid())) {
    throw businessFailure(FailureType.ConfigInvalid, `the credentials folder ${path} is not a folder owned by this user; remove it or set CHAINBACKUP_SECRETS_DIR`);
  }
  await chmod(path, 0o700);
}

/** Called once when a worker starts: removes the credential files of processes that died without cleaning up. */
export async function sweepSecretsFolder(root?: string): Promise<string[]> {
  if (root !== undefined) secretsRoot = root;
  await ensurePrivateFolder(secretsRoot);
  const removed: string[] = [];
  for (const name of await readdir(secretsRoot)) {
    const pid = /^process-(\d+)$/.exec(name)?.[1];
    if (pid !== undefined && Number(pid) !== process.pid && processExists(Number(pid))) continue;
    await rm(join(secretsRoot, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

/** Called when a worker stops gracefully: its own credential and scratch folder goes with it. */
export async function removeOwnPrivateFolder(): Promise<void> {
  await rm(join(secretsRoot, `process-${process.pid}`), { recursive: true, force: true });
}

/**
 * A private [client] option file holding the connection and password, mode 0600 in a 0700 folder,
 * so the password never appears on a command line. Removed by `dispose`.
 */
export interface DefaultsFile {
  path: string;
  dispose(): Promise<void>;
}

/**
 * A private scratch folder of this process (mode 0700, beside its credential files): what it holds
 * (a backup's checkpoints, a decrypted copy of a binlog) is the database's, and a worker killed
 * before removing it leaves it to the next worker's sweep, not to /tmp for good.
 */
export async function privateScratchFolder(prefix: string): Promise<string> {
  const own = join(secretsRoot, `process-${process.pid}`);
  await ensurePrivateFolder(secretsRoot);
  await ensurePrivateFolder(own);
  return mkdtemp(join(own, prefix));
}

export async function writeDefaultsFile(connection: ConnectionConfig, password: string | undefined): Promise<DefaultsFile> {
  const own = join(secretsRoot, `process-${process.pid}`);
  await ensurePrivateFolder(secretsRoot);
  await ensurePrivateFolder(own);
  const folder = await mkdtemp(join(own, 'client-'));
  await chmod(folder, 0o700);
  const lines = ['[client]', `user=${optionValue(connection.user)}`];
  if (password !== undefined) lines.push(`password=${optionValue(password)}`);
  if (connection.socket) lines.push(`socket=${optionValue(connection.socket)}`);
  if (connection.host) lines.push(`host=${optionValue(connection.host)}`, `port=${connection.port ?? 3306}`, 'protocol=TCP');
  const path = join(folder, 'client.cnf');
  await writeFile(path, `${lines.join('\n')}\n`, { mode: 0o600 });
  return { path, dispose: () => rm(folder, { recursive: true, force: true }) };
}
