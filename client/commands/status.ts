/** `status`: each cluster's health, checked against the `health` rules of its configuration (exit 4 when one is broken). */
import type { Command } from 'commander';
import { buildInfo } from '../../config/release.js';
import { brokenRules, healthWarnings, prometheusText, type ClusterStatus } from '../../domain/health.js';
import { formatTimestamp } from '../../domain/names.js';
import { WorkflowId } from '../../domain/workflow-contract.js';
import { clusterStatus } from '../../workflows/index.js';
import { CliError, ExitCode, type CliContext } from '../cli-context.js';
import { formatAge, formatBytes, formatInZone, formatLag } from '../../domain/units.js';

async function readStatus(cli: CliContext, cluster: string): Promise<ClusterStatus> {
  const { clusters } = await cli.config();
  const health = await cli.readOnly(clusterStatus, { workflowId: WorkflowId.status(cluster, formatTimestamp(Date.now())), args: [{ cluster }], summary: `Health of ${cluster} (chainbackup CLI)` });
  // The rules are this configuration's: a monitoring host may hold stricter ones than the workers.
  const rules = clusters.find((entry) => entry.name === cluster)?.health ?? {};
  return { health, broken: brokenRules(health, rules), warnings: healthWarnings(health, rules) };
}

const age = formatAge;

function describe({ health, broken, warnings = [] }: ClusterStatus): string {
  const pitr = health.pointInTime;
  return [
    `${health.cluster}  ${broken.length === 0 ? 'OK' : `UNHEALTHY (${broken.length} rule${broken.length === 1 ? '' : 's'} broken)`}`,
    `  newest backup:    ${health.newestBackup ? `${health.newestBackup.name} (${health.newestBackup.type}), ${age(health.newestBackup.ageSeconds)} old` : 'none'}`,
    `  newest verified:  ${health.newestVerified ? `${health.newestVerified.name}, ${age(health.newestVerified.ageSeconds)} old (verified ${health.newestVerified.verifiedAt})` : 'none'}`,
    ...health.failedVerifications.map((failed) => `  FAILED verification: ${failed.name} at ${failed.verifiedAt}: ${failed.problems.join('; ')}`),
    `  failures since:   ${health.failuresSinceBackup.length === 0 ? 'none' : health.failuresSinceBackup.map((failure) => `${failure.workflowId} (${failure.type}, ${failure.closedAt})`).join(', ')}`,
    `  running now:      ${health.running.length === 0 ? 'nothing' : health.running.map((work) => `${work.workflowId} (${work.type})${work.phase ? `: ${work.phase}` : ''}`).join('; ')}`,
    `  schedules:        ${health.schedules.length === 0 ? 'none' : health.schedules.map((schedule) => `${schedule.type} ${schedule.paused ? 'PAUSED (no run until resumed)' : `next ${schedule.nextRun ? formatInZone(schedule.nextRun, schedule.timezone ?? 'UTC') : '(none)'}`}`).join(', ')}`,
    ...(health.integrity
      ? [
          `  integrity:        ${health.integrity.authenticated ? `records signed and checked${health.integrity.problems.length > 0 ? `; ${health.integrity.problems.length} fail the check` : ', all authentic'}` : `none: records are not signed, so whoever can write to ${health.storage.label} is trusted (configure integrity or encryption keys; docs/security.md)`}`,
        ]
      : []),
    `  storage:          ${formatBytes(health.storage.committedBytes)} in ${health.storage.chains} chain${health.storage.chains === 1 ? '' : 's'}${health.storage.uncommittedBytes > 0 ? ` (+ ${formatBytes(health.storage.uncommittedBytes)} uncommitted)` : ''} at ${health.storage.label}`,
    ...(pitr
      ? [
          `  point in time:    ${pitr.window ? `${pitr.window.from} to ${pitr.window.to}${pitr.window.gaps > 0 ? ` (${pitr.window.gaps} gaps: see list)` : ''}` : 'nothing reachable yet'}; archive ${pitr.failing ? `FAILING (${pitr.lastError ?? '?'}), ` : ''}${pitr.lagSeconds === undefined ? 'did not answer' : `${formatLag(pitr.lagSeconds)} behind${pitr.caughtUp ? ', caught up' : ''}`}`,
        ]
      : []),
    ...(health.keptDatadirs && health.keptDatadirs.count > 0
      ? [`  kept datadirs:    ${health.keptDatadirs.count}, ${formatBytes(health.keptDatadirs.bytes)}${health.keptDatadirs.diskBytes > 0 ? ` (${Math.round((health.keptDatadirs.bytes / health.keptDatadirs.diskBytes) * 1000) / 10}% of the disk)` : ''}, oldest ${health.keptDatadirs.oldest ?? '?'}`]
      : []),
    ...broken.map((rule) => `  BROKEN ${rule.rule}: ${rule.message}`),
    ...warnings.map((rule) => `  WARNING ${rule.rule}: ${rule.message}`),
  ].join('\n');
}

export function registerStatusCommand(program: Command, cli: CliContext): void {
  program
    .command('status [clusters...]')
    .description(
      "each cluster's health: newest backup and newest verified one, failures since, running work, schedules, storage used, the point-in-time window and archive lag; exits 4 naming each broken rule of the `health` configuration",
    )
    .option('--json', 'print JSON')
    .option('--prometheus', "print Prometheus's text format (for a textfile collector)")
    .action(async (clusters: string[], options: { json?: boolean; prometheus?: boolean }) => {
      const names = clusters.length > 0 ? await Promise.all(clusters.map((name) => cli.knownCluster(name))) : (await cli.config()).clusters.map((cluster) => cluster.name);
      const statuses = await Promise.all(names.map((name) => readStatus(cli, name)));
      if (options.prometheus) process.stdout.write(prometheusText(statuses.map((status) => ({ cluster: status.health.cluster, status, up: true, readAtMs: Date.parse(status.health.checkedAt) })), buildInfo));
      else console.log(options.json ? JSON.stringify(statuses, null, 2) : statuses.map(describe).join('\n\n'));
      const broken = statuses.flatMap((status) => status.broken.map((rule) => `${status.health.cluster} ${rule.rule}`));
      if (broken.length > 0) throw new CliError(`unhealthy: ${broken.join(', ')}`, ExitCode.unhealthy);
    });
}
