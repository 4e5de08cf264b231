import type { Flavour } from '../../domain/manifest.js';

/** Arguments of one backup run. The defaults file carries the connection and password. */
export interface BackupArgs {
  defaultsFile: string;
  datadir: string;
  /** Scratch folder the tool needs even when streaming. */
  targetDir: string;
  /** Where the tool writes xtrabackup_checkpoints and xtrabackup_info besides the stream. */
  extraLsnDir: string;
  parallel: number;
  /** I/O operations per second the copy may use (the tools' --throttle). */
  throttle?: number;
  /** Take an increment of everything changed since this LSN (the parent's to_lsn). */
  incrementalLsn?: string;
}

export interface PrepareArgs {
  targetDir: string;
  /** Apply this increment onto targetDir. */
  incrementalDir?: string;
  /** Further increments will follow: the flavour may need to skip the rollback phase. */
  moreToApply: boolean;
  /** Buffer pool for the prepare's log apply, in MiB (the tools' --use-memory; their default is 100). */
  memoryMb?: number;
}

const memoryArgs = (args: PrepareArgs) => (args.memoryMb !== undefined ? [`--use-memory=${args.memoryMb}M`] : []);

/**
 * One interface over the two physical backup tools. Each flavour turns a request into an argument
 * array (never a shell string); `--defaults-file` must come first, as both tools require.
 */
export interface BackupTool {
  readonly flavour: Flavour;
  readonly binary: string;
  /** Extracts an xbstream from standard input into a folder. */
  readonly extractBinary: string;
  backupArgs(args: BackupArgs): string[];
  prepareArgs(args: PrepareArgs): string[];
  /** Extracts with `threads` writer threads. */
  extractArgs(targetDir: string, threads: number): string[];
  /**
   * Arguments that make the tool compress each file itself, or undefined when the tool cannot and
   * the stream is compressed with zstd instead.
   */
  compressionArgs(threads: number): string[] | undefined;
  /** Decompresses files the tool compressed itself, after extraction. */
  decompressArgs(targetDir: string, threads: number): string[] | undefined;
}

/** What both tools take to stream a backup; `--defaults-file` must come first. */
function streamingBackupArgs(args: BackupArgs): string[] {
  return [
    `--defaults-file=${args.defaultsFile}`,
    '--backup',
    '--stream=xbstream',
    `--datadir=${args.datadir}`,
    `--target-dir=${args.targetDir}`,
    `--extra-lsndir=${args.extraLsnDir}`,
    `--parallel=${args.parallel}`,
    ...(args.throttle !== undefined ? [`--throttle=${args.throttle}`] : []),
    ...(args.incrementalLsn !== undefined ? [`--incremental-lsn=${args.incrementalLsn}`] : []),
  ];
}

export const mariadbBackup: BackupTool = {
  flavour: 'mariadb',
  binary: 'mariadb-backup',
  extractBinary: 'mbstream',
  backupArgs: streamingBackupArgs,
  // mariadb-backup applies each increment fully; since 10.2 it needs no --apply-log-only.
  prepareArgs(args) {
    return ['--prepare', `--target-dir=${args.targetDir}`, ...(args.incrementalDir ? [`--incremental-dir=${args.incrementalDir}`] : []), ...memoryArgs(args)];
  },
  extractArgs(targetDir, threads) {
    return ['-x', `--parallel=${threads}`, '-C', targetDir];
  },
  // mariadb-backup only offers the deprecated qpress compression: the stream is compressed with zstd.
  compressionArgs() {
    return undefined;
  },
  decompressArgs() {
    return undefined;
  },
};

/**
 * Percona XtraBackup 8 for MySQL 8. It cannot run on this project's machines (no MySQL 8 here), so
 * it is tested on its argument lists and on the files it writes, not end to end.
 */
export const xtrabackup: BackupTool = {
  flavour: 'mysql',
  binary: 'xtrabackup',
  extractBinary: 'xbstream',
  backupArgs(args) {
    // Backup locks keep DDL out for the copy without blocking DML (MySQL 8's LOCK INSTANCE FOR BACKUP).
    return [...streamingBackupArgs(args), '--lock-ddl=ON'];
  },
  // Every prepare but the last must skip the rollback phase, or later increments cannot be applied.
  prepareArgs(args) {
    return [
      '--prepare',
      ...(args.moreToApply ? ['--apply-log-only'] : []),
      `--target-dir=${args.targetDir}`,
      ...(args.incrementalDir ? [`--incremental-dir=${args.incrementalDir}`] : []),
      ...memoryArgs(args),
    ];
  },
  extractArgs(targetDir, threads) {
    return ['-x', `--parallel=${threads}`, '-C', targetDir];
  },
  compressionArgs(threads) {
    return ['--compress=zstd', `--compress-threads=${threads}`];
  },
  decompressArgs(targetDir, threads) {
    return ['--decompress', '--remove-original', `--parallel=${threads}`, `--target-dir=${targetDir}`];
  },
};

export function backupToolFor(flavour: Flavour): BackupTool {
  return flavour === 'mariadb' ? mariadbBackup : xtrabackup;
}
