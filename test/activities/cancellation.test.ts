/**
 * The activities that run for long, alone in Temporal's MockActivityEnvironment (no worker, no
 * workflow) on a real MariaDB sandbox and real storage: they heartbeat their progress, and when
 * cancelled they stop their tool, remove what they wrote, and end as a cancellation, not as a
 * failure of the tool.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { execa } from 'execa';
import { CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { loadConfig } from '../../config/file.js';
import { sweepSecretsFolder } from '../../activities/database/defaults-file.js';
import { createHostActivities, type HostActivities } from '../../activities/index.js';
import { exists } from '../../activities/files.js';
import type { MariaDbSandbox } from '../../devtools/sandbox/mariadb.js';
import { backupName } from '../../domain/names.js';
import { backupFolder, DATA_OBJECTS, MANIFEST_OBJECT, type BackupLocation } from '../../domain/layout.js';
import { KEPT_DATADIR_INFIX } from '../../domain/kept-datadirs.js';
import { eventually } from '../support/workflow-worker.js';
import { asAttempt, outcomes } from '../support/replaced-attempt.js';
import { openStore } from '../../activities/storage/index.js';
import { createSandbox, filesystemStorage, s3Storage, testRoot, TestBucket, uniqueName, writeConfig } from '../support/environment.js';

const name = uniqueName('activities');
const root = join(testRoot(), name);
const secrets = join(root, 'secrets');
const failpoints = join(root, 'failpoints');
const bucket = new TestBucket();
const slowPrefix = `${name}-slow`;
const localStorage = filesystemStorage(`${name}-local`);
const localStorageFolder = join(testRoot(), 'stores', `${name}-local`);

function fullBackupLocation(cluster: string): BackupLocation {
  const full = backupName(cluster, 'full', Date.now());
  return { name: full, base: full };
}

let sandbox: MariaDbSandbox;
let activities: HostActivities;

interface Beat {
  phase?: string;
  bytesDone?: number;
  object?: string;
}

/** Runs an activity alone, recording its heartbeats; `onBeat` may cancel it. */
function runAlone<T>(work: (activities: HostActivities) => Promise<T>, onBeat: (beat: Beat, environment: MockActivityEnvironment) => void = () => undefined) {
  const environment = new MockActivityEnvironment({ attempt: 1 });
  const beats: Beat[] = [];
  environment.on('heartbeat', (details: unknown) => {
    const beat = (details ?? {}) as Beat;
    beats.push(beat);
    onBeat(beat, environment);
  });
  return { environment, beats, result: environment.run(() => work(activities)) };
}

/** Pids of processes whose command line contains every fragment. */
async function processesWith(...fragments: string[]): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const commandLine = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (fragments.every((fragment) => commandLine.includes(fragment))) found.push(Number(entry));
  }
  return found;
}




beforeAll(async () => {
  await mkdir(failpoints, { recursive: true });
  await sweepSecretsFolder(secrets);
  sandbox = await createSandbox(`${name}-source`);
  await sandbox.loadSampleData(20_000);
  const config = {
    temporal: { taskQueue: name },
    clusters: [
      // Throttled copy: the backup streams for long enough to be cancelled in the middle.
      sandbox.clusterConfig('slow', s3Storage(slowPrefix), { backup: { throttle: 5 } }),
      sandbox.clusterConfig('local', localStorage),
    ],
  };
  activities = createHostActivities(await loadConfig(await writeConfig(name, config)));
});

afterAll(async () => {
  delete process.env.CHAINBACKUP_FAILPOINTS;
  bucket.close();
  await sandbox?.stop();
});

describe('takeBackup', () => {
  test('cancelled while it streams: the tool is stopped, every object and the open upload are removed, the credentials file is gone', async () => {
    const location = fullBackupLocation('slow');
    const run = runAlone(
      (host) => host.takeBackup({ cluster: 'slow', location }),
      (beat, environment) => {
        if (beat.phase === 'streaming' && (beat.bytesDone ?? 0) > 0) environment.cancel();
      },
    );
    await expect(run.result).rejects.toBeInstanceOf(CancelledFailure);

    const phases = run.beats.map((beat) => beat.phase);
    expect(phases[0]).toBe('connecting');
    expect(phases).toContain('streaming');
    expect(run.beats.every((beat) => beat.object === `${location.name}/`)).toBe(true);
    expect(await bucket.list(slowPrefix)).toEqual([]);
    expect(await bucket.openMultipartUploads(`${slowPrefix}/`)).toEqual([]);
    expect(await processesWith('mariadb-backup', `--datadir=${sandbox.datadir}`)).toEqual([]);
    expect(await readdir(join(secrets, `process-${process.pid}`)).catch(() => [])).toEqual([]);
  });
});

describe('a stale attempt of a backup', () => {
  // A retry's task can reach a worker that was frozen or cut off after a newer attempt committed the backup.
  test('a retry of takeBackup that finds its backup committed removes nothing and says it is stale', async () => {
    const location = fullBackupLocation('local');
    await runAlone((host) => host.takeBackup({ cluster: 'local', location })).result;
    const folder = join(localStorageFolder, location.name);
    await writeFile(join(folder, 'manifest.json'), '{"committed": "by a newer attempt"}\n');
    const before = (await readdir(folder)).sort();
    const stale = new MockActivityEnvironment({ attempt: 2 });
    await expect(stale.run(() => activities.takeBackup({ cluster: 'local', location }))).rejects.toMatchObject({ type: 'SupersededAttempt', nonRetryable: true });
    expect((await readdir(folder)).sort()).toEqual(before);
    expect(await readFile(join(folder, 'manifest.json'), 'utf8')).toContain('by a newer attempt');
  });

  test('commitBackup never writes a manifest over an object that is missing or of another size', async () => {
    const location = fullBackupLocation('local');
    const taken = (await runAlone((host) => host.takeBackup({ cluster: 'local', location })).result) as Awaited<ReturnType<HostActivities['takeBackup']>>;
    const folder = join(localStorageFolder, location.name);
    const manifest = { name: location.name, base: location.base, objects: taken.objects } as unknown as Parameters<HostActivities['commitBackup']>[0]['manifest'];
    // What a stale attempt's clean-up would have left: the stream gone, then one of another size.
    await rm(join(folder, taken.dataObject));
    await expect(new MockActivityEnvironment().run(() => activities.commitBackup({ cluster: 'local', manifest }))).rejects.toMatchObject({ type: 'ChecksumMismatch', message: expect.stringContaining(`${taken.dataObject} (${taken.objects[0]?.size} bytes written) is missing`) as unknown });
    await writeFile(join(folder, taken.dataObject), 'not the stream');
    await expect(new MockActivityEnvironment().run(() => activities.commitBackup({ cluster: 'local', manifest }))).rejects.toMatchObject({ type: 'ChecksumMismatch' });
    expect(await readdir(folder)).not.toContain('manifest.json');
  });
});

describe('prepareBackup', () => {
  test('cancelled while the tool runs: it ends as a cancellation, not as a failed prepare, and no tool is left running', async () => {
    const backupDir = join(root, 'prepare-me');
    await execa('mariadb-backup', ['--no-defaults', '--backup', `--target-dir=${backupDir}`, `--socket=${sandbox.socket}`, '--user=root', `--datadir=${sandbox.datadir}`]);
    process.env.CHAINBACKUP_FAILPOINTS = failpoints;
    const armed = join(failpoints, 'prepare-running');
    await writeFile(armed, '');
    const run = runAlone((host) => host.prepareBackup({ cluster: 'local', flavour: 'mariadb', fullDir: backupDir, moreToApply: false }));
    const outcome = run.result.then(
      () => 'finished',
      (error: unknown) => error,
    );
    // The failpoint holds the activity after the tool has started; the marker names the tool's pid.
    await eventually('the prepare to start', async () => ((await exists(`${armed}.reached`)) ? true : undefined), 60_000);
    const pid = Number(/^pid (\d+)/.exec(await readFile(join(backupDir, '.chainbackup-preparing'), 'utf8').catch(() => ''))?.[1] ?? 0);
    run.environment.cancel();
    await rm(armed);

    expect(await outcome).toBeInstanceOf(CancelledFailure);
    expect(run.beats[0]?.phase).toBe('preparing full backup');
    expect(pid).toBeGreaterThan(0);
    expect(await processesWith('mariadb-backup', '--prepare', `--target-dir=${backupDir}`)).toEqual([]);
  });
});

describe('removeBackupData', () => {
  async function storeFolder(location: BackupLocation, objects: string[]): Promise<string> {
    const folder = join(localStorageFolder, location.name);
    await mkdir(folder, { recursive: true });
    for (const object of objects) await writeFile(join(folder, object), `${object}\n`);
    return folder;
  }

  test('heartbeats while it removes, keeps the chain marker unless told to remove it, and running it again is harmless', async () => {
    const location = fullBackupLocation('local');
    const folder = await storeFolder(location, ['backup.xbstream.zst', 'xtrabackup_checkpoints', 'xtrabackup_info', 'deleting.json']);

    const first = runAlone((host) => host.removeBackupData({ cluster: 'local', location, removeMarker: false }));
    await first.result;
    expect(first.beats.length).toBeGreaterThan(0);
    expect(first.beats.every((beat) => beat.phase === 'removing' && beat.object === `${location.name}/`)).toBe(true);
    expect(await readdir(folder)).toEqual(['deleting.json']);

    await runAlone((host) => host.removeBackupData({ cluster: 'local', location, removeMarker: false })).result;
    expect(await readdir(folder)).toEqual(['deleting.json']);

    await runAlone((host) => host.removeBackupData({ cluster: 'local', location, removeMarker: true })).result;
    expect(await readdir(folder).catch(() => [])).toEqual([]);
  });
});

// A worker frozen or stalled mid-step (a paused VM, a host cut off) past the step's heartbeat
// time-out may have been replaced by a newer attempt when it runs again: whatever it was about to do
// next would land on the newer attempt's work (attempt-lease.ts).
describe('removeRestoreWorkspace', () => {
  test('stops a private server a dead worker left running in the workspace, by its pid file, before it removes the folder', async () => {
    const restoreId = uniqueName('leftover');
    const { workDir } = await asAttempt(() => activities.prepareRestoreWorkspace({ cluster: 'local', restoreId, requiredBytes: 0 }), { stalled: false });
    const stateDir = join(workDir, 'verify-server');
    await mkdir(stateDir);
    // What a killed worker leaves: a server whose command line names its state folder, and its pid file.
    const server = execa(process.execPath, ['-e', 'setTimeout(() => undefined, 600_000)', stateDir], { reject: false });
    await writeFile(join(stateDir, 'server.pid'), `${server.pid ?? 0}\n`);
    await asAttempt(() => activities.removeRestoreWorkspace({ workDir }), { stalled: false });
    expect((await server).signal).toBe('SIGTERM');
    expect(await exists(workDir)).toBe(false);
  }, 60_000);
});

describe('an attempt that went silent past its heartbeat time-out', () => {
  test('writes, replaces and removes nothing in either store, and says why; one that did not go silent does', async () => {
    for (const [label, storage] of [['filesystem', localStorage], ['S3', s3Storage(`${name}-lease`)]] as const) {
      const store = openStore(storage);
      await store.putText('newer/object', 'the newer attempt wrote this');
      const stale = await asAttempt(
        () =>
          outcomes({
            put: () => store.putText('newer/object', 'stale'),
            upload: () => store.upload('newer/other', Readable.from([Buffer.from('stale')])),
            delete: () => store.delete(['newer/object']),
          }),
        { stalled: true },
      );
      for (const outcome of Object.values(stale)) expect(`${label}: ${outcome}`).toMatch(/without a liveness beat .* past the 5 s after which Temporal may have given the step to another attempt/);
      expect(await store.getText('newer/object')).toBe('the newer attempt wrote this');
      expect(await store.getText('newer/other')).toBeUndefined();
      if (storage.kind === 's3') expect(await bucket.openMultipartUploads(`${name}-lease/newer/`)).toEqual([]);
      // The same acts by an attempt that kept its beat.
      const current = await asAttempt(() => outcomes({ put: () => store.putText('newer/object', 'current'), delete: () => store.delete(['newer/object']) }), { stalled: false });
      expect(current).toEqual({ put: 'done', delete: 'done' });
      expect(await store.getText('newer/object')).toBeUndefined();
    }
  }, 60_000);

  test('clears no restore workspace a newer attempt downloaded into', async () => {
    const restoreId = uniqueName('lease-restore');
    const { workDir } = await asAttempt(() => activities.prepareRestoreWorkspace({ cluster: 'local', restoreId, requiredBytes: 0 }), { stalled: false });
    await writeFile(join(workDir, 'downloaded-by-the-newer-attempt'), 'data');
    const stale = await asAttempt(() => outcomes({ prepare: () => activities.prepareRestoreWorkspace({ cluster: 'local', restoreId, requiredBytes: 0 }), remove: () => activities.removeRestoreWorkspace({ workDir }) }), { stalled: true });
    expect(stale).toEqual({ prepare: expect.stringMatching(/did not clear the restore workspace .* without a liveness beat/) as unknown, remove: expect.stringMatching(/did not remove the restore workspace/) as unknown });
    expect(await readdir(workDir)).toEqual(['downloaded-by-the-newer-attempt']);
    await rm(workDir, { recursive: true });
  }, 60_000);

  test('removes no backup and no kept datadir: a deletion, a hide and a kept datadir\'s removal it started are refused; a current attempt\'s go through', async () => {
    const keptName = `${basename(sandbox.datadir)}${KEPT_DATADIR_INFIX}2026-12-04T012000.123Z`;
    const kept = join(dirname(sandbox.datadir), keptName);
    await mkdir(kept);
    await writeFile(join(kept, 'ibdata1'), 'the server before the restore');
    for (const [cluster, storage] of [['local', localStorage], ['slow', s3Storage(slowPrefix)]] as const) {
      const store = openStore(storage);
      const location = fullBackupLocation(cluster);
      const folder = backupFolder(location);
      const objects = [`${folder}${MANIFEST_OBJECT}`, `${folder}${DATA_OBJECTS[0]}`];
      for (const key of objects) await store.putText(key, 'committed');
      const stale = await asAttempt(
        () =>
          outcomes({
            hide: () => activities.hideBackup({ cluster, location }),
            remove: () => activities.removeBackupData({ cluster, location, removeMarker: true }),
            removeKept: () => activities.removeKeptDatadir({ cluster, name: keptName }),
          }),
        { stalled: true },
      );
      for (const outcome of Object.values(stale)) expect(`${cluster}: ${outcome}`).toMatch(/without a liveness beat/);
      expect((await store.list(folder)).map((object) => object.key).sort()).toEqual([...objects].sort());
      expect(await readdir(kept)).toEqual(['ibdata1']);
      // The same acts by an attempt that kept its beat remove them: the refusals above came from the stall.
      const current = await asAttempt(() => outcomes({ remove: () => activities.removeBackupData({ cluster, location, removeMarker: true }) }), { stalled: false });
      expect(current).toEqual({ remove: 'done' });
      expect(await store.list(folder)).toEqual([]);
    }
    expect(await asAttempt(() => activities.removeKeptDatadir({ cluster: 'local', name: keptName }), { stalled: false })).toEqual({ removed: true });
    expect(await exists(kept)).toBe(false);
  }, 60_000);
});
