import { describe, expect, test } from '@jest/globals';
import { configSchema } from '../../domain/config.js';
import { desiredSchedules, scheduleFingerprint } from '../../domain/schedules.js';

const cluster = { name: 'shop', connection: { socket: '/run/mysqld/mysqld.sock', user: 'backup' }, datadir: '/var/lib/mysql', storage: { kind: 'filesystem', path: '/backups' }, controller: { kind: 'command', stop: ['systemctl', 'stop', 'mariadb'], start: ['systemctl', 'start', 'mariadb'] } };
const schedulesOf = (extra: Record<string, unknown>) => desiredSchedules(configSchema.parse({ clusters: [{ ...cluster, ...extra }] }));

describe('the weekly cadence', () => {
  test('incremental on: full backups on the listed days, increments on every other day', () => {
    const schedules = schedulesOf({ incremental: { enabled: true, fullBackupWeekSchedule: 'thu,mon' }, schedule: { time: '03:15', timezone: 'Europe/Berlin' } });
    expect(schedules.map(({ id, type, days, hour, minute, timezone, request }) => ({ id, type, days, hour, minute, timezone, request }))).toEqual([
      { id: 'chainbackup-schedule-shop-full', type: 'full', days: ['mon', 'thu'], hour: 3, minute: 15, timezone: 'Europe/Berlin', request: { cluster: 'shop', type: 'full' } },
      { id: 'chainbackup-schedule-shop-incremental', type: 'incremental', days: ['sun', 'tue', 'wed', 'fri', 'sat'], hour: 3, minute: 15, timezone: 'Europe/Berlin', request: { cluster: 'shop', type: 'incremental', newChainWhenNeeded: true } },
    ]);
  });

  test('incremental off: a full backup every day, no incremental schedule', () => {
    expect(schedulesOf({}).map((schedule) => [schedule.type, schedule.days.length])).toEqual([['full', 7]]);
    // The week schedule is kept in the file but ignored while incremental backups are off.
    expect(schedulesOf({ incremental: { enabled: false, fullBackupWeekSchedule: 'mon' } }).map((schedule) => [schedule.type, schedule.days.length])).toEqual([['full', 7]]);
  });

  test('every day a full-backup day leaves no room for increments; schedules can be switched off', () => {
    expect(schedulesOf({ incremental: { enabled: true, fullBackupWeekSchedule: 'mon,tue,wed,thu,fri,sat,sun' } }).map((schedule) => schedule.type)).toEqual(['full']);
    expect(schedulesOf({ schedule: { enabled: false } })).toEqual([]);
  });

  test('jitter spreads the start when asked; without it a schedule is defined as before jitter existed', () => {
    const [spread] = schedulesOf({ schedule: { time: '01:00', jitter: '30m' } });
    const [onTheMinute] = schedulesOf({ schedule: { time: '01:00' } });
    expect(spread?.jitter).toBe('30m');
    expect(onTheMinute).not.toHaveProperty('jitter');
    expect(scheduleFingerprint(spread!)).not.toBe(scheduleFingerprint(onTheMinute!));
    expect(Object.keys(JSON.parse(scheduleFingerprint(onTheMinute!)) as object)).toEqual(['id', 'cluster', 'type', 'days', 'hour', 'minute', 'timezone', 'catchupWindow', 'taskQueue', 'request']);
    expect(() => schedulesOf({ schedule: { jitter: 'soon' } })).toThrow(/must be a duration/);
  });

  test('the fingerprint changes with the cadence and only with it', () => {
    const [a] = schedulesOf({ schedule: { time: '01:00' } });
    const [b] = schedulesOf({ schedule: { time: '01:00' }, retention: { keepChains: 3 } });
    const [c] = schedulesOf({ schedule: { time: '01:05' } });
    expect(scheduleFingerprint(a!)).toBe(scheduleFingerprint(b!));
    expect(scheduleFingerprint(a!)).not.toBe(scheduleFingerprint(c!));
  });
});
