/**
 * A cluster's binlog archiver: one long-running workflow per cluster (`<deployment>-binlogs-<cluster>`, `WorkflowId.binlogArchiver`)
 * that runs an archiving round every `binlogs.interval` and continues as new now and then. A workflow
 * rather than a schedule: a round a minute as schedule runs would flood the Web UI's list with a
 * thousand runs a day per cluster, while one workflow keeps the archive's state (newest file, lag,
 * gaps, the last error) in one place that the `binlogArchive` query, its current details and its
 * search attribute show. A failed round is reported and retried at the next interval: the archiver
 * never stops on its own.
 */
import { condition, isCancellation, log, setCurrentDetails, setHandler, upsertSearchAttributes, workflowInfo, continueAsNew } from '@temporalio/workflow';
import { z } from 'zod';
import type { BinlogGap } from '../domain/binlog-archive.js';
import { clusterName } from '../domain/config.js';
import { businessFailure, businessFailureIn, FailureType, rootMessage } from '../domain/failures.js';
import { BinlogGapsKey } from '../domain/search-attributes.js';
import { binlogArchiveQuery, coverArchiveSignal, type BinlogArchiveState } from '../domain/workflow-contract.js';
import { hostActivities } from './activities.js';
import { beginClusterWork } from './cluster-work.js';

export const binlogArchiverRequestSchema = z.strictObject({
  cluster: clusterName,
});

/** Rounds in one run before it continues as new: keeps the history short whatever the interval. */
const ROUNDS_PER_RUN = 60;
/**
 * How long one streaming step runs (binlogs.rpo): one activity an hour keeps the archive's cost in
 * Temporal to a few events per cluster-hour, while its heartbeats show its progress live.
 */
const STREAM_STRETCH_MS = 3_600_000;
/** How long the archiver waits after a streaming step failed or was held before it starts the next. */
const STREAM_RETRY = '10 seconds';

export async function binlogArchiver(input: z.input<typeof binlogArchiverRequestSchema>, carried?: BinlogArchiveState): Promise<void> {
  // Answered from the run's first moment: a run that continued as new answers with the state it carries
  // (its last error too) while it looks its cluster up, instead of with "no handler".
  const state: BinlogArchiveState = carried ?? { cluster: input.cluster, rounds: 0, caughtUp: false, gaps: [] };
  setHandler(binlogArchiveQuery, () => state);
  const { cluster } = await beginClusterWork(binlogArchiverRequestSchema, input, 'binlog archiver request', () => 'binlog-archive');
  if (!cluster.binlogs.archive) throw businessFailure(FailureType.InvalidRequest, `cluster ${cluster.name} does not archive its binary log: set binlogs.archive: true in its configuration`);
  // A restore waiting for the archive to cover a second: the next round starts at once and closes the binlog for it.
  let coverSecond: number | undefined;
  setHandler(coverArchiveSignal, (second) => {
    coverSecond = Math.max(coverSecond ?? second, second);
  });
  const host = hostActivities(cluster, '6 hours');
  // Streaming (binlogs.rpo) instead of rounds that rotate the binlog.
  const streams = cluster.binlogs.rpo !== undefined;
  // The Web UI shows the state this run carries from the start, not only after its first round.
  setCurrentDetails(describe(state, streams ? cluster.binlogs.rpo : undefined));
  let upsertedGaps: number | undefined;
  for (let round = 0; round < ROUNDS_PER_RUN && !workflowInfo().continueAsNewSuggested; round++) {
    try {
      // What earlier rounds archived: a store that lost it is reported, not archived on from an older file.
      const archivedUpTo = state.newest && state.history !== undefined ? { history: state.history, file: state.newest.file } : undefined;
      const requested = coverSecond;
      const result = streams
        ? await host.long.streamBinlogs({ cluster: cluster.name, ...(archivedUpTo ? { archivedUpTo } : {}), forMs: STREAM_STRETCH_MS })
        : await host.long.archiveBinlogs({ cluster: cluster.name, ...(archivedUpTo ? { archivedUpTo } : {}), ...(requested !== undefined ? { coverSecond: requested } : {}) });
      if (requested !== undefined && coverSecond === requested) coverSecond = undefined;
      state.rounds++;
      state.lastRoundAt = new Date().toISOString();
      if (result.heldBy) {
        // An in-place restore replaces the server now: this round committed nothing.
        state.heldBy = result.heldBy;
        state.caughtUp = false;
      } else {
        delete state.heldBy;
        // A new history (the cluster was restored in place): its archive starts empty.
        if (state.history !== result.history) delete state.newest;
        state.history = result.history;
        state.caughtUp = result.caughtUp;
        state.serverPosition = result.serverPosition;
        if (result.newest) state.newest = result.newest;
        state.archivedFiles = (state.archivedFiles ?? 0) + result.archived.length;
        state.gaps = result.gaps;
      }
      delete state.lastError;
      delete state.failingSince;
    } catch (error) {
      if (isCancellation(error)) throw error;
      state.lastError = rootMessage(error);
      state.lastErrorAt = new Date().toISOString();
      state.failingSince ??= state.lastErrorAt;
      // A round that failed archived nothing it can vouch for: the archive may be behind the server now.
      state.caughtUp = false;
      log.warn('binlog archiving round failed; the next round tries again', { cluster: cluster.name, error: state.lastError, type: failureType(error) });
    }
    // Only a change is written to the visibility store: a round that found nothing new costs no extra event.
    if (upsertedGaps !== state.gaps.length) {
      upsertSearchAttributes([{ key: BinlogGapsKey, value: state.gaps.length }]);
      upsertedGaps = state.gaps.length;
    }
    setCurrentDetails(describe(state, streams ? cluster.binlogs.rpo : undefined));
    // A stream goes straight on (its quiet-server covers answer a waiting restore); rounds wait their interval.
    if (!streams) await condition(() => coverSecond !== undefined, cluster.binlogs.interval);
    else if (state.failingSince || state.heldBy) await condition(() => false, STREAM_RETRY);
  }
  await continueAsNew<typeof binlogArchiver>(input, state);
}

function failureType(error: unknown): string | undefined {
  return businessFailureIn(error)?.type ?? undefined;
}

function describe(state: BinlogArchiveState, rpo?: string): string {
  const lines = [
    ...(rpo ? [`Streaming the binary log (RPO ${rpo}): the running step's heartbeat shows where it is now`] : []),
    ...(state.failingSince ? [`FAILING since ${state.failingSince}: ${state.lastError ?? '?'} (the next round tries again)`] : []),
    state.newest ? `Archived up to ${state.newest.file} (last event ${state.newest.lastEventTime}, GTID ${state.newest.endGtids})${state.caughtUp ? ', caught up' : ', behind the server'}` : 'Nothing archived yet',
    ...state.gaps.map((gap: BinlogGap) => `GAP after ${gap.after}: ${gap.lost.length > 0 ? gap.lost.join(', ') : 'files'} purged before they were archived (GTID ${gap.fromGtids} to ${gap.toGtids ?? '?'})`),
    ...(state.heldBy ? [`Held: the in-place restore ${state.heldBy} is running; archiving goes on in the restored server's history once it is recorded`] : []),

  ];
  return lines.join('\n');
}
