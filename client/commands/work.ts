/** The commands that start work on a cluster: backup, restore, verify, delete, retention. */
import { Option, type Command } from 'commander';
import { formatTimestamp } from '../../domain/names.js';
import { storageLabel } from '../../domain/config.js';
import { restoreRequestSchema, type RestoreRequestInput } from '../../domain/requests.js';
import { parseWith } from '../../domain/validation.js';
import { WorkflowId } from '../../domain/workflow-contract.js';
import { adoptRecords, backup, deleteBackup, pinBackup, restore, retention, type RestoreResult } from '../../workflows/index.js';
import { CliError, ExitCode, waitOptions, type CliContext, type RunOptions } from '../cli-context.js';
import { formatBytes } from '../../domain/units.js';
import { confirmPlan, type ConfirmOptions } from '../confirm.js';
import type { VerificationReport } from '../../activities/verification.js';
import { backupPath, readCatalog, storageOf } from './catalog.js';

const stamp = () => formatTimestamp(Date.now());

/** A chain up to one backup, as the storage lists it now: names, and the bytes stored; undefined when it is not a committed backup there. */
async function chainUpTo(cli: CliContext, cluster: string, name: string): Promise<{ names: string[]; bytes: number } | undefined> {
  const listing = await readCatalog(cli, cluster);
  for (const chain of listing.chains) {
    const members = [chain.base, ...chain.increments];
    const index = members.findIndex((backup) => backup.name === name);
    if (index < 0) continue;
    const upTo = chain.base.name === name ? members.slice(0, 1) : members.slice(0, index + 1);
    return { names: upTo.map((backup) => backup.name), bytes: upTo.reduce((sum, backup) => sum + backup.sizeBytes, 0) };
  }
  return undefined;
}

/** What an in-place restore of a cluster will do, for the confirmation. */
async function inPlacePlan(cli: CliContext, cluster: string, what: { backupName?: string; fromCluster?: string; point?: string }): Promise<string[]> {
  const entry = (await cli.config()).clusters.find((candidate) => candidate.name === cluster);
  if (!entry) throw new CliError(`unknown cluster "${cluster}"`, ExitCode.refused);
  const chain = what.backupName === undefined ? undefined : await chainUpTo(cli, what.fromCluster ?? cluster, what.backupName);
  const server =
    entry.controller.kind === 'command'
      ? `the server is stopped by \`${entry.controller.stop.join(' ')}\` and started again by \`${entry.controller.start.join(' ')}\``
      : `the server started from ${entry.controller.defaultsFile} is stopped, then started again`;
  return [
    what.point !== undefined
      ? `to ${what.point}: the newest backup before it, then the archived binlogs up to it${what.fromCluster ? `, from the storage of ${what.fromCluster}` : ''}`
      : chain
        ? `chain: ${chain.names.join(' → ')} (${chain.names.length} backups, ${formatBytes(chain.bytes)} stored${what.fromCluster ? `, from the storage of ${what.fromCluster}` : ''})`
        : `backup: ${what.backupName ?? '?'} (not a committed backup in the listing now: the restore will refuse it)`,
    `everything is downloaded, checked and prepared first; then ${server}`,
    `its datadir ${entry.datadir} is replaced; the current one is kept at ${entry.datadir}.before-restore-<time> (never deleted), and put back if anything fails`,
  ];
}

/** Where a restore to a point stops: the second a time was taken to mean, and the last transaction applied. */
function stopLines(result: RestoreResult): string[] {
  return [
    ...(result.pointTakenAs && result.pointInTime !== result.pointTakenAs ? [`  ${result.pointInTime ?? '?'} is taken as the whole second ${result.pointTakenAs}: every transaction logged in it or before it (binlog times are whole seconds)`] : []),
    ...(result.pointInTime !== undefined || result.toGtid !== undefined
      ? [result.lastApplied ? `  the last transaction applied: ${result.lastApplied.gtids}, logged at ${result.lastApplied.loggedAt}` : `  no transaction after the backup's own is applied: the point is ${result.restored}'s state`]
      : []),
  ];
}

/** A restore to a point, planned by the workers without changing anything: the backup, the binlogs and the exact stop. */
async function pointPlan(cli: CliContext, request: RestoreRequestInput): Promise<string[]> {
  const planned = await cli.readOnly(restore, { workflowId: WorkflowId.restore(request.cluster, `plan-${stamp()}`), args: [request], summary: `Plan a restore of ${request.cluster} (chainbackup CLI, changes nothing)` });
  const files = planned.replayFiles ?? [];
  return [`from backup ${planned.restored}, then ${files.length} archived binlog${files.length === 1 ? '' : 's'}${files.length > 0 ? ` (${files[0] ?? ''} to ${files.at(-1) ?? ''})` : ''}`, ...stopLines(planned)];
}

/** What a verification by a real restore found, as one clause. */
function verificationFound(report: VerificationReport): string {
  const inventory = report.inventoryNotCompared ? `no inventory compared: ${report.inventoryNotCompared}` : `${report.inventoryTables} recorded at backup time`;
  const lsn = report.serverLsn ? `, at LSN ${report.serverLsn}` : '';
  const checks = report.checks?.length ? `; checks passed: ${report.checks.join(', ')}` : '';
  return `a throw-away server on it found ${report.tables} tables (${inventory}), each checked and read end to end${lsn}${checks}, in ${report.durationSeconds} s`;
}

const confirmOptions = (command: Command) => command.option('--yes', 'do it without asking').option('--dry-run', 'print what it would do, change nothing');

export function registerWorkCommands(program: Command, cli: CliContext): void {
  waitOptions(
    program
      .command('backup <cluster>')
      .description('take a backup now: a full one, or an increment of the newest (or --base) chain')
      .addOption(new Option('--type <type>', 'backup type').choices(['full', 'incremental']).default('incremental'))
      .option('--base <backup>', 'full backup whose chain the increment continues')
      .option('--accept-failed-verification', 'continue a chain even though one of its backups failed its verification'),
  ).action(async (cluster: string, options: RunOptions & { type: 'full' | 'incremental'; base?: string; acceptFailedVerification?: boolean }) => {
    await cli.knownCluster(cluster);
    const request = { cluster, type: options.type, ...(options.base ? { baseBackupName: options.base } : {}), ...(options.acceptFailedVerification ? { acceptFailedVerification: true } : {}) };
    await cli.run(backup, { workflowId: WorkflowId.backup(cluster, options.type, stamp()), args: [request], summary: `${options.type} backup of ${cluster} (chainbackup CLI)` }, options, (result) =>
      [`${result.name}  ${result.type}, LSN ${result.fromLsn} to ${result.toLsn} (redo to ${result.lastLsn}), ${formatBytes(result.sizeBytes)} stored (${formatBytes(result.streamBytes)} streamed) in ${result.durationSeconds.toFixed(1)} s`, `  at ${result.storage}/${result.path}`,
        ...(result.newChainBecause ? [`  a full backup, starting a new chain: ${result.newChainBecause}`] : []),
        ...(result.verification ? [`  verified after it (verification.afterBackup): ${verificationFound(result.verification)}`] : []),
        ...(result.warnings ?? []).map((warning) => `  WARNING: ${warning}`),
        ...(result.retention
          ? [
              result.retention.failed
                ? `  retention after it failed (${result.retention.workflowId}): ${result.retention.failed}`
                : `  retention after it: removed ${result.retention.removed.join(', ') || 'nothing'}${result.retention.freedBytes > 0 ? ` (${formatBytes(result.retention.freedBytes)} freed)` : ''}${result.retention.keptByPin?.length ? `; kept by a pin: ${result.retention.keptByPin.join(', ')}` : ''}`,
            ]
          : []),
      ].join('\n'),
    );
  });

  const restoreCommand = waitOptions(
    program
      .command('restore <cluster> [backup]')
      .description('restore a cluster to a backup (the full backup and every increment up to it), or with --to-time to a point in time; the old datadir is kept')
      .option('--to-time <time>', 'restore to this moment (ISO 8601 with a zone, e.g. 2026-04-06T14:05:09Z): the newest backup before it, then the archived binlogs up to it')
      .option('--to-gtid <gtid>', 'restore up to and including the transaction with this GTID (e.g. 0-1-1234): the newest backup before it, then the archived binlogs up to it')
      .option('--wait-for-archive <duration>', 'with --to-time or --to-gtid: when the binlog archive does not cover the point yet, wait up to this long for it (e.g. 2m; the archiver closes the binlog at once) instead of refusing')
      .option('--from-cluster <name>', "restore another cluster's backup (read from that cluster's storage)")
      .option('--to-datadir <path>', 'prepare into this new folder instead, without touching the running server')
      .option('--accept-failed-verification', 'restore even though a backup of the chain failed its verification')
      .option('--skip-verification', 'EMERGENCIES ONLY: replace the data in place without first proving the prepared data on a throw-away server'),
  );
  confirmOptions(restoreCommand).action(async (cluster: string, backupName: string | undefined, options: RunOptions & ConfirmOptions & { toTime?: string; toGtid?: string; waitForArchive?: string; fromCluster?: string; toDatadir?: string; acceptFailedVerification?: boolean; skipVerification?: boolean }) => {
    await cli.knownCluster(cluster);
    if ([backupName, options.toTime, options.toGtid].filter((value) => value !== undefined).length !== 1) throw new CliError('restore: give one of a backup name, --to-time <time> or --to-gtid <gtid>', ExitCode.refused);
    // Another cluster's storage: one of its backups, or (to a point or a GTID) its backups and binlog archive.
    const fromCluster = options.fromCluster === undefined ? undefined : await cli.knownCluster(options.fromCluster);
    const archive = fromCluster === undefined ? {} : { source: { storage: await storageOf(cli, fromCluster), cluster: fromCluster } };
    const source =
      options.toTime !== undefined
        ? { pointInTime: options.toTime, ...archive }
        : options.toGtid !== undefined
          ? { gtid: options.toGtid, ...archive }
          : fromCluster !== undefined
            ? { source: await backupPath(cli, fromCluster, backupName as string) }
            : { backupName };
    const request: RestoreRequestInput = {
      cluster,
      ...source,
      ...(options.toDatadir ? { target: { kind: 'new-datadir', path: options.toDatadir } } : {}),
      ...(options.waitForArchive !== undefined ? { waitForArchive: options.waitForArchive } : {}),
      ...(options.acceptFailedVerification ? { acceptFailedVerification: true } : {}),
      ...(options.skipVerification ? { skipVerification: true } : {}),
    };
    if (options.skipVerification && !options.toDatadir) console.error('chainbackup: WARNING: --skip-verification: the prepared data replaces the server\'s without any server having read it first');
    // A request the workflow would refuse is refused here first, naming the field, before any plan is shown.
    const checked = parseWith(restoreRequestSchema, request, 'restore request');
    if (!checked.ok) throw new CliError(checked.message, ExitCode.refused);
    // In place, the running server is stopped and its datadir replaced: say so, and go on only when confirmed.
    const point = options.toTime ?? (options.toGtid !== undefined ? `GTID ${options.toGtid}` : undefined);
    // A point is planned by the workers first (read-only): the plan names the exact stop, and a point out of reach is refused before any question.
    const stop = point !== undefined && options.waitForArchive === undefined ? await pointPlan(cli, { ...request, dryRun: true }) : [];
    if (!options.toDatadir) {
      const plan = await inPlacePlan(cli, cluster, { ...(backupName !== undefined ? { backupName } : {}), ...(fromCluster !== undefined ? { fromCluster } : {}), ...(point !== undefined ? { point } : {}) });
      if (!(await confirmPlan(`restore ${cluster} in place`, [...plan.slice(0, 1), ...stop, ...plan.slice(1)], options))) return;
    } else if (options.dryRun) {
      console.log([`restore ${cluster} into ${options.toDatadir}: ${point ?? backupName ?? '?'}; the running server is not touched`, ...stop, '(dry run: nothing was changed)'].join('\n'));
      return;
    }
    await cli.run(restore, { workflowId: WorkflowId.restore(cluster, stamp()), args: [request], summary: `Restore ${cluster} to ${options.toTime ?? (options.toGtid ? `GTID ${options.toGtid}` : backupName)} (chainbackup CLI)` }, options, (result) => {
      const point = result.pointInTime ?? (result.toGtid ? `GTID ${result.toGtid}` : undefined);
      const reached = point ? `${point}: ${result.restored} and ${result.replayedBinlogs ?? 0} archived binlogs replayed` : result.restored;
      return [
        `restored ${result.cluster}${options.toDatadir ? ` into ${options.toDatadir}` : ''} to ${reached} (${result.chain.length} backups, ${formatBytes(result.downloadedBytes)} downloaded)`,
        ...stopLines(result),
        ...(result.verifiedBeforePause ? [verifiedLine(result.verifiedBeforePause)] : []),
        ...(result.previousDatadir ? [`  the replaced datadir is kept at ${result.previousDatadir}`] : []),
        ...(result.gtidPosition ? [options.toDatadir ? `  the clone is at GTID ${result.gtidPosition}` : `  its binlog history starts again at GTID ${result.gtidPosition}: re-point replicas there`] : []),
      ].join('\n');
    });
  });

  waitOptions(
    program
      .command('verify <cluster> [backup]')
      .description(
        'prove a backup (default: the newest) restores: download and check its chain, prepare it in a scratch folder, start a throw-away server on it, check and read every table, run the configured checks; the outcome is stored beside the backup',
      ),
  ).action(async (cluster: string, backupName: string | undefined, options: RunOptions) => {
    await cli.knownCluster(cluster);
    await cli.run(
      restore,
      { workflowId: WorkflowId.verify(cluster, backupName ?? 'newest', stamp()), args: [{ cluster, ...(backupName ? { backupName } : {}), target: { kind: 'verify' } }], summary: `Verify ${backupName ?? `the newest backup of ${cluster}`} (chainbackup CLI)` },
      options,
      (result) =>
        `verified ${result.restored}: ${result.chain.length} backups downloaded (${formatBytes(result.downloadedBytes)}), checksums matched, prepared cleanly${
          result.verification
            ? `; ${verificationFound(result.verification)}`
            : ''
        }`,
    );
  });

  confirmOptions(waitOptions(program.command('delete <cluster> <backup>').description('delete a full backup with its whole chain (asks first, or --yes), or the last increment of a chain'))).action(
    async (cluster: string, backupName: string, options: RunOptions & ConfirmOptions) => {
      await cli.knownCluster(cluster);
      // A full backup takes its whole chain with it: say what goes, and go on only when confirmed. The plan is the
      // deletion's own (the workflow, planning only), so it also says when the deletion would be refused, and why.
      if (backupName.endsWith('-full') || options.dryRun) {
        const planned = await cli
          .readOnly(deleteBackup, { workflowId: WorkflowId.deletionPlan(cluster, backupName, stamp()), args: [{ cluster, backupName, dryRun: true }], summary: `Plan the deletion of ${backupName} (chainbackup CLI, changes nothing)` })
          .catch((error: unknown) => {
            if (error instanceof CliError && error.exitCode === ExitCode.refused) throw new CliError(`${error.message}\n(${options.dryRun ? 'dry run: ' : ''}nothing was changed)`, ExitCode.refused);
            throw error;
          });
        const plan = [`removes ${planned.removed.join(', ')} (${formatBytes(planned.freedBytes)} stored) from ${storageLabel(await storageOf(cli, cluster))}`, 'restores of these backups are no longer possible'];
        if (!(await confirmPlan(`delete ${backupName}${planned.removed.length > 1 || backupName.endsWith('-full') ? ' and its whole chain' : ''}`, plan, options))) return;
      }
      await cli.run(deleteBackup, { workflowId: WorkflowId.deleteBackup((await cli.config()).temporal.taskQueue, cluster, backupName), args: [{ cluster, backupName }], summary: `Delete ${backupName} (chainbackup CLI)` }, options, (result) =>
        `deleted ${result.removed.join(', ')} (${formatBytes(result.freedBytes)} freed)`,
      );
    },
  );

  waitOptions(program.command('retention <cluster>').description("apply the cluster's retention now, and sweep orphans").option('--dry-run', 'report only')).action(
    async (cluster: string, options: RunOptions & { dryRun?: boolean }) => {
      await cli.knownCluster(cluster);
      await cli.run(retention, { workflowId: WorkflowId.retention(cluster, stamp()), args: [{ cluster, dryRun: options.dryRun === true }], summary: `Retention of ${cluster} (chainbackup CLI)` }, options, (result) =>
        [
          `${result.dryRun ? 'would remove' : 'removed'}: ${result.removed.join(', ') || 'nothing'}`,
          `orphans ${result.dryRun ? 'to sweep' : 'swept'}: ${result.orphans.join(', ') || 'none'}`,
          `kept chains: ${result.keptChains.join(', ') || 'none'}; ${formatBytes(result.freedBytes)} ${result.dryRun ? 'would be ' : ''}freed`,
          ...(result.keptByPin?.length ? [`kept by a pin (the rules would remove them): ${result.keptByPin.join(', ')}`] : []),
          ...(result.keptByLock?.length ? [`kept by the storage's Object Lock (removed once it ends): ${result.keptByLock.map((wait) => `${wait.base} until ${wait.until}`).join(', ')}`] : []),
          ...(result.binlogs
            ? [
                `archived binlogs ${result.dryRun ? 'to remove' : 'removed'}: ${result.binlogs.removed.length} (${formatBytes(result.binlogs.freedBytes)})${result.binlogs.keptFrom ? `; kept from ${result.binlogs.keptFrom.file}, which ${result.binlogs.keptFrom.backup} needs` : ''}${result.binlogs.reason ? `; ${result.binlogs.reason}` : ''}`,
              ]
            : []),
          ...(result.leftAlone ?? []).map((chain) => `LEFT ALONE (a manifest cannot be read; nothing of it is removed): chain ${chain.base}: ${chain.reasons.join('; ')}`),
        ].join('\n'),
      );
    },
  );

  waitOptions(
    program
      .command('adopt <cluster>')
      .description("accept the cluster's store as it is now, after looking at it: sign its unsigned records (from before its workers held integrity or encryption keys; workers with keys accept only signed records), and start its ledger again from the backups it holds (after a backup vanished or the store was put back)")
      .option('--dry-run', 'list what would be signed, sign nothing'),
  ).action(async (cluster: string, options: RunOptions & { dryRun?: boolean }) => {
    await cli.knownCluster(cluster);
    await cli.run(adoptRecords, { workflowId: WorkflowId.adopt(cluster, stamp()), args: [{ cluster, dryRun: options.dryRun === true }], summary: `Adopt the unsigned records of ${cluster} (chainbackup CLI)` }, options, (result) =>
      [
        `${result.dryRun ? 'would sign' : 'signed'} ${result.signed.length} record${result.signed.length === 1 ? '' : 's'}${result.signed.length > 0 ? `: ${result.signed.join(', ')}` : ''}`,
        `already signed: ${result.alreadySigned}`,
        `ledger: ${result.dryRun ? 'would start again' : 'started again'} at seq ${result.ledger.seq}, listing the ${result.ledger.backups} committed backup${result.ledger.backups === 1 ? '' : 's'} the store holds`,
        ...result.refused.map((refused) => `LEFT ALONE (fails its check; look at it before removing it): ${refused.key}: ${refused.problem}`),
      ].join('\n'),
    );
  });

  for (const pinned of [true, false]) {
    waitOptions(
      program
        .command(`${pinned ? 'pin' : 'unpin'} <cluster> <backup>`)
        .description(pinned ? 'keep a backup and everything it needs (its chain up to it, its binlogs): retention never removes it and a deletion refuses it' : 'let retention and deletion treat a pinned backup as any other again')
        .option('--note <text>', pinned ? 'why it is kept, shown by list and in refusals' : 'not used by unpin'),
    ).action(async (cluster: string, backupName: string, options: RunOptions & { note?: string }) => {
      await cli.knownCluster(cluster);
      const request = { cluster, backupName, pinned, ...(pinned && options.note ? { note: options.note } : {}) };
      await cli.run(pinBackup, { workflowId: WorkflowId.pin(cluster, backupName, stamp()), args: [request], summary: `${pinned ? 'Pin' : 'Unpin'} ${backupName} (chainbackup CLI)` }, options, (result) =>
        result.pinned ? `pinned ${result.backupName}: retention keeps ${result.keeps.join(', ')} and the binlogs from it` : `unpinned ${result.backupName}`,
      );
    });
  }
}

/** How an in-place restore proved its data before the pause, for the restore's output. */
function verifiedLine(verified: NonNullable<RestoreResult['verifiedBeforePause']>): string {
  switch (verified.by) {
    case 'now':
      return `  verified before the pause: a throw-away server checked and read all ${verified.tables} tables`;
    case 'recorded':
      return `  verified before: the same objects passed a verification on ${verified.verifiedAt}`;
    case 'skipped':
      return '  NOT VERIFIED: restored without a server having read the data first (--skip-verification)';
  }
}
