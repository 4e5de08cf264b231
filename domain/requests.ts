/** Workflow inputs, as plain JSON that the `temporal` CLI can send. */
import { z } from 'zod';
import { absolutePath, clusterName, duration, durationMs, storageSchema, storeKeyPath } from './config.js';
import { parseGtid } from './binlog.js';
import { parseBackupName } from './names.js';

const backupNameField = z.string().refine((name) => parseBackupName(name) !== undefined, 'must be a backup name such as "shop-2026-04-06T010000.000Z-full"');

export const backupRequestSchema = z.strictObject({
  cluster: clusterName,
  type: z.enum(['full', 'incremental']),
  /** For an increment: the full backup whose chain it continues (default: the newest one). */
  baseBackupName: backupNameField.optional(),
  /** Continue a chain even though one of its backups failed its verification (a new chain is the safe answer). */
  acceptFailedVerification: z.boolean().default(false),
  /**
   * An increment whose chain cannot continue because the server moved to another release series
   * (10.11 to 11.8, say) takes a full backup instead, starting a new chain. Schedules set it; a
   * request without it is refused, saying so.
   */
  newChainWhenNeeded: z.boolean().default(false),
});
export type BackupRequest = z.infer<typeof backupRequestSchema>;
/** What a caller sends; the workflow validates it. */
export type BackupRequestInput = z.input<typeof backupRequestSchema>;

export const restoreTargetSchema = z.discriminatedUnion('kind', [
  /** Replace the cluster's datadir (the old one is kept aside). */
  z.strictObject({ kind: z.literal('in-place') }),
  /** Prepare the data into a new, empty folder without touching the running server. */
  z.strictObject({ kind: z.literal('new-datadir'), path: absolutePath }),
  /** Download, check and prepare the chain in the work folder, then remove it: proves the backup restores. */
  z.strictObject({ kind: z.literal('verify') }),
]);
export type RestoreTarget = z.infer<typeof restoreTargetSchema>;

/** The longest a restore to a point waits for the archive to cover it. */
const MAX_ARCHIVE_WAIT_MS = 86_400_000;

export const restoreRequestSchema = z
  .strictObject({
    /** The cluster whose host performs the restore. */
    cluster: clusterName,
    /** A backup of this cluster's own storage. */
    backupName: backupNameField.optional(),
    /** Any backup folder on any reachable storage, e.g. another cluster's. */
    /**
     * Another storage to restore from: `path` names a backup folder in it; `cluster` names the
     * cluster whose backups and binlog archive it holds, for a restore to a point or a GTID.
     */
    source: z
      .strictObject({ storage: storageSchema, path: storeKeyPath.optional(), cluster: clusterName.optional() })
      .refine((source) => (source.path === undefined) !== (source.cluster === undefined), { message: 'set exactly one of path (a backup) or cluster (whose backups and binlog archive a restore to a point reads)' })
      .optional(),
    target: restoreTargetSchema.default({ kind: 'in-place' }),
    /**
     * Restore the cluster as it was at this moment (ISO 8601 with a zone, e.g.
     * "2026-04-06T14:05:09Z"): the newest backup finished before it, then its archived binlogs
     * applied up to it. In place or into a new datadir, from the cluster's own storage.
     */
    pointInTime: z.iso.datetime({ offset: true, error: 'must be an ISO 8601 time with a zone, such as "2026-04-06T14:05:09Z" or "2026-04-06T16:05:09+02:00"' }).optional(),
    /**
     * Restore the cluster up to and including the transaction with this GTID ("<domain>-<server>-<sequence>"):
     * the newest backup that does not hold it yet, then its archived binlogs up to it, in binlog order.
     */
    gtid: z
      .string()
      .refine((text) => parseGtid(text) !== undefined, 'must be one GTID such as "0-1-1234" (domain, server id, sequence number)')
      .optional(),
    /**
     * A restore to a point or a GTID that the binlog archive does not wholly cover yet waits up to
     * this long for it (a duration such as "2m"; the archiver is asked to close the server's binlog
     * at once), instead of being refused as NotYetArchived.
     */
    waitForArchive: duration.optional(),
    /**
     * A restore to a point or a GTID: only plan it (the backup, the archived binlogs, the second a
     * time is taken to mean, the last transaction it would apply) and return the plan; nothing is
     * downloaded, stopped or changed, and no lock is taken.
     */
    dryRun: z.boolean().default(false),
    /** Restore (or verify) a chain one of whose backups failed its verification by a real server. */
    acceptFailedVerification: z.boolean().default(false),
    /**
     * For emergencies only: an in-place restore swaps in the prepared data without first proving it on
     * a throw-away server (when no recorded verification of the same objects passed). Loud in the
     * log, the progress and the result.
     */
    skipVerification: z.boolean().default(false),
  })
  .refine(
    (request) => {
      const given = [request.backupName, request.source?.path ?? (request.source?.cluster === undefined ? request.source : undefined), request.pointInTime, request.gtid].filter((value) => value !== undefined).length;
      // A verification without a backup verifies the cluster's newest one.
      return given === 1 || (given === 0 && request.target.kind === 'verify');
    },
    { message: 'give exactly one of backupName, source, pointInTime or gtid (a verification without any verifies the newest backup)' },
  )
  .refine((request) => request.source?.cluster === undefined || request.pointInTime !== undefined || request.gtid !== undefined, {
    message: 'names the cluster whose backups and binlog archive a restore to a point reads: give pointInTime or gtid with it (or source.path for one backup)',
    path: ['source', 'cluster'],
  })
  .refine((request) => (request.pointInTime === undefined && request.gtid === undefined) || request.target.kind !== 'verify', {
    message: 'a restore to a point or a GTID needs a server to apply binlogs in: its target must be in-place or new-datadir (verify: not yet)',
    path: ['target'],
  })
  .refine((request) => !request.dryRun || request.pointInTime !== undefined || request.gtid !== undefined, {
    message: 'plans a restore to a point or a GTID: give pointInTime or gtid with it (a restore of a backup is planned by `chainbackup restore --dry-run`)',
    path: ['dryRun'],
  })
  .refine((request) => request.waitForArchive === undefined || request.pointInTime !== undefined || request.gtid !== undefined, {
    message: 'waits for the binlog archive to cover a point: give pointInTime or gtid with it',
    path: ['waitForArchive'],
  })
  // A malformed duration is already refused by its own field: only a well-formed one is weighed.
  .refine((request) => request.waitForArchive === undefined || !duration.safeParse(request.waitForArchive).success || durationMs(request.waitForArchive) <= MAX_ARCHIVE_WAIT_MS, {
    message: 'must be at most a day ("24h"): a restore that waits holds nothing, but its point should not be that far ahead',
    path: ['waitForArchive'],
  });
export type RestoreRequest = z.infer<typeof restoreRequestSchema>;
export type RestoreRequestInput = z.input<typeof restoreRequestSchema>;

export const deleteRequestSchema = z.strictObject({
  cluster: clusterName,
  /** A full backup (its whole chain goes) or the last increment of a chain. */
  backupName: backupNameField,
  /** Plan only: what would go, or why the deletion would be refused; nothing is removed and no lock is taken. */
  dryRun: z.boolean().default(false),
});
export type DeleteRequest = z.infer<typeof deleteRequestSchema>;
export type DeleteRequestInput = z.input<typeof deleteRequestSchema>;

export const retentionRequestSchema = z.strictObject({
  cluster: clusterName,
  /** Report what would be removed, remove nothing. */
  dryRun: z.boolean().default(false),
});
export type RetentionRequest = z.infer<typeof retentionRequestSchema>;
export type RetentionRequestInput = z.input<typeof retentionRequestSchema>;
