/**
 * Issue 5: the weekly cadence as Temporal Schedules on the real dev server, driven through the CLI
 * as an operator would: apply, describe, the Aiven-style incremental enable/disable, pause, resume,
 * trigger (a real backup lands in storage), and invalid configurations that change nothing.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import YAML from 'yaml';
import type { Client } from '@temporalio/client';
import type { MariaDbSandbox } from '../../devtools/sandbox/mariadb.js';
import type { ClusterScheduleView, ApplyReport } from '../../domain/schedules.js';
import { connectTestClient, createSandbox, filesystemStorage, runCli, startWorker, testRoot, uniqueName, writeConfig, type WorkerProcess } from '../support/environment.js';

const taskQueue = uniqueName('sched');
const weekly = uniqueName('weekly');
const daily = uniqueName('daily');
const storage = filesystemStorage(taskQueue);

let source: MariaDbSandbox;
let configPath: string;
let worker: WorkerProcess;
let client: Client;
let closeClient: () => Promise<void>;

const cli = (...args: string[]) => runCli(['--config', configPath, ...args]);

async function describeSchedules(cluster: string): Promise<ClusterScheduleView[]> {
  const run = await cli('schedule', 'describe', cluster, '--json');
  expect(run.exitCode).toBe(0);
  return JSON.parse(run.stdout) as ClusterScheduleView[];
}

async function cadences(cluster: string): Promise<Record<string, string>> {
  return Object.fromEntries((await describeSchedules(cluster)).map((view) => [view.type, view.cadence]));
}

async function apply(path = configPath): Promise<ApplyReport> {
  const run = await runCli(['--config', path, 'schedule', 'apply', '--json']);
  expect(run).toMatchObject({ exitCode: 0, stderr: '' });
  return JSON.parse(run.stdout) as ApplyReport;
}

beforeAll(async () => {
  source = await createSandbox(`${taskQueue}-source`);
  await source.loadSampleData();
  const config = {
    temporal: { taskQueue },
    clusters: [
      source.clusterConfig(weekly, storage, { schedule: { time: '02:30', timezone: 'Europe/Berlin', jitter: '10m' }, incremental: { enabled: true, fullBackupWeekSchedule: 'mon,thu' } }),
      source.clusterConfig(daily, storage),
    ],
  };
  configPath = await writeConfig(taskQueue, config);
  // An operator's comment, which the CLI's edits must keep.
  await writeFile(configPath, `# production backups: edit with care\n${await readFile(configPath, 'utf8')}`);
  worker = await startWorker(configPath);
  ({ client, close: closeClient } = await connectTestClient());
});

afterAll(async () => {
  await closeClient?.();
  await worker?.stop();
  await source?.stop();
});

describe('schedule apply and describe', () => {
  test('apply creates the schedules the configuration implies, and describe shows their calendars', async () => {
    const report = await apply();
    expect(report.created.sort()).toEqual([`${taskQueue}-schedule-${daily}-full`, `${taskQueue}-schedule-${weekly}-full`, `${taskQueue}-schedule-${weekly}-incremental`].sort());
    expect(report.updated).toEqual([]);
    expect(await cadences(weekly)).toEqual({ full: 'mon,thu at 02:30 Europe/Berlin', incremental: 'sun,tue,wed,fri,sat at 02:30 Europe/Berlin' });
    expect(await cadences(daily)).toEqual({ full: 'every day at 01:00 UTC' });
    const [full] = await describeSchedules(weekly);
    expect(full?.paused).toBe(false);
    expect((await describeSchedules(weekly)).map((view) => view.jitterSeconds)).toEqual([600, 600]);
    expect((await describeSchedules(daily)).map((view) => view.jitterSeconds)).toEqual([0]);
    // The next run is on a Monday or Thursday, 02:30 to 02:40 in Berlin (the 10 minutes of jitter).
    const next = new Date(full?.nextRuns[0] ?? '');
    expect([1, 4]).toContain(new Date(next.toLocaleString('en-US', { timeZone: 'Europe/Berlin' })).getDay());
    // For people: the jitter as a duration, the next runs in the cluster's time zone; the note says the cadence.
    const text = (await cli('schedule', 'describe', weekly)).stdout;
    expect(text).toContain(`${taskQueue}-schedule-${weekly}-full  full backups, mon,thu at 02:30 Europe/Berlin, starting up to 10m later\n  note: created by chainbackup: mon,thu at 02:30 Europe/Berlin\n`);
    expect(text).toMatch(/^ {2}next: \d{4}-\d\d-\d\d 02:(3\d|40) Europe\/Berlin, /m);
    expect(full?.timezone).toBe('Europe/Berlin');
  });

  test('applying the same configuration twice changes nothing the second time', async () => {
    const report = await apply();
    expect(report).toEqual({ created: [], updated: [], deleted: [], unchanged: expect.arrayContaining([`${taskQueue}-schedule-${weekly}-full`, `${taskQueue}-schedule-${weekly}-incremental`, `${taskQueue}-schedule-${daily}-full`]) as unknown });
    const human = await cli('schedule', 'apply');
    expect(human.stdout).toMatch(/no change: schedules already match the configuration$/);
  });
});

describe('incremental enable and disable (the Aiven settings)', () => {
  test('new full-backup days move both calendars, and the file keeps its comments', async () => {
    const run = await cli('incremental', 'enable', weekly, '--days', 'tue,sat', '--json');
    expect(run.exitCode).toBe(0);
    expect((JSON.parse(run.stdout) as ApplyReport).updated.sort()).toEqual([`${taskQueue}-schedule-${weekly}-full`, `${taskQueue}-schedule-${weekly}-incremental`]);
    expect(await cadences(weekly)).toEqual({ full: 'tue,sat at 02:30 Europe/Berlin', incremental: 'sun,mon,wed,thu,fri at 02:30 Europe/Berlin' });
    // The note, the calendar's comment and the runs' memo follow the new cadence.
    const described = await client.schedule.getHandle(`${taskQueue}-schedule-${weekly}-full`).describe();
    expect(described.state.note).toBe('updated by chainbackup: tue,sat at 02:30 Europe/Berlin');
    expect(described.spec.calendars?.[0]?.comment).toBe('full backups, tue,sat at 02:30 Europe/Berlin');
    expect(described.action.type === 'startWorkflow' ? described.action.memo?.chainbackupCadence : undefined).toBe('full backups, tue,sat at 02:30 Europe/Berlin');
    const text = await readFile(configPath, 'utf8');
    expect(text.startsWith('# production backups: edit with care\n')).toBe(true);
    const cluster = (YAML.parse(text) as { clusters: { name: string; incremental: unknown }[] }).clusters.find((entry) => entry.name === weekly);
    expect(cluster?.incremental).toEqual({ enabled: true, fullBackupWeekSchedule: 'tue,sat' });
  });

  test('disabling removes the incremental schedule and makes the full one daily', async () => {
    const run = await cli('incremental', 'disable', weekly);
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toContain(`deleted    ${taskQueue}-schedule-${weekly}-incremental`);
    expect(await cadences(weekly)).toEqual({ full: 'every day at 02:30 Europe/Berlin' });
  });

  test('bad days are refused, naming the value, and the file is untouched', async () => {
    const before = await readFile(configPath, 'utf8');
    for (const [days, reason] of [
      ['mon,funday', '"funday" is not a day; use mon, tue, wed, thu, fri, sat or sun'],
      ['mon,mon', '"mon" is listed twice'],
      [',', 'lists no day; give comma-separated days from mon, tue, wed, thu, fri, sat, sun'],
    ] as const) {
      const run = await cli('incremental', 'enable', weekly, '--days', days);
      expect(run).toMatchObject({ exitCode: 2, stderr: `chainbackup: --days "${days}": ${reason}` });
    }
    expect(await readFile(configPath, 'utf8')).toBe(before);
  });
});

describe('pause, resume and trigger', () => {
  test('pause and resume a cluster’s schedules', async () => {
    expect((await cli('schedule', 'pause', daily, '--note', 'maintenance window')).exitCode).toBe(0);
    expect(await describeSchedules(daily)).toEqual([expect.objectContaining({ paused: true, note: 'maintenance window', nextRuns: [] })]);
    // The server still computes the times a paused schedule would run: none is shown as if it would.
    expect((await client.schedule.getHandle(`${taskQueue}-schedule-${daily}-full`).describe()).info.nextActionTimes.length).toBeGreaterThan(0);
    expect((await cli('schedule', 'describe', daily)).stdout).toContain('[PAUSED]\n  note: maintenance window\n  next: none while paused (`chainbackup schedule resume` to run again)');
    expect((await cli('status', daily)).stdout).toContain('  schedules:        full PAUSED (no run until resumed)');
    // A paused schedule stays paused when apply updates nothing or something else.
    await apply();
    expect((await describeSchedules(daily))[0]?.paused).toBe(true);
    expect((await cli('schedule', 'resume', daily)).exitCode).toBe(0);
    expect((await describeSchedules(daily))[0]?.paused).toBe(false);
  });

  test('trigger runs a backup of the schedule’s type, which lands in storage', async () => {
    expect(await cli('schedule', 'trigger', daily, '--type', 'full')).toMatchObject({ exitCode: 0, stdout: `triggered ${taskQueue}-schedule-${daily}-full` });
    let workflowId: string | undefined;
    for (let tries = 0; !workflowId; tries++) {
      if (tries > 100) throw new Error('the triggered run never appeared');
      workflowId = (await describeSchedules(daily))[0]?.recentRuns[0]?.workflowId;
      if (!workflowId) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(workflowId).toMatch(new RegExp(`^${taskQueue}-backup-${daily}-full-scheduled-`));
    const result = (await client.workflow.getHandle(workflowId).result()) as { name: string; type: string };
    expect(result.type).toBe('full');
    expect(await readdir(join(storage.kind === 'filesystem' ? storage.path : '', result.name))).toContain('manifest.json');
    const refused = await cli('schedule', 'trigger', daily, '--type', 'incremental');
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toContain(`cluster ${daily} has no incremental schedule`);
  });
});

describe('invalid configurations change nothing', () => {
  const cases: [string, (config: { clusters: Record<string, unknown>[] }) => void, RegExp][] = [
    ['incremental on without days', (c) => void (c.clusters[1] = { ...c.clusters[1], incremental: { enabled: true } }), /clusters\.1\.incremental\.fullBackupWeekSchedule: is required when incremental backups are enabled/],
    ['an unknown day', (c) => void (c.clusters[1] = { ...c.clusters[1], incremental: { enabled: true, fullBackupWeekSchedule: 'mon,someday' } }), /clusters\.1\.incremental\.fullBackupWeekSchedule: "someday" is not a day/],
    ['an empty day list', (c) => void (c.clusters[1] = { ...c.clusters[1], incremental: { enabled: true, fullBackupWeekSchedule: '' } }), /clusters\.1\.incremental\.fullBackupWeekSchedule: lists no day/],
    ['a bad time', (c) => void (c.clusters[1] = { ...c.clusters[1], schedule: { time: '25:00' } }), /clusters\.1\.schedule\.time: must be HH:MM in 24-hour time/],
    ['an unknown time zone', (c) => void (c.clusters[1] = { ...c.clusters[1], schedule: { timezone: 'Mars/Olympus' } }), /clusters\.1\.schedule\.timezone: must be an IANA time zone/],
    ['an unknown field', (c) => void (c.clusters[1] = { ...c.clusters[1], scheduel: {} }), /clusters\.1: unrecognized key: "scheduel"/i],
    ['a duplicate cluster', (c) => void c.clusters.push({ ...c.clusters[0] }), /clusters\.2\.name: ".*" is used by two clusters/],
  ];

  test.each(cases)('%s is refused with the field path and nothing is applied', async (_name, damage, message) => {
    const before = await Promise.all([describeSchedules(weekly), describeSchedules(daily)]);
    const config = YAML.parse(await readFile(configPath, 'utf8')) as { clusters: Record<string, unknown>[] };
    damage(config);
    const badPath = join(testRoot(), 'configs', `${uniqueName('invalid')}.yaml`);
    await writeFile(badPath, YAML.stringify(config));
    const run = await runCli(['--config', badPath, 'schedule', 'apply']);
    expect(run.exitCode).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(run.stdout).toBe('');
    const after = await Promise.all([describeSchedules(weekly), describeSchedules(daily)]);
    expect(after.map((views) => views.map(({ id, cadence, paused }) => ({ id, cadence, paused })))).toEqual(before.map((views) => views.map(({ id, cadence, paused }) => ({ id, cadence, paused }))));
  });
});
