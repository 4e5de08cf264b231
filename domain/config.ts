/**
 * The configuration file's schema. It describes clusters and where their backups go, and holds no
 * secret: the database password comes from an environment variable or a separate file named here,
 * and S3 credentials from the standard AWS chain of the worker that needs them.
 */
import { z } from 'zod';
import { FLAVOURS } from './manifest.js';
import { CLUSTER_NAME_RULE, isValidClusterName } from './names.js';
import { parseWeekSchedule } from './week.js';

const DURATION_FORMAT = /^\d+(ms|s|m|h|d)$/;
export const duration = z.string().regex(DURATION_FORMAT, 'must be a duration such as "500ms", "30s", "5m", "12h" or "2d"');

/**
 * The shortest heartbeat time-out a step can honour: host workers beat every 3 s and their SDK may
 * hold a beat 3 s more, so a shorter one times out healthy steps, and an attempt could not tell in
 * time that it may have been replaced (activities/attempt-lease.ts).
 */
export const MIN_HEARTBEAT_TIMEOUT_MS = 10_000;

const DURATION_UNITS_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** Milliseconds of a duration the schema accepted, e.g. "90s" → 90000. */
export function durationMs(value: string): number {
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(value);
  if (!match) throw new Error(`not a duration: ${value}`);
  return Number(match[1]) * DURATION_UNITS_MS[match[2] as keyof typeof DURATION_UNITS_MS];
}
/** Bytes of a string in UTF-8 (what the file system counts), without Node's Buffer: the workflow bundle has none. */
function utf8Length(text: string): number {
  let bytes = 0;
  for (const character of text) {
    const code = character.codePointAt(0) ?? 0;
    bytes += code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
  }
  return bytes;
}

/** Control characters, NUL included: no sane path holds one, and logs and shells would mangle it. */
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/;

/**
 * An absolute path a worker may be asked to use (configuration, or a workflow input that reaches the
 * file system): no control character, no "." or ".." part (a path means what it says), no part
 * longer than a file name may be, 4096 bytes at most.
 */
export const absolutePath = z.string().superRefine((path, ctx) => {
  const problem = !path.startsWith('/')
    ? 'must be an absolute path'
    : CONTROL_CHARACTER.test(path)
      ? 'must not contain control characters'
      : path.split('/').some((part) => part === '.' || part === '..')
        ? 'must not contain "." or ".." parts'
        : utf8Length(path) > 4096
          ? 'must be at most 4096 bytes'
          : path.split('/').some((part) => utf8Length(part) > 255)
            ? 'must not have a part longer than 255 bytes'
            : undefined;
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** A key inside a store (a backup folder's path): no control character and no ".." part. */
export const storeKeyPath = z
  .string()
  .min(1)
  .refine((path) => !CONTROL_CHARACTER.test(path), 'must not contain control characters')
  .refine((path) => !path.split('/').includes('..'), 'must not contain ".." parts');
export const clusterName = z.string().refine(isValidClusterName, `must be ${CLUSTER_NAME_RULE}`);

export const filesystemStorageSchema = z.strictObject({
  kind: z.literal('filesystem'),
  path: absolutePath,
});

export const s3StorageSchema = z.strictObject({
  kind: z.literal('s3'),
  bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be a valid S3 bucket name'),
  prefix: z
    .string()
    .regex(/^(?:[^/]+(?:\/[^/]+)*)?$/, 'must be a key prefix without leading, trailing or double "/"')
    .default(''),
  region: z.string().min(1).default('us-east-1'),
  endpoint: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL such as "https://s3.eu-west-1.amazonaws.com" or "http://127.0.0.1:9000"' }).optional(),
  forcePathStyle: z.boolean().default(false),
  /** The store's own encryption of every object written: "AES256" (SSE-S3) or "aws:kms" (SSE-KMS; `kmsKeyId`, or the bucket's default key). */
  serverSideEncryption: z.enum(['AES256', 'aws:kms']).optional(),
  /** The KMS key (id, ARN or alias) for "aws:kms". */
  kmsKeyId: z.string().min(1).max(2048).optional(),
  /**
   * S3 Object Lock (the bucket must have been created with it): every backup and archived binlog is
   * written with a retention date this many days ahead, and a chain's earlier backups are extended
   * with each increment, so that neither the worker's credentials nor a stolen copy can delete or
   * overwrite them earlier. Governance mode yields to a user with s3:BypassGovernanceRetention (the
   * worker never asks to); compliance mode to nobody, not even the account's root.
   */
  objectLock: z.strictObject({ mode: z.enum(['governance', 'compliance']), days: z.number().int().min(1).max(36500) }).optional(),
}).refine((storage) => storage.kmsKeyId === undefined || storage.serverSideEncryption === 'aws:kms', { message: 'kmsKeyId needs serverSideEncryption "aws:kms"', path: ['kmsKeyId'] });

export const storageSchema = z.discriminatedUnion('kind', [filesystemStorageSchema, s3StorageSchema]);
export type StorageConfig = z.infer<typeof storageSchema>;

export const connectionSchema = z
  .strictObject({
    socket: absolutePath.optional(),
    host: z.string().min(1).optional(),
    port: z.number().int().min(1).max(65535).optional(),
    user: z.string().min(1),
    /** Name of the environment variable that holds the password. */
    passwordEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'must be an environment variable name').optional(),
    /** File whose content (trimmed) is the password. */
    passwordFile: absolutePath.optional(),
  })
  .refine((c) => (c.socket === undefined) !== (c.host === undefined), { message: 'set exactly one of socket or host' })
  .refine((c) => !(c.passwordEnv && c.passwordFile), { message: 'set at most one of passwordEnv or passwordFile' });
export type ConnectionConfig = z.infer<typeof connectionSchema>;

const command = z.array(z.string().min(1)).min(1, 'must be a command as an argument array, e.g. ["systemctl", "stop", "mariadb"]');

export const controllerSchema = z.discriminatedUnion('kind', [
  /** Runs configured commands (argument arrays, no shell) to stop and start the server. */
  z.strictObject({ kind: z.literal('command'), stop: command, start: command }),
  /** Manages a local server process started from its own defaults file (tests, the demo, simple hosts). */
  z.strictObject({ kind: z.literal('process'), defaultsFile: absolutePath, serverBinary: z.string().min(1).default('mariadbd') }),
]);
export type ControllerConfig = z.infer<typeof controllerSchema>;

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

export const incrementalSchema = z
  .strictObject({
    enabled: z.boolean().default(false),
    fullBackupWeekSchedule: z.string().optional(),
  })
  .superRefine((value, ctx) => {
    if (value.fullBackupWeekSchedule !== undefined) {
      const parsed = parseWeekSchedule(value.fullBackupWeekSchedule);
      if (!parsed.ok) ctx.addIssue({ code: 'custom', path: ['fullBackupWeekSchedule'], message: parsed.reason });
    } else if (value.enabled) {
      ctx.addIssue({ code: 'custom', path: ['fullBackupWeekSchedule'], message: 'is required when incremental backups are enabled (e.g. "mon,thu")' });
    }
  });

/** A query of the operator's, run on the throw-away server of a verification: the first column of its first row must match. */
export const userCheckSchema = z
  .strictObject({
    /** Names the check in the verification's outcome, e.g. "orders of the last day". */
    name: z.string().min(1),
    query: z.string().min(1),
    /** The value, as the client prints it (a number compares as a number). */
    equals: z.union([z.string(), z.number()]).optional(),
    atLeast: z.number().optional(),
    atMost: z.number().optional(),
  })
  .refine((check) => check.equals !== undefined || check.atLeast !== undefined || check.atMost !== undefined, { message: 'needs an expected result: equals, atLeast or atMost' });
export type UserCheck = z.infer<typeof userCheckSchema>;

export const clusterSchema = z.strictObject({
  name: clusterName,
  /** The task queue of the worker on this cluster's database host. */
  taskQueue: z.string().min(1).optional(),
  flavour: z.enum(FLAVOURS).default('mariadb'),
  connection: connectionSchema,
  datadir: absolutePath,
  storage: storageSchema,
  controller: controllerSchema,
  backup: z
    .strictObject({
      parallel: z.number().int().min(1).max(64).default(2),
      compression: z.enum(['none', 'zstd']).default('zstd'),
      /** The backup tool's binary, when not the flavour's own name on PATH (mariadb-backup or xtrabackup). */
      toolPath: z.string().min(1).optional(),
      /** Caps the tool's copy rate (its --throttle: I/O operations per second) to spare a busy host. */
      throttle: z.number().int().min(1).optional(),
      timeout: duration.default('12h'),
    })
    .prefault({}),
  restore: z
    .strictObject({
      /** Where downloads are extracted and prepared; default: beside the datadir, so the final move is a rename. */
      workDir: absolutePath.optional(),
      /** Memory for applying the redo log while preparing (--use-memory), in MiB: more is faster. */
      prepareMemoryMb: z.number().int().min(16).default(512),
      timeout: duration.default('12h'),
    })
    .prefault({}),
  schedule: z
    .strictObject({
      /** false: no Temporal Schedules for this cluster (backups only on demand). */
      enabled: z.boolean().default(true),
      time: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be HH:MM in 24-hour time').default('01:00'),
      timezone: z.string().refine(isTimeZone, 'must be an IANA time zone such as "UTC" or "Europe/Berlin"').default('UTC'),
      /** How late a missed run (Temporal or the workers down) may still start. */
      catchupWindow: duration.default('6h'),
      /**
       * Each run starts at a random moment up to this long after `time`, so that a fleet configured
       * with one time does not start every backup in the same minute (storage, network, the scheduler).
       */
      jitter: duration.optional(),
    })
    .prefault({}),
  incremental: incrementalSchema.prefault({}),
  binlogs: z
    .strictObject({
      /** Archive the binary log continuously, for point-in-time recovery (the server needs log_bin). */
      archive: z.boolean().default(false),
      /** How often the archiver rotates the binary log and uploads the files that closed: at most this much is not archived yet. Unused when `rpo` is set. */
      interval: duration.default('1m'),
      /**
       * The recovery point objective: stream the binary log as a replica would, and have every
       * transaction committed longer ago than this in storage, without rotating the server's binlog
       * for it (the user needs REPLICATION SLAVE). Absent: archive in rounds every `interval`.
       */
      rpo: duration
        .refine((value) => !DURATION_FORMAT.test(value) || (durationMs(value) >= 1000 && durationMs(value) <= 3_600_000), 'must be between 1s and 1h')
        .optional(),
      /**
       * Parallel workers of the replication applier that replays archived binlogs into a restored
       * server (`slave_parallel_threads`, optimistic mode); 0 applies them in one thread.
       */
      replayThreads: z.number().int().min(0).max(256).default(4),
      /** InnoDB buffer pool of the private server that replays them, such as "1G". */
      replayBufferPool: z.string().regex(/^[1-9]\d*[KMG]?$/, 'must be a size such as "512M" or "2G"').default('1G'),
    })
    .prefault({}),
  verification: z
    .strictObject({
      /** Verify each backup by a real restore right after it is committed (the backup's workflow waits for it and fails with it). */
      afterBackup: z.boolean().default(false),
      /** InnoDB buffer pool of the throw-away server a verification starts on the prepared data, such as "256M". */
      bufferPool: z.string().regex(/^[1-9]\d*[KMG]?$/, 'must be a size such as "256M" or "1G"').default('256M'),
      /** Queries run on the throw-away server after the table checks; each must give its expected result. */
      checks: z
        .array(userCheckSchema)
        .default([])
        .superRefine((checks, ctx) => {
          const seen = new Set<string>();
          checks.forEach((check, index) => {
            if (seen.has(check.name)) ctx.addIssue({ code: 'custom', path: [index, 'name'], message: `"${check.name}" names two checks` });
            seen.add(check.name);
          });
        }),
    })
    .prefault({}),
  /** Rules `chainbackup status` checks (it exits non-zero naming each one that is broken). */
  health: z
    .strictObject({
      /** The newest committed backup is younger than this, such as "26h". */
      newestBackupWithin: duration.optional(),
      /** The newest backup that passed a verification is younger than this, such as "8d". */
      newestVerifiedWithin: duration.optional(),
      /** At most this many backups failed since the newest committed one. */
      maxFailuresSinceBackup: z.number().int().min(0).optional(),
      /** The binlog archive is at most this far behind, such as "5m" (only for clusters that archive). */
      archiveLagWithin: duration.optional(),
      /** `status` warns when the datadirs kept by in-place restores take more than this share of the datadir's disk (0 to 1). */
      keptDatadirsMaxShare: z.number().gt(0).max(1).default(0.25),
    })
    .prefault({}),
  retention: z
    .strictObject({
      /** Keep the newest N chains (a full backup and its increments). */
      keepChains: z.number().int().min(1).optional(),
      /** Keep chains whose newest backup is younger than this. A chain goes only when every rule lets it go. */
      maxAgeDays: z.number().int().min(1).optional(),
      /** Objects of uncommitted backups (failed, or a deletion that was interrupted) older than this are swept. */
      orphanAgeHours: z.number().min(0).default(24),
    })
    .prefault({}),
  retry: z
    .strictObject({
      maximumAttempts: z.number().int().min(1).max(100).default(5),
      initialInterval: duration.default('10s'),
      /**
       * How long a long step (streaming, preparing) may go without a heartbeat before Temporal
       * declares its worker dead and retries it elsewhere. Steps that run while the server is
       * stopped use a third of it (at least 10 s), so a dead worker is noticed in seconds.
       */
      heartbeatTimeout: duration
        .refine((value) => !DURATION_FORMAT.test(value) || durationMs(value) >= MIN_HEARTBEAT_TIMEOUT_MS, {
          message: `must be at least ${MIN_HEARTBEAT_TIMEOUT_MS / 1000}s: a worker beats every 3 s, its SDK may hold a beat 3 s more, and a step that went silent this long may have been replaced`,
        })
        .default('1m'),
      /**
       * How long a step waits for the cluster's host worker to take it. A host whose worker is gone
       * for good fails the work after this, naming the queue that had no worker, and frees the
       * cluster's lock, instead of holding it for ever; from an in-place restore's pause on, steps
       * wait however long it takes (only that host can start the server again).
       */
      hostWorkerWait: duration.default('5m'),
    })
    .prefault({}),
}).superRefine((cluster, ctx) => {
  const lock = cluster.storage.kind === 's3' ? cluster.storage.objectLock : undefined;
  const maxAge = cluster.retention.maxAgeDays;
  if (lock && maxAge !== undefined && maxAge < lock.days) {
    ctx.addIssue({ code: 'custom', path: ['retention', 'maxAgeDays'], message: `${maxAge} is shorter than storage.objectLock.days (${lock.days}): retention would remove chains their lock keeps; make it at least ${lock.days}` });
  }
});
export type ClusterConfig = z.infer<typeof clusterSchema>;

/** A key id: what stored objects and manifests name a key-encryption key by (never the key). */
export const encryptionKeyId = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1 to 64 letters, digits, ".", "_" or "-"');

/**
 * Client-side encryption of everything stored that carries data (docs/encryption.md). The keys are
 * read by each worker from its own files or environment, never sent to Temporal.
 */
const encryptionFields = {
  /** The key new backups and archived binlogs are sealed with. */
  currentKey: encryptionKeyId,
    /** Every key still needed to open what was stored: old ones stay after a rotation. */
    keys: z
      .array(
        z
          .strictObject({
            id: encryptionKeyId,
            /** A file holding the key: 64 hex digits, or 32 bytes in base64. */
            file: absolutePath.optional(),
            /** An environment variable holding the key, in the same form. */
            env: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'must be an environment variable name').optional(),
          })
          .refine((key) => (key.file === undefined) !== (key.env === undefined), { message: 'set exactly one of file or env' }),
      )
      .min(1, 'must list at least one key'),
};

function checkKeys(encryption: { currentKey: string; keys: { id: string }[] }, ctx: z.RefinementCtx): void {
  const ids = encryption.keys.map((key) => key.id);
  ids.forEach((id, index) => {
    if (ids.indexOf(id) !== index) ctx.addIssue({ code: 'custom', path: ['keys', index, 'id'], message: `"${id}" is listed twice` });
  });
  if (!ids.includes(encryption.currentKey)) ctx.addIssue({ code: 'custom', path: ['currentKey'], message: `"${encryption.currentKey}" is not one of keys (${ids.join(', ')})` });
}

const encryptionSchema = z.strictObject(encryptionFields).superRefine(checkKeys);
export type EncryptionConfig = z.infer<typeof encryptionSchema>;

/** Encryption of what is stored: the keys, and whether plaintext from before encryption was switched on is admitted. */
const storageEncryptionSchema = z
  .strictObject({
    ...encryptionFields,
    /**
     * A worker that encrypts refuses a backup or archived binlog stored in plaintext (someone who can
     * write to the store may have put it in place of a sealed one), unless it was stored before this
     * time: when encryption was switched on, for what was stored before.
     */
    plaintextBefore: z.iso.datetime({ offset: true, message: 'must be a time such as "2026-12-01T00:00:00Z"' }).optional(),
  })
  .superRefine(checkKeys);
export type StorageEncryptionConfig = z.infer<typeof storageEncryptionSchema>;

export const configSchema = z
  .strictObject({
    temporal: z
      .strictObject({
        /** The queue that runs workflows and cluster look-ups; hosts have queues of their own. */
        taskQueue: z.string().min(1).default('chainbackup'),
        /**
         * Seal every payload the worker and the CLI send to Temporal (inputs, results, heartbeats,
         * failure messages) with these keys: for a shared Temporal or Temporal Cloud. The same keys
         * on every worker and every CLI; `chainbackup codec-server` lets the Web UI show them.
         */
        payloadEncryption: encryptionSchema.optional(),
      })
      .prefault({}),
    clusters: z.array(clusterSchema).min(1, 'must list at least one cluster'),
    encryption: storageEncryptionSchema.optional(),
    /**
     * The keys manifests, binlog records and markers are signed and checked with, so that whoever can
     * write to the store cannot change what a restore or retention trusts (docs/security.md). Default:
     * the `encryption` keys (a key derived from each); with neither, records are neither signed nor
     * checked, and `status` says that whoever can write to the store is trusted.
     */
    integrity: encryptionSchema.optional(),
    worker: z
      .strictObject({
        /**
         * Folders a restore source on a filesystem may lie in (a request naming any other folder is
         * refused). Default: the filesystem storage folders of the configured clusters.
         */
        restoreSourceRoots: z.array(absolutePath).optional(),
        /**
         * Folders a clone (a restore into a new datadir) may be placed in, as a new or empty folder
         * inside one of them; a clone anywhere else is refused. None by default: whoever may start a
         * workflow must not pick where a worker writes a server's files.
         */
        cloneRoots: z.array(absolutePath).default([]),
        /** How long a stopping worker (SIGTERM) lets running activities finish or clean up before it cancels them. */
        shutdownGraceTime: duration.default('2m'),
        /** A Prometheus endpoint (`GET /metrics`) with the health of the clusters this worker hosts. */
        metrics: z
          .strictObject({
            /** Address and port to listen on, such as "127.0.0.1:9464" or "0.0.0.0:9464". */
            listen: z.string().regex(/^[^\s:]+:\d{1,5}$/, 'must be host:port, such as "127.0.0.1:9464"'),
            /** A scrape within this long of the previous one is answered from that one's facts (each reading lists storage). */
            cacheFor: duration.default('30s'),
          })
          .optional(),
      })
      .prefault({}),
  })
  .superRefine((config, ctx) => {
    const seen = new Set<string>();
    config.clusters.forEach((cluster, index) => {
      if (seen.has(cluster.name)) ctx.addIssue({ code: 'custom', path: ['clusters', index, 'name'], message: `"${cluster.name}" is used by two clusters` });
      seen.add(cluster.name);
    });
  });
export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;

/** Folders this worker accepts filesystem restore sources from. */
export function restoreSourceRoots(config: Config): string[] {
  return config.worker.restoreSourceRoots ?? config.clusters.flatMap((cluster) => (cluster.storage.kind === 'filesystem' ? [cluster.storage.path] : []));
}

export function hostTaskQueue(cluster: Pick<ClusterConfig, 'name' | 'taskQueue'>): string {
  return cluster.taskQueue ?? `chainbackup-host-${cluster.name}`;
}

export function storageLabel(storage: StorageConfig): string {
  return storage.kind === 'filesystem' ? `file://${storage.path}` : `s3://${storage.bucket}/${storage.prefix}${storage.endpoint ? ` at ${storage.endpoint}` : ''}`;
}

/** What a workflow needs to know about a cluster: no connection details, no secrets. */
export interface ClusterSettings {
  name: string;
  taskQueue: string;
  flavour: ClusterConfig['flavour'];
  storageLabel: string;
  backup: ClusterConfig['backup'];
  restore: Pick<ClusterConfig['restore'], 'timeout'>;
  retention: ClusterConfig['retention'];
  /** hostWorkerWait is absent in look-ups recorded before it existed. */
  retry: Omit<ClusterConfig['retry'], 'hostWorkerWait'> & { hostWorkerWait?: string };
  /** rpo is absent in look-ups recorded before the archive streamed, and for clusters archived in rounds. */
  binlogs: Pick<ClusterConfig['binlogs'], 'archive' | 'interval' | 'rpo'>;
  /** Absent in look-ups recorded before verification after a backup existed. */
  verification?: Pick<ClusterConfig['verification'], 'afterBackup'>;
  /** The storage's Object Lock: how many days each backup and binlog is kept from deletion (absent: none, or a look-up recorded before it). */
  objectLockDays?: number;
}

export function clusterSettings(cluster: ClusterConfig): ClusterSettings {
  return {
    name: cluster.name,
    taskQueue: hostTaskQueue(cluster),
    flavour: cluster.flavour,
    storageLabel: storageLabel(cluster.storage),
    backup: cluster.backup,
    restore: { timeout: cluster.restore.timeout },
    retention: cluster.retention,
    retry: cluster.retry,
    binlogs: { archive: cluster.binlogs.archive, interval: cluster.binlogs.interval, ...(cluster.binlogs.rpo ? { rpo: cluster.binlogs.rpo } : {}) },
    verification: { afterBackup: cluster.verification.afterBackup },
    ...(cluster.storage.kind === 's3' && cluster.storage.objectLock ? { objectLockDays: cluster.storage.objectLock.days } : {}),
  };
}
