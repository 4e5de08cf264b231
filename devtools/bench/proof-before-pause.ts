/**
 * What the proof before the pause costs: the same in-place restore of full + 3 increments, once
 * with no recorded verification of the chain (a throw-away server proves the prepared data before
 * the pause) and once with a recorded one that passed on the same objects (no proof, the record is
 * read), turn about. The record is the one a real verification wrote; it is put back or taken away
 * between runs, so both contenders restore the same chain from the same store.
 */
import { rm } from 'node:fs/promises';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { Client } from '@temporalio/client';
import { restore as restoreWorkflow, type BackupResult, type RestoreResult } from '../../workflows/index.js';
import { VERIFICATION_OBJECT } from '../../domain/layout.js';
import type { StorageConfig } from '../../domain/config.js';
import { pairwise, stats, timed, type ScenarioReport } from './measure.js';

export interface ProofScenarioInput {
  client: Client;
  s3: Extract<StorageConfig, { kind: 's3' }>;
  /** The cluster whose own storage holds the chain: its verification writes the record. */
  chainCluster: string;
  /** The cluster restored in place (its server is replaced by the chain's data on every run). */
  targetCluster: string;
  /** Full backup first, its newest increment last. */
  chain: BackupResult[];
  repeat: number;
  runId: () => number;
  say: (line: string) => void;
}

export async function proofBeforePauseScenario(input: ProofScenarioInput): Promise<ScenarioReport> {
  const { client, s3, chain, repeat, say } = input;
  const newest = chain.at(-1) as BackupResult;
  const recordKey = `${s3.prefix}/${newest.path}${VERIFICATION_OBJECT}`;
  const store = new S3Client({ endpoint: s3.endpoint, region: s3.region, forcePathStyle: true });
  try {
    say('Proof before the pause: in-place restores of full + 3 increments, unverified against verified…');
    // A real verification of the chain, by its own cluster, writes the record the second contender finds.
    const verification = await client.workflow.execute(restoreWorkflow, {
      taskQueue: 'chainbackup',
      workflowId: `bench-proof-record-${input.runId()}`,
      args: [{ cluster: input.chainCluster, backupName: newest.name, target: { kind: 'verify' } }],
    });
    if (!verification.verification) throw new Error('the chain\'s verification reported nothing');
    const record = await (await store.send(new GetObjectCommand({ Bucket: s3.bucket, Key: recordKey }))).Body?.transformToByteArray();
    if (!record) throw new Error(`no verification record at ${recordKey}`);

    const inPlace = async (proven: 'recorded' | 'now'): Promise<number> => {
      if (proven === 'recorded') await store.send(new PutObjectCommand({ Bucket: s3.bucket, Key: recordKey, Body: record }));
      else await store.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: recordKey }));
      const restored = await timed(() =>
        client.workflow.execute(restoreWorkflow, {
          taskQueue: 'chainbackup',
          workflowId: `bench-proof-${proven}-${input.runId()}`,
          args: [{ cluster: input.targetCluster, source: { storage: s3, path: newest.path }, target: { kind: 'in-place' } }],
        }),
      );
      const result: RestoreResult = restored.value;
      if (result.verifiedBeforePause?.by !== proven) throw new Error(`expected the restore to be proven "${proven}", it says ${JSON.stringify(result.verifiedBeforePause)}`);
      // The datadir each in-place restore keeps would fill the disk over the runs.
      if (result.previousDatadir) await rm(result.previousDatadir, { recursive: true, force: true });
      return restored.seconds;
    };
    const seconds: Record<'now' | 'recorded', number[]> = { now: [], recorded: [] };
    for (let run = 0; run < repeat; run++) {
      // Turn about, the other one first on every other run.
      for (const proven of run % 2 === 0 ? (['now', 'recorded'] as const) : (['recorded', 'now'] as const)) seconds[proven].push(await inPlace(proven));
      say(`  run ${run + 1}: proven before the pause ${seconds.now.at(-1)?.toFixed(2)} s, recorded verification ${seconds.recorded.at(-1)?.toFixed(2)} s`);
    }
    const ratio = pairwise(seconds.now, seconds.recorded);
    return {
      scenario: 'in-place restore of full + 3 increments: proven before the pause against a chain already verified',
      figures: [
        { contender: 'chain never verified: a throw-away server proves the prepared data, then the pause and the swap', ...stats(seconds.now), unit: 's' },
        { contender: 'chain verified before (its record read), then the pause and the swap', ...stats(seconds.recorded), unit: 's' },
        { contender: 'what the proof adds, pair by pair', ...stats(seconds.now.map((value, index) => value - (seconds.recorded[index] as number))), unit: 's' },
      ],
      ratios: [{ of: 'proven before the pause', to: 'already verified', ...ratio }],
      goal: 'reported: what the proof costs a restore whose chain no verification has read (the server is not paused during it)',
      met: null,
      note: 'the proof runs before the pause: the cluster keeps serving while it runs, so it lengthens the restore, not the downtime. A scheduled or after-backup verification of the chain spares it.',
    };
  } finally {
    store.destroy();
  }
}
