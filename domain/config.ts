/**
 * The configuration file's schema. It describes clusters and where their backups go, and holds no
 * secret: the database password comes from an environment variable or a separate file named here,
 * and S3 credentials from the standard AWS chain of the worker that needs them.
 */
import { z } from 'zod';
import { FLAVOURS } from './manifest.js';
import { CLUSTER_NAME_RULE, isValidClusterName } from './names.js';
import { parseWeekSchedule } from './week.js';
import { DEFAULT_DEPLOYMENT, WorkflowId } from './workflow-contract.js';

const DURATION_FORMAT = /^\d+(ms|s|m|h|d)$/;
export const duration = z
  .string()
  .regex(DURATION_FORMAT, 'must be a duration such as "500ms", "30s", "5m", "12h" or "2d"')
  .meta({ id: 'duration', description: 'A whole number and a unit: ms, s, m, h or d, such as "500ms", "30s", "5m", "12h" or "2d".' });

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
}).meta({
  id: 'absolutePath',
  description: 'An absolute path: no control character, no "." or ".." part, no part over 255 bytes, 4096 bytes at most.',
});

/** A key inside a store (a backup folder's path): no control character and no ".." part. */
export const storeKeyPath = z
  .string()
  .min(1)
  .refine((path) => !CONTROL_CHARACTER.test(path), 'must not contain control characters')
  .refine((path) => !path.split('/').includes('..'), 'must not contain ".." parts');
export const clusterName = z
  .string()
  .refine(isValidClusterName, `must be ${CLUSTER_NAME_RULE}`)
  .meta({ id: 'clusterName', description: `A cluster's name: ${CLUSTER_NAME_RULE}.` });

const environmentVariableName = z
  .string()
  .regex(/^[A-Z_][A-Z0-9_]*$/, 'must be an environment variable name')
  .meta({ id: 'environmentVariable', description: 'The name of an environment variable: capital letters, digits and "_", not starting with a digit.' });

export const filesystemStorageSchema = z
  .strictObject({
    kind: z.literal('filesystem').meta({ description: 'Backups go into a folder.' }),
    path: absolutePath.meta({
      description:
        'The folder backups and archived binlogs go into (a local disk, or a mount ' +
        'shared by the workers that read it); the worker writes files 0600 in folders 0700.',
      examples: ['/srv/backups'],
    }),
  })
  .meta({ description: 'A folder on the host: a local disk or a mounted network file system.' });

export const s3StorageSchema = z.strictObject({
  kind: z.literal('s3').meta({ description: 'Backups go into an S3 bucket, or an S3-compatible store such as MinIO.' }),
  bucket: z
    .string()
    .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be a valid S3 bucket name')
    .meta({
      description: 'The bucket; credentials come from the standard AWS chain of each worker that needs them (environment, profile, instance role).',
      examples: ['backups'],
    }),
  prefix: z
    .string()
    .regex(/^(?:[^/]+(?:\/[^/]+)*)?$/, 'must be a key prefix without leading, trailing or double "/"')
    .default('')
    .meta({
      description: `The key prefix everything of this store is written under (no leading, trailing or double "/"); empty: the bucket's root.`,
      examples: ['prod'],
    }),
  region: z.string().min(1).default('us-east-1').meta({ description: "The bucket's AWS region.", examples: ['eu-west-1'] }),
  endpoint: z
    .url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL such as "https://s3.eu-west-1.amazonaws.com" or "http://127.0.0.1:9000"' })
    .optional()
    .meta({
      description: "The store's http:// or https:// URL, for an S3-compatible store; absent: AWS's endpoint of the region.",
      examples: ['http://127.0.0.1:9000'],
    }),
  forcePathStyle: z.boolean().default(false).meta({
    description: "Address the bucket in the URL's path (endpoint/bucket/key) instead of its host name, as MinIO and many S3-compatible stores need.",
    examples: [true],
  }),
  serverSideEncryption: z
    .enum(['AES256', 'aws:kms'])
    .optional()
    .meta({
      description:
        `The store's own encryption of every object written, multipart uploads included: ` +
        `"AES256" (SSE-S3) or "aws:kms" (SSE-KMS, with kmsKeyId or the bucket's default key).`,
      examples: ['aws:kms'],
    }),
  kmsKeyId: z
    .string()
    .min(1)
    .max(2048)
    .optional()
    .meta({ description: 'The KMS key (id, ARN or alias) for serverSideEncryption "aws:kms"; only with it.', examples: ['alias/backups'] }),
  objectLock: z
    .strictObject({
      mode: z.enum(['governance', 'compliance']).meta({
        description:
          "governance: a user with s3:BypassGovernanceRetention can still remove a version " +
          "(the worker never asks to); compliance: nobody can, not even the account's root.",
        examples: ['governance'],
      }),
      days: z.number().int().min(1).max(36500).meta({ description: "How many days ahead each object's retention date is set.", examples: [35] }),
    })
    .optional()
    .meta({
      description:
        "S3 Object Lock, on a bucket created with it and without a default retention rule: every backup and archived binlog is written with " +
        "a retention date this many days ahead, and a chain's earlier backups are extended with each increment, so that neither the " +
        "worker's credentials nor a stolen copy can delete or overwrite them earlier. The worker refuses to start on a bucket that cannot keep it.",
    }),
})
  .refine((storage) => storage.kmsKeyId === undefined || storage.serverSideEncryption === 'aws:kms', { message: 'kmsKeyId needs serverSideEncryption "aws:kms"', path: ['kmsKeyId'] })
  .meta({ description: 'An S3 bucket, or a bucket of an S3-compatible store (MinIO).' });

export const storageSchema = z.discriminatedUnion('kind', [filesystemStorageSchema, s3StorageSchema]);
export type StorageConfig = z.infer<typeof storageSchema>;

export const connectionSchema = z
  .strictObject({
    socket: absolutePath.optional().meta({ description: "The server's Unix socket.", examples: ['/run/mysqld/mysqld.sock'] }),
    host: z.string().min(1).optional().meta({ description: "The server's host name or address, reached over TCP.", examples: ['127.0.0.1'] }),
    port: z.number().int().min(1).max(65535).optional().meta({ description: "The server's TCP port, with host; absent: 3306.", examples: [3306] }),
    user: z.string().min(1).meta({
      description: `The database user the worker logs in as; it needs the grants of docs/guide/configuration.md ("The backup user's grants"), which chainbackup check checks one by one.`,
      examples: ['backup'],
    }),
    passwordEnv: environmentVariableName.optional().meta({
      description: "The environment variable of the worker that holds the user's password; a variable that is not set fails the work at once.",
      examples: ['SHOP_BACKUP_PASSWORD'],
    }),
    passwordFile: absolutePath.optional().meta({
      description: "A file on the worker's host whose content (trimmed) is the password; mode 0600, or 0640 for its group.",
      examples: ['/etc/chainbackup/shop-password'],
    }),
  })
  .refine((c) => (c.socket === undefined) !== (c.host === undefined), { message: 'set exactly one of socket or host' })
  .refine((c) => !(c.passwordEnv && c.passwordFile), { message: 'set at most one of passwordEnv or passwordFile' })
  .meta({
    description:
      "How the worker on the cluster's host logs in to the server, through a private defaults file (never a command line). Set " +
      "exactly one of socket or host, and at most one of passwordEnv or passwordFile (with neither, the user logs in without a password).",
  });
export type ConnectionConfig = z.infer<typeof connectionSchema>;

const command = z.array(z.string().min(1)).min(1, 'must be a command as an argument array, e.g. ["systemctl", "stop", "mariadb"]');

export const controllerSchema = z.discriminatedUnion('kind', [
  z
    .strictObject({
      kind: z.literal('command').meta({ description: 'Stop and start the server with commands.' }),
      stop: command.meta({ description: 'The command that stops the server; it must exit 0 within 5 minutes.', examples: [['systemctl', 'stop', 'mariadb']] }),
      start: command.meta({
        description: 'The command that starts the server; it must exit 0 within 5 minutes, then the server must answer the configured login.',
        examples: [['systemctl', 'start', 'mariadb']],
      }),
    })
    .meta({ description: 'Runs configured commands (argument arrays, no shell) to stop and start the server, such as systemctl.' }),
  z
    .strictObject({
      kind: z.literal('process').meta({ description: 'The worker stops and starts the server process itself.' }),
      defaultsFile: absolutePath.meta({
        description: "The server's own option file: the server is started with --defaults-file=<it>.",
        examples: ['/etc/mysql/shop.cnf'],
      }),
      serverBinary: z.string().min(1).default('mariadbd').meta({
        description: "The server program to start, a path or a name on the worker's PATH.",
        examples: ['/usr/sbin/mariadbd'],
      }),
    })
    .meta({ description: 'Stops a local server process by signal and starts it from its own defaults file (tests, the demo, simple hosts).' }),
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
    enabled: z.boolean().default(false).meta({
      description: 'true: full backups on the days of fullBackupWeekSchedule and increments on the other days; false: a full backup every day.',
      examples: [true],
    }),
    fullBackupWeekSchedule: z.string().optional().meta({
      description: "The days of full backups, comma-separated mon..sun without repeats (as Aiven's full_backup_week_schedule); required when enabled.",
      examples: ['mon,thu'],
    }),
  })
  .superRefine((value, ctx) => {
    if (value.fullBackupWeekSchedule !== undefined) {
      const parsed = parseWeekSchedule(value.fullBackupWeekSchedule);
      if (!parsed.ok) ctx.addIssue({ code: 'custom', path: ['fullBackupWeekSchedule'], message: parsed.reason });
    } else if (value.enabled) {
      ctx.addIssue({ code: 'custom', path: ['fullBackupWeekSchedule'], message: 'is required when incremental backups are enabled (e.g. "mon,thu")' });
    }
  });

export const userCheckSchema = z
  .strictObject({
    name: z.string().min(1).meta({
      description: "Names the check in the verification's outcome; unique among the cluster's checks.",
      examples: ['orders of the last day'],
    }),
    query: z.string().min(1).meta({
      description: 'The SQL query; the first column of its first row is compared.',
      examples: ['SELECT COUNT(*) FROM shop.orders WHERE created > NOW() - INTERVAL 1 DAY'],
    }),
    equals: z
      .union([z.string(), z.number()])
      .optional()
      .meta({ description: 'The value the query must return, as the client prints it (a number compares as a number).', examples: ['active'] }),
    atLeast: z.number().optional().meta({ description: 'The smallest number the query may return.', examples: [1] }),
    atMost: z.number().optional().meta({ description: 'The largest number the query may return.', examples: [1000000] }),
  })
  .refine((check) => check.equals !== undefined || check.atLeast !== undefined || check.atMost !== undefined, { message: 'needs an expected result: equals, atLeast or atMost' })
  .meta({ description: 'A query run on the throw-away server of a verification; it needs an expected result: equals, atLeast and/or atMost.' });
export type UserCheck = z.infer<typeof userCheckSchema>;

const BUFFER_POOL_SIZE = /^[1-9]\d*[KMG]?$/;

export const clusterSchema = z.strictObject({
  name: clusterName.meta({
    description: 'Names the cluster in commands, backup names, workflow ids, schedules and the store; unique in the file.',
    examples: ['shop'],
  }),
  taskQueue: z.string().min(1).optional().meta({
    description: "The task queue of the worker on this cluster's database host; default: <temporal.taskQueue>-host-<name> (chainbackup-host-<name>).",
    examples: ['chainbackup-host-shop'],
  }),
  flavour: z.enum(FLAVOURS).default('mariadb').meta({
    description: 'The server: mariadb (backups with mariadb-backup) or mysql (Percona XtraBackup 8; tested on its arguments and files only, not end to end).',
    examples: ['mysql'],
  }),
  connection: connectionSchema,
  datadir: absolutePath.meta({
    description:
      "The server's data directory on its host. An in-place restore moves it aside " +
      "to <datadir>.before-restore-<time> (kept) and renames in its parent folder.",
    examples: ['/var/lib/mysql'],
  }),
  storage: storageSchema.meta({ description: "Where the cluster's backups and archived binlogs are stored." }),
  controller: controllerSchema.meta({ description: "How an in-place restore stops and starts the cluster's server." }),
  backup: z
    .strictObject({
      parallel: z.number().int().min(1).max(64).default(2).meta({
        description: "The backup tool's copy threads (--parallel), and zstd's threads.",
        examples: [4],
      }),
      compression: z.enum(['none', 'zstd']).default('zstd').meta({
        description: 'zstd compresses the backup on the database host; none stores it uncompressed, for a host with no CPU to spare.',
        examples: ['none'],
      }),
      toolPath: z.string().min(1).optional().meta({
        description: "The backup tool's binary, when not the flavour's own name on PATH (mariadb-backup or xtrabackup).",
        examples: ['/opt/mariadb/bin/mariadb-backup'],
      }),
      throttle: z.number().int().min(1).optional().meta({
        description: "Caps the tool's copy rate (its --throttle: I/O operations per second) to spare a busy host; absent: no cap.",
        examples: [100],
      }),
      timeout: duration.default('12h').meta({
        description: "How long one attempt of a backup's long step (the tool streaming into storage) may take.",
        examples: ['4h'],
      }),
    })
    .prefault({})
    .meta({ description: 'How backups are taken.' }),
  restore: z
    .strictObject({
      workDir: absolutePath.optional().meta({
        description:
          'Where restores and verifications download, extract and prepare; default: .chainbackup-restore beside the datadir, so the final move is a rename.',
        examples: ['/srv/restore'],
      }),
      prepareMemoryMb: z.number().int().min(16).default(512).meta({
        description: "Memory for applying the redo log while preparing (the tool's --use-memory), in MiB: more is faster.",
        examples: [2048],
      }),
      timeout: duration.default('12h').meta({
        description:
          "How long one attempt of a restore's or verification's long step (downloading, preparing, the steps while the server is stopped) may take.",
        examples: ['6h'],
      }),
    })
    .prefault({})
    .meta({ description: 'How restores and verifications run.' }),
  schedule: z
    .strictObject({
      enabled: z.boolean().default(true).meta({ description: 'false: no Temporal Schedules for this cluster (backups only on demand).', examples: [false] }),
      time: z
        .string()
        .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be HH:MM in 24-hour time')
        .default('01:00')
        .meta({ description: 'When the daily backup starts: HH:MM, 24-hour, in the time zone of timezone.', examples: ['02:30'] }),
      timezone: z
        .string()
        .refine(isTimeZone, 'must be an IANA time zone such as "UTC" or "Europe/Berlin"')
        .default('UTC')
        .meta({ description: 'The IANA time zone time is read in; describe and status show the next runs in it.', examples: ['Europe/Berlin'] }),
      catchupWindow: duration.default('6h').meta({ description: 'How late a missed run (Temporal or the workers down) may still start.', examples: ['2h'] }),
      jitter: duration.optional().meta({
        description:
          'Each run starts at a random moment up to this long after time, so that a ' +
          'fleet configured with one time does not start every backup in the same minute.',
        examples: ['30m'],
      }),
    })
    .prefault({})
    .meta({ description: 'The daily backup as Temporal Schedules; `chainbackup schedule apply` makes the schedules match it.' }),
  incremental: incrementalSchema
    .prefault({})
    .meta({ description: 'Which days take a full backup and which an increment of the newest chain.' }),
  binlogs: z
    .strictObject({
      archive: z.boolean().default(false).meta({
        description: 'Archive the binary log continuously, for point-in-time recovery (the server needs log_bin); `schedule apply` starts the archiver.',
        examples: [true],
      }),
      interval: duration.default('1m').meta({
        description:
          'How often the archiver rotates the binary log and uploads the files that closed: at most this much is not archived yet. Unused when rpo is set.',
        examples: ['5m'],
      }),
      rpo: duration
        .refine((value) => !DURATION_FORMAT.test(value) || (durationMs(value) >= 1000 && durationMs(value) <= 3_600_000), 'must be between 1s and 1h')
        .optional()
        .meta({
          description:
            "The recovery point objective, 1s to 1h: stream the binary log as a replica would, and have every transaction committed longer ago " +
            "than this in storage, without rotating the server's binlog (the user needs REPLICATION SLAVE). Absent: archive in rounds every interval.",
          examples: ['5s'],
        }),
      replayThreads: z.number().int().min(0).max(256).default(4).meta({
        description:
          'Parallel workers of the replication applier that replays archived binlogs ' +
          'into a restored server (slave_parallel_threads, optimistic); 0: one thread.',
        examples: [8],
      }),
      replayBufferPool: z.string().regex(BUFFER_POOL_SIZE, 'must be a size such as "512M" or "2G"').default('1G').meta({
        description: 'InnoDB buffer pool of the private server that replays them: a number of bytes, or a number and K, M or G.',
        examples: ['4G'],
      }),
    })
    .prefault({})
    .meta({ description: 'The binary log archive, for restores to a point in time or a GTID.' }),
  verification: z
    .strictObject({
      afterBackup: z.boolean().default(false).meta({
        description: "Verify each backup by a real restore right after it is committed (the backup's workflow waits for it and fails with it).",
        examples: [true],
      }),
      bufferPool: z.string().regex(BUFFER_POOL_SIZE, 'must be a size such as "256M" or "1G"').default('256M').meta({
        description: 'InnoDB buffer pool of the throw-away server a verification starts on the prepared data: a number of bytes, or a number and K, M or G.',
        examples: ['1G'],
      }),
      checks: z
        .array(userCheckSchema)
        .default([])
        .superRefine((checks, ctx) => {
          const seen = new Set<string>();
          checks.forEach((check, index) => {
            if (seen.has(check.name)) ctx.addIssue({ code: 'custom', path: [index, 'name'], message: `"${check.name}" names two checks` });
            seen.add(check.name);
          });
        })
        .meta({
          description: 'Queries run on the throw-away server after the table checks; each must give its expected result, or the verification fails naming it.',
        }),
    })
    .prefault({})
    .meta({ description: 'Verification by a real restore on a throw-away server (`chainbackup verify`, and afterBackup).' }),
  health: z
    .strictObject({
      newestBackupWithin: duration.optional().meta({ description: 'Broken unless the newest committed backup is younger than this.', examples: ['26h'] }),
      newestVerifiedWithin: duration.optional().meta({
        description: 'Broken unless the newest backup that passed a verification is younger than this.',
        examples: ['8d'],
      }),
      maxFailuresSinceBackup: z.number().int().min(0).optional().meta({
        description: 'Broken when more backups than this failed since the newest committed one.',
        examples: [0],
      }),
      archiveLagWithin: duration.optional().meta({
        description: 'Broken when the binlog archive is further behind than this (clusters that archive only).',
        examples: ['5m'],
      }),
      keptDatadirsMaxShare: z.number().gt(0).max(1).default(0.25).meta({
        description:
          "`status` warns (without failing) when the datadirs kept by in-place " +
          "restores take more than this share of the datadir's disk (above 0, at most 1).",
        examples: [0.5],
      }),
    })
    .prefault({})
    .meta({
      description: 'Rules `chainbackup status` checks: it exits 4 naming each one broken. A failed verification in the newest chain always counts as broken.',
    }),
  retention: z
    .strictObject({
      keepChains: z.number().int().min(1).optional().meta({ description: 'Keep the newest N chains (a full backup and its increments).', examples: [4] }),
      maxAgeDays: z.number().int().min(1).optional().meta({
        description: 'Keep chains whose newest backup is younger than this many days; with S3 Object Lock, at least storage.objectLock.days.',
        examples: [30],
      }),
      orphanAgeHours: z.number().min(0).default(24).meta({
        description: 'Objects of uncommitted backups (failed, or a deletion that was interrupted) older than this many hours are swept.',
        examples: [48],
      }),
    })
    .prefault({})
    .meta({
      description:
        'What retention removes, after every committed full backup and on `chainbackup retention`. A chain goes only when every rule set lets it go; ' +
        'the newest chain always stays; with neither keepChains nor maxAgeDays, no chain is removed. Archived binlogs no kept backup needs go with them.',
    }),
  retry: z
    .strictObject({
      maximumAttempts: z.number().int().min(1).max(100).default(5).meta({
        description: "Attempts of each step on the cluster's host before the work fails (faults only: a refused request fails at once).",
        examples: [10],
      }),
      initialInterval: duration.default('10s').meta({
        description:
          "The wait before a step's first retry; each further wait doubles, up to 5 minutes (steps run while the server is stopped retry after 1 s).",
        examples: ['30s'],
      }),
      heartbeatTimeout: duration
        .refine((value) => !DURATION_FORMAT.test(value) || durationMs(value) >= MIN_HEARTBEAT_TIMEOUT_MS, {
          message: `must be at least ${MIN_HEARTBEAT_TIMEOUT_MS / 1000}s: a worker beats every 3 s, its SDK may hold a beat 3 s more, and a step that went silent this long may have been replaced`,
        })
        .default('1m')
        .meta({
          description:
            'How long a long step (streaming, preparing) may go without a heartbeat before Temporal declares its worker dead ' +
            'and retries it elsewhere; at least 10s. Steps that run while the server is stopped use a third of it (at least 10 s).',
          examples: ['2m'],
        }),
      hostWorkerWait: duration.default('5m').meta({
        description:
          "How long a step waits for the cluster's host worker to take it before the work fails, naming the queue, and frees the " +
          "cluster's lock; from an in-place restore's pause on, steps wait however long it takes (only that host can start the server again).",
        examples: ['15m'],
      }),
    })
    .prefault({})
    .meta({ description: "Time-outs and retries of the steps that run on the cluster's host." }),
})
  .superRefine((cluster, ctx) => {
    const lock = cluster.storage.kind === 's3' ? cluster.storage.objectLock : undefined;
    const maxAge = cluster.retention.maxAgeDays;
    if (lock && maxAge !== undefined && maxAge < lock.days) {
      ctx.addIssue({ code: 'custom', path: ['retention', 'maxAgeDays'], message: `${maxAge} is shorter than storage.objectLock.days (${lock.days}): retention would remove chains their lock keeps; make it at least ${lock.days}` });
    }
  })
  .meta({ description: 'Each entry is one MariaDB or MySQL server: how to reach it, where its backups go and how they run.' });
export type ClusterConfig = z.infer<typeof clusterSchema>;

/** A key id: what stored objects and manifests name a key-encryption key by (never the key). */
export const encryptionKeyId = z
  .string()
  .regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1 to 64 letters, digits, ".", "_" or "-"')
  .meta({ id: 'keyId', description: `A key's id, which stored objects and manifests name it by: 1 to 64 letters, digits, ".", "_" or "-".` });

/**
 * Client-side encryption of everything stored that carries data (docs/encryption.md). The keys are
 * read by each worker from its own files or environment, never sent to Temporal.
 */
const encryptionFields = {
  currentKey: encryptionKeyId.meta({ description: 'The id of the key that seals (or signs) from now on; one of keys.', examples: ['k2026'] }),
  keys: z
    .array(
      z
        .strictObject({
          id: encryptionKeyId.meta({ description: "The key's id; unique among keys.", examples: ['k2026'] }),
          file: absolutePath.optional().meta({
            description: 'A file holding the key: 64 hex digits (openssl rand -hex 32), or 32 bytes in base64; mode 0600, or 0640 for its group.',
            examples: ['/etc/chainbackup/keys/k2026'],
          }),
          env: environmentVariableName.optional().meta({
            description: 'An environment variable holding the key, in the same form.',
            examples: ['CHAINBACKUP_KEY_K2025'],
          }),
        })
        .refine((key) => (key.file === undefined) !== (key.env === undefined), { message: 'set exactly one of file or env' })
        .meta({
          description: 'A key; set exactly one of file or env. A worker reads its keys when it starts, and refuses to start naming one it cannot read.',
        }),
    )
    .min(1, 'must list at least one key')
    .meta({ description: 'Every key still needed to open what was sealed or check what was signed: old ones stay after a rotation.' }),
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

const storageEncryptionSchema = z
  .strictObject({
    ...encryptionFields,
    plaintextBefore: z.iso
      .datetime({ offset: true, message: 'must be a time such as "2026-12-01T00:00:00Z"' })
      .optional()
      .meta({
        description:
          'A worker that encrypts refuses a backup or archived binlog stored in plaintext (it may have been put in place of a sealed ' +
          'one) unless it was stored before this time: set it to when encryption was switched on for a store that already held backups.',
        examples: ['2026-01-15T00:00:00Z'],
      }),
  })
  .superRefine(checkKeys);
export type StorageEncryptionConfig = z.infer<typeof storageEncryptionSchema>;

export const configSchema = z
  .strictObject({
    temporal: z
      .strictObject({
        taskQueue: z.string().min(1).default(DEFAULT_DEPLOYMENT).meta({
          description:
            'The shared queue that runs workflows and cluster look-ups (hosts have ' +
            'queues of their own); `schedule apply` manages only the schedules of this queue. It names the deployment: ' +
            'the ids of its locks, archivers and schedules and its default host queues begin with it.',
          examples: ['chainbackup-prod'],
        }),
        payloadEncryption: encryptionSchema.optional().meta({
          description:
            'Seal every payload the workers and the CLI send to Temporal (inputs, results, heartbeats, failure messages) with these keys: for a ' +
            'shared Temporal or Temporal Cloud. The same keys on every worker and every CLI; `chainbackup codec-server` lets the Web UI show them.',
        }),
      })
      .prefault({})
      .meta({
        description: 'The Temporal side; the connection itself comes from TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TLS settings or a profile.',
      }),
    clusters: z.array(clusterSchema).min(1, 'must list at least one cluster').meta({ description: 'The servers to back up, at least one; names are unique.' }),
    encryption: storageEncryptionSchema.optional().meta({
      description:
        'Client-side encryption of everything stored that carries data (docs/encryption.md): sealed on the worker with ' +
        'AES-256-GCM before it is stored; records are signed with keys derived from these. Keys never enter Temporal.',
    }),
    integrity: encryptionSchema.optional().meta({
      description:
        'The keys manifests, binlog records and markers are signed and checked with, so that whoever can write to the store cannot change what ' +
        'a restore or retention trusts (docs/security.md). Default: the encryption keys; with neither, records are neither signed nor checked.',
    }),
    worker: z
      .strictObject({
        restoreSourceRoots: z.array(absolutePath).optional().meta({
          description:
            "Folders a restore source on a filesystem may lie in (a request naming any " +
            "other folder is refused); default: the clusters' filesystem storage folders.",
          examples: [['/srv/backups']],
        }),
        cloneRoots: z.array(absolutePath).default([]).meta({
          description:
            "Folders a clone (a restore into a new datadir, restore --to-datadir) may be placed in, as a new or empty folder inside one of " +
            "them; none by default, so clones are refused: whoever may start a workflow must not pick where a worker writes a server's files.",
          examples: [['/srv/clones']],
        }),
        shutdownGraceTime: duration.default('2m').meta({
          description: 'How long a stopping worker (SIGTERM) lets running steps finish or clean up before it cancels them.',
          examples: ['10m'],
        }),
        metrics: z
          .strictObject({
            listen: z.string().regex(/^[^\s:]+:\d{1,5}$/, 'must be host:port, such as "127.0.0.1:9464"').meta({
              description: 'Address and port to listen on.',
              examples: ['127.0.0.1:9464'],
            }),
            cacheFor: duration.default('30s').meta({
              description: "A scrape within this long of the previous one is answered from that one's facts (each reading lists storage).",
              examples: ['1m'],
            }),
          })
          .optional()
          .meta({ description: 'A Prometheus endpoint (GET /metrics) with the health of the clusters this worker hosts; absent: none.' }),
      })
      .prefault({})
      .meta({ description: 'Settings of the worker process itself.' }),
  })
  .superRefine((config, ctx) => {
    const seen = new Set<string>();
    config.clusters.forEach((cluster, index) => {
      if (seen.has(cluster.name)) ctx.addIssue({ code: 'custom', path: ['clusters', index, 'name'], message: `"${cluster.name}" is used by two clusters` });
      seen.add(cluster.name);
    });
  })
  .meta({ title: 'chainbackup configuration', description: "The configuration file of chainbackup's workers and CLI (chainbackup.yaml). It holds no secret." });
export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;

/** Folders this worker accepts filesystem restore sources from. */
export function restoreSourceRoots(config: Config): string[] {
  return config.worker.restoreSourceRoots ?? config.clusters.flatMap((cluster) => (cluster.storage.kind === 'filesystem' ? [cluster.storage.path] : []));
}

/** The host queue of a cluster of the deployment `deployment` (`temporal.taskQueue`). */
export function hostTaskQueue(cluster: Pick<ClusterConfig, 'name' | 'taskQueue'>, deployment: string): string {
  return cluster.taskQueue ?? WorkflowId.hostTaskQueue(deployment, cluster.name);
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
  retry: ClusterConfig['retry'];
  /** rpo is absent for clusters archived in rounds. */
  binlogs: Pick<ClusterConfig['binlogs'], 'archive' | 'interval' | 'rpo'>;
  verification: Pick<ClusterConfig['verification'], 'afterBackup'>;
  /** The storage's Object Lock: how many days each backup and binlog is kept from deletion (absent: none). */
  objectLockDays?: number;
}

export function clusterSettings(cluster: ClusterConfig, deployment: string): ClusterSettings {
  return {
    name: cluster.name,
    taskQueue: hostTaskQueue(cluster, deployment),
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
