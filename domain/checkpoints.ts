/** Parsing of the files XtraBackup and mariadb-backup write beside a backup. */

/** LSNs are 64-bit: kept as decimal strings in JSON, compared as BigInt. */
export type Lsn = string;

export interface Checkpoints {
  backupType: string;
  fromLsn: Lsn;
  toLsn: Lsn;
  lastLsn: Lsn;
}

export interface BinlogPosition {
  file: string;
  position: string;
  gtid?: string;
}

export interface BackupInfo {
  toolName?: string;
  toolVersion?: string;
  serverVersion?: string;
  binlog?: BinlogPosition;
}

export class CheckpointsError extends Error {}

function keyValues(text: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    values.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim());
  }
  return values;
}

export function isLsn(value: string): boolean {
  return /^\d{1,20}$/.test(value) && BigInt(value) < 2n ** 64n;
}

export function compareLsn(a: Lsn, b: Lsn): number {
  const diff = BigInt(a) - BigInt(b);
  return diff === 0n ? 0 : diff < 0n ? -1 : 1;
}

/** Parses `xtrabackup_checkpoints`; throws CheckpointsError naming the missing or malformed field. */
export function parseCheckpoints(text: string, fileName = 'xtrabackup_checkpoints'): Checkpoints {
  const values = keyValues(text);
  const field = (name: string): string => {
    const value = values.get(name);
    if (value === undefined) throw new CheckpointsError(`${fileName} has no ${name}`);
    return value;
  };
  const lsn = (name: string): Lsn => {
    const value = field(name);
    if (!isLsn(value)) throw new CheckpointsError(`${fileName} has an invalid ${name}: "${value}"`);
    return value;
  };
  const checkpoints = { backupType: field('backup_type'), fromLsn: lsn('from_lsn'), toLsn: lsn('to_lsn'), lastLsn: lsn('last_lsn') };
  if (compareLsn(checkpoints.toLsn, checkpoints.fromLsn) < 0) {
    throw new CheckpointsError(`${fileName} has to_lsn ${checkpoints.toLsn} below from_lsn ${checkpoints.fromLsn}`);
  }
  return checkpoints;
}

/**
 * Parses `xtrabackup_info`. Both tools write `binlog_pos`, in one of these shapes:
 *   filename 'binlog.000001', position '799', GTID of the last change '0-1-3'   (mariadb-backup)
 *   filename 'binlog.000001', position '799'                                      (XtraBackup 8)
 */
export function parseBackupInfo(text: string): BackupInfo {
  const values = keyValues(text);
  const info: BackupInfo = {};
  const toolName = values.get('tool_name');
  const toolVersion = values.get('tool_version');
  const serverVersion = values.get('server_version');
  if (toolName) info.toolName = toolName;
  if (toolVersion) info.toolVersion = toolVersion;
  if (serverVersion) info.serverVersion = serverVersion;
  const binlog = /filename '([^']*)', position '(\d+)'(?:, GTID of the last change '([^']*)')?/.exec(values.get('binlog_pos') ?? '');
  if (binlog?.[1] && binlog[2]) {
    info.binlog = { file: binlog[1], position: binlog[2], ...(binlog[3] ? { gtid: binlog[3] } : {}) };
  }
  return info;
}
