#!/usr/bin/env node
/**
 * The operator's CLI over @temporalio/client. Connection settings follow Temporal's conventions
 * (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TLS, profiles). Exit codes:
 * 0 done; 1 the work failed; 2 the request was refused (bad arguments, configuration or input);
 * 3 Temporal could not be reached.
 */
import { Command, Option } from 'commander';
import type { Client } from '@temporalio/client';
import { ConfigError, loadConfig } from '../activities/config-file.js';
import type { Config } from '../domain/config.js';
import { parseWeekSchedule } from '../domain/week.js';
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
                `${view.id}  ${view.type} backups, ${view.cadence}${view.paused ? '  [PAUSED]' : ''}`,
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
