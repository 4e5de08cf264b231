import { describe, expect, test } from '@jest/globals';
import { CheckpointsError, compareLsn, parseBackupInfo, parseCheckpoints } from '../../domain/checkpoints.js';

// As written by mariadb-backup 10.11 (--extra-lsndir) for a full backup and an increment.
const fullCheckpoints = 'backup_type = full-backuped\nfrom_lsn = 0\nto_lsn = 44388\nlast_lsn = 48166\nrecover_binlog_info = 0\n';
const incrementCheckpoints = 'backup_type = incremental\nfrom_lsn = 44388\nto_lsn = 44404\nlast_lsn = 49085\nrecover_binlog_info = 0\n';
// As written by Percona XtraBackup 8.0.
const xtrabackupCheckpoints = 'backup_type = incremental\nfrom_lsn = 18446744073709551000\nto_lsn = 18446744073709551615\nlast_lsn = 18446744073709551615\nflushed_lsn = 0\nredo_memory = 0\nredo_frames = 0\n';

describe('xtrabackup_checkpoints', () => {
  test('parses both tools, keeping 64-bit LSNs exact', () => {
    expect(parseCheckpoints(fullCheckpoints)).toEqual({ backupType: 'full-backuped', fromLsn: '0', toLsn: '44388', lastLsn: '48166' });
    expect(parseCheckpoints(incrementCheckpoints).fromLsn).toBe('44388');
    expect(parseCheckpoints(xtrabackupCheckpoints).toLsn).toBe('18446744073709551615');
    expect(compareLsn('18446744073709551615', '18446744073709551614')).toBe(1);
  });

  test('refuses missing, malformed and backwards values, naming the field', () => {
    expect(() => parseCheckpoints('')).toThrow(new CheckpointsError('xtrabackup_checkpoints has no backup_type'));
    expect(() => parseCheckpoints(fullCheckpoints.replace('to_lsn = 44388', 'to_lsn = 44x'))).toThrow('invalid to_lsn: "44x"');
    expect(() => parseCheckpoints(fullCheckpoints.replace('to_lsn = 44388\n', ''))).toThrow('has no to_lsn');
    expect(() => parseCheckpoints(incrementCheckpoints.replace('to_lsn = 44404', 'to_lsn = 100'))).toThrow('to_lsn 100 below from_lsn 44388');
    expect(() => parseCheckpoints(fullCheckpoints.replace('to_lsn = 44388', 'to_lsn = 18446744073709551616'))).toThrow('invalid to_lsn');
  });
});

describe('xtrabackup_info', () => {
  test('reads tool, server and the binlog position of both tools', () => {
    const mariadb = "tool_name = mariadb-backup\ntool_version = 10.11.19-MariaDB\nserver_version = 10.11.19-MariaDB-0+deb12u1-log\nbinlog_pos = filename 'binlog.000001', position '799', GTID of the last change '0-1-3'\n";
    expect(parseBackupInfo(mariadb)).toEqual({
      toolName: 'mariadb-backup',
      toolVersion: '10.11.19-MariaDB',
      serverVersion: '10.11.19-MariaDB-0+deb12u1-log',
      binlog: { file: 'binlog.000001', position: '799', gtid: '0-1-3' },
    });
    const xtrabackup = "tool_name = xtrabackup\ntool_version = 8.0.35-30\nbinlog_pos = filename 'binlog.000012', position '157'\n";
    expect(parseBackupInfo(xtrabackup).binlog).toEqual({ file: 'binlog.000012', position: '157' });
    expect(parseBackupInfo('tool_name = xtrabackup\n').binlog).toBeUndefined();
  });
});
