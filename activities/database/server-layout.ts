import { hostname } from 'node:os';
import { execa } from 'execa';
import { serverLayout, storageOptions, type ServerLayout } from '../../domain/server-layout.js';
import type { ClusterConfig } from '../../domain/config.js';
import { childProcessOptions } from '../child-env.js';
import { runSql } from './sql.js';

/** What a restore must know of the running target server before it stops it. */
export interface TargetServer {
  layout: ServerLayout;
  logBin: boolean;
  serverId: number;
  /** innodb_log_file_size in bytes: a server started on the placed files resizes nothing. */
  logFileSize: number | null;
  /**
   * Where a private server on these files finds the options it needs to read them (the key
   * management plugin and what is encrypted, the page size; domain storageOptions): the server's own
   * option files (`defaultsFile`, or the host's when absent), or the backup's backup-my.cnf. Only the
   * path travels: the options themselves can hold a key, and are read on the host when a server starts.
   * Absent in targets read by workers from before it: no such options.
   */
  storageOptionsFrom?: { kind: 'option-files'; defaultsFile?: string } | { kind: 'backup'; cnf: string };
}

/** The server options a private server on a target's files needs, read on this host from where the target says. */
export async function readStorageOptions(target: TargetServer): Promise<string[]> {
  const from = target.storageOptionsFrom;
  if (from === undefined) return [];
  const file = from.kind === 'backup' ? from.cnf : from.defaultsFile;
  return storageOptions(await optionList(file));
}

/** Where the cluster's real server reads its options: its process controller's file, or the host's option files. */
function optionFilesOf(cluster: ClusterConfig): TargetServer['storageOptionsFrom'] {
  return { kind: 'option-files', ...(cluster.controller.kind === 'process' ? { defaultsFile: cluster.controller.defaultsFile } : {}) };
}

const nullable = (value: string | undefined) => (value === undefined || value === 'NULL' || value === '' ? null : value);

/**
 * The target server's layout: from its own variables (the truth, whatever its option files say)
 * when the configured login works on it, else from its option file read the way the server reads it
 * (`my_print_defaults`), for a server the process controller starts.
 */
export async function readTargetServer(cluster: ClusterConfig): Promise<TargetServer> {
  try {
    return { ...(await readRunningServer(cluster)), storageOptionsFrom: optionFilesOf(cluster) };
  } catch (error) {
    if (cluster.controller.kind !== 'process') throw error;
    return { ...(await readOptionFile(cluster, cluster.controller.defaultsFile)), storageOptionsFrom: optionFilesOf(cluster) };
  }
}

/** The server's options from its option files (one file, or the host's usual ones), in order, as the server reads them. */
async function optionList(defaultsFile: string | undefined): Promise<[string, string | null][]> {
  const { stdout } = await execa('my_print_defaults', [...(defaultsFile ? [`--defaults-file=${defaultsFile}`] : []), 'mysqld', 'mariadbd', 'server', 'mariadb'], childProcessOptions());
  return stdout.split('\n').flatMap((line) => {
    const match = /^--([^=]+)(?:=(.*))?$/.exec(line.trim());
    return match?.[1] ? [[match[1], match[2] ?? null] as [string, string | null]] : [];
  });
}

/** The [mysqld] options of a server's option file, later lines winning, names with "_". */
async function serverOptions(defaultsFile: string): Promise<Map<string, string | null>> {
  return new Map((await optionList(defaultsFile)).map(([name, value]) => [name.replace(/-/g, '_'), value]));
}

async function readOptionFile(cluster: ClusterConfig, defaultsFile: string): Promise<TargetServer> {
  const options = await serverOptions(defaultsFile);
  const datadir = options.get('datadir') ?? cluster.datadir;
  const logBase = (name: 'log_bin' | 'relay_log', fallback: string) => {
    if (!options.has(name)) return null;
    const value = options.get(name) ?? fallback;
    return value.replace(/\.[^./]*$/, '');
  };
  const binlog = logBase('log_bin', `${hostname()}-bin`);
  const relay = logBase('relay_log', `${hostname()}-relay-bin`);
  return {
    layout: serverLayout({
      datadir,
      innodbDataHomeDir: options.get('innodb_data_home_dir') ?? null,
      innodbDataFilePath: options.get('innodb_data_file_path') ?? 'ibdata1:12M:autoextend',
      innodbUndoTablespaces: Number(options.get('innodb_undo_tablespaces') ?? 0),
      innodbLogGroupHomeDir: options.get('innodb_log_group_home_dir') ?? null,
      innodbUndoDirectory: options.get('innodb_undo_directory') ?? null,
      logBinBasename: binlog,
      logBinIndex: binlog === null ? null : (options.get('log_bin_index') ?? `${binlog}.index`),
      relayLogBasename: relay,
      relayLogIndex: relay === null ? null : (options.get('relay_log_index') ?? `${relay}.index`),
      ariaLogDirPath: options.get('aria_log_dir_path') ?? null,
    }),
    logBin: binlog !== null,
    serverId: Number(options.get('server_id') ?? 1),
    logFileSize: null,
  };
}

async function readRunningServer(cluster: ClusterConfig): Promise<TargetServer> {
  // MySQL has no Aria: its log folder is asked for on MariaDB only.
  const aria = cluster.flavour === 'mariadb' ? '@@aria_log_dir_path' : 'NULL';
  const [row = []] = await runSql(
    cluster.flavour,
    cluster.connection,
    `SELECT @@datadir, @@innodb_data_home_dir, @@innodb_data_file_path, @@innodb_undo_tablespaces, @@innodb_log_group_home_dir, @@innodb_undo_directory, @@log_bin_basename, @@log_bin_index, @@relay_log_basename, @@relay_log_index, ${aria}, @@log_bin, @@server_id, @@innodb_log_file_size`,
  );
  const [datadir, dataHome, dataFilePath, undoTablespaces, logHome, undo, binlog, binlogIndex, relay, relayIndex, ariaDir, logBin, serverId, logFileSize] = row;
  return {
    layout: serverLayout({
      datadir: datadir ?? cluster.datadir,
      innodbDataHomeDir: nullable(dataHome),
      innodbDataFilePath: dataFilePath ?? 'ibdata1:12M:autoextend',
      innodbUndoTablespaces: Number(undoTablespaces ?? 0),
      innodbLogGroupHomeDir: nullable(logHome),
      innodbUndoDirectory: nullable(undo),
      logBinBasename: nullable(binlog),
      logBinIndex: nullable(binlogIndex),
      relayLogBasename: nullable(relay),
      relayLogIndex: nullable(relayIndex),
      ariaLogDirPath: nullable(ariaDir),
    }),
    logBin: logBin === '1',
    serverId: Number(serverId ?? 1),
    logFileSize: logFileSize === undefined ? null : Number(logFileSize),
  };
}

/**
 * A server on a clone (a restore into a new datadir): every file inside the folder, the system
 * tablespace, undo and redo sizes as the backup recorded them (`backup-my.cnf`), no binlog.
 */
export async function cloneServer(path: string): Promise<TargetServer> {
  const options = await serverOptions(`${path}/backup-my.cnf`);
  // mariadb-backup records the key management plugin and its settings there too.
  const storageOptionsFrom = { kind: 'backup' as const, cnf: `${path}/backup-my.cnf` };
  return {
    layout: serverLayout({
      datadir: path,
      innodbDataHomeDir: null,
      innodbDataFilePath: options.get('innodb_data_file_path') ?? 'ibdata1:12M:autoextend',
      innodbUndoTablespaces: Number(options.get('innodb_undo_tablespaces') ?? 0),
      innodbLogGroupHomeDir: null,
      innodbUndoDirectory: null,
      logBinBasename: null,
      logBinIndex: null,
      relayLogBasename: null,
      relayLogIndex: null,
      ariaLogDirPath: null,
    }),
    logBin: false,
    serverId: 1,
    logFileSize: options.has('innodb_log_file_size') ? Number(options.get('innodb_log_file_size')) : null,
    storageOptionsFrom,
  };
}
