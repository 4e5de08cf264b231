/** The follower's progress line: figures kept whole, the phase shortened to fit, totals, time left, retries. */
import { describe, expect, test } from '@jest/globals';
import { formatDuration, progressLine, toolCopyTracker } from '../../domain/units.js';

describe('the progress line', () => {
  test('shows done/total with a percentage, the rate and the time left when a total is known', () => {
    const line = progressLine(65_000, { phase: 'Streaming full backup', bytes: 50 * 1048576, total: 200 * 1048576 }, 10 * 1048576, 80);
    expect(line).toBe('[01:05] Streaming full backup  50.0 MiB/200.0 MiB 25%  10.0 MiB/s  00:15 left');
  });

  test('without a total, the bytes and rate only; an attempt past the first and its last error', () => {
    expect(progressLine(1000, { phase: 'Downloading', bytes: 2048 }, undefined, 80)).toBe('[00:01] Downloading  2.0 KiB');
    const retrying = progressLine(3000, { phase: 'Streaming', bytes: 0, retry: { activity: 'takeBackup', attempt: 3, lastError: 'mariadb-backup failed\nfor cluster shop' } }, undefined, 100);
    expect(retrying).toBe('[00:03] Streaming  0 B  attempt 3  last error: mariadb-backup failed for cluster shop');
  });

  test('fits the width: the phase and then the error are shortened, the figures never', () => {
    const phase = 'Streaming full backup shop-2026-04-06T010000.000Z-full to s3://backups/prod at https://s3.example.com';
    const line = progressLine(5000, { phase, bytes: 1048576, total: 4 * 1048576, retry: { activity: 'takeBackup', attempt: 2, lastError: 'x'.repeat(100) } }, 1048576, 79);
    expect(line.length).toBeLessThanOrEqual(79);
    expect(line).toMatch(/^\[00:05\] Streaming .*…  1\.0 MiB\/4\.0 MiB 25%  1\.0 MiB\/s  00:03 left  attempt 2$/);
    for (const width of [40, 60, 80, 120]) expect(progressLine(5000, { phase, bytes: 10, retry: { activity: 'a', attempt: 2, lastError: 'boom' } }, 1, width).length).toBeLessThanOrEqual(width);
  });

  test('durations read as a clock', () => {
    expect([formatDuration(0), formatDuration(61_000), formatDuration(3_723_000)]).toEqual(['00:00', '01:01', '1:02:03']);
  });
});

describe("the backup tool's log, read for progress", () => {
  test('gives each file as its thread finishes it, mariadb-backup and xtrabackup alike', () => {
    const track = toolCopyTracker();
    const log = [
      '[00] 2026-12-03 20:14:37 Streaming /tmp/fl/data//aria_log_control to <STDOUT>',
      '[00] 2026-12-03 20:14:37         ...done',
      '[01] 2026-12-03 20:14:37 Streaming ./mysql/innodb_index_stats.ibd',
      '[00] 2026-12-03 20:14:37 Streaming ./mysql/gtid_slave_pos.ibd',
      '[01] 2026-12-03 20:14:37 Streaming ibdata1',
      '[00] 2026-12-03 20:14:37         ...done',
      '[01] 2026-12-03 20:14:37 Copied file ./mysql/slow_log.CSV for log table `mysql`.`slow_log`, 0 bytes',
      '[01] 2026-12-03 20:14:38         ...done',
      '[00] 2026-12-03 20:14:37         ...done',
      '2026-12-03T20:14:39.123+00:00 1 [Note] [MY-011825] [Xtrabackup] Copying ./shop/orders.ibd to <STDOUT>',
      '2026-12-03T20:14:39.456+00:00 1 [Note] [MY-011825] [Xtrabackup] Done: Copying ./shop/orders.ibd to <STDOUT>',
    ];
    expect(log.map(track).filter((path) => path !== undefined)).toEqual(['/tmp/fl/data//aria_log_control', './mysql/gtid_slave_pos.ibd', 'ibdata1', './shop/orders.ibd']);
  });
});

describe('a step no worker takes', () => {
  test('says so, naming the step and how long it has waited, instead of only the phase', () => {
    const line = progressLine(45_000, { phase: 'Reading the backups of db2 in s3://backups/db2', waiting: { activity: 'listBackups', seconds: 44 } }, undefined, 200);
    expect(line).toBe("[00:45] Reading the backups of db2 in s3://backups/db2  no worker has taken listBackups for 44 s: is the cluster's host worker running?");
  });
});
