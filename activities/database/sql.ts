import { execa } from 'execa';
import type { ConnectionConfig } from '../../domain/config.js';
import type { Flavour } from '../../domain/manifest.js';
import { childProcessOptions } from '../child-env.js';
import { describeEndpoint, readPassword, writeDefaultsFile } from './defaults-file.js';

export class DatabaseError extends Error {}

/** The command-line client of the flavour: SQL goes through it so no driver holds the password in this process. */
export function clientBinary(flavour: Flavour): string {
  return flavour === 'mariadb' ? 'mariadb' : 'mysql';
}

/** Runs SQL through the client with a defaults file; returns rows as arrays of column strings. */
export async function runSql(flavour: Flavour, connection: ConnectionConfig, sql: string, options: { timeoutMs?: number; password?: string; columnNames?: boolean } = {}): Promise<string[][]> {
  // A password given here is the worker's own (a one-time account), not one from the configuration.
  const defaults = await writeDefaultsFile(connection, options.password ?? (await readPassword(connection)));
  try {
    const result = await execa(clientBinary(flavour), [`--defaults-file=${defaults.path}`, '--batch', ...(options.columnNames ? [] : ['--skip-column-names']), '--connect-timeout=10', '-e', sql], {
      reject: false,
      timeout: options.timeoutMs ?? 60_000,
      ...childProcessOptions(),
    });
    if (result.exitCode !== 0) {
      const reason = (result.stderr || result.message || 'unknown error').trim().split('\n').at(-1) ?? 'unknown error';
      throw new DatabaseError(`database at ${describeEndpoint(connection)} (user ${connection.user}): ${reason}`);
    }
    const stdout = String(result.stdout ?? '');
    return stdout === '' ? [] : stdout.split('\n').map((line) => line.split('\t'));
  } finally {
    await defaults.dispose();
  }
}

export interface ServerFacts {
  version: string;
  datadir: string;
  pidFile: string;
  logError: string;
}

export async function serverFacts(flavour: Flavour, connection: ConnectionConfig): Promise<ServerFacts> {
  const [row] = await runSql(flavour, connection, 'SELECT @@version, @@datadir, @@pid_file, @@log_error');
  const [version = '', datadir = '', pidFile = '', logError = ''] = row ?? [];
  return { version, datadir, pidFile, logError };
}

/** Liveness: succeeds when the server responds at all, even if it refuses the login. */
export async function pingServer(flavour: Flavour, connection: ConnectionConfig): Promise<void> {
  const defaults = await writeDefaultsFile(connection, await readPassword(connection));
  try {
    const admin = flavour === 'mariadb' ? 'mariadb-admin' : 'mysqladmin';
    const result = await execa(admin, [`--defaults-file=${defaults.path}`, '--connect-timeout=5', 'ping'], { reject: false, timeout: 15_000, ...childProcessOptions() });
    if (result.exitCode !== 0) throw new DatabaseError(`database at ${describeEndpoint(connection)} does not respond: ${String(result.stderr ?? '').trim().split('\n').at(-1) ?? ''}`);
  } finally {
    await defaults.dispose();
  }
}
