/** `kept list` and `kept remove`: the datadirs in-place restores kept beside a cluster's datadir. */
import type { Command } from 'commander';
import { durationMs } from '../../domain/config.js';
import type { KeptDatadirs } from '../../domain/kept-datadirs.js';
import { formatTimestamp } from '../../domain/names.js';
import { formatAge, formatBytes } from '../../domain/units.js';
import { WorkflowId } from '../../domain/workflow-contract.js';
import { keptDatadirs } from '../../workflows/index.js';
import { CliError, ExitCode, print, waitOptions, type CliContext, type RunOptions } from '../cli-context.js';
import { confirmPlan, type ConfirmOptions } from '../confirm.js';

function describeKept(listing: KeptDatadirs): string {
  const total = listing.kept.reduce((sum, entry) => sum + entry.sizeBytes, 0);
  const share = listing.disk.totalBytes > 0 ? ` (${Math.round((total / listing.disk.totalBytes) * 1000) / 10}% of the disk, ${formatBytes(listing.disk.freeBytes)} free)` : '';
  return [
    `${listing.cluster}: ${listing.kept.length} kept datadir${listing.kept.length === 1 ? '' : 's'} beside ${listing.datadir}, ${formatBytes(total)}${share}`,
    ...listing.kept.map((entry) => `  ${entry.name}  ${formatBytes(entry.sizeBytes)}  kept ${formatAge(entry.ageSeconds)} ago (${entry.keptAt})`),
  ].join('\n');
}

export function registerKeptCommands(program: Command, cli: CliContext): void {
  const kept = program.command('kept').description('the datadirs in-place restores kept (<datadir>.before-restore-<time>): list them, remove them');

  kept
    .command('list <cluster>')
    .description('each kept datadir of the cluster, with its size and age, and the share of the disk they take')
    .option('--json', 'print JSON (sizes in bytes)')
    .action(async (cluster: string, options: { json?: boolean }) => {
      await cli.knownCluster(cluster);
      const listing = await cli.readOnly(keptDatadirs, { workflowId: WorkflowId.keptDatadirs(cluster, formatTimestamp(Date.now())), args: [{ cluster }], summary: `Kept datadirs of ${cluster} (chainbackup CLI)` });
      print(options.json, listing, () => describeKept(listing));
    });

  waitOptions(
    kept
      .command('remove <cluster> [names...]')
      .description('remove kept datadirs, by name (as `kept list` shows them), or all of them, or those older than a duration; asks first, or --yes')
      .option('--all', 'every kept datadir of the cluster')
      .option('--older-than <duration>', 'those kept longer ago than this, such as "7d"')
      .option('--yes', 'do it without asking')
      .option('--dry-run', 'print what it would remove, change nothing'),
  ).action(async (cluster: string, names: string[], options: RunOptions & ConfirmOptions & { all?: boolean; olderThan?: string }) => {
    await cli.knownCluster(cluster);
    const ways = [names.length > 0, options.all === true, options.olderThan !== undefined].filter(Boolean).length;
    if (ways !== 1) throw new CliError('kept remove: name the kept datadirs, or give --all, or --older-than <duration> (one of them)', ExitCode.refused);
    let olderThanMs: number | undefined;
    if (options.olderThan !== undefined) {
      try {
        olderThanMs = durationMs(options.olderThan);
      } catch {
        throw new CliError(`--older-than: "${options.olderThan}" is not a duration such as "12h" or "7d"`, ExitCode.refused);
      }
    }
    const listing = await cli.readOnly(keptDatadirs, { workflowId: WorkflowId.keptDatadirs(cluster, formatTimestamp(Date.now())), args: [{ cluster }], summary: `Kept datadirs of ${cluster} (chainbackup CLI)` });
    const chosen = names.length > 0 ? names : listing.kept.filter((entry) => olderThanMs === undefined || entry.ageSeconds * 1000 > olderThanMs).map((entry) => entry.name);
    const unknown = chosen.filter((name) => !listing.kept.some((entry) => entry.name === name));
    if (unknown.length > 0) throw new CliError(`${unknown.map((name) => `"${name}"`).join(', ')}: not ${unknown.length === 1 ? 'a datadir' : 'datadirs'} kept by a restore of ${cluster} (kept: ${listing.kept.map((entry) => entry.name).join(', ') || 'none'}); nothing was removed`, ExitCode.refused);
    if (chosen.length === 0) {
      print(options.json, { ...listing, removed: [], freedBytes: 0 }, () => `nothing to remove\n${describeKept(listing)}`);
      return;
    }
    const sizes = chosen.map((name) => listing.kept.find((entry) => entry.name === name)?.sizeBytes ?? 0);
    const plan = [
      ...chosen.map((name, index) => `removes ${listing.kept.find((entry) => entry.name === name)?.path ?? name} (${formatBytes(sizes[index] ?? 0)})`),
      'the servers they held can no longer be put back; the datadir in use is not touched',
    ];
    if (!(await confirmPlan(`remove ${chosen.length} kept datadir${chosen.length === 1 ? '' : 's'} of ${cluster}`, plan, options))) return;
    await cli.run(keptDatadirs, { workflowId: WorkflowId.keptDatadirs(cluster, formatTimestamp(Date.now())), args: [{ cluster, remove: chosen }], summary: `Remove kept datadirs of ${cluster} (chainbackup CLI)` }, options, (result) =>
      [`removed ${result.removed.join(', ')} (${formatBytes(result.freedBytes)} freed)`, describeKept(result)].join('\n'),
    );
  });
}
