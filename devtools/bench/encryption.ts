/**
 * Encryption at rest, on against off, in one run: the same full backup of the benchmark's dataset
 * into MinIO and the same restore into a new datadir, by the plain deployment and by a second one
 * whose worker seals everything (its own task queues, its own key), turn about.
 */
import { randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import YAML from 'yaml';
import type { Client } from '@temporalio/client';
import type { MariaDbSandbox } from '../sandbox/mariadb.js';
import type { StorageConfig } from '../../domain/config.js';
import { backup as backupWorkflow, restore as restoreWorkflow } from '../../workflows/index.js';
import { pairwise, stats, timed, type ScenarioReport } from './measure.js';

export interface EncryptionScenarioInput {
  client: Client;
  dir: string;
  source: MariaDbSandbox;
  target: MariaDbSandbox;
  s3: Extract<StorageConfig, { kind: 's3' }>;
  repeat: number;
  say: (line: string) => void;
  /** Starts a worker process on a configuration of its own (the benchmark's helper). */
  startWorker: (name: string, configPath: string) => Promise<unknown>;
}

export async function encryptionScenario(input: EncryptionScenarioInput): Promise<ScenarioReport> {
  const { client, dir, source, target, s3, repeat, say } = input;
  const keyFile = join(dir, 'bench-key');
  await writeFile(keyFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  // Two deployments alike but for the key: each its own worker, queues and prefix (an empty one, so listing costs the same).
  const deployments = [] as { label: 'off' | 'on'; taskQueue: string; cluster: string; target: string; storage: EncryptionScenarioInput['s3'] }[];
  for (const label of ['off', 'on'] as const) {
    const storage = { ...s3, prefix: `chainbackup-encryption-${label}` };
    const deployment = { label, taskQueue: `chainbackup-encryption-${label}`, cluster: `bench-encryption-${label}`, target: `target-encryption-${label}`, storage };
    const configPath = join(dir, `chainbackup-encryption-${label}.yaml`);
    await writeFile(
      configPath,
      YAML.stringify({
        temporal: { taskQueue: deployment.taskQueue },
        worker: { cloneRoots: [dir] },
        clusters: [
          source.clusterConfig(deployment.cluster, storage, { taskQueue: `${deployment.taskQueue}-source` }),
          target.clusterConfig(deployment.target, storage, { taskQueue: `${deployment.taskQueue}-target`, connection: { ...source.connection(), socket: target.socket } }),
        ],
        ...(label === 'on' ? { encryption: { currentKey: 'bench', keys: [{ id: 'bench', file: keyFile }] } } : {}),
      }),
    );
    await input.startWorker(`encryption-${label}-worker`, configPath);
    deployments.push(deployment);
  }
  const backupSeconds: Record<string, number[]> = { off: [], on: [] };
  const restoreSeconds: Record<string, number[]> = { off: [], on: [] };
  say('Encryption at rest: full backup and restore, off and on, turn about…');
  for (let run = 0; run < repeat; run++) {
    // Turn about, and the other one first on every other run: neither always finds the caches warm.
    for (const deployment of run % 2 === 0 ? deployments : [...deployments].reverse()) {
      const backup = await timed(() => client.workflow.execute(backupWorkflow, { taskQueue: deployment.taskQueue, workflowId: `bench-encryption-backup-${deployment.label}-${run}`, args: [{ cluster: deployment.cluster, type: 'full' }] }));
      backupSeconds[deployment.label]?.push(backup.seconds);
      const clone = join(dir, `encryption-clone-${deployment.label}-${run}`);
      const restore = await timed(() =>
        client.workflow.execute(restoreWorkflow, {
          taskQueue: deployment.taskQueue,
          workflowId: `bench-encryption-restore-${deployment.label}-${run}`,
          args: [{ cluster: deployment.target, source: { storage: deployment.storage, path: backup.value.path }, target: { kind: 'new-datadir', path: clone } }],
        }),
      );
      restoreSeconds[deployment.label]?.push(restore.seconds);
      await rm(clone, { recursive: true, force: true });
      say(`  run ${run + 1}, encryption ${deployment.label}: backup ${backup.seconds.toFixed(2)} s, restore ${restore.seconds.toFixed(2)} s`);
    }
  }
  const backupRatio = pairwise(backupSeconds.on ?? [], backupSeconds.off ?? []);
  const restoreRatio = pairwise(restoreSeconds.on ?? [], restoreSeconds.off ?? []);
  return {
    scenario: 'encryption at rest: full backup and restore, on against off',
    set: 'encryption',
    figures: [
      { contender: 'full backup into MinIO, encryption off', ...stats(backupSeconds.off ?? []), unit: 's' },
      { contender: 'full backup into MinIO, encryption on (AES-256-GCM, 64 KiB chunks)', ...stats(backupSeconds.on ?? []), unit: 's' },
      { contender: 'restore into a new datadir, encryption off', ...stats(restoreSeconds.off ?? []), unit: 's' },
      { contender: 'restore into a new datadir, encryption on', ...stats(restoreSeconds.on ?? []), unit: 's' },
    ],
    ratios: [
      { of: 'backup on', to: 'backup off', ...backupRatio },
      { of: 'restore on', to: 'restore off', ...restoreRatio },
    ],
    goal: 'encryption costs almost nothing: ≤ 1.10× in time, backup and restore',
    met: backupRatio.median <= 1.1 && restoreRatio.median <= 1.1,
    note: 'the same dataset and MinIO, two deployments alike but for the key (each its own worker, queues and empty prefix), turn about in one run, the order swapped every other run. Sealing runs in the worker process after zstd; opening before zstd, chunk by chunk. Differences within a few percent either way are noise of the 2-core machine.',
  };
}
