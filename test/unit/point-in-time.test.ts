/** Which backup a restore to a point starts from, and which archived binlogs it replays, from manifests and records alone. */
import { describe, expect, test } from '@jest/globals';
import type { BinlogRecord } from '../../domain/binlog-archive.js';
import type { CommittedBackup } from '../../domain/chain.js';
import { chooseBackupForGtid, chooseBackupForPoint, coveredThrough, describeRanges, planGtidReplay, planReplay, recoverableWindow, secondLabel, tookPlaceIn, unknownGtidSource } from '../../domain/point-in-time.js';
import { stored } from '../support/stored-backups.js';

const full = 'shop-2026-04-06T000000.000Z-full';
const incr = 'shop-2026-04-07T000000.000Z-incr';
const backups = [
  stored(full, full, { finishedAt: '2026-04-06T00:10:00.000Z', binlog: { file: 'bin.000002', position: '500', gtid: '0-1-20' } }),
  stored(incr, full, { finishedAt: '2026-04-07T00:10:00.300Z', binlog: { file: 'bin.000004', position: '700', gtid: '0-1-40' } }),
  // Committed, but without a binlog position (log_bin was off): never a starting point.
  stored('shop-2026-04-08T000000.000Z-incr', full, { finishedAt: '2026-04-08T00:10:00.000Z', binlog: null }),
];
const reach = 'reachable: (the test window)';

function record(file: string, first: string, last: string, startGtids: string, endGtids: string, seconds: [number, string][] = []): BinlogRecord {
  return { formatVersion: 1, cluster: 'shop', history: 0, file, object: `${file}.zst`, size: 1, sha256: 'b'.repeat(64), fileSize: 1, compression: 'zstd', serverId: 1, serverVersion: '10.11', firstEventTime: first, lastEventTime: last, startGtids, endGtids, endPosition: 1, transactions: 1, closedBy: 'rotate', seconds, archivedAt: last, archivedBy: 'test' };
}

const second = (iso: string) => Date.parse(iso) / 1000;
const archive = [
  record('bin.000004', '2026-04-07T00:00:00.000Z', '2026-04-07T12:00:00.000Z', '0-1-35', '0-1-50', [
    [second('2026-04-07T00:05:00Z'), '0-1-38'],
    [second('2026-04-07T00:10:00Z'), '0-1-40'],
    [second('2026-04-07T06:00:00Z'), '0-1-45'],
    [second('2026-04-07T11:59:59Z'), '0-1-50'],
  ]),
  record('bin.000005', '2026-04-07T12:00:00.000Z', '2026-04-08T00:00:00.000Z', '0-1-50', '0-1-60', [
    [second('2026-04-07T18:30:05Z'), '0-1-55'],
    [second('2026-04-07T18:30:07Z'), '0-1-56'],
  ]),
  record('bin.000006', '2026-04-08T00:00:00.000Z', '2026-04-08T12:00:00.000Z', '0-1-60', '0-1-70'),
];
const at = (iso: string) => Date.parse(iso);

describe('choosing the backup', () => {
  test('a point means the end of its whole second: the newest backup finished in it or before it, with a binlog position', () => {
    // The increment finished 300 ms into 00:10:00: that second, written with or without a fraction, starts from it.
    expect(chooseBackupForPoint(backups, at('2026-04-07T00:10:00.000Z'), reach)).toMatchObject({ ok: true, value: { name: incr } });
    expect(chooseBackupForPoint(backups, at('2026-04-07T00:10:00.500Z'), reach)).toMatchObject({ ok: true, value: { name: incr } });
    expect(chooseBackupForPoint(backups, at('2026-04-07T00:09:59.999Z'), reach)).toMatchObject({ ok: true, value: { name: full } });
    expect(chooseBackupForPoint(backups, at('2026-04-09T00:00:00.000Z'), reach)).toMatchObject({ ok: true, value: { name: incr } });
  });

  test('a point before every backup is refused, naming what is reachable', () => {
    expect(chooseBackupForPoint(backups, at('2026-04-05T00:00:00.700Z'), reach)).toEqual({ ok: false, code: 'InvalidRequest', reason: `2026-04-05T00:00:00Z is before every backup that records its binlog position: ${reach}` });
  });
});

describe('planning the replay', () => {
  const backup = backups[1] as CommittedBackup;
  const files = (records: (BinlogRecord | undefined)[]) => records.map((r) => ({ file: r?.file, object: r?.object, size: r?.size, sha256: r?.sha256, archivedAt: r?.archivedAt }));

  test('from the backup’s own file and position to the first file that ends after the point; stops after the point’s second, naming the last transaction applied', () => {
    expect(planReplay(backup, archive, at('2026-04-07T18:30:05.250Z'), reach)).toEqual({
      ok: true,
      value: { files: files([archive[0], archive[1]]), startPosition: 700, stopDatetime: '2026-04-07 18:30:06', lastApplied: { gtids: '0-1-55', loggedAt: '2026-04-07T18:30:05Z' } },
    });
    // A point in the backup's own file replays only that file.
    expect(planReplay(backup, archive, at('2026-04-07T06:00:00.000Z'), reach)).toMatchObject({ ok: true, value: { files: [{ file: 'bin.000004' }], lastApplied: { gtids: '0-1-45' } } });
    // A point whose transactions the backup already holds applies none after it.
    expect(planReplay(backup, archive, at('2026-04-07T00:10:00.000Z'), reach)).toMatchObject({ ok: true, value: { files: [{ file: 'bin.000004' }] } });
    expect(planReplay(backup, archive, at('2026-04-07T00:10:00.000Z'), reach)).not.toHaveProperty('value.lastApplied');
  });

  test('the archive’s newest second is not covered until an event of a later second is archived: refused as NotYetArchived, never short', () => {
    expect(coveredThrough('2026-04-08T12:00:00.000Z')).toBe(second('2026-04-08T11:59:59Z'));
    expect(planReplay(backup, archive, at('2026-04-08T11:59:59.999Z'), reach)).toMatchObject({ ok: true, value: { files: [{ file: 'bin.000004' }, { file: 'bin.000005' }, { file: 'bin.000006' }] } });
    const newest = planReplay(backup, archive, at('2026-04-08T12:00:00.000Z'), reach);
    expect(newest).toMatchObject({ ok: false, code: 'NotYetArchived' });
    expect(newest.ok ? '' : newest.reason).toContain('2026-04-08T12:00:00Z is not wholly archived yet: the archive\'s newest event is at 2026-04-08T12:00:00.000Z (in bin.000006)');
    expect(newest.ok ? '' : newest.reason).toContain('it covers every second up to 2026-04-08T11:59:59Z');
  });

  test('an archive that does not hold the backup’s file, or has a gap between, is refused naming what is reachable', () => {
    expect(planReplay(backup, archive.slice(1), at('2026-04-07T18:00:00.000Z'), reach)).toMatchObject({ ok: false, code: 'BrokenChain', reason: expect.stringContaining('does not hold bin.000004') as unknown as string });
    const gapped = [archive[0], { ...archive[2], startGtids: '0-1-65' }] as BinlogRecord[];
    const refused = planReplay(backup, gapped, at('2026-04-08T06:00:00.000Z'), reach);
    expect(refused).toMatchObject({ ok: false, code: 'BrokenChain' });
    expect(refused.ok ? '' : refused.reason).toBe(`the binlog archive has a gap between bin.000004 and bin.000006 (GTID 0-1-50 to 0-1-65), between backup ${incr} and 2026-04-08T06:00:00Z: ${reach}`);
  });
});

describe('the recoverable window', () => {
  const gap = { after: 'bin.000005', before: 'bin.000007', from: '2026-04-08T00:00:00.000Z', to: '2026-04-08T01:00:00.000Z' };

  test('each stretch from the oldest backup of a run of archived files to the run’s last covered second; a gap with no backup after it leaves the rest unreachable', () => {
    // The full backup's file (bin.000002) was never archived: the window starts at the increment, and ends a second before the gap's first lost event.
    const window = recoverableWindow(backups, { files: ['bin.000004', 'bin.000005', 'bin.000007'], newestEventTime: '2026-04-08T12:00:00.000Z', gaps: [gap] });
    expect(window).toEqual({
      from: '2026-04-07T00:10:00.300Z',
      to: '2026-04-07T23:59:59Z',
      ranges: [{ from: '2026-04-07T00:10:00.300Z', to: '2026-04-07T23:59:59Z', history: 0 }],
      gaps: [gap],
      unreachableFrom: { from: '2026-04-08T00:00:00.000Z', after: 'bin.000005' },
    });
    expect(describeRanges(window)).toBe('reachable: 2026-04-07T00:10:00.300Z to 2026-04-07T23:59:59Z; nothing from 2026-04-08T00:00:00.000Z on (binlogs after bin.000005 were lost) until the next backup');
    // A backup after the gap starts a stretch of its own.
    const later = [...backups, stored('shop-2026-04-08T020000.000Z-incr', full, { finishedAt: '2026-04-08T02:10:00.000Z', binlog: { file: 'bin.000007', position: '4', gtid: '0-1-66' } })];
    expect(recoverableWindow(later, { files: ['bin.000004', 'bin.000005', 'bin.000007'], newestEventTime: '2026-04-08T12:00:00.000Z', gaps: [gap] })).toMatchObject({
      ranges: [{ to: '2026-04-07T23:59:59Z' }, { from: '2026-04-08T02:10:00.000Z', to: '2026-04-08T11:59:59Z' }],
    });
    expect(recoverableWindow(later, { files: ['bin.000004', 'bin.000005', 'bin.000007'], newestEventTime: '2026-04-08T12:00:00.000Z', gaps: [gap] })).not.toHaveProperty('unreachableFrom');
  });

  test('the history before the last in-place restore has stretches of its own, never merged with the current one', () => {
    const restored = stored('shop-2026-04-09T000000.000Z-full', 'shop-2026-04-09T000000.000Z-full', { finishedAt: '2026-04-09T00:10:00.000Z', binlog: { file: 'bin.000001', position: '300', gtid: '0-1-10' } });
    const window = recoverableWindow([...backups, restored], {
      files: ['bin.000001'],
      newestEventTime: '2026-04-09T06:00:00.000Z',
      gaps: [],
      history: 1,
      restoredAt: '2026-04-08T20:00:00.000Z',
      previous: { history: 0, files: ['bin.000004', 'bin.000005'], newestEventTime: '2026-04-08T00:00:00.000Z', gaps: [], backups: [incr] },
    });
    expect(window?.history).toBe(1);
    expect(window?.ranges).toEqual([
      { from: '2026-04-07T00:10:00.300Z', to: '2026-04-07T23:59:59Z', history: 0 },
      { from: '2026-04-09T00:10:00.000Z', to: '2026-04-09T05:59:59Z', history: 1 },
    ]);
    expect(describeRanges(window)).toContain('2026-04-07T00:10:00.300Z to 2026-04-07T23:59:59Z (history 0, before the last in-place restore); 2026-04-09T00:10:00.000Z to 2026-04-09T05:59:59Z (history 1, the current one)');
  });

  test('nothing reachable: no backup in the archive, or nothing archived after it', () => {
    expect(recoverableWindow(backups, { files: ['bin.000009'], newestEventTime: '2026-04-08T12:00:00.000Z', gaps: [] })).toBeUndefined();
    expect(recoverableWindow(backups, { files: [], gaps: [] })).toBeUndefined();
    // The increment's own second is the archive's newest: not covered yet.
    expect(recoverableWindow(backups, { files: ['bin.000004'], newestEventTime: '2026-04-07T00:10:00.000Z', gaps: [] })).toBeUndefined();
    expect(secondLabel(second('2026-04-07T00:10:00Z'))).toBe('2026-04-07T00:10:00Z');
  });
});

describe('a restore to a GTID', () => {
  test('starts from the newest backup that does not hold the GTID yet; one that ends exactly at it replays nothing', () => {
    expect(chooseBackupForGtid(backups, '0-1-45')).toMatchObject({ ok: true, value: { name: incr } });
    expect(chooseBackupForGtid(backups, '0-1-39')).toMatchObject({ ok: true, value: { name: full } });
    expect(chooseBackupForGtid(backups, '0-1-40')).toMatchObject({ ok: true, value: { name: incr } });
    expect(chooseBackupForGtid(backups, '0-1-19')).toMatchObject({
      ok: false,
      code: 'InvalidRequest',
      reason: `every backup that records its GTID position already holds 0-1-19: the oldest, ${full}, holds domain 0 up to sequence 20, so a restore to a GTID of that domain reaches sequence 20 and later`,
    });
    expect(planGtidReplay(backups[1] as CommittedBackup, archive, '0-1-40')).toMatchObject({ ok: true, value: { files: [], stopAfterGtid: '0-1-40' } });
  });

  test('a GTID of a domain or server that nothing holds is refused as such, not as "after the newest"', () => {
    expect(unknownGtidSource('3-1-1', ['0-1-20', '0-1-40', '0-1-70'])).toBe('no backup and no archived binlog holds a transaction of domain 3 from server 1 (3-1-1): they hold 0-1-…; check the GTID');
    expect(unknownGtidSource('0-2-5', ['0-1-20,1-2-3'])).toContain('they hold 0-1-…, 1-2-…');
    expect(unknownGtidSource('0-1-999', ['0-1-20'])).toBeUndefined();
  });

  test('replays from the backup’s position to the file that holds the GTID; not yet archived past the archive, refused across a gap', () => {
    const backup = backups[1] as CommittedBackup;
    expect(planGtidReplay(backup, archive, '0-1-55')).toEqual({
      ok: true,
      value: { files: [archive[0], archive[1]].map((r) => ({ file: r?.file, object: r?.object, size: r?.size, sha256: r?.sha256, archivedAt: r?.archivedAt })), startPosition: 700, stopDatetime: '2026-04-08 00:00:01', stopAfterGtid: '0-1-55' },
    });
    expect(planGtidReplay(backup, archive, '0-1-50')).toMatchObject({ ok: true, value: { files: [{ file: 'bin.000004' }] } });
    expect(planGtidReplay(backup, archive, '0-1-71')).toMatchObject({
      ok: false,
      code: 'NotYetArchived',
      reason: "0-1-71 is not archived yet: the archive's newest transaction of domain 0 from server 1 is 0-1-70; the archive holds 0-1-35 to 0-1-70; give an earlier GTID, or let the restore wait for the archive (--wait-for-archive)",
    });
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
