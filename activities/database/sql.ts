import { randomUUID } from 'node:crypto';
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

/**
 * Runs several queries through one client process (each start of the client costs tens of
 * milliseconds): the rows of each, in order. A line holding a random marker separates their results.
 */
export async function runSqlQueries(flavour: Flavour, connection: ConnectionConfig, queries: string[], options: { timeoutMs?: number; password?: string } = {}): Promise<string[][][]> {
  const marker = `chainbackup-result-${randomUUID()}`;
  const rows = await runSql(flavour, connection, queries.map((query) => `${query.replace(/;\s*$/, '')}; SELECT '${marker}';`).join(' '), options);
  const results: string[][][] = [[]];
  for (const row of rows) {
    if (row.length === 1 && row[0] === marker) results.push([]);
    else results.at(-1)?.push(row);
  }
  return results.slice(0, queries.length);
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

export const SERVER_FACTS_SQL = 'SELECT @@version, @@datadir, @@pid_file, @@log_error';

/** The facts from the rows of SERVER_FACTS_SQL. */
export function serverFactsIn([row]: string[][]): ServerFacts {
  const [version = '', datadir = '', pidFile = '', logError = ''] = row ?? [];
  return { version, datadir, pidFile, logError };
}

export async function serverFacts(flavour: Flavour, connection: ConnectionConfig): Promise<ServerFacts> {
  return serverFactsIn(await runSql(flavour, connection, SERVER_FACTS_SQL));
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
