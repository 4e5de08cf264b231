/** What an archiving round uploads, and how gaps and continuity are told, from names and records alone. */
import { describe, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BinlogScanner } from '../../domain/binlog.js';
import fc from 'fast-check';
import { binlogFolder, binlogRecord, binlogRecordSchema, binlogSegmentSchema, binlogsToPrune, continues, filesBetween, filesToArchive, isOlderFile, newestFile, openFileRecord, segmentObject } from '../../domain/binlog-archive.js';
import { check, RUNS } from './properties/arbitraries.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '../../../test/fixtures/binlogs');

function recordOf(file: string) {
  const scanner = new BinlogScanner();
  const bytes = readFileSync(join(fixtures, file));
  scanner.push(bytes);
  return binlogRecord({ cluster: 'shop', history: 0, file: file.replace(/-no-checksums$/, ''), object: `${file}.zst`, size: 10, sha256: 'a'.repeat(64), fileSize: bytes.length, facts: scanner.finish(), archivedBy: 'test', archivedAt: new Date(0) });
}

describe('archiving rounds', () => {
  test('every closed file the archive lacks, oldest first; never the file being written', () => {
    const server = ['mariadb-bin.000003', 'mariadb-bin.000004', 'mariadb-bin.000005'];
    expect(filesToArchive(server, [])).toEqual(['mariadb-bin.000003', 'mariadb-bin.000004']);
    expect(filesToArchive(server, ['mariadb-bin.000003'])).toEqual(['mariadb-bin.000004']);
    expect(filesToArchive(server, ['mariadb-bin.000003', 'mariadb-bin.000004'])).toEqual([]);
    expect(filesToArchive(['mariadb-bin.000001'], [])).toEqual([]);
    expect(filesToArchive([], [])).toEqual([]);
  });

  test('the newest archived file, the files between two, and which is older go by sequence, not by text', () => {
    expect(newestFile(['b.000009', 'b.000010', 'b.000002'])).toBe('b.000010');
    expect(newestFile([])).toBeUndefined();
    expect(filesBetween('b.000009', 'b.000012')).toEqual(['b.000010', 'b.000011']);
    expect(filesBetween('b.999999', 'b.1000001')).toEqual(['b.1000000']);
    expect(filesBetween('b.000009', 'b.000010')).toEqual([]);
    expect(filesBetween('a.000001', 'b.000003')).toEqual([]);
    expect(isOlderFile('b.000009', 'b.000010')).toBe(true);
    expect(isOlderFile('b.000010', 'b.000009')).toBe(false);
    expect(isOlderFile('a.000001', 'b.000009')).toBe(false);
  });

  test('a record made from real binlogs is valid; continuity goes by GTID state, so files that held no transaction lose nothing', () => {
    const [first, second, fifth] = [recordOf('binlog.000001'), recordOf('binlog.000002'), recordOf('binlog.000005-no-checksums')];
    for (const record of [first, second, fifth]) expect(binlogRecordSchema.parse(JSON.parse(JSON.stringify(record)))).toEqual(record);
    expect(continues(first, second)).toBe(true);
    // Files 3 and 4 held no transaction: the fifth starts where the second ended.
    expect(continues(second, fifth)).toBe(true);
    expect(continues(first, fifth)).toBe(false);
    expect(second.seconds).toEqual([[Date.parse('2026-12-03T12:07:36Z') / 1000, '0-7-4,2-7-1']]);
  });

  test('each history of a cluster has a folder of its own', () => {
    expect(binlogFolder({ cluster: 'shop', history: 0 })).toBe('binlogs/shop/history-0/');
    expect(binlogFolder({ cluster: 'shop', history: 2 })).toBe('binlogs/shop/history-2/');
  });
});

describe('binlog retention', () => {
  const file = (sequence: number) => `binlog.${String(sequence).padStart(6, '0')}`;
  const files = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, index) => file(from + index));
  const kept = [
    { name: 'full-2', finishedAt: '2026-12-02T01:00:00.000Z', binlogFile: file(12) },
    { name: 'incr-2a', finishedAt: '2026-12-03T01:00:00.000Z', binlogFile: file(20) },
  ];
  const archive = { histories: [{ history: 0, files: files(3, 25), gapsAfter: [file(5), file(14)] }] };

  test('the files before the oldest kept backup’s binlog file go, with the gaps among them; that file and every later one stay', () => {
    const pruning = binlogsToPrune({ kept, unreadableBackups: 0, archive, currentHistory: 0 });
    expect(pruning.histories).toEqual([{ history: 0, files: files(3, 11), gapsAfter: [file(5)] }]);
    expect(pruning.keptFrom).toEqual({ file: file(12), backup: 'full-2' });
    // The archive lags behind the backups: its newest file stays, for the archiver to go on from.
    const behind = binlogsToPrune({ kept, unreadableBackups: 0, archive: { histories: [{ history: 0, files: files(3, 9), gapsAfter: [] }] }, currentHistory: 0 });
    expect(behind.histories).toEqual([{ history: 0, files: files(3, 8), gapsAfter: [] }]);
  });

  test('nothing goes while a manifest cannot be read, or when no kept backup records a binlog position', () => {
    expect(binlogsToPrune({ kept, unreadableBackups: 1, archive, currentHistory: 0 })).toMatchObject({ histories: [], reason: expect.stringContaining('cannot be read') });
    const noPosition = kept.map(({ name, finishedAt }) => ({ name, finishedAt }));
    expect(binlogsToPrune({ kept: noPosition, unreadableBackups: 0, archive, currentHistory: 0 })).toMatchObject({ histories: [], reason: expect.stringContaining('records a binlog position') });
    expect(binlogsToPrune({ kept: [], unreadableBackups: 0, archive, currentHistory: 0 }).histories).toEqual([]);
  });

  test('an older history goes whole only once every kept backup was taken after the restore that ended it', () => {
    const two = { histories: [{ history: 0, files: files(3, 25), gapsAfter: [] }, { history: 1, files: files(1, 4), gapsAfter: [] }] };
    const afterRestore = [{ name: 'full-3', finishedAt: '2026-12-04T01:00:00.000Z', binlogFile: file(2) }];
    expect(binlogsToPrune({ kept: afterRestore, unreadableBackups: 0, archive: two, currentHistory: 1, restoredAt: '2026-12-03T12:00:00.000Z' }).histories).toEqual([
      { history: 0, files: files(3, 25), gapsAfter: [] },
      { history: 1, files: [file(1)], gapsAfter: [] },
    ]);
    // A backup from before the restore is still kept: the old history stays, and the new one is pruned by its own backups only.
    expect(binlogsToPrune({ kept: [...kept, ...afterRestore], unreadableBackups: 0, archive: two, currentHistory: 1, restoredAt: '2026-12-03T12:00:00.000Z' }).histories).toEqual([{ history: 1, files: [file(1)], gapsAfter: [] }]);
  });

  test('no kept backup’s binlog file, nor any file after it, is ever pruned (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ at: fc.integer({ min: 0, max: 1000 }), sequence: fc.option(fc.integer({ min: 1, max: 60 }), { nil: undefined }) }), { maxLength: 8 }),
        fc.integer({ min: 1, max: 60 }),
        fc.integer({ min: 0, max: 2 }),
        (backups, last, unreadable) => {
          const keptBackups = backups.map((backup, index) => ({ name: `b${index}`, finishedAt: new Date(backup.at * 1000).toISOString(), ...(backup.sequence === undefined ? {} : { binlogFile: file(backup.sequence) }) }));
          const pruning = binlogsToPrune({ kept: keptBackups, unreadableBackups: unreadable, archive: { histories: [{ history: 0, files: files(1, last), gapsAfter: files(1, last) }] }, currentHistory: 0 });
          const pruned = new Set(pruning.histories.flatMap((history) => history.files));
          for (const backup of keptBackups) {
            if (!backup.binlogFile) continue;
            const needed = Number(backup.binlogFile.slice(-6));
            check(!files(needed, last).some((name) => pruned.has(name)), 'a file a kept backup needs is never pruned', { backup, pruned: [...pruned] });
          }
          if (unreadable > 0) check(pruned.size === 0, 'nothing goes while a manifest is unreadable', { unreadable });
          check(!pruned.has(file(last)), 'the newest archived file stays', { last });
        },
      ),
      { numRuns: RUNS },
    );
  });
});

describe('a file streamed in parts', () => {
  const part = (start: number, end: number, seconds: [number, string][], endGtids: string, lastEventTime = '2026-12-03T12:00:05.000Z') =>
    binlogSegmentSchema.parse({
      formatVersion: 1,
      cluster: 'shop',
      history: 0,
      file: 'mariadb-bin.000004',
      startPosition: start,
      endPosition: end,
      object: segmentObject('mariadb-bin.000004', start),
      size: end - start,
      sha256: 'b'.repeat(64),
      compression: 'zstd',
      serverId: 1,
      serverVersion: '11.8.3-MariaDB',
      firstEventTime: '2026-12-03T12:00:00.000Z',
      lastEventTime,
      startGtids: '0-1-10',
      endGtids,
      transactions: 3,
      seconds,
      archivedAt: '2026-12-03T12:00:06.000Z',
      archivedBy: 'test',
    });

  test('its parts from position 0, end to start, are the file up to the last one; the seconds they share merge, the later moves winning', () => {
    const record = openFileRecord([part(400, 900, [[5, '0-1-12'], [6, '0-1-13']], '0-1-13', '2026-12-03T12:00:06.000Z'), part(0, 400, [[4, '0-1-11'], [5, '0-1-11,1-1-2']], '0-1-11,1-1-2')]);
    expect(record).toMatchObject({ file: 'mariadb-bin.000004', endPosition: 900, fileSize: 900, size: 900, startGtids: '0-1-10', endGtids: '0-1-13', closedBy: 'none', lastEventTime: '2026-12-03T12:00:06.000Z' });
    expect(record?.seconds).toEqual([
      [4, '0-1-11'],
      [5, '0-1-12,1-1-2'],
      [6, '0-1-13'],
    ]);
    expect(record?.parts?.map((used) => used.object)).toEqual([segmentObject('mariadb-bin.000004', 0), segmentObject('mariadb-bin.000004', 400)]);
  });

  test('a part after a break is not used, and parts that do not start at position 0 are no file', () => {
    expect(openFileRecord([part(0, 400, [], '0-1-11'), part(500, 900, [], '0-1-13')])?.endPosition).toBe(400);
    expect(openFileRecord([part(400, 900, [], '0-1-13')])).toBeUndefined();
  });

  test("a quiet server's cover moves the last event's time on only when it vouches for the same end", () => {
    const parts = [part(0, 400, [[5, '0-1-11']], '0-1-11')];
    const cover = { formatVersion: 1 as const, cluster: 'shop', history: 0, file: 'mariadb-bin.000004', endPosition: 400, endGtids: '0-1-11', through: '2026-12-03T12:09:00.000Z', writtenAt: '2026-12-03T12:09:00.100Z' };
    expect(openFileRecord(parts, cover)?.lastEventTime).toBe('2026-12-03T12:09:00.000Z');
    expect(openFileRecord(parts, { ...cover, endPosition: 300 })?.lastEventTime).toBe('2026-12-03T12:00:05.000Z');
    expect(openFileRecord(parts, { ...cover, endGtids: '0-1-12' })?.lastEventTime).toBe('2026-12-03T12:00:05.000Z');
  });
});
