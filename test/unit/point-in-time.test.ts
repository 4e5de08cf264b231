/** Which backup a restore to a point starts from, and which archived binlogs it replays, from manifests and records alone. */
import { describe, expect, test } from '@jest/globals';
import type { BinlogRecord } from '../../domain/binlog-archive.js';
import type { CommittedBackup } from '../../domain/chain.js';
import { chooseBackupForGtid, chooseBackupForPoint, planGtidReplay, planReplay, recoverableWindow, tookPlaceIn, type RecoverableWindow } from '../../domain/point-in-time.js';
import { stored } from '../support/stored-backups.js';

const full = 'shop-2026-04-06T000000.000Z-full';
const incr = 'shop-2026-04-07T000000.000Z-incr';
const backups = [
  stored(full, full, { finishedAt: '2026-04-06T00:10:00.000Z', binlog: { file: 'bin.000002', position: '500', gtid: '0-1-20' } }),
  stored(incr, full, { finishedAt: '2026-04-07T00:10:00.000Z', binlog: { file: 'bin.000004', position: '700', gtid: '0-1-40' } }),
  // Committed, but without a binlog position (log_bin was off): never a starting point.
  stored('shop-2026-04-08T000000.000Z-incr', full, { finishedAt: '2026-04-08T00:10:00.000Z', binlog: null }),
];
const window: RecoverableWindow = { from: '2026-04-06T00:10:00.000Z', to: '2026-04-08T12:00:00.000Z' };

function record(file: string, first: string, last: string, startGtids: string, endGtids: string): BinlogRecord {
  return { formatVersion: 1, cluster: 'shop', history: 0, file, object: `${file}.zst`, size: 1, sha256: 'b'.repeat(64), fileSize: 1, compression: 'zstd', serverId: 1, serverVersion: '10.11', firstEventTime: first, lastEventTime: last, startGtids, endGtids, endPosition: 1, transactions: 1, closedBy: 'rotate', seconds: [], archivedAt: last, archivedBy: 'test' };
}

const archive = [
  record('bin.000004', '2026-04-07T00:00:00.000Z', '2026-04-07T12:00:00.000Z', '0-1-35', '0-1-50'),
  record('bin.000005', '2026-04-07T12:00:00.000Z', '2026-04-08T00:00:00.000Z', '0-1-50', '0-1-60'),
  record('bin.000006', '2026-04-08T00:00:00.000Z', '2026-04-08T12:00:00.000Z', '0-1-60', '0-1-70'),
];
const at = (iso: string) => Date.parse(iso);

describe('choosing the backup', () => {
  test('the newest backup finished at or before the point that records a binlog position', () => {
    expect(chooseBackupForPoint(backups, at('2026-04-07T00:10:00.000Z'), window)).toMatchObject({ ok: true, value: { name: incr } });
    expect(chooseBackupForPoint(backups, at('2026-04-07T00:09:59.999Z'), window)).toMatchObject({ ok: true, value: { name: full } });
    expect(chooseBackupForPoint(backups, at('2026-04-09T00:00:00.000Z'), window)).toMatchObject({ ok: true, value: { name: incr } });
  });

  test('a point before every backup is refused with the recoverable window', () => {
    expect(chooseBackupForPoint(backups, at('2026-04-05T00:00:00.000Z'), window)).toEqual({
      ok: false,
      code: 'InvalidRequest',
      reason: 'no backup that records its binlog position finished before 2026-04-05T00:00:00.000Z: the recoverable window is 2026-04-06T00:10:00.000Z to 2026-04-08T12:00:00.000Z',
    });
  });
});

describe('planning the replay', () => {
  const backup = backups[1] as CommittedBackup;

  test('from the backup’s own file and position to the first file that ends after the point; stops after the point’s second, in UTC', () => {
    expect(planReplay(backup, archive, at('2026-04-07T18:30:05.250Z'), window)).toEqual({
      ok: true,
      value: { files: [archive[0], archive[1]].map((r) => ({ file: r?.file, object: r?.object, size: r?.size, sha256: r?.sha256, archivedAt: r?.archivedAt })), startPosition: 700, stopDatetime: '2026-04-07 18:30:06' },
    });
    // A point in the backup's own file replays only that file.
    expect(planReplay(backup, archive, at('2026-04-07T06:00:00.000Z'), window)).toMatchObject({ ok: true, value: { files: [{ file: 'bin.000004' }] } });
  });

  test('an archive that does not hold the backup’s file, that ends before the point, or has a gap between, is refused with the window', () => {
    expect(planReplay(backup, archive.slice(1), at('2026-04-07T18:00:00.000Z'), window)).toMatchObject({ ok: false, code: 'BrokenChain', reason: expect.stringContaining('does not hold bin.000004') as unknown as string });
    expect(planReplay(backup, archive, at('2026-04-08T12:00:01.000Z'), window)).toMatchObject({ ok: false, code: 'InvalidRequest', reason: expect.stringContaining('is after the newest archived event (2026-04-08T12:00:00.000Z in bin.000006)') as unknown as string });
    const gapped = [archive[0], { ...archive[2], startGtids: '0-1-65' }] as BinlogRecord[];
    const refused = planReplay(backup, gapped, at('2026-04-08T06:00:00.000Z'), window);
    expect(refused).toMatchObject({ ok: false, code: 'BrokenChain' });
    expect(refused.ok ? '' : refused.reason).toMatch(/gap between bin\.000004 and bin\.000006 \(GTID 0-1-50 to 0-1-65\).*the recoverable window is 2026-04-06T00:10:00.000Z to 2026-04-08T12:00:00.000Z/);
  });
});

describe('the recoverable window', () => {
  test('from the oldest backup whose binlog file the archive holds to the newest archived event, with the gaps', () => {
    const gaps = [{ after: 'bin.000005', before: 'bin.000007', from: '2026-04-08T00:00:00.000Z', to: '2026-04-08T01:00:00.000Z' }];
    // The full backup's file (bin.000002) was never archived: the window starts at the increment.
    expect(recoverableWindow(backups, { files: ['bin.000004', 'bin.000005', 'bin.000007'], newestEventTime: '2026-04-08T12:00:00.000Z', gaps })).toEqual({ from: '2026-04-07T00:10:00.000Z', to: '2026-04-08T12:00:00.000Z', gaps });
    expect(recoverableWindow(backups, { files: ['bin.000002', 'bin.000004'], newestEventTime: '2026-04-08T12:00:00.000Z', gaps: [] })).toMatchObject({ from: '2026-04-06T00:10:00.000Z' });
    // Backups from before the last in-place restore belong to another history.
    expect(recoverableWindow(backups, { files: ['bin.000002', 'bin.000004'], newestEventTime: '2026-04-08T12:00:00.000Z', gaps: [], restoredAt: '2026-04-06T12:00:00.000Z' })).toMatchObject({ from: '2026-04-07T00:10:00.000Z' });
    expect(recoverableWindow(backups, { files: ['bin.000009'], newestEventTime: '2026-04-08T12:00:00.000Z', gaps: [] })).toBeUndefined();
    expect(recoverableWindow(backups, { files: [], gaps: [] })).toBeUndefined();
  });
});

describe('a restore to a GTID', () => {
  test('starts from the newest backup that does not hold the GTID yet; one that ends exactly at it replays nothing', () => {
    expect(chooseBackupForGtid(backups, '0-1-45')).toMatchObject({ ok: true, value: { name: incr } });
    expect(chooseBackupForGtid(backups, '0-1-39')).toMatchObject({ ok: true, value: { name: full } });
    expect(chooseBackupForGtid(backups, '0-1-40')).toMatchObject({ ok: true, value: { name: incr } });
    // Another domain, which no backup has reached yet: the newest backup.
    expect(chooseBackupForGtid(backups, '3-1-1')).toMatchObject({ ok: true, value: { name: incr } });
    expect(chooseBackupForGtid(backups, '0-1-19')).toMatchObject({ ok: false, code: 'InvalidRequest', reason: `every backup that records its GTID position is past 0-1-19: the oldest, ${full}, is at 0-1-20` });
    expect(planGtidReplay(backups[1] as CommittedBackup, archive, '0-1-40')).toMatchObject({ ok: true, value: { files: [], stopAfterGtid: '0-1-40' } });
  });

  test('replays from the backup’s position to the file that holds the GTID; refused past the archive, or across a gap', () => {
    const backup = backups[1] as CommittedBackup;
    expect(planGtidReplay(backup, archive, '0-1-55')).toEqual({
      ok: true,
      value: { files: [archive[0], archive[1]].map((r) => ({ file: r?.file, object: r?.object, size: r?.size, sha256: r?.sha256, archivedAt: r?.archivedAt })), startPosition: 700, stopDatetime: '2026-04-08 00:00:01', stopAfterGtid: '0-1-55' },
    });
    expect(planGtidReplay(backup, archive, '0-1-50')).toMatchObject({ ok: true, value: { files: [{ file: 'bin.000004' }] } });
    expect(planGtidReplay(backup, archive, '0-1-71')).toMatchObject({ ok: false, code: 'InvalidRequest', reason: '0-1-71 is after the newest archived transaction: the archive holds 0-1-35 to 0-1-70' });
    // A GTID of another server in that domain is not in these files.
    expect(planGtidReplay(backup, archive, '0-2-55')).toMatchObject({ ok: false, code: 'InvalidRequest' });
    const gapped = [archive[0], { ...archive[2], startGtids: '0-1-65' }] as BinlogRecord[];
    expect(planGtidReplay(backup, gapped, '0-1-68')).toMatchObject({ ok: false, code: 'BrokenChain', reason: expect.stringContaining('gap between bin.000004 and bin.000006') as unknown as string });
  });
});

describe('which history a backup was taken in', () => {
  test('the archived file of its binlog position whose events span a moment of the backup', () => {
    const backup = stored(full, full, { startedAt: '2026-04-06T00:00:00.000Z', finishedAt: '2026-04-06T00:10:00.000Z', binlog: { file: 'bin.000002', position: '500' } }) as CommittedBackup;
    const span = (first: string, last: string) => ({ firstEventTime: first, lastEventTime: last });
    expect(tookPlaceIn(backup, span('2026-04-05T23:00:00.000Z', '2026-04-06T00:05:00.000Z'))).toBe(true);
    expect(tookPlaceIn(backup, span('2026-04-06T00:09:00.000Z', '2026-04-06T03:00:00.000Z'))).toBe(true);
    // A file of the same name from another history: before the backup began, or after it finished.
    expect(tookPlaceIn(backup, span('2026-04-01T00:00:00.000Z', '2026-04-05T23:59:58.000Z'))).toBe(false);
    expect(tookPlaceIn(backup, span('2026-04-06T00:10:01.000Z', '2026-04-07T00:00:00.000Z'))).toBe(false);
  });
});
