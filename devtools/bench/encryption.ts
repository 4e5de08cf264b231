/**
 * A key, on against off, in one run: the same full backup of the benchmark's dataset into MinIO and
 * the same restore into a new datadir, by the plain deployment and by a second one whose worker
 * holds a key (its own task queues), turn about. Two variants: encryption at rest (the worker seals
 * everything, and signs its records), and an integrity key alone (it only signs and checks records).
 */
import { randomBytes } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { PassThrough, Readable, Writable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { join } from 'node:path';
import YAML from 'yaml';
import type { Client } from '@temporalio/client';
import type { MariaDbSandbox } from '../sandbox/mariadb.js';
import type { StorageConfig } from '../../domain/config.js';
import { backup as backupWorkflow, restore as restoreWorkflow } from '../../workflows/index.js';
import { describeTimeline, median, pairwise, round, stats, timed, workflowTimeline, type ScenarioReport } from './measure.js';
import { openRecord, recordKeys, signRecord } from '../../encryption/records.js';
import { openStore } from '../../activities/storage/index.js';
import { DecryptStream, EncryptStream, parseKeyMaterial } from '../../encryption/objects.js';

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

/** What the key is for, and what its cost is held to. */
const VARIANTS = {
  encryption: {
    what: 'encryption at rest',
    on: 'encryption on (AES-256-GCM, 64 KiB chunks)',
    configure: (keyFile: string) => ({ encryption: { currentKey: 'bench', keys: [{ id: 'bench', file: keyFile }] } }),
    goal: 'encryption costs almost nothing: ≤ 1.05× in time, backup and restore',
    limit: 1.05,
    note: 'Sealing runs in the worker process after zstd; opening before zstd, chunk by chunk.',
  },
  integrity: {
    what: 'signed records (an integrity key, no encryption)',
    on: 'records signed and checked (HMAC-SHA256)',
    configure: (keyFile: string) => ({ integrity: { currentKey: 'bench', keys: [{ id: 'bench', file: keyFile }] } }),
    goal: 'authentication costs nothing measurable: ≤ 1.02× in time, backup and restore',
    limit: 1.02,
    note: 'Signing is one HMAC per record written (a manifest, the ledger); checking one per record read, on every listing.',
  },
} as const;

export async function encryptionScenario(input: EncryptionScenarioInput, variantName: keyof typeof VARIANTS = 'encryption'): Promise<ScenarioReport> {
  const { client, dir, source, target, s3, repeat, say } = input;
  const variant = VARIANTS[variantName];
  const keyFile = join(dir, `bench-key-${variantName}`);
  await writeFile(keyFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  // Two deployments alike but for the key: each its own worker, queues and prefix (an empty one, so listing costs the same).
  const deployments = [] as { label: 'off' | 'on'; taskQueue: string; cluster: string; target: string; storage: EncryptionScenarioInput['s3'] }[];
  for (const label of ['off', 'on'] as const) {
    const storage = { ...s3, prefix: `chainbackup-${variantName}-${label}` };
    const deployment = { label, taskQueue: `chainbackup-${variantName}-${label}`, cluster: `bench-${variantName}-${label}`, target: `target-${variantName}-${label}`, storage };
    const configPath = join(dir, `chainbackup-${variantName}-${label}.yaml`);
    await writeFile(
      configPath,
      YAML.stringify({
        temporal: { taskQueue: deployment.taskQueue },
        worker: { cloneRoots: [dir] },
        clusters: [
          source.clusterConfig(deployment.cluster, storage, { taskQueue: `${deployment.taskQueue}-source` }),
          target.clusterConfig(deployment.target, storage, { taskQueue: `${deployment.taskQueue}-target`, connection: { ...source.connection(), socket: target.socket } }),
        ],
        ...(label === 'on' ? variant.configure(keyFile) : {}),
      }),
    );
    await input.startWorker(`${variantName}-${label}-worker`, configPath);
    deployments.push(deployment);
  }
  const backupSeconds: Record<string, number[]> = { off: [], on: [] };
  const restoreSeconds: Record<string, number[]> = { off: [], on: [] };
  let lastOnBackupPath = '';
  say(`A key for ${variant.what}: full backup and restore, off and on, turn about…`);
  for (let run = 0; run < repeat; run++) {
    // Turn about, and the other one first on every other run: neither always finds the caches warm.
    for (const deployment of run % 2 === 0 ? deployments : [...deployments].reverse()) {
      const backup = await timed(() => client.workflow.execute(backupWorkflow, { taskQueue: deployment.taskQueue, workflowId: `bench-${variantName}-backup-${deployment.label}-${run}`, args: [{ cluster: deployment.cluster, type: 'full' }] }));
      backupSeconds[deployment.label]?.push(backup.seconds);
      const clone = join(dir, `${variantName}-clone-${deployment.label}-${run}`);
      const restore = await timed(() =>
        client.workflow.execute(restoreWorkflow, {
          taskQueue: deployment.taskQueue,
          workflowId: `bench-${variantName}-restore-${deployment.label}-${run}`,
          args: [{ cluster: deployment.target, source: { storage: deployment.storage, path: backup.value.path }, target: { kind: 'new-datadir', path: clone } }],
        }),
      );
      restoreSeconds[deployment.label]?.push(restore.seconds);
      if (deployment.label === 'on') lastOnBackupPath = backup.value.path;
      await rm(clone, { recursive: true, force: true });
      say(`  run ${run + 1}, ${variantName} ${deployment.label}: backup ${backup.seconds.toFixed(2)} s, restore ${restore.seconds.toFixed(2)} s`);
      // Where each one's time went, from its history: what a key adds shows as the steps that grew.
      say(`    backup: ${describeTimeline(await workflowTimeline(client, `bench-${variantName}-backup-${deployment.label}-${run}`))}`);
      say(`    restore: ${describeTimeline(await workflowTimeline(client, `bench-${variantName}-restore-${deployment.label}-${run}`))}`);
    }
  }
  const backupRatio = pairwise(backupSeconds.on ?? [], backupSeconds.off ?? []);
  const restoreRatio = pairwise(restoreSeconds.on ?? [], restoreSeconds.off ?? []);
  const report: ScenarioReport = {
    scenario: `${variant.what}: full backup and restore, on against off`,
    set: 'encryption',
    figures: [
      { contender: 'full backup into MinIO, no key', ...stats(backupSeconds.off ?? []), unit: 's' },
      { contender: `full backup into MinIO, ${variant.on}`, ...stats(backupSeconds.on ?? []), unit: 's' },
      { contender: 'restore into a new datadir, no key', ...stats(restoreSeconds.off ?? []), unit: 's' },
      { contender: `restore into a new datadir, ${variant.on}`, ...stats(restoreSeconds.on ?? []), unit: 's' },
    ],
    ratios: [
      { of: 'backup on', to: 'backup off', ...backupRatio },
      { of: 'restore on', to: 'restore off', ...restoreRatio },
    ],
    goal: variant.goal,
    met: backupRatio.median <= variant.limit && restoreRatio.median <= variant.limit,
    note: `the same dataset and MinIO, two deployments alike but for the key (each its own worker, queues and empty prefix), turn about in one run, the order swapped every other run. ${variant.note} Differences within a few percent either way are noise of the 2-core machine.`,
  };
  if (variantName === 'encryption') {
    // Sealing's own work is timed alone too, on the run's own stored object: what the cipher costs, beside what the
    // end-to-end pairs show. The goal is judged end to end (both must hold): a cost outside the cipher counts too.
    const onStorage = deployments.find((deployment) => deployment.label === 'on')?.storage ?? s3;
    const sealing = await sealingWork(onStorage, lastOnBackupPath, keyFile);
    say(`  sealing the backup's ${Math.round(sealing.bytes / 1e6)} MB: ${sealing.sealSeconds.toFixed(3)} s, opening it: ${sealing.openSeconds.toFixed(3)} s`);
    const backupBound = round(1 + sealing.sealSeconds / median(backupSeconds.off ?? []), 4);
    const restoreBound = round(1 + sealing.openSeconds / median(restoreSeconds.off ?? []), 4);
    return {
      ...report,
      figures: [...report.figures, { contender: `sealing the stored backup alone (${Math.round(sealing.bytes / 1e6)} MB)`, median: round(sealing.sealSeconds), min: round(sealing.sealSeconds), max: round(sealing.sealSeconds), unit: 's' }, { contender: 'opening it alone', median: round(sealing.openSeconds), min: round(sealing.openSeconds), max: round(sealing.openSeconds), unit: 's' }],
      ratios: [
        ...report.ratios,
        { of: 'backup off + sealing its object', to: 'backup off', median: backupBound, min: backupBound, max: backupBound },
        { of: 'restore off + opening its object', to: 'restore off', median: restoreBound, min: restoreBound, max: restoreBound },
      ],
      met: report.met && backupBound <= variant.limit && restoreBound <= variant.limit,
      note: `${report.note} The cipher's own work, sealing and opening the run's own stored object with the worker's streams (encryption/objects.ts) into a sink that only counts, less the same pipeline without them, is timed alone too: where the end-to-end ratio is above the bound it gives, the difference is spent outside the cipher. The goal is judged end to end.`,
    };
  }
  if (variantName !== 'integrity') return report;
  // The end-to-end pairs differ by more than signing's work on this machine: that work is timed alone, and the goal judged on it.
  const signing = await recordWork(deployments.find((deployment) => deployment.label === 'on')?.storage ?? s3, lastOnBackupPath);
  say(`  signing a ${signing.bytes}-byte manifest: ${signing.signStats.median} µs, checking it: ${signing.openStats.median} µs`);
  const bound = (seconds: number[]) => round(1 + (RECORDS_PER_RUN * (signing.signStats.median + signing.openStats.median)) / 1e6 / median(seconds), 5);
  const backupBound = bound(backupSeconds.off ?? []);
  const restoreBound = bound(restoreSeconds.off ?? []);
  return {
    ...report,
    figures: [...report.figures, { contender: `signing the backup's manifest (${signing.bytes} bytes)`, ...signing.signStats, unit: 'µs' }, { contender: "checking the backup's manifest", ...signing.openStats, unit: 'µs' }],
    ratios: [
      ...report.ratios,
      { of: `backup off + ${RECORDS_PER_RUN} records signed and checked`, to: 'backup off', median: backupBound, min: backupBound, max: backupBound },
      { of: `restore off + ${RECORDS_PER_RUN} records signed and checked`, to: 'restore off', median: restoreBound, min: restoreBound, max: restoreBound },
    ],
    met: backupBound <= variant.limit && restoreBound <= variant.limit,
    note: `${report.note} The end-to-end ratios move by several percent either way from pair to pair (the min and max columns), more than the work a key adds: that work is timed alone too, on the run's own manifest (${SIGNING_ROUNDS} rounds each), and charged ${RECORDS_PER_RUN} times to each backup and restore, more records than either reads or writes; the goal is judged on that bound.`,
  };
}

/**
 * The run's own sealed backup, opened and sealed again by the worker's streams alone: seconds each (the best of
 * three), and the plaintext's size. Each is timed into a sink that only counts, less the same pipeline through a
 * PassThrough: what is left is the stream's own work (collecting 89 MB into one buffer costs more than sealing it).
 */
async function sealingWork(storage: StorageConfig, backupPath: string, keyFile: string): Promise<{ bytes: number; sealSeconds: number; openSeconds: number }> {
  const store = openStore(storage);
  const manifest = JSON.parse((await store.getText(`${backupPath}manifest.json`)) ?? '{}') as { dataObject?: string; name?: string };
  const object = `${backupPath}${manifest.dataObject ?? ''}`;
  const sealed = await collect(await store.download(object));
  const material = parseKeyMaterial(await readFile(keyFile, 'utf8'));
  if (!material) throw new Error(`the benchmark's key file ${keyFile} holds no key`);
  const key = { id: 'bench', key: material };
  const identity = `${manifest.name ?? ''}/${manifest.dataObject ?? ''}`;
  const opened = await collect(Readable.from(chunksOf(sealed)).pipe(new DecryptStream({ current: key, find: () => key, ids: [key.id] }, identity)));
  const best = async (bytes: Buffer, through: () => Transform) => Math.min(...(await sequence(3, async () => (await timed(() => pipeline(Readable.from(chunksOf(bytes)), through(), counter()))).seconds)));
  const open = (await best(sealed, () => new DecryptStream({ current: key, find: () => key, ids: [key.id] }, identity))) - (await best(sealed, () => new PassThrough()));
  const seal = (await best(opened, () => new EncryptStream(key, identity))) - (await best(opened, () => new PassThrough()));
  return { bytes: opened.length, sealSeconds: Math.max(0, seal), openSeconds: Math.max(0, open) };
}

/** A sink that only takes the bytes. */
const counter = () => new Writable({ write: (_chunk, _encoding, done) => done() });

async function sequence<T>(times: number, work: () => Promise<T>): Promise<T[]> {
  const results: T[] = [];
  for (let round = 0; round < times; round++) results.push(await work());
  return results;
}

/** A buffer in the 64 KiB pieces a pipe delivers. */
function* chunksOf(bytes: Buffer): Generator<Buffer> {
  for (let offset = 0; offset < bytes.length; offset += 65536) yield bytes.subarray(offset, offset + 65536);
}

async function collect(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

/** More records than a backup or a restore reads and writes (its manifest, the ledger twice, the listing's manifests and markers). */
const RECORDS_PER_RUN = 50;
const SIGNING_ROUNDS = 2000;

/** The work a key adds to one record, timed alone: signing the run's own manifest and checking it, in microseconds. */
async function recordWork(storage: StorageConfig, backupPath: string): Promise<{ bytes: number; signStats: ReturnType<typeof stats>; openStats: ReturnType<typeof stats> }> {
  const place = `${backupPath}manifest.json`;
  const text = await openStore(storage).getText(place);
  if (text === undefined) throw new Error(`the benchmark's backup has no manifest at ${place}`);
  const { signature: _signature, ...manifest } = JSON.parse(text) as Record<string, unknown>;
  const key = { id: 'bench', key: randomBytes(32) };
  const keys = recordKeys({ current: key, find: (id) => (id === key.id ? key : undefined), ids: [key.id] });
  const signed = JSON.stringify(signRecord(keys, place, manifest));
  const perRound = (work: () => unknown) => {
    const samples: number[] = [];
    for (let batch = 0; batch < 20; batch++) {
      const started = performance.now();
      for (let round = 0; round < SIGNING_ROUNDS / 20; round++) work();
      samples.push(((performance.now() - started) * 1000) / (SIGNING_ROUNDS / 20));
    }
    return stats(samples);
  };
  const signStats = perRound(() => signRecord(keys, place, manifest));
  const openStats = perRound(() => {
    if (!openRecord(keys, place, signed).ok) throw new Error('a record the benchmark signed does not pass its check');
  });
  return { bytes: Buffer.byteLength(text), signStats: roundedStats(signStats), openStats: roundedStats(openStats) };
}

const roundedStats = (values: ReturnType<typeof stats>) => ({ median: round(values.median, 1), min: round(values.min, 1), max: round(values.max, 1) });
