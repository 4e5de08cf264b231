/**
 * The backup tools' argument lists. mariadb-backup also runs for real in the integration tests;
 * Percona XtraBackup 8 (MySQL 8) cannot run on this machine, so its flavour is tested here only.
 */
import { describe, expect, test } from '@jest/globals';
import { bytesBeforeCompression } from '../../activities/backup.js';
import { mariadbBackup, xtrabackup, backupToolFor } from '../../activities/tools/backup-tool.js';

const args = { defaultsFile: '/tmp/x/client.cnf', datadir: '/var/lib/mysql', targetDir: '/tmp/x/target', extraLsnDir: '/tmp/x/lsn', parallel: 4 };

describe.each([
  ['mariadb', mariadbBackup],
  ['mysql', xtrabackup],
] as const)('%s flavour', (flavour, tool) => {
  test('is chosen by flavour', () => {
    expect(backupToolFor(flavour)).toBe(tool);
  });

  test('puts --defaults-file first and never a password on the command line', () => {
    const full = tool.backupArgs(args);
    expect(full[0]).toBe('--defaults-file=/tmp/x/client.cnf');
    expect(full.join(' ')).not.toMatch(/password/i);
    expect(full).toEqual(expect.arrayContaining(['--backup', '--stream=xbstream', '--extra-lsndir=/tmp/x/lsn', '--parallel=4']));
    expect(full.some((arg) => arg.startsWith('--incremental-lsn'))).toBe(false);
  });

  test('takes an increment from the parent’s to_lsn', () => {
    expect(tool.backupArgs({ ...args, incrementalLsn: '44388' })).toContain('--incremental-lsn=44388');
  });

  test('extracts with parallel writers', () => {
    expect(tool.extractArgs('/r/0-full', 3)).toEqual(['-x', '--parallel=3', '-C', '/r/0-full']);
  });

  test('throttles the copy only when asked', () => {
    expect(tool.backupArgs({ ...args, throttle: 20 })).toContain('--throttle=20');
    expect(tool.backupArgs(args).some((arg) => arg.startsWith('--throttle'))).toBe(false);
  });
});

describe('XtraBackup 8 specifics', () => {
  test('takes DDL backup locks and compresses with zstd itself', () => {
    expect(xtrabackup.backupArgs(args)).toContain('--lock-ddl=ON');
    expect(xtrabackup.compressionArgs(4)).toEqual(['--compress=zstd', '--compress-threads=4']);
    expect(xtrabackup.decompressArgs('/r/0-full', 4)).toEqual(['--decompress', '--remove-original', '--parallel=4', '--target-dir=/r/0-full']);
  });

  test('gives the prepare the memory it is configured with', () => {
    expect(mariadbBackup.prepareArgs({ targetDir: '/r/full', moreToApply: false, memoryMb: 512 })).toEqual(['--prepare', '--target-dir=/r/full', '--use-memory=512M']);
    expect(xtrabackup.prepareArgs({ targetDir: '/r/full', incrementalDir: '/r/1', moreToApply: true, memoryMb: 64 }).at(-1)).toBe('--use-memory=64M');
  });

  test('skips the rollback phase on every prepare but the last', () => {
    expect(xtrabackup.prepareArgs({ targetDir: '/r/full', moreToApply: true })).toEqual(['--prepare', '--apply-log-only', '--target-dir=/r/full']);
    expect(xtrabackup.prepareArgs({ targetDir: '/r/full', incrementalDir: '/r/1', moreToApply: true })).toEqual(['--prepare', '--apply-log-only', '--target-dir=/r/full', '--incremental-dir=/r/1']);
    expect(xtrabackup.prepareArgs({ targetDir: '/r/full', incrementalDir: '/r/2', moreToApply: false })).toEqual(['--prepare', '--target-dir=/r/full', '--incremental-dir=/r/2']);
  });
});

describe('mariadb-backup specifics', () => {
  test('needs no --apply-log-only and leaves compression to a zstd stream', () => {
    expect(mariadbBackup.prepareArgs({ targetDir: '/r/full', incrementalDir: '/r/1', moreToApply: true })).toEqual(['--prepare', '--target-dir=/r/full', '--incremental-dir=/r/1']);
    expect(mariadbBackup.compressionArgs(4)).toBeUndefined();
    expect(mariadbBackup.extractBinary).toBe('mbstream');
  });
});

describe('zstd’s closing report', () => {
  test('gives the size before compression, in the formats of zstd 1.5 and of older releases', () => {
    expect(bytesBeforeCompression('/*stdin*\\            :100.00%   (5000000 B => 5000127 B, /*stdout*\\)')).toBe(5000000);
    expect(bytesBeforeCompression('/*stdin*\\ : 31.20%   (2147483648 => 670014200 bytes, /*stdout*\\)')).toBe(2147483648);
    expect(bytesBeforeCompression('zstd: error 70 : Write error')).toBeUndefined();
  });
});
