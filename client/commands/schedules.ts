/** `schedule …` and `incremental …`: the weekly cadence as Temporal Schedules. */
import { Option, type Command } from 'commander';
import { formatInZone, formatSpan } from '../../domain/units.js';
import { parseWeekSchedule } from '../../domain/week.js';
import { CliError, ExitCode, print, type CliContext } from '../cli-context.js';
import { setIncremental } from '../config-edit.js';
import { applySchedules, changed, clusterScheduleIds, describeClusterSchedules, pauseSchedules, resumeSchedules, triggerSchedule, type ApplyReport } from '../schedules.js';

function formatReport(report: ApplyReport): string {
  const lines = [
    ...report.created.map((id) => `created    ${id}`),
    ...report.updated.map((id) => `updated    ${id}`),
    ...report.deleted.map((id) => `deleted    ${id}`),
    ...report.unchanged.map((id) => `unchanged  ${id}`),
  ];
  return [...lines, changed(report) ? 'schedules now match the configuration' : 'no change: schedules already match the configuration'].join('\n');
}

export function registerScheduleCommands(program: Command, cli: CliContext): void {
  const schedule = program.command('schedule').description('Temporal Schedules of the weekly cadence');

  schedule
    .command('apply')
    .description('create, update and delete schedules so they match the configuration')
    .option('--json', 'print the report as JSON')
    .action(async (options: { json?: boolean }) => {
      const report = await applySchedules(await cli.client(), await cli.config());
      print(options.json, report, () => formatReport(report));
    });

  schedule
    .command('describe <cluster>')
    .description("show a cluster's schedules: cadence, state, next and recent runs")
    .option('--json', 'print JSON')
    .action(async (cluster: string, options: { json?: boolean }) => {
      const name = await cli.knownCluster(cluster);
      const views = await describeClusterSchedules(await cli.client(), (await cli.config()).temporal.taskQueue, name);
      print(options.json, views, () =>
        views.length === 0
          ? `cluster ${name} has no schedules: run \`chainbackup schedule apply\``
          : views
              .map((view) =>
                [
                  `${view.id}  ${view.type} backups, ${view.cadence}${view.jitterSeconds > 0 ? `, starting up to ${formatSpan(view.jitterSeconds)} later` : ''}${view.paused ? '  [PAUSED]' : ''}`,
                  view.note ? `  note: ${view.note}` : '',
                  `  next: ${view.paused ? 'none while paused (`chainbackup schedule resume` to run again)' : view.nextRuns.map((run) => formatInZone(run, view.timezone)).join(', ') || 'none'}`,
                  ...view.recentRuns.map((run) => `  ran:  ${run.scheduledAt}  ${run.workflowId}`),
                ]
                  .filter(Boolean)
                  .join('\n'),
              )
              .join('\n'),
      );
    });

  async function existingScheduleIds(cluster: string): Promise<string[]> {
    const name = await cli.knownCluster(cluster);
    const ids = await clusterScheduleIds(await cli.client(), (await cli.config()).temporal.taskQueue, name);
    if (ids.length === 0) throw new CliError(`cluster ${name} has no schedules: run \`chainbackup schedule apply\` first`, ExitCode.refused);
    return ids;
  }

  schedule
    .command('pause <cluster>')
    .description("pause a cluster's schedules")
    .option('--note <text>', 'why, shown in the Web UI', 'paused from the chainbackup CLI')
    .action(async (cluster: string, options: { note: string }) => {
      const ids = await existingScheduleIds(cluster);
      await pauseSchedules(await cli.client(), ids, options.note);
      console.log(ids.map((id) => `paused   ${id}`).join('\n'));
    });

  schedule
    .command('resume <cluster>')
    .description("resume a cluster's schedules")
    .option('--note <text>', 'why, shown in the Web UI', 'resumed from the chainbackup CLI')
    .action(async (cluster: string, options: { note: string }) => {
      const ids = await existingScheduleIds(cluster);
      await resumeSchedules(await cli.client(), ids, options.note);
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
      await triggerSchedule(await cli.client(), id);
      console.log(`triggered ${id}`);
    });

  const incremental = program.command('incremental').description('switch incremental backups on or off for a cluster (edits the configuration, then applies it)');

  async function editAndApply(cluster: string, setting: Parameters<typeof setIncremental>[2], json: boolean | undefined): Promise<void> {
    await cli.knownCluster(cluster);
    const edited = await setIncremental(cli.configPath, cluster, setting);
    const report = await applySchedules(await cli.client(), edited);
    print(json, report, () => `${cli.configPath}: incremental backups ${setting.enabled ? `on, full backups on ${setting.fullBackupWeekSchedule}` : 'off, a full backup every day'}\n${formatReport(report)}`);
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
}
