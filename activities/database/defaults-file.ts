import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConnectionConfig } from '../../domain/config.js';

/** Quotes a value for a MySQL option file. */
function optionValue(value: string): string {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

export class SecretError extends Error {}

/** The password named by the connection's passwordEnv or passwordFile, read on this worker only. */
export async function readPassword(connection: ConnectionConfig, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  if (connection.passwordEnv) {
    const value = env[connection.passwordEnv];
    if (value === undefined) throw new SecretError(`environment variable ${connection.passwordEnv} (connection.passwordEnv) is not set on this worker`);
    return value;
  }
  if (connection.passwordFile) {
    try {
      return (await readFile(connection.passwordFile, 'utf8')).trim();
    } catch (error) {
      throw new SecretError(`cannot read the password file ${connection.passwordFile} (connection.passwordFile): ${(error as Error).message}`);
    }
  }
  return undefined;
}

export function describeEndpoint(connection: ConnectionConfig): string {
  return connection.socket ? `socket ${connection.socket}` : `${connection.host}:${connection.port ?? 3306}`;
}

/**
 * A private [client] option file holding the connection and password, mode 0600 in a 0700 folder,
 * so the password never appears on a command line. Removed by `dispose`.
 */
export interface DefaultsFile {
  path: string;
  dispose(): Promise<void>;
}

export async function writeDefaultsFile(connection: ConnectionConfig, password: string | undefined): Promise<DefaultsFile> {
  const folder = await mkdtemp(join(tmpdir(), 'chainbackup-'));
  await chmod(folder, 0o700);
  const lines = ['[client]', `user=${optionValue(connection.user)}`];
  if (password !== undefined) lines.push(`password=${optionValue(password)}`);
  if (connection.socket) lines.push(`socket=${optionValue(connection.socket)}`);
  if (connection.host) lines.push(`host=${optionValue(connection.host)}`, `port=${connection.port ?? 3306}`, 'protocol=TCP');
  const path = join(folder, 'client.cnf');
  await writeFile(path, `${lines.join('\n')}\n`, { mode: 0o600 });
  return { path, dispose: () => rm(folder, { recursive: true, force: true }) };
}
