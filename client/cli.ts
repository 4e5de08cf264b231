#!/usr/bin/env node
/**
 * The operator's CLI over @temporalio/client. Connection settings follow Temporal's conventions
 * (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TLS, profiles). Exit codes:
 * 0 done; 1 the work failed; 2 the request was refused (bad arguments, configuration or input);
 * 3 Temporal could not be reached.
 */
import { Command, Option } from 'commander';
import { ApplicationFailure, WorkflowFailedError, type Client } from '@temporalio/client';
import { ConfigError, loadConfig } from '../activities/config-file.js';
import type { Config } from '../domain/config.js';
import { formatTimestamp } from '../domain/names.js';
import { isRefusal } from '../domain/failures.js';
import { parseWeekSchedule } from '../domain/week.js';
import type { BackupListing, BackupResult, ClusterCatalog, DeletionResult, RestoreResult, RetentionResult } from '../workflows/index.js';
import { follow, formatBytes } from './follow.js';
import { setIncremental } from './config-edit.js';
import { connectClient } from './connection.js';
import { applySchedules, changed, clusterScheduleIds, describeClusterSchedules, pauseSchedules, resumeSchedules, triggerSchedule, type ApplyReport } from './schedules.js';

export const ExitCode = { ok: 0, failed: 1, refused: 2, unreachable: 3 } as const;

/** An error the CLI reports in one line, with the exit code scripts can rely on. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

interface GlobalOptions {
  config: string;
}

const program = new Command()
  .name('chainbackup')
  .description('Physical incremental backups of MariaDB and MySQL, orchestrated by Temporal')
  .option('-c, --config <path>', 'configuration file', process.env.CHAINBACKUP_CONFIG ?? 'chainbackup.yaml')
  .showHelpAfterError()
  .exitOverride();

async function config(): Promise<Config> {
  return loadConfig(program.opts<GlobalOptions>().config);
}

function knownCluster(config: Config, name: string): string {
  if (!config.clusters.some((cluster) => cluster.name === name)) {
    throw new CliError(`unknown cluster "${name}": ${program.opts<GlobalOptions>().config} lists ${config.clusters.map((cluster) => cluster.name).join(', ')}`, ExitCode.refused);
  }
  return name;
}

let openClient: Client | undefined;
async function client(): Promise<Client> {
  if (!openClient) {
    try {
      openClient = await connectClient();
    } catch (error) {
      throw new CliError(`cannot reach Temporal (${(error as Error).message}); set TEMPORAL_ADDRESS or a profile`, ExitCode.unreachable);
    }
  }
  return openClient;
}

function print(json: boolean | undefined, value: unknown, human: () => string): void {
  console.log(json ? JSON.stringify(value, null, 2) : human());
}

function formatReport(report: ApplyReport): string {
  const lines = [
    ...report.created.map((id) => `created    ${id}`),
    ...report.updated.map((id) => `updated    ${id}`),
    ...report.deleted.map((id) => `deleted    ${id}`),
    ...report.unchanged.map((id) => `unchanged  ${id}`),
  ];
  return [...lines, changed(report) ? 'schedules now match the configuration' : 'no change: schedules already match the configuration'].join('\n');
}

const schedule = program.command('schedule').description('Temporal Schedules of the weekly cadence');

schedule
  .command('apply')
  .description('create, update and delete schedules so they match the configuration')
  .option('--json', 'print the report as JSON')
  .action(async (options: { json?: boolean }) => {
    const report = await applySchedules(await client(), await config());
    print(options.json, report, () => formatReport(report));
  });

schedule
  .command('describe <cluster>')
  .description("show a cluster's schedules: cadence, state, next and recent runs")
  .option('--json', 'print JSON')
  .action(async (cluster: string, options: { json?: boolean }) => {
    const name = knownCluster(await config(), cluster);
    const views = await describeClusterSchedules(await client(), name);
    print(options.json, views, () =>
      views.length === 0
        ? `cluster ${name} has no schedules: run \`chainbackup schedule apply\``
        : views
            .map((view) =>
              [
                `${view.id}  ${view.type} backups, ${view.cadence}${view.jitterSeconds > 0 ? `, starting up to ${view.jitterSeconds} s later` : ''}${view.paused ? '  [PAUSED]' : ''}`,
                view.note ? `  note: ${view.note}` : '',
                `  next: ${view.nextRuns.join(', ') || 'none'}`,
                ...view.recentRuns.map((run) => `  ran:  ${run.scheduledAt}  ${run.workflowId}`),
              ]
                .filter(Boolean)
                .join('\n'),
            )
            .join('\n'),
    );
  });

async function existingScheduleIds(cluster: string): Promise<string[]> {
  const name = knownCluster(await config(), cluster);
  const ids = await clusterScheduleIds(await client(), name);
  if (ids.length === 0) throw new CliError(`cluster ${name} has no schedules: run \`chainbackup schedule apply\` first`, ExitCode.refused);
  return ids;
}

schedule
  .command('pause <cluster>')
  .description("pause a cluster's schedules")
  .option('--note <text>', 'why, shown in the Web UI', 'paused from the chainbackup CLI')
  .action(async (cluster: string, options: { note: string }) => {
    const ids = await existingScheduleIds(cluster);
    await pauseSchedules(await client(), ids, options.note);
    console.log(ids.map((id) => `paused   ${id}`).join('\n'));
  });

schedule
  .command('resume <cluster>')
  .description("resume a cluster's schedules")
  .option('--note <text>', 'why, shown in the Web UI', 'resumed from the chainbackup CLI')
  .action(async (cluster: string, options: { note: string }) => {
    const ids = await existingScheduleIds(cluster);
    await resumeSchedules(await client(), ids, options.note);
    console.log(ids.map((id) => `resumed  ${id}`).join('\n'));
  });

schedule
  .command('trigger <cluster>')
  .description("run one of a cluster's schedules now")
  .addOption(new Option('--type <type>', 'which schedule').choices(['full', 'incremental']).default('full'))
  .action(async (cluster: string, options: { type: 'full' | 'incremental' }) => {
    const ids = await existingScheduleIds(cluster);
    const id = ids.find((candidate) => candidate.endsWith(`-${options.type}`));
    if (!id) throw new CliError(`cluster ${cluster} has no ${options.type} schedule (incremental backups are off, or every day is a full-backup day)`, ExitCode.refused);
    await triggerSchedule(await client(), id);
    console.log(`triggered ${id}`);
  });

const incremental = program.command('incremental').description('switch incremental backups on or off for a cluster (edits the configuration, then applies it)');

async function editAndApply(cluster: string, setting: Parameters<typeof setIncremental>[2], json: boolean | undefined): Promise<void> {
  const path = program.opts<GlobalOptions>().config;
  knownCluster(await config(), cluster);
  const edited = await setIncremental(path, cluster, setting);
  const report = await applySchedules(await client(), edited);
  print(json, report, () => `${path}: incremental backups ${setting.enabled ? `on, full backups on ${setting.fullBackupWeekSchedule}` : 'off, a full backup every day'}\n${formatReport(report)}`);
}

incremental
  .command('enable <cluster>')
  .description('full backups on the listed days, increments on the others')
  .requiredOption('--days <days>', 'full-backup days, comma-separated mon..sun, e.g. mon,thu')
  .option('--json', 'print the apply report as JSON')
  .action(async (cluster: string, options: { days: string; json?: boolean }) => {
    const week = parseWeekSchedule(options.days);
    if (!week.ok) throw new CliError(`--days "${options.days}": ${week.reason}`, ExitCode.refused);
    await editAndApply(cluster, { enabled: true, fullBackupWeekSchedule: options.days }, options.json);
  });

incremental
  .command('disable <cluster>')
  .description('a full backup every day')
  .option('--json', 'print the apply report as JSON')
  .action(async (cluster: string, options: { json?: boolean }) => {
    await editAndApply(cluster, { enabled: false }, options.json);
  });

/** The innermost application failure of a failed workflow, as one line and an exit code. */
function workflowFailure(error: unknown, workflowId: string): CliError | undefined {
  if (!(error instanceof WorkflowFailedError)) return undefined;
  let cause: unknown = error.cause;
  let application: ApplicationFailure | undefined;
  const messages: string[] = [];
  while (cause instanceof Error) {
    if (cause instanceof ApplicationFailure) application ??= cause;
    messages.push(cause.message);
    cause = cause.cause;
  }
  const refused = isRefusal(application?.type);
  const message = application ? `${application.type ?? 'failed'}: ${application.message}` : messages.join(': ') || error.message;
  return new CliError(`${refused ? 'refused' : 'failed'} (workflow ${workflowId}): ${message}`, refused ? ExitCode.refused : ExitCode.failed);
}

interface RunOptions {
  wait: boolean;
  json?: boolean;
}

/** Starts a workflow with an id that says cluster and purpose; follows it unless --no-wait. */
async function run<T>(workflowType: string, workflowId: string, args: unknown, summary: string, options: RunOptions, describe: (result: T) => string): Promise<void> {
  const { temporal } = await config();
  const handle = await (await client()).workflow.start(workflowType, { taskQueue: temporal.taskQueue, workflowId, args: [args], staticSummary: summary });
  if (!options.wait) {
    print(options.json, { workflowId, runId: handle.firstExecutionRunId }, () => workflowId);
    return;
  }
  try {
    const result = await follow<T>(handle, options.json === true);
    print(options.json, result, () => describe(result));
  } catch (error) {
    throw workflowFailure(error, workflowId) ?? error;
  }
}

const stamp = () => formatTimestamp(Date.now());
const waitOptions = (command: Command) => command.option('--no-wait', 'print the workflow id and return at once').option('--json', 'print the result as JSON');

waitOptions(
  program
    .command('backup <cluster>')
    .description('take a backup now: a full one, or an increment of the newest (or --base) chain')
    .addOption(new Option('--type <type>', 'backup type').choices(['full', 'incremental']).default('incremental'))
    .option('--base <backup>', 'full backup whose chain the increment continues'),
).action(async (cluster: string, options: RunOptions & { type: 'full' | 'incremental'; base?: string }) => {
  knownCluster(await config(), cluster);
  const request = { cluster, type: options.type, ...(options.base ? { baseBackupName: options.base } : {}) };
  await run<BackupResult>('backup', `backup-${cluster}-${options.type}-${stamp()}`, request, `${options.type} backup of ${cluster} (chainbackup CLI)`, options, (result) =>
    [`${result.name}  ${result.type}, LSN ${result.fromLsn} to ${result.toLsn} (redo to ${result.lastLsn}), ${formatBytes(result.sizeBytes)} stored (${formatBytes(result.streamBytes)} streamed) in ${result.durationSeconds.toFixed(1)} s`, `  at ${result.storage}/${result.path}`].join('\n'),
  );
});

async function backupPath(cluster: string, name: string): Promise<{ storage: Config['clusters'][number]['storage']; path: string }> {
  const entry = (await config()).clusters.find((candidate) => candidate.name === cluster);
  if (!entry) throw new CliError(`unknown cluster "${cluster}"`, ExitCode.refused);
  const listing = await readCatalog(cluster, name);
  const found = [...listing.chains.flatMap((chain) => [chain.base, ...chain.increments]), ...listing.uncommitted].find((backup) => backup.name === name);
  if (!found) throw new CliError(`backup ${name} is not in ${listing.storage}`, ExitCode.refused);
  return { storage: entry.storage, path: found.path };
}

waitOptions(
  program
    .command('restore <cluster> <backup>')
    .description("restore a cluster to a backup (the full backup and every increment up to it); the old datadir is kept")
    .option('--from-cluster <name>', "restore another cluster's backup (read from that cluster's storage)")
    .option('--to-datadir <path>', 'prepare into this new folder instead, without touching the running server'),
).action(async (cluster: string, backup: string, options: RunOptions & { fromCluster?: string; toDatadir?: string }) => {
  knownCluster(await config(), cluster);
  const source = options.fromCluster ? { source: await backupPath(knownCluster(await config(), options.fromCluster), backup) } : { backupName: backup };
  const target = options.toDatadir ? { target: { kind: 'new-datadir', path: options.toDatadir } } : {};
  await run<RestoreResult>('restore', `restore-${cluster}-${stamp()}`, { cluster, ...source, ...target }, `Restore ${cluster} to ${backup} (chainbackup CLI)`, options, (result) =>
    [`restored ${result.cluster} to ${result.restored} (${result.chain.length} backups, ${formatBytes(result.downloadedBytes)} downloaded)`, ...(result.previousDatadir ? [`  the replaced datadir is kept at ${result.previousDatadir}`] : []), ...(result.gtidPosition ? [`  its binlog history starts again at GTID ${result.gtidPosition}: re-point replicas there`] : [])].join('\n'),
  );
});

waitOptions(program.command('verify <cluster> <backup>').description('download, check every sha256 and prepare the chain in a scratch folder, then remove it')).action(
  async (cluster: string, backup: string, options: RunOptions) => {
    knownCluster(await config(), cluster);
    await run<RestoreResult>('restore', `verify-${cluster}-${backup}-${stamp()}`, { cluster, backupName: backup, target: { kind: 'verify' } }, `Verify ${backup} (chainbackup CLI)`, options, (result) =>
      `verified ${result.restored}: ${result.chain.length} backups downloaded (${formatBytes(result.downloadedBytes)}), checksums matched, prepared cleanly`,
    );
  },
);

waitOptions(program.command('delete <cluster> <backup>').description('delete a full backup with its whole chain, or the last increment of a chain')).action(
  async (cluster: string, backup: string, options: RunOptions) => {
    knownCluster(await config(), cluster);
    await run<DeletionResult>('deleteBackup', `delete-${cluster}-${backup}`, { cluster, backupName: backup }, `Delete ${backup} (chainbackup CLI)`, options, (result) =>
      `deleted ${result.removed.join(', ')} (${formatBytes(result.freedBytes)} freed)`,
    );
  },
);

waitOptions(program.command('retention <cluster>').description("apply the cluster's retention now, and sweep orphans").option('--dry-run', 'report only')).action(
  async (cluster: string, options: RunOptions & { dryRun?: boolean }) => {
    knownCluster(await config(), cluster);
    await run<RetentionResult>('retention', `retention-${cluster}-${stamp()}`, { cluster, dryRun: options.dryRun === true }, `Retention of ${cluster} (chainbackup CLI)`, options, (result) =>
      [
        `${result.dryRun ? 'would remove' : 'removed'}: ${result.removed.join(', ') || 'nothing'}`,
        `orphans ${result.dryRun ? 'to sweep' : 'swept'}: ${result.orphans.join(', ') || 'none'}`,
        `kept chains: ${result.keptChains.join(', ') || 'none'}; ${formatBytes(result.freedBytes)} ${result.dryRun ? 'would be ' : ''}freed`,
        ...(result.leftAlone ?? []).map((chain) => `LEFT ALONE (a manifest cannot be read; nothing of it is removed): chain ${chain.base}: ${chain.reasons.join('; ')}`),
      ].join('\n'),
    );
  },
);

async function readCatalog(cluster: string, backupName?: string): Promise<ClusterCatalog> {
  const { temporal } = await config();
  const workflowId = `catalog-${cluster}-${stamp()}`;
  try {
    return await (await client()).workflow.execute<(input: unknown) => Promise<ClusterCatalog>>('catalog', { taskQueue: temporal.taskQueue, workflowId, args: [{ cluster, ...(backupName ? { backupName } : {}) }], staticSummary: `List the backups of ${cluster} (chainbackup CLI)` });
  } catch (error) {
    throw workflowFailure(error, workflowId) ?? error;
  }
}

function age(iso: string | undefined): string {
  if (!iso) return '';
  const hours = (Date.now() - Date.parse(iso)) / 3_600_000;
  return hours < 1 ? `${Math.round(hours * 60)}m` : hours < 48 ? `${Math.round(hours)}h` : `${Math.round(hours / 24)}d`;
}

function listingLine(backup: BackupListing, indent: string): string {
  const lsn = backup.fromLsn !== undefined ? `LSN ${backup.fromLsn}..${backup.toLsn}` : '';
  return `${indent}${backup.name}  ${backup.type}  ${lsn}  ${formatBytes(backup.sizeBytes)}  ${age(backup.finishedAt)}  ${backup.state}${backup.problem ? ` (${backup.problem})` : ''}`;
}

program
  .command('list [clusters...]')
  .description("each cluster's chains as a tree: name, type, LSN range, size, age, state")
  .option('--json', 'print JSON')
  .action(async (clusters: string[], options: { json?: boolean }) => {
    const configured = await config();
    const names = clusters.length > 0 ? clusters.map((name) => knownCluster(configured, name)) : configured.clusters.map((cluster) => cluster.name);
    const catalogs = await Promise.all(names.map((name) => readCatalog(name)));
    print(options.json, catalogs, () =>
      catalogs
        .map((listing) =>
          [
            `${listing.cluster}  (${listing.storage})`,
            ...listing.chains.flatMap((chain) => [listingLine(chain.base, '  '), ...chain.increments.map((increment) => listingLine(increment, '    └ '))]),
            ...listing.uncommitted.map((backup) => listingLine(backup, '  ! ')),
            ...(listing.chains.length + listing.uncommitted.length === 0 ? ['  no backups'] : []),
          ].join('\n'),
        )
        .join('\n\n'),
    );
  });

program
  .command('show <cluster> <backup>')
  .description("a backup's manifest: LSNs, sizes, checksums, tool and server versions, binlog position")
  .option('--json', 'print JSON')
  .action(async (cluster: string, backup: string, options: { json?: boolean }) => {
    knownCluster(await config(), cluster);
    const listing = await readCatalog(cluster, backup);
    if (!listing.manifest) throw new CliError(`backup ${backup} is not a committed backup in ${listing.storage}`, ExitCode.refused);
    const manifest = listing.manifest;
    print(options.json, manifest, () =>
      [
        `${manifest.name}  ${manifest.type} backup of ${manifest.cluster}`,
        `  chain:    base ${manifest.base}, parent ${manifest.parent ?? '(none)'}`,
        `  LSN:      ${manifest.fromLsn} to ${manifest.toLsn} (last ${manifest.lastLsn})`,
        `  taken:    ${manifest.startedAt} to ${manifest.finishedAt} by ${manifest.tool.name} ${manifest.tool.version ?? ''} on ${manifest.serverVersion}`,
        `  size:     ${formatBytes(manifest.sizeBytes)} stored, ${formatBytes(manifest.streamBytes)} streamed, compression ${manifest.compression}, encryption ${manifest.encryption}`,
        `  binlog:   ${manifest.binlog ? `${manifest.binlog.file}:${manifest.binlog.position}${manifest.binlog.gtid ? ` (GTID ${manifest.binlog.gtid})` : ''}` : 'not recorded'}`,
        ...manifest.objects.map((object) => `  object:   ${object.name}  ${object.size} bytes  sha256 ${object.sha256}`),
      ].join('\n'),
    );
  });

async function main(argv: string[]): Promise<number> {
  try {
    await program.parseAsync(argv);
    return ExitCode.ok;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'commander.helpDisplayed' || code === 'commander.version' || code === 'commander.help') return ExitCode.ok;
    if (code?.startsWith('commander.')) return ExitCode.refused; // commander already printed the problem
    if (error instanceof CliError) {
      console.error(`chainbackup: ${error.message}`);
      return error.exitCode;
    }
    if (error instanceof ConfigError) {
      console.error(`chainbackup: ${error.message}`);
      return ExitCode.refused;
    }
    console.error(`chainbackup: ${error instanceof Error ? error.message : String(error)}`);
    return ExitCode.failed;
  } finally {
    await openClient?.connection.close();
  }
}

process.exitCode = await main(process.argv);
