/** Replaying archived binlogs for a restore to a point: applied to the restored files before the server starts. */
import { chown, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Context } from '@temporalio/activity';
import { parseGtid } from '../../domain/binlog.js';
import { businessFailure, FailureType } from '../../domain/failures.js';
import { replayServerId, stopAfterSecond, type ReplayPlan } from '../../domain/point-in-time.js';
import { startPrivateSession, stopLeftoverServer } from '../database/private-server.js';
import type { TargetServer } from '../database/server-layout.js';
import { exists } from '../files.js';
import type { ActivityDeps } from '../deps.js';
import { failpoint } from '../failpoints.js';
import { assertAttemptHolds, removeUnlessReplaced } from '../attempt-lease.js';
import { Progress } from '../streams.js';
import { archiveSource, currentHistory, delay, type ArchiveSource } from './shared.js';
import { downloadArchivedBinlogs } from './download.js';

export function binlogReplayActivities(deps: ActivityDeps) {
  return {
    /**
     * Applies archived binlogs to the restored files before the real server starts, through the
     * server's own replication applier: a private server (no network, see private-server.ts) takes
     * the downloaded files, each checked against its sha256, as its relay logs and applies them with
     * `replayThreads` parallel workers from the backup's exact position, stopping before the first
     * transaction that began after the point. It writes the replayed transactions to the restored
     * binlog with their own GTIDs (`log_slave_updates`), with the event scheduler off and no client
     * able to connect. Returns the GTID position the restored server has after it.
     */
    async applyArchivedBinlogs(input: ArchiveSource & { target: TargetServer; replay: ReplayPlan; workDir: string }): Promise<{ gtid: string; files: number; bytes: number }> {
      const cluster = deps.cluster(input.cluster);
      const { store, archived } = await archiveSource(deps, input);
      const signal = Context.current().cancellationSignal;
      const progress = new Progress('downloading archived binlogs');
      const stateDir = join(input.workDir, 'replay-server');
      const relayDir = join(input.workDir, 'relay');
      const applying = join(stateDir, 'applying');
      // Written once the replay has completed, before its marker of a replay under way goes: a worker
      // killed after that returns the same result on the next attempt instead of replaying twice.
      const completed = join(input.workDir, 'replay-completed.json');
      const work = async () => {
        const recorded = await readFile(completed, 'utf8').then(
          (text) => JSON.parse(text) as { gtid: string; files: number; bytes: number },
          () => undefined,
        );
        if (recorded) {
          assertAttemptHolds(`finish the replay in ${input.workDir}`);
          await stopLeftoverServer(stateDir);
          await rm(relayDir, { recursive: true, force: true });
          return recorded;
        }
        if (await exists(applying)) {
          // A worker died while the applier ran: the files hold part of the replay, and a rollback puts the previous ones back.
          await stopLeftoverServer(stateDir);
          throw businessFailure(FailureType.RestoreFailed, `the binlog replay into ${cluster.name} was interrupted (its worker stopped): the restored files hold part of it, so the restore rolls back; run it again`);
        }
        const { where: current } = await currentHistory(store, archived);
        const where = input.replay.history === undefined ? current : { ...current, history: input.replay.history };
        const stopAfterGtid = input.replay.stopAfterGtid === undefined ? undefined : parseGtid(input.replay.stopAfterGtid);
        const stop = stopAfterGtid ? { stopAfterGtid } : { stopAfter: stopAfterSecond(input.replay) };
        const relayName = (index: number) => `relay.${String(index + 1).padStart(6, '0')}`;
        const facts = await downloadArchivedBinlogs(store, where, input.replay.files, relayDir, relayName, { progress, signal, stop, keys: await deps.keys(), encryption: deps.config.encryption });
        if (stopAfterGtid && !facts.some((file) => file.stopGtidSeen)) {
          throw businessFailure(FailureType.RestoreFailed, `the archived binlogs of ${cluster.name} do not hold the transaction ${input.replay.stopAfterGtid} (from ${input.replay.files[0]?.file ?? '?'} to ${input.replay.files.at(-1)?.file ?? '?'}): nothing was applied, and the restore rolls back`);
        }
        // Where the applier stops: before the first transaction after the point, in the first file that has one.
        const start = input.replay.startPosition;
        const stopIndex = facts.findIndex((file, index) => file.stopPosition !== undefined && (index > 0 || file.stopPosition > start));
        const stopsBeforeStart = facts[0]?.stopPosition !== undefined && facts[0].stopPosition <= start;
        const used = facts.slice(0, stopIndex < 0 ? facts.length : stopIndex + 1);
        const totalBytes = used.reduce((sum, file, index) => sum + (index === stopIndex ? (file.stopPosition ?? file.endPosition) : file.endPosition) - (index === 0 ? start : 0), 0);
        const owner = await stat(input.target.layout.datadir);
        await writeFile(join(relayDir, 'relay.index'), used.map((_, index) => `${join(relayDir, relayName(index))}\n`).join(''));
        for (const name of [relayDir, join(relayDir, 'relay.index'), ...used.map((_, index) => join(relayDir, relayName(index)))]) await chown(name, owner.uid, owner.gid);
        const logBin = input.target.logBin && input.target.layout.binlogBasename !== null;
        const server = await startPrivateSession(input.target, {
          initStatements: [],
          flavour: cluster.flavour,
          serverId: replayServerId(facts.flatMap((file) => file.serverIds)),
          logBin,
          bufferPool: cluster.binlogs.replayBufferPool,
          stateDir,
          ...(cluster.controller.kind === 'process' ? { serverBinary: cluster.controller.serverBinary } : {}),
          options: [
            ...(logBin ? ['log-slave-updates'] : []),
            `relay-log=${join(relayDir, 'relay')}`,
            `relay-log-index=${join(relayDir, 'relay.index')}`,
            `master-info-file=${join(relayDir, 'master.info')}`,
            `relay-log-info-file=${join(relayDir, 'relay-log.info')}`,
            `slave_parallel_threads=${cluster.binlogs.replayThreads}`,
            'slave_parallel_mode=optimistic',
            // A crash during the replay rolls the restore back, so the replay need not be durable until its clean shutdown.
            'innodb_flush_log_at_trx_commit=2',
            'sync_binlog=0',
          ],
        });
        const sql = (query: string, options: { columnNames?: boolean } = {}) => server.sql(query, options);
        try {
          if (!stopsBeforeStart && used.length > 0) {
            progress.phase(`applying ${used.length} archived binlogs up to ${input.replay.stopAfterGtid ? `GTID ${input.replay.stopAfterGtid}` : `${input.replay.stopDatetime} UTC`}`, { bytesTotal: totalBytes });
            assertAttemptHolds(`replay binlogs into ${input.target.layout.datadir}`);
            await writeFile(applying, '');
            const first = input.replay.files[0]?.file ?? '';
            await sql(`CHANGE MASTER TO MASTER_HOST='chainbackup-replay.invalid', RELAY_LOG_FILE='${relayName(0)}', RELAY_LOG_POS=${start}, MASTER_LOG_FILE='${first}', MASTER_LOG_POS=${start}, MASTER_USE_GTID=no`);
            const until = stopIndex < 0 ? undefined : { file: relayName(stopIndex), position: used[stopIndex]?.stopPosition ?? 0 };
            await sql(`START SLAVE SQL_THREAD${until ? ` UNTIL RELAY_LOG_FILE='${until.file}', RELAY_LOG_POS=${until.position}` : ''}`);
            await failpoint('binlog-applying');
            const last = { file: relayName(used.length - 1), end: used.at(-1)?.endPosition ?? 0 };
            for (;;) {
              if (signal.aborted) throw signal.reason;
              const [header = [], values = []] = await sql('SHOW SLAVE STATUS', { columnNames: true });
              const status = new Map(header.map((name, index) => [name, values[index] ?? '']));
              const file = status.get('Relay_Log_File') ?? '';
              const position = Number(status.get('Relay_Log_Pos') ?? 0);
              const index = used.findIndex((_, at) => relayName(at) === file);
              progress.update(used.slice(0, Math.max(index, 0)).reduce((sum, done, at) => sum + done.endPosition - (at === 0 ? start : 0), 0) + Math.max(position - (index === 0 ? start : 0), 0));
              if (status.get('Last_SQL_Errno') !== '0') throw businessFailure(FailureType.RestoreFailed, `replaying the archived binlogs into ${cluster.name} failed at ${input.replay.files[index]?.file ?? file} position ${position}: ${status.get('Last_SQL_Error') ?? ''}`);
              if (status.get('Slave_SQL_Running') !== 'Yes') {
                if (until && file === until.file && position === until.position) break;
                throw businessFailure(FailureType.RestoreFailed, `the replication applier replaying into ${cluster.name} stopped at ${file} position ${position} before its stop position: ${(await server.errors()).join(' | ') || 'no error logged'}`);
              }
              // With no transaction after the point in the files, the applier has done when it has read past the last one.
              if (!until && (index < 0 ? file > last.file : file === last.file && position >= last.end)) break;
              await delay(500);
            }
            await sql('STOP SLAVE');
            await sql('RESET SLAVE ALL');
          }
          const [[gtid = ''] = []] = await sql(logBin ? 'SELECT @@gtid_binlog_pos' : 'SELECT @@gtid_slave_pos');
          await server.dropAccount();
          const errors = await server.errors();
          if (errors.length > 0) throw businessFailure(FailureType.RestoreFailed, `the private server that replayed binlogs into ${cluster.name} logged errors: ${errors.join(' | ')}`);
          const result = { gtid, files: used.length, bytes: totalBytes };
          assertAttemptHolds(`record the replay as completed in ${completed}`);
          await writeFile(completed, `${JSON.stringify(result)}\n`);
          return result;
        } finally {
          await server.stop();
          // A replaced attempt's are a newer attempt's now.
          await removeUnlessReplaced(relayDir);
          await removeUnlessReplaced(stateDir);
        }
      };
      return progress.during(work());
    },
  };
}
