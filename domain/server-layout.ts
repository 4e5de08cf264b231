/**
 * Where a MariaDB/MySQL server keeps its files. A restore swaps more than the datadir: the redo log,
 * the undo tablespaces, the system tablespace, the binary and relay logs and Aria's log can each live
 * in a folder of their own, and every one of them must be set aside with the replaced server's data
 * and filled with the restored server's. Pure: paths are plain strings, joined with "/".
 */

/** What the server reports (its variables), relative values as the server gives them. */
export interface ServerVariables {
  datadir: string;
  innodbDataHomeDir: string | null;
  innodbDataFilePath: string;
  innodbUndoTablespaces: number;
  innodbLogGroupHomeDir: string | null;
  innodbUndoDirectory: string | null;
  logBinBasename: string | null;
  logBinIndex: string | null;
  relayLogBasename: string | null;
  relayLogIndex: string | null;
  ariaLogDirPath: string | null;
}

/** Every folder of the server, absolute and without a trailing "/". */
export interface ServerLayout {
  datadir: string;
  dataHomeDir: string;
  /** The system tablespace's files, as `innodb_data_file_path` names them (relative to dataHomeDir). */
  dataFiles: string[];
  /** `innodb_data_file_path` and `innodb_undo_tablespaces` as the server has them: a server started on its files needs the same. */
  dataFilePath: string;
  undoTablespaces: number;
  logGroupHomeDir: string;
  undoDirectory: string;
  /** The binary log's path without the sequence suffix, e.g. /var/log/mysql/mysql-bin; null when off. */
  binlogBasename: string | null;
  binlogIndex: string | null;
  relayLogBasename: string | null;
  relayLogIndex: string | null;
  ariaLogDir: string;
}

function trimSlash(path: string): string {
  return path.length > 1 ? path.replace(/\/+$/, '') : path;
}

function normalize(path: string): string {
  const parts: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') parts.pop();
    else parts.push(part);
  }
  return `/${parts.join('/')}`;
}

/** A server path as the server resolves it: relative paths are relative to the datadir. */
export function serverPath(datadir: string, value: string | null | undefined): string {
  if (value === null || value === undefined || value === '') return normalize(datadir);
  return normalize(value.startsWith('/') ? value : `${datadir}/${value}`);
}

export function dirnameOf(path: string): string {
  const trimmed = trimSlash(path);
  const index = trimmed.lastIndexOf('/');
  return index <= 0 ? '/' : trimmed.slice(0, index);
}

export function basenameOf(path: string): string {
  const trimmed = trimSlash(path);
  return trimmed.slice(trimmed.lastIndexOf('/') + 1);
}

export function isWithinPath(path: string, root: string): boolean {
  const a = normalize(path);
  const b = normalize(root);
  return a === b || a.startsWith(b === '/' ? '/' : `${b}/`);
}

/** The file names of `innodb_data_file_path`, e.g. "ibdata1:12M;ibdata2:12M:autoextend" → ibdata1, ibdata2. */
export function dataFileNames(dataFilePath: string): string[] {
  return dataFilePath
    .split(';')
    .map((spec) => spec.trim().split(':')[0] ?? '')
    .filter((name) => name !== '');
}

export function serverLayout(variables: ServerVariables): ServerLayout {
  const datadir = normalize(variables.datadir);
  const optional = (value: string | null) => (value === null || value === '' ? null : serverPath(datadir, value));
  return {
    datadir,
    dataHomeDir: serverPath(datadir, variables.innodbDataHomeDir),
    dataFiles: dataFileNames(variables.innodbDataFilePath),
    dataFilePath: variables.innodbDataFilePath,
    undoTablespaces: variables.innodbUndoTablespaces,
    logGroupHomeDir: serverPath(datadir, variables.innodbLogGroupHomeDir),
    undoDirectory: serverPath(datadir, variables.innodbUndoDirectory),
    binlogBasename: optional(variables.logBinBasename),
    binlogIndex: optional(variables.logBinIndex),
    relayLogBasename: optional(variables.relayLogBasename),
    relayLogIndex: optional(variables.relayLogIndex),
    ariaLogDir: serverPath(datadir, variables.ariaLogDirPath),
  };
}

/**
 * One kind of the server's files that may live outside its datadir. `matches` picks the files of
 * that kind in `folder` by name; `label` names the sub-folder of the kept copy that holds the
 * replaced server's files of that kind.
 */
export interface FilePlace {
  label: 'redo' | 'undo' | 'data-home' | 'binlog' | 'relay' | 'aria';
  folder: string;
  /** Regular expressions (sources) of the names that belong to this place. */
  patterns: string[];
  /** A restored copy of these files comes with the backup (redo, undo, system tablespace, Aria log); logs do not. */
  restored: boolean;
  /** The variable that sets it, for messages. */
  setting: string;
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * The places of a layout that lie outside its datadir (those inside move with the datadir). The
 * folder where the kept copy's pieces go is `<kept>/.chainbackup-kept/<label>/`.
 */
export function placesOutsideDatadir(layout: ServerLayout): FilePlace[] {
  const places: FilePlace[] = [
    // MariaDB's ib_logfile0, and MySQL 8.0.30+'s #innodb_redo folder; MariaDB's undo001, MySQL's undo_001.
    { label: 'redo', folder: layout.logGroupHomeDir, patterns: ['^ib_logfile\\d+$', '^#innodb_redo$'], restored: true, setting: 'innodb_log_group_home_dir' },
    { label: 'undo', folder: layout.undoDirectory, patterns: ['^undo_?\\d{3}$'], restored: true, setting: 'innodb_undo_directory' },
    { label: 'data-home', folder: layout.dataHomeDir, patterns: layout.dataFiles.map((name) => `^${escape(basenameOf(name))}$`), restored: true, setting: 'innodb_data_home_dir' },
    { label: 'aria', folder: layout.ariaLogDir, patterns: ['^aria_log\\.\\d+$', '^aria_log_control$'], restored: true, setting: 'aria_log_dir_path' },
  ];
  const logPlace = (label: 'binlog' | 'relay', basename: string | null, index: string | null, setting: string): FilePlace[] => {
    if (basename === null) return [];
    const patterns = [`^${escape(basenameOf(basename))}\\.\\d+$`];
    if (index !== null && dirnameOf(index) === dirnameOf(basename)) patterns.push(`^${escape(basenameOf(index))}$`);
    return [{ label, folder: dirnameOf(basename), patterns, restored: false, setting }];
  };
  places.push(...logPlace('binlog', layout.binlogBasename, layout.binlogIndex, 'log_bin'), ...logPlace('relay', layout.relayLogBasename, layout.relayLogIndex, 'relay_log'));
  return places.filter((place) => !isWithinPath(place.folder, layout.datadir) && place.patterns.length > 0);
}

/** Whether a file name belongs to a place. */
export function belongsToPlace(place: FilePlace, name: string): boolean {
  return place.patterns.some((pattern) => new RegExp(pattern).test(name));
}

/**
 * What of a layout a restore cannot honour, each naming the setting: refused before the pause.
 * The backup's own system tablespace files must be the ones the target server expects.
 */
export function unsupportedLayout(target: ServerLayout, backupDataFiles: string[] | undefined): string[] {
  const problems: string[] = [];
  if (backupDataFiles !== undefined && backupDataFiles.join(';') !== target.dataFiles.join(';')) {
    problems.push(`innodb_data_file_path: the backup's system tablespace is ${backupDataFiles.join(', ')} but the server expects ${target.dataFiles.join(', ')}`);
  }
  for (const name of target.dataFiles) if (name.includes('/')) problems.push(`innodb_data_file_path: "${name}" names a folder; only plain file names are supported`);
  for (const place of placesOutsideDatadir(target)) {
    if (isWithinPath(target.datadir, place.folder)) problems.push(`${place.setting}: ${place.folder} contains the datadir ${target.datadir}`);
  }
  return problems;
}

const GTID_POSITION = /^\d+-\d+-\d+(?:,\d+-\d+-\d+)*$/;

/**
 * The statements that start a restored MariaDB server's binlog history at the backup's GTID
 * position. Run from `--init-file` of a private server on the placed files, they take effect before
 * the real server accepts any connection.
 * Undefined for a position that is not a GTID list (nothing unchecked reaches SQL).
 */
export function gtidRestartStatements(gtid: string): string[] | undefined {
  if (!GTID_POSITION.test(gtid)) return undefined;
  return ['RESET MASTER;', `SET GLOBAL gtid_binlog_state = '${gtid}';`, `SET GLOBAL gtid_slave_pos = '${gtid}';`];
}

/** A remote tablespace (CREATE TABLE … DATA DIRECTORY): the table's `.isl` inside the datadir names its `.ibd`. */
export interface RemoteTablespace {
  /** The `.isl` file, relative to the datadir, e.g. "shop/archive.isl". */
  link: string;
  /** The absolute path of the `.ibd` that the link names. */
  path: string;
}

/**
 * Where a remote tablespace of restored data goes. It keeps its own path only when the restore puts
 * the cluster's own data back on its own server (`sameServer`) and that path lies inside no other
 * server's folders; otherwise it is brought into the datadir, beside the table's `.frm` (its `.isl`
 * removed), so that it never points at a file of another server.
 */
export function remoteTablespacePlacement(tablespace: RemoteTablespace, options: { sameServer: boolean; otherServersFolders: string[] }): 'own-path' | 'into-datadir' {
  if (!options.sameServer) return 'into-datadir';
  return options.otherServersFolders.some((folder) => isWithinPath(tablespace.path, folder)) ? 'into-datadir' : 'own-path';
}

/** The options that start the kept copy of a replaced server as a server of its own, in a [mysqld] group. */
export function keptServerOptions(kept: string, layout: ServerLayout, placed: FilePlace[]): string[] {
  const pieces = `${kept}/.chainbackup-kept`;
  const lines = [`datadir=${kept}`, `innodb_data_file_path=${layout.dataFilePath}`, `innodb_undo_tablespaces=${layout.undoTablespaces}`];
  for (const place of placed) {
    const folder = `${pieces}/${place.label}`;
    if (place.label === 'redo') lines.push(`innodb_log_group_home_dir=${folder}`);
    if (place.label === 'undo') lines.push(`innodb_undo_directory=${folder}`);
    if (place.label === 'data-home') lines.push(`innodb_data_home_dir=${folder}`);
    if (place.label === 'aria') lines.push(`aria_log_dir_path=${folder}`);
  }
  if (layout.binlogBasename !== null) {
    const inside = isWithinPath(layout.binlogBasename, layout.datadir);
    const base = inside ? `${kept}${layout.binlogBasename.slice(layout.datadir.length)}` : `${pieces}/binlog/${basenameOf(layout.binlogBasename)}`;
    lines.push(`log-bin=${base}`, `log-bin-index=${pieces}/binlog.index`);
  }
  return lines;
}

/**
 * The options of a server's configuration that another server on its files needs to read them at
 * all: the key management plugin and its settings (an encrypted tablespace, redo log or binlog is
 * unreadable without them), what is encrypted, the page size and the table-name case rule. Options
 * are given as the server's option files give them (`name`, `name=value`), in order; names with "-"
 * or "_" alike. Everything else (ports, buffers, the layout) the private server sets itself.
 */
const STORAGE_OPTIONS = new Set([
  'plugin_load',
  'plugin_load_add',
  'plugin_dir',
  'plugin_maturity',
  'innodb_page_size',
  'innodb_encrypt_tables',
  'innodb_encrypt_log',
  'innodb_encrypt_temporary_tables',
  'innodb_default_encryption_key_id',
  'encrypt_binlog',
  'encrypt_tmp_files',
  'encrypt_tmp_disk_tables',
  'aria_encrypt_tables',
  'lower_case_table_names',
]);

export function storageOptions(options: [name: string, value: string | null][]): string[] {
  return options.flatMap(([rawName, value]) => {
    const name = rawName.replace(/-/g, '_');
    // Every key management plugin's own settings: file_key_management_*, hashicorp_key_management_*, aws_key_management_*.
    if (!STORAGE_OPTIONS.has(name) && !/^[a-z0-9]+(?:_[a-z0-9]+)*_key_management_[a-z0-9_]+$/.test(name) && !/^loose_/.test(name)) return [];
    if (/^loose_/.test(name) && storageOptions([[name.slice('loose_'.length), value]]).length === 0) return [];
    return [value === null ? name : `${name}=${value}`];
  });
}
