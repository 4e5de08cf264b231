/** The contract's workflow type names are the names the worker registers: the exported workflow functions. */
import { describe, expect, test } from '@jest/globals';
import { clusterSettings, configSchema, hostTaskQueue } from '../../domain/config.js';
import { desiredSchedules } from '../../domain/schedules.js';
import { DEFAULT_DEPLOYMENT, WorkflowId, WorkflowType } from '../../domain/workflow-contract.js';
import * as workflows from '../../workflows/index.js';

describe('the workflow contract', () => {
  test('names exactly the exported workflow functions, each by its own name', () => {
    const exported = Object.entries(workflows)
      .filter(([, value]) => typeof value === 'function')
      .map(([key, value]) => [key, (value as { name: string }).name]);
    expect(Object.fromEntries(exported)).toEqual({ ...WorkflowType });
  });
});

/** Issue 38: the ids of which one may exist at a time name the deployment (its `temporal.taskQueue`). */
describe('the ids of a deployment', () => {
  const singletons = (deployment: string) => [
    WorkflowId.clusterLock(deployment, 'shop'),
    WorkflowId.binlogArchiver(deployment, 'shop'),
    WorkflowId.hostTaskQueue(deployment, 'shop'),
    WorkflowId.schedule(deployment, 'shop', 'full'),
    WorkflowId.schedule(deployment, 'shop', 'incremental'),
    WorkflowId.scheduledBackup(deployment, 'shop', 'full'),
    WorkflowId.verifyAfter(deployment, 'shop', 'shop-2026-04-06T000000.000Z-full'),
    WorkflowId.deleteBackup(deployment, 'shop', 'shop-2026-04-06T000000.000Z-full'),
  ];

  test('the default deployment puts no name in front of the ids that would otherwise name it', () => {
    expect(DEFAULT_DEPLOYMENT).toBe('chainbackup');
    expect(singletons(DEFAULT_DEPLOYMENT)).toEqual([
      'chainbackup-lock-shop',
      'chainbackup-binlogs-shop',
      'chainbackup-host-shop',
      'chainbackup-schedule-shop-full',
      'chainbackup-schedule-shop-incremental',
      'backup-shop-full-scheduled',
      'verify-shop-after-shop-2026-04-06T000000.000Z-full',
      'delete-shop-shop-2026-04-06T000000.000Z-full',
    ]);
  });

  test('another deployment names itself first in each', () => {
    expect(singletons('prod')).toEqual([
      'prod-lock-shop',
      'prod-binlogs-shop',
      'prod-host-shop',
      'prod-schedule-shop-full',
      'prod-schedule-shop-incremental',
      'prod-backup-shop-full-scheduled',
      'prod-verify-shop-after-shop-2026-04-06T000000.000Z-full',
      'prod-delete-shop-shop-2026-04-06T000000.000Z-full',
    ]);
    const all = [...singletons(DEFAULT_DEPLOYMENT), ...singletons('prod'), ...singletons('staging')];
    expect(new Set(all).size).toBe(all.length);
    expect(WorkflowId.schedule('prod', 'shop', 'full').startsWith(WorkflowId.schedulePrefix('prod'))).toBe(true);
  });

  test('stamped ids do not name the deployment', () => {
    expect(WorkflowId.backup('shop', 'full', '2026-04-06T000000.000Z')).toBe('backup-shop-full-2026-04-06T000000.000Z');
    expect(WorkflowId.restore('shop', '2026-04-06T000000.000Z')).toBe('restore-shop-2026-04-06T000000.000Z');
  });

  test("the configuration's deployment names its default host queues and its schedules; a host queue of a cluster's own is kept", () => {
    const cluster = { name: 'shop', connection: { socket: '/run/mysqld/mysqld.sock', user: 'backup' }, datadir: '/var/lib/mysql', storage: { kind: 'filesystem', path: '/backups' }, controller: { kind: 'command', stop: ['false'], start: ['false'] } };
    const byDefault = configSchema.parse({ clusters: [cluster] });
    const prod = configSchema.parse({ temporal: { taskQueue: 'prod' }, clusters: [cluster, { ...cluster, name: 'own', taskQueue: 'db7' }] });
    expect(byDefault.temporal.taskQueue).toBe(DEFAULT_DEPLOYMENT);
    expect(clusterSettings(byDefault.clusters[0]!, byDefault.temporal.taskQueue).taskQueue).toBe('chainbackup-host-shop');
    expect(prod.clusters.map((each) => hostTaskQueue(each, prod.temporal.taskQueue))).toEqual(['prod-host-shop', 'db7']);
    expect(desiredSchedules(prod).map((schedule) => [schedule.id, schedule.taskQueue])).toEqual([
      ['prod-schedule-shop-full', 'prod'],
      ['prod-schedule-own-full', 'prod'],
    ]);
  });
});
