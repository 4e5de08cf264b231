/**
 * Issue 15: restore's rollback paths, driven without the stack. The real `restore` workflow (and the
 * real cluster lock) runs on a worker inside the test; the host's activities are stand-ins that
 * record each call and fail at the step a test chooses. The promise under test: a failure (or a
 * cancellation) after the cluster is paused always ends with the previous datadir put back and the
 * server started again, in that order, with the original error reported; a failure before the
 * pause never touches the server.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { WorkflowFailedError } from '@temporalio/client';
import { parseConfig } from '../../config/file.js';
import { clusterLockActivities } from '../../activities/cluster-lock.js';
import type { CommittedBackup } from '../../domain/chain.js';
import { clusterSettings } from '../../domain/config.js';
import { failureChain, uniqueName } from '../support/environment.js';
import { stored } from '../support/stored-backups.js';
import { eventually, startHarnessWorker, type HarnessWorker } from '../support/workflow-worker.js';
import { restore } from './harness-workflows.js';

const taskQueue = uniqueName('rollback-tests');
const config = parseConfig(
  JSON.stringify({
    temporal: { taskQueue },
    clusters: [
      {
        name: 'template',
        taskQueue,
        connection: { socket: '/nonexistent.sock', user: 'backup' },
        datadir: '/nonexistent/datadir',
        storage: { kind: 'filesystem', path: '/nonexistent/store' },
        controller: { kind: 'command', stop: ['false'], start: ['false'] },
        // One attempt: a stand-in's failure is the step's failure.
        retry: { maximumAttempts: 1, initialInterval: '1s' },
      },
    ],
  }),
  'rollback-tests.yaml',
);
const template = clusterSettings(config.clusters[0] as (typeof config.clusters)[0], taskQueue);

/** A full backup and one increment of `cluster`, as the catalog lists them, every object present. */
function chainOf(cluster: string): CommittedBackup[] {
  const full = `${cluster}-2026-04-06T000000.000Z-full`;
  const increment = `${cluster}-2026-04-07T000000.000Z-incr`;
  const backups = [
    stored(full, full, { cluster, toLsn: '100', lastLsn: '100' }),
    stored(increment, full, { cluster, parent: full, fromLsn: '100', toLsn: '200', lastLsn: '200', binlog: { file: 'mysql-bin.000002', position: '400', gtid: '0-1-42' } }),
  ] as CommittedBackup[];
  return backups.map((backup) => ({ ...backup, objects: backup.manifest.objects.map((object) => ({ key: `${backup.folder}${object.name}`, size: object.size, lastModified: backup.manifest.finishedAt })) }));
}

/** What each cluster's restore did, and where it is to fail; each test restores a cluster of its own. */
interface Plan {
  calls: string[];
  /** The steps to fail: each entry fails one call of its step (name a step twice to fail it twice). */
  failAt: string[];
  /** Holds `swapDatadir` until released, to cancel the restore while the swap runs. */
  swapGate?: { started: boolean; release: () => void; released: Promise<void> };
}
const plans = new Map<string, Plan>();

function planFor(cluster: string): Plan {
  const plan = plans.get(cluster);
  if (!plan) throw new Error(`no plan for cluster ${cluster}`);
  return plan;
}

/** A stand-in host activity: records the call, then fails if the plan says so, else answers. */
function step<I extends { cluster?: string; workDir?: string }, O>(name: string, answer: (input: I, plan: Plan) => O | Promise<O>) {
  return async (input: I): Promise<O> => {
    const cluster = input.cluster ?? clusterOfWorkDir(input.workDir ?? '');
    const plan = planFor(cluster);
    plan.calls.push(name);
    const fault = plan.failAt.indexOf(name);
    if (fault >= 0) {
      plan.failAt.splice(fault, 1);
      throw ApplicationFailure.create({ type: 'InjectedFault', message: `injected fault in ${name}` });
    }
    return answer(input, plan);
  };
}
const clusterOfWorkDir = (workDir: string) => workDir.replace(/^\/work\//, '').replace(/\/.*$/, '');

const hostStandIns = {
  listSourceBackups: step('listSourceBackups', (input: { cluster: string }) => ({ backups: chainOf(input.cluster), storageLabel: 'file:///nonexistent/store' })),
  prepareRestoreWorkspace: step('prepareRestoreWorkspace', (input: { cluster: string }) => ({ workDir: `/work/${input.cluster}` })),
  downloadBackup: step('downloadBackup', () => ({ bytes: 10 })),
  prepareBackup: step('prepareBackup', () => undefined),
  readRestoreTarget: step('readRestoreTarget', () => ({
    layout: {
      datadir: '/nonexistent/datadir',
      dataHomeDir: '/nonexistent/datadir',
      dataFiles: ['ibdata1'],
      dataFilePath: 'ibdata1:12M:autoextend',
      undoTablespaces: 0,
      logGroupHomeDir: '/nonexistent/datadir',
      undoDirectory: '/nonexistent/datadir',
      binlogBasename: '/nonexistent/datadir/mysql-bin',
      binlogIndex: '/nonexistent/datadir/mysql-bin.index',
      relayLogBasename: null,
      relayLogIndex: null,
      ariaLogDir: '/nonexistent/datadir',
    },
    logBin: true,
    serverId: 1,
    logFileSize: null,
  })),
  // The proof before the pause: a throw-away server on the prepared data, and its outcome recorded.
  verifyPreparedData: step('verifyPreparedData', () => ({ tables: 2, inventoryTables: 2, durationSeconds: 1 })),
  recordVerification: step('recordVerification', () => undefined),
  pauseCluster: step('pauseCluster', () => undefined),
  swapDatadir: step('swapDatadir', async (_input, plan) => {
    if (plan.swapGate) {
      plan.swapGate.started = true;
      // Heartbeats, as the real step does, until the test lets the swap finish.
      const beating = setInterval(() => Context.current().heartbeat(), 500);
      await plan.swapGate.released.finally(() => clearInterval(beating));
      plan.calls.push('swapDatadir finished');
    }
    return { previousDatadir: '/nonexistent/datadir.before-restore-x' };
  }),
  seedBinlogHistory: step('seedBinlogHistory', () => undefined),
  unpauseCluster: step('unpauseCluster', () => undefined),
  verifyCluster: step('verifyCluster', () => ({ serverVersion: '10.11.0-MariaDB' })),
  settleRestoredServer: step('settleRestoredServer', () => ({ gtid: '0-1-42' })),
  recordInPlaceRestore: step('recordInPlaceRestore', () => undefined),
  rollbackDatadir: step('rollbackDatadir', () => undefined),
  removeRestoreWorkspace: step('removeRestoreWorkspace', () => undefined),
  markRestoreRunning: step('markRestoreRunning', () => undefined),
  clearRestoreRunning: step('clearRestoreRunning', () => undefined),
};

let harness: HarnessWorker;

beforeAll(async () => {
  harness = await startHarnessWorker(taskQueue, {
    ...clusterLockActivities(config),
    // eslint-disable-next-line @typescript-eslint/require-await
    async describeCluster(name: string) {
      return { ...template, name };
    },
    ...hostStandIns,
  });
});

afterAll(async () => {
  await harness?.stop();
});

// The restore proves the prepared data (and records it), then marks itself running (holding the binlog archiver off) just before the pause, and clears the mark last.
// The full backup downloads alone; then the increment's download and the full backup's prepare run at
// once, so those two may start in either order (`startOrder` puts them in one).
const BEFORE_PAUSE = ['listSourceBackups', 'prepareRestoreWorkspace', 'downloadBackup', 'downloadBackup', 'prepareBackup', 'prepareBackup', 'readRestoreTarget', 'verifyPreparedData', 'recordVerification', 'markRestoreRunning'];
const startOrder = (calls: string[]) => [...calls.slice(0, 3), ...calls.slice(3, 5).sort(), ...calls.slice(5)];
const AFTER_PAUSE = ['swapDatadir', 'seedBinlogHistory', 'unpauseCluster', 'verifyCluster', 'settleRestoredServer', 'recordInPlaceRestore'];
const ROLLBACK = ['pauseCluster', 'rollbackDatadir', 'unpauseCluster', 'removeRestoreWorkspace'];

async function restoreWith(failAt: string[], extra: Partial<Plan> = {}) {
  const cluster = uniqueName('rb');
  const plan: Plan = { calls: [], failAt, ...extra };
  plans.set(cluster, plan);
  const target = chainOf(cluster).at(-1) as CommittedBackup;
  const handle = await harness.client.workflow.start(restore, { taskQueue, workflowId: `restore-${cluster}`, args: [{ cluster, backupName: target.name }] });
  return { cluster, plan, handle };
}

async function failureOf(promise: Promise<unknown>): Promise<{ type?: string; message: string }[]> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(WorkflowFailedError);
    return failureChain(error);
  }
  throw new Error('the restore succeeded');
}

describe('restore in place, with stand-in host activities', () => {
  test('on success, every step runs once, in order, and nothing is rolled back', async () => {
    const { plan, handle } = await restoreWith([]);
    const result = await handle.result();
    expect(startOrder(plan.calls)).toEqual([...BEFORE_PAUSE, 'pauseCluster', ...AFTER_PAUSE, 'removeRestoreWorkspace', 'clearRestoreRunning']);
    expect(result).toMatchObject({ chain: [expect.stringContaining('-full'), expect.stringContaining('-incr')], gtidPosition: '0-1-42', previousDatadir: '/nonexistent/datadir.before-restore-x' });
  });

  test.each(AFTER_PAUSE)('a failure in %s after the pause puts the previous datadir back, starts the server, and reports the original error', async (failing) => {
    const { plan, handle } = await restoreWith([failing]);
    const failure = await failureOf(handle.result());
    const done = AFTER_PAUSE.slice(0, AFTER_PAUSE.indexOf(failing) + 1);
    expect(startOrder(plan.calls)).toEqual([...BEFORE_PAUSE, 'pauseCluster', ...done, ...ROLLBACK, 'clearRestoreRunning']);
    expect(failure).toContainEqual({ type: 'InjectedFault', message: `injected fault in ${failing}` });
  });

  test.each(['downloadBackup', 'prepareBackup', 'readRestoreTarget', 'verifyPreparedData'])('a failure in %s before the pause leaves the server alone and removes the workspace', async (failing) => {
    const { plan, handle } = await restoreWith([failing]);
    const failure = await failureOf(handle.result());
    expect(plan.calls).not.toContain('pauseCluster');
    expect(plan.calls).not.toContain('markRestoreRunning');
    expect(plan.calls).not.toContain('swapDatadir');
    expect(plan.calls).not.toContain('rollbackDatadir');
    expect(plan.calls.at(-1)).toBe('removeRestoreWorkspace');
    expect(failure).toContainEqual({ type: 'InjectedFault', message: `injected fault in ${failing}` });
  });

  test('a rollback that cannot put the datadir back leaves the server stopped and the prepared data in place, and says so with both errors', async () => {
    const { plan, handle } = await restoreWith(['verifyCluster', 'rollbackDatadir']);
    const failure = await failureOf(handle.result());
    expect(startOrder(plan.calls)).toEqual([...BEFORE_PAUSE, 'pauseCluster', 'swapDatadir', 'seedBinlogHistory', 'unpauseCluster', 'verifyCluster', 'pauseCluster', 'rollbackDatadir', 'clearRestoreRunning']);
    expect(failure[0]?.type).toBe('RollbackFailed');
    expect(failure[0]?.message).toMatch(/failed after the pause \(injected fault in verifyCluster\), and putting its previous datadir back failed too \(injected fault in rollbackDatadir\): the server is left stopped/);
    expect(failure).toContainEqual({ type: 'InjectedFault', message: 'injected fault in verifyCluster' });
  });

  test('a server that does not start on its old datadir again is reported with both errors, and the prepared data is kept', async () => {
    const { plan, handle } = await restoreWith(['unpauseCluster', 'unpauseCluster']);
    const failure = await failureOf(handle.result());
    expect(startOrder(plan.calls)).toEqual([...BEFORE_PAUSE, 'pauseCluster', 'swapDatadir', 'seedBinlogHistory', 'unpauseCluster', 'pauseCluster', 'rollbackDatadir', 'unpauseCluster', 'clearRestoreRunning']);
    expect(failure[0]?.type).toBe('RollbackFailed');
    expect(failure[0]?.message).toContain('its previous datadir is back in place, but the server did not start (injected fault in unpauseCluster)');
  });

  test('cancelled while the datadir is being swapped: the rollback waits for the swap to end, then puts the old datadir back', async () => {
    let release = () => undefined as void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const gate = { started: false, release, released };
    const { plan, handle } = await restoreWith([], { swapGate: gate });
    await eventually('the swap started', () => Promise.resolve(gate.started ? true : undefined));
    await handle.cancel();
    // The cancellation has reached the workflow; a rollback that did not wait would start now.
    await eventually('the cancellation was requested of the swap', async () => {
      const history = await handle.fetchHistory();
      return history.events?.some((event) => event.activityTaskCancelRequestedEventAttributes) ? true : undefined;
    });
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const beforeRelease = [...plan.calls];
    gate.release();
    await expect(handle.result()).rejects.toThrow();
    expect(beforeRelease.at(-1)).toBe('swapDatadir');
    expect(plan.calls.slice(plan.calls.indexOf('swapDatadir'))).toEqual(['swapDatadir', 'swapDatadir finished', ...ROLLBACK, 'clearRestoreRunning']);
  });
});
