/**
 * A cluster's health as `chainbackup status` and the metrics exporter report it: the facts (gathered
 * by client/status.ts from storage and Temporal), the rules of the configuration they break, and the
 * Prometheus text they are exported as.
 */
import { durationMs, type ClusterConfig } from './config.js';
import { formatAge, formatLag, formatSpan } from './units.js';

export interface ClusterHealth {
  cluster: string;
  /** When the facts were gathered (ages are as of this moment). */
  checkedAt: string;
  storage: { label: string; committedBytes: number; uncommittedBytes: number; chains: number };
  /** `sizeBytes` and `durationSeconds` are absent from workers before they were reported. */
  newestBackup: { name: string; type: string; finishedAt: string; ageSeconds: number; sizeBytes?: number; durationSeconds?: number } | null;
  /** The newest backup whose newest verification passed (its age is the backup's). */
  newestVerified: { name: string; finishedAt: string; verifiedAt: string; ageSeconds: number } | null;
  /** The verification that ran last, of any backup, and its result (absent from workers before it was reported). */
  lastVerification?: { name: string; verifiedAt: string; passed: boolean } | null;
  /** Backups of the newest chain whose newest verification failed: restores and increments refuse them. */
  failedVerifications: { name: string; verifiedAt: string; problems: string[] }[];
  /** Backup workflows that failed or timed out since the newest committed backup finished. */
  failuresSinceBackup: { workflowId: string; type: string; closedAt: string }[];
  /** Work running on the cluster now, with its phase when its worker answered. */
  running: { workflowId: string; type: string; phase?: string }[];
  /** `timezone` is the calendar's (absent from workers before it was reported). */
  schedules: { id: string; type: string; paused: boolean; timezone?: string; nextRun?: string }[];
  /** The datadirs in-place restores kept beside the datadir, and the disk they are on (absent from workers before they were weighed). */
  keptDatadirs?: { count: number; bytes: number; diskBytes: number; oldest?: string };
  /** Clusters that archive their binlog: the recoverable window (null: nothing reachable yet) and how far the archive is behind. */
  pointInTime?: {
    /** `unreachableFrom`: binlogs were lost after the newest backup, so no point from then on is reachable until the next backup. */
    window: { from: string; to: string; gaps: number; unreachableFrom?: { from: string; after: string } } | null;
    /** Seconds since the archive last held everything the server had logged (undefined: the archiver did not answer). */
    lagSeconds?: number;
    caughtUp?: boolean;
    lastError?: string;
    /** The archiver's rounds fail now (storage or the server unreachable): the archive falls behind until one succeeds. */
    failing?: boolean;
    /** A streamed archive's recovery point objective (binlogs.rpo), in seconds: its lag above it breaks the rule `binlogs.rpo`. */
    rpoSeconds?: number;
  };
  /**
   * Whether the worker signs and checks the store's records (it holds keys), and every record that
   * fails the check (absent from workers before records were signed).
   */
  integrity?: { authenticated: boolean; problems: string[] };
}

/** A cluster's `health` rules (any of them may be absent). */
export type HealthRules = Partial<ClusterConfig['health']>;

/** A cluster's health and the rules of a configuration it breaks. */
export interface ClusterStatus {
  health: ClusterHealth;
  broken: BrokenRule[];
  /** Rules that warn without making the cluster unhealthy (the share of the disk kept datadirs take). */
  warnings?: BrokenRule[];
}

export interface BrokenRule {
  /** The configuration key of the rule (`health.newestBackupWithin`, …), or `verification` for a failed verification. */
  rule: string;
  message: string;
}

const ageText = formatAge;

/** The rules a cluster's facts break: those of its `health` configuration, and always a failed verification of its newest chain. */
export function brokenRules(health: ClusterHealth, rules: HealthRules): BrokenRule[] {
  const broken: BrokenRule[] = [];
  if (rules.newestBackupWithin !== undefined) {
    const limit = durationMs(rules.newestBackupWithin) / 1000;
    if (!health.newestBackup) broken.push({ rule: 'health.newestBackupWithin', message: `no committed backup (limit ${rules.newestBackupWithin})` });
    else if (health.newestBackup.ageSeconds > limit) broken.push({ rule: 'health.newestBackupWithin', message: `the newest backup ${health.newestBackup.name} is ${ageText(health.newestBackup.ageSeconds)} old (limit ${rules.newestBackupWithin})` });
  }
  if (rules.newestVerifiedWithin !== undefined) {
    const limit = durationMs(rules.newestVerifiedWithin) / 1000;
    if (!health.newestVerified) broken.push({ rule: 'health.newestVerifiedWithin', message: `no backup has passed a verification (limit ${rules.newestVerifiedWithin})` });
    else if (health.newestVerified.ageSeconds > limit)
      broken.push({ rule: 'health.newestVerifiedWithin', message: `the newest verified backup ${health.newestVerified.name} is ${ageText(health.newestVerified.ageSeconds)} old (limit ${rules.newestVerifiedWithin})` });
  }
  if (rules.maxFailuresSinceBackup !== undefined && health.failuresSinceBackup.length > rules.maxFailuresSinceBackup) {
    broken.push({
      rule: 'health.maxFailuresSinceBackup',
      message: `${health.failuresSinceBackup.length} backups failed since the newest committed one (limit ${rules.maxFailuresSinceBackup}): ${health.failuresSinceBackup.map((failure) => failure.workflowId).join(', ')}`,
    });
  }
  if (rules.archiveLagWithin !== undefined && health.pointInTime) {
    const limit = durationMs(rules.archiveLagWithin) / 1000;
    const { lagSeconds } = health.pointInTime;
    if (lagSeconds === undefined) broken.push({ rule: 'health.archiveLagWithin', message: `the binlog archiver did not answer${health.pointInTime.lastError ? ` (last error: ${health.pointInTime.lastError})` : ''} (limit ${rules.archiveLagWithin})` });
    else if (lagSeconds > limit) broken.push({ rule: 'health.archiveLagWithin', message: `the binlog archive is ${ageText(lagSeconds)} behind (limit ${rules.archiveLagWithin})` });
  }
  const rpo = health.pointInTime?.rpoSeconds;
  if (rpo !== undefined && health.pointInTime) {
    const { lagSeconds, lastError } = health.pointInTime;
    if (lagSeconds === undefined) broken.push({ rule: 'binlogs.rpo', message: `the binlog stream did not report how far behind it is${lastError ? ` (last error: ${lastError})` : ''}: is the host's worker running? (RPO ${formatSpan(rpo)})` });
    else if (lagSeconds > rpo) broken.push({ rule: 'binlogs.rpo', message: `the binlog archive is ${formatLag(lagSeconds)} behind the server, more than its RPO of ${formatSpan(rpo)}${lastError ? ` (last error: ${lastError})` : ''}` });
  }
  const unreachable = health.pointInTime?.window?.unreachableFrom;
  if (unreachable) {
    broken.push({
      rule: 'binlogs.gap',
      message: `binlogs after ${unreachable.after} were purged before they were archived: no point in time from ${unreachable.from} on can be restored until the next backup (take one now)`,
    });
  }
  for (const problem of health.integrity?.problems ?? []) {
    broken.push({ rule: 'integrity', message: `${problem}: whoever can write to the store may have changed it; see docs/security.md` });
  }
  for (const failed of health.failedVerifications) {
    broken.push({ rule: 'verification', message: `${failed.name} failed its verification at ${failed.verifiedAt}: start a new chain` });
  }
  return broken;
}

/** What a cluster's facts warn of: kept datadirs taking more of their disk than `health.keptDatadirsMaxShare`. */
export function healthWarnings(health: ClusterHealth, rules: HealthRules): BrokenRule[] {
  const kept = health.keptDatadirs;
  const limit = rules.keptDatadirsMaxShare;
  if (!kept || limit === undefined || kept.diskBytes === 0 || kept.bytes / kept.diskBytes <= limit) return [];
  const percent = (share: number) => `${Math.round(share * 1000) / 10}%`;
  return [
    {
      rule: 'health.keptDatadirsMaxShare',
      message: `${kept.count} datadir${kept.count === 1 ? '' : 's'} kept by restores take ${percent(kept.bytes / kept.diskBytes)} of the datadir's disk (limit ${percent(limit)}): see \`chainbackup kept list ${health.cluster}\`, remove with \`chainbackup kept remove ${health.cluster} <name>\``,
    },
  ];
}

const label = (value: string) => value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
const seconds = (iso: string) => Math.round(Date.parse(iso) / 1000);

/** One cluster as the metrics endpoint serves it. */
export interface MetricsReading {
  cluster: string;
  /** The newest status read; while its reading fails (storage or Temporal down), the last one that succeeded. */
  status?: ClusterStatus;
  /** Whether the newest reading succeeded. */
  up: boolean;
  /** When `status` was read (ms since the epoch). */
  readAtMs?: number;
  /** Work on the cluster that ended while this process ran, by type and result (counters). */
  endedWork?: { type: string; result: string; count: number }[];
  /** What this process archived of the cluster's binlog (counters). */
  archived?: { files: number; parts: number; bytes: number };
}

/** The release serving the metrics, as the `chainbackup_build_info` series Prometheus's conventions name. */
export interface BuildInfo {
  version: string;
  node: string;
}

/**
 * Prometheus's text format: a gauge per fact, a counter per thing counted, one sample per cluster.
 * A cluster whose reading fails keeps its last values served beside `chainbackup_status_up 0` and the
 * time they were read, so that alerts on backup age, lag or the window keep working through the outage.
 */
export function prometheusText(readings: MetricsReading[], build?: BuildInfo): string {
  type Sample = { labels: Record<string, string>; value: number };
  const families: { name: string; help: string; type: 'gauge' | 'counter'; samples: Sample[] }[] = [];
  const family = (name: string, help: string, type: 'gauge' | 'counter' = 'gauge') => {
    const created = { name, help, type, samples: [] as Sample[] };
    families.push(created);
    return (labels: Record<string, string>, value: number) => created.samples.push({ labels, value });
  };
  const buildInfo = family('chainbackup_build_info', 'The release of chainbackup serving these metrics, and its Node.js (always 1)');
  if (build) buildInfo({ version: build.version, node: build.node }, 1);
  const up = family('chainbackup_status_up', "1 when the cluster's health could be read now (storage and Temporal answered); 0: the values served are the last read");
  const readAt = family('chainbackup_status_read_timestamp_seconds', 'When the values served for the cluster were read');
  const healthy = family('chainbackup_healthy', 'Whether no health rule of the cluster is broken (1) or one is (0)');
  const brokenCount = family('chainbackup_broken_rules', 'Health rules of the cluster that are broken');
  const lastBackup = family('chainbackup_last_backup_timestamp_seconds', 'When the newest committed backup finished');
  const lastBackupDuration = family('chainbackup_last_backup_duration_seconds', 'How long the newest committed backup took');
  const lastBackupSize = family('chainbackup_last_backup_size_bytes', 'Bytes the newest committed backup stored');
  const lastVerified = family('chainbackup_last_verified_backup_timestamp_seconds', 'When the newest backup that passed a verification finished');
  const lastVerificationRun = family('chainbackup_last_verification_timestamp_seconds', 'When the verification that ran last (of any backup) finished');
  const lastVerificationPassed = family('chainbackup_last_verification_passed', 'Whether the verification that ran last passed (1) or failed (0)');
  const failedVerifications = family('chainbackup_failed_verifications', 'Backups of the newest chain whose verification failed');
  const failures = family('chainbackup_backup_failures_since_last_backup', 'Backup workflows that failed since the newest committed backup');
  const running = family('chainbackup_running_work', 'Workflows running on the cluster now, by type');
  const endedWork = family('chainbackup_work_ended_total', 'Work on the cluster that ended while this worker ran, by type and result (success, refused, failed, timed_out, cancelled, terminated)', 'counter');
  const storage = family('chainbackup_storage_bytes', 'Bytes the cluster keeps in its storage');
  const chains = family('chainbackup_chains', 'Committed chains in storage');
  const paused = family('chainbackup_schedule_paused', 'Whether the schedule is paused (1) or not (0)');
  const nextRun = family('chainbackup_schedule_next_run_timestamp_seconds', 'When the schedule runs next');
  const windowStart = family('chainbackup_pitr_window_start_timestamp_seconds', 'The oldest moment a point-in-time restore reaches');
  const windowEnd = family('chainbackup_pitr_window_end_timestamp_seconds', 'The newest moment a point-in-time restore reaches');
  const keptBytes = family('chainbackup_kept_datadir_bytes', 'Bytes of the datadirs in-place restores kept beside the datadir');
  const lag = family('chainbackup_binlog_archive_lag_seconds', 'Seconds since the binlog archive last held everything the server had logged');
  const archiveFailing = family('chainbackup_binlog_archive_failing', "Whether the binlog archiver's rounds fail now (1: storage or the server unreachable)");
  const archivedFiles = family('chainbackup_binlog_files_archived_total', 'Whole binlog files this worker archived', 'counter');
  const archivedParts = family('chainbackup_binlog_parts_archived_total', 'Parts of open binlog files this worker stored (binlogs.rpo)', 'counter');
  const archivedBytes = family('chainbackup_binlog_archived_bytes_total', 'Binlog bytes this worker stored, before compression (a streamed file counts as its parts, then whole)', 'counter');
  const authenticated = family('chainbackup_records_authenticated', 'Whether the worker signs and checks the records in storage (1: it holds keys)');
  const integrityProblems = family('chainbackup_integrity_problems', 'Records in storage that fail authentication');
  for (const reading of readings) {
    const cluster = { cluster: reading.cluster };
    up(cluster, reading.up ? 1 : 0);
    for (const work of reading.endedWork ?? []) endedWork({ ...cluster, type: work.type, result: work.result }, work.count);
    if (reading.archived) {
      archivedFiles(cluster, reading.archived.files);
      archivedParts(cluster, reading.archived.parts);
      archivedBytes(cluster, reading.archived.bytes);
    }
    if (!reading.status) continue;
    const { health, broken } = reading.status;
    if (reading.readAtMs !== undefined) readAt(cluster, Math.round(reading.readAtMs / 1000));
    healthy(cluster, broken.length === 0 ? 1 : 0);
    brokenCount(cluster, broken.length);
    if (health.newestBackup) {
      lastBackup(cluster, seconds(health.newestBackup.finishedAt));
      if (health.newestBackup.durationSeconds !== undefined) lastBackupDuration(cluster, health.newestBackup.durationSeconds);
      if (health.newestBackup.sizeBytes !== undefined) lastBackupSize(cluster, health.newestBackup.sizeBytes);
    }
    if (health.newestVerified) lastVerified(cluster, seconds(health.newestVerified.finishedAt));
    if (health.lastVerification) {
      lastVerificationRun(cluster, seconds(health.lastVerification.verifiedAt));
      lastVerificationPassed(cluster, health.lastVerification.passed ? 1 : 0);
    }
    failedVerifications(cluster, health.failedVerifications.length);
    failures(cluster, health.failuresSinceBackup.length);
    for (const type of ['full', 'incremental', 'restore', 'verify', 'delete', 'retention']) running({ ...cluster, type }, health.running.filter((work) => work.type === type).length);
    storage({ ...cluster, state: 'committed' }, health.storage.committedBytes);
    storage({ ...cluster, state: 'uncommitted' }, health.storage.uncommittedBytes);
    chains(cluster, health.storage.chains);
    for (const schedule of health.schedules) {
      paused({ ...cluster, schedule: schedule.type }, schedule.paused ? 1 : 0);
      if (schedule.nextRun && !schedule.paused) nextRun({ ...cluster, schedule: schedule.type }, seconds(schedule.nextRun));
    }
    if (health.keptDatadirs) keptBytes(cluster, health.keptDatadirs.bytes);
    if (health.pointInTime?.window) {
      windowStart(cluster, seconds(health.pointInTime.window.from));
      windowEnd(cluster, seconds(health.pointInTime.window.to));
    }
    if (health.pointInTime?.lagSeconds !== undefined) lag(cluster, health.pointInTime.lagSeconds);
    if (health.pointInTime) archiveFailing(cluster, health.pointInTime.failing ? 1 : 0);
    if (health.integrity) {
      authenticated(cluster, health.integrity.authenticated ? 1 : 0);
      integrityProblems(cluster, health.integrity.problems.length);
    }
  }
  return families
    .filter((entry) => entry.samples.length > 0)
    .map((entry) =>
      [
        `# HELP ${entry.name} ${entry.help}`,
        `# TYPE ${entry.name} ${entry.type}`,
        ...entry.samples.map((sample) => `${entry.name}{${Object.entries(sample.labels).map(([key, value]) => `${key}="${label(value)}"`).join(',')}} ${sample.value}`),
      ].join('\n'),
    )
    .join('\n')
    .concat('\n');
}
