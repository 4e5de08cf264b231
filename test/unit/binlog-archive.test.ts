/** What an archiving round uploads, and how gaps and continuity are told, from names and records alone. */
import { describe, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BinlogScanner } from '../../domain/binlog.js';
import { binlogFolder, binlogRecord, binlogRecordSchema, continues, filesBetween, filesToArchive, isOlderFile, newestFile } from '../../domain/binlog-archive.js';

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
