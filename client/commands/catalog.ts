/** `list` and `show`: what a cluster's storage holds, read by the `catalog` workflow on the cluster's host. */
import type { PointInTimeWindow } from '../../domain/point-in-time.js';
import type { Command } from 'commander';
import type { Config } from '../../domain/config.js';
import { formatTimestamp } from '../../domain/names.js';
import { WorkflowId } from '../../domain/workflow-contract.js';
import { catalog, type BackupListing, type ClusterCatalog } from '../../workflows/index.js';
import { CliError, ExitCode, print, type CliContext } from '../cli-context.js';
import { formatBytes } from '../../domain/units.js';

export async function readCatalog(cli: CliContext, cluster: string, backupName?: string): Promise<ClusterCatalog> {
  return cli.readOnly(catalog, { workflowId: WorkflowId.catalog(cluster, formatTimestamp(Date.now())), args: [{ cluster, ...(backupName ? { backupName } : {}) }], summary: `List the backups of ${cluster} (chainbackup CLI)` });
}

/** The storage a configured cluster keeps its backups and binlog archive in. */
export async function storageOf(cli: CliContext, cluster: string): Promise<Config['clusters'][number]['storage']> {
  const entry = (await cli.config()).clusters.find((candidate) => candidate.name === cluster);
  if (!entry) throw new CliError(`unknown cluster "${cluster}"`, ExitCode.refused);
  return entry.storage;
}

/** Where one of a cluster's backups lives: its storage and folder, for a restore from another cluster. */
export async function backupPath(cli: CliContext, cluster: string, name: string): Promise<{ storage: Config['clusters'][number]['storage']; path: string }> {
  const storage = await storageOf(cli, cluster);
  const listing = await readCatalog(cli, cluster, name);
  const found = [...listing.chains.flatMap((chain) => [chain.base, ...chain.increments]), ...listing.uncommitted].find((backup) => backup.name === name);
  if (!found) throw new CliError(`backup ${name} is not in ${listing.storage}`, ExitCode.refused);
  return { storage, path: found.path };
}

function age(iso: string | undefined): string {
  if (!iso) return '';
  const hours = (Date.now() - Date.parse(iso)) / 3_600_000;
  return hours < 1 ? `${Math.round(hours * 60)}m` : hours < 48 ? `${Math.round(hours)}h` : `${Math.round(hours / 24)}d`;
}

/** A backup's verification as `list` shows it. */
function verificationLabel(backup: BackupListing): string {
  if (backup.verification?.result === 'passed') return `  verified ${age(backup.verification.verifiedAt)} ago`;
  if (backup.verification?.result === 'failed') return `  VERIFICATION FAILED ${age(backup.verification.verifiedAt)} ago: ${backup.verification.problems.join('; ')}`;
  if (backup.verificationProblem) return `  unverified (${backup.verificationProblem})`;
  return backup.state === 'committed' ? '  unverified' : '';
}

function listingLine(backup: BackupListing, indent: string): string {
  const lsn = backup.fromLsn !== undefined ? `LSN ${backup.fromLsn}..${backup.toLsn}` : '';
  const pin = backup.pinned ? `  PINNED${backup.pinned.note ? ` (${backup.pinned.note})` : ''}` : '';
  return `${indent}${backup.name}  ${backup.type}  ${lsn}  ${formatBytes(backup.sizeBytes)}  ${age(backup.finishedAt)}  ${backup.state}${backup.problem ? ` (${backup.problem})` : ''}${pin}${verificationLabel(backup)}`;
}

export function registerCatalogCommands(program: Command, cli: CliContext): void {
  program
    .command('list [clusters...]')
    .description("each cluster's chains as a tree: name, type, LSN range, size, age, state")
    .option('--json', 'print JSON')
    .action(async (clusters: string[], options: { json?: boolean }) => {
      const names = clusters.length > 0 ? await Promise.all(clusters.map((name) => cli.knownCluster(name))) : (await cli.config()).clusters.map((cluster) => cluster.name);
      const catalogs = await Promise.all(names.map((name) => readCatalog(cli, name)));
      print(options.json, catalogs, () =>
        catalogs
          .map((listing) =>
            [
              `${listing.cluster}  (${listing.storage})`,
              ...listing.chains.flatMap((chain) => [listingLine(chain.base, '  '), ...chain.increments.map((increment) => listingLine(increment, '    └ '))]),
              ...listing.uncommitted.map((backup) => listingLine(backup, '  ! ')),
              ...(listing.chains.length + listing.uncommitted.length === 0 ? ['  no backups'] : []),
              ...(listing.pointInTime === undefined
                ? []
                : listing.pointInTime === null
                  ? ['  point in time: nothing reachable yet (no backup whose binlog position the archive holds)']
                  : windowLines(listing.pointInTime)),
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
      await cli.knownCluster(cluster);
      const listing = await readCatalog(cli, cluster, backup);
      if (!listing.manifest) throw new CliError(`backup ${backup} is not a committed backup in ${listing.storage}`, ExitCode.refused);
      const { manifest, verification } = listing;
      print(options.json, { ...manifest, verification: verification ?? null }, () =>
        [
          `${manifest.name}  ${manifest.type} backup of ${manifest.cluster}`,
          `  chain:    base ${manifest.base}, parent ${manifest.parent ?? '(none)'}`,
          `  LSN:      ${manifest.fromLsn} to ${manifest.toLsn} (last ${manifest.lastLsn})`,
          `  taken:    ${manifest.startedAt} to ${manifest.finishedAt} by ${manifest.tool.name} ${manifest.tool.version ?? ''} on ${manifest.serverVersion}`,
          `  size:     ${formatBytes(manifest.sizeBytes)} stored, ${formatBytes(manifest.streamBytes)} streamed, compression ${manifest.compression}, encryption ${manifest.encryption}${manifest.encryptionKeyId ? ` (key ${manifest.encryptionKeyId})` : ''}`,
          `  binlog:   ${manifest.binlog ? `${manifest.binlog.file}:${manifest.binlog.position}${manifest.binlog.gtid ? ` (GTID ${manifest.binlog.gtid})` : ''}` : 'not recorded'}`,
          verification
            ? `  verified: ${verification.result === 'passed' ? 'passed' : 'FAILED'} at ${verification.verifiedAt} (${verification.tables ?? '?'} tables${verification.checks?.length ? `, checks ${verification.checks.join(', ')}` : ''}, ${verification.durationSeconds ?? '?'} s) on ${verification.worker} by ${verification.workflowId}${verification.problems.map((problem) => `\n            ${problem}`).join('')}`
            : '  verified: never (chainbackup verify)',
          ...manifest.objects.map((object) => `  object:   ${object.name}  ${object.size} bytes  sha256 ${object.sha256}`),
        ].join('\n'),
      );
    });
}

/** Each stretch a restore to a point reaches, as a restore decides, and each gap with what it makes unreachable. */
function windowLines(window: PointInTimeWindow): string[] {
  const current = window.history ?? 0;
  const labelled = window.ranges.some((range) => range.history !== current) || current > 0;
  return [
    ...window.ranges.map((range) => `  point in time: ${range.from} to ${range.to}${labelled ? (range.history === current ? ' (since the last in-place restore)' : ' (before the last in-place restore)') : ''}`),
    ...window.gaps.map((gap) => {
      const next = window.ranges.find((range) => range.from > (gap.from ?? gap.to ?? ''));
      return `    GAP after ${gap.after}: binlogs from ${gap.from ?? '?'} to ${gap.to ?? '?'} purged before they were archived: unreachable from ${gap.from ?? '?'} until ${next ? next.from : 'the next backup'}`;
    }),
  ];
}
