/**
 * The binlog scanner on real MariaDB 10.11 binary logs (test/fixtures/binlogs, written by a server
 * with server_id 7: one with CRC32 checksums, one with two GTID domains, one with binlog_checksum=NONE),
 * cut into chunks every way, cut short, and on bytes that are no binlog at all.
 */
import { describe, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { BinlogFormatError, BinlogScanner, formatGtids, isEncryptedByServer, parseGtid, parseGtids, type BinlogFacts, type Gtid } from '../../domain/binlog.js';
import { check, RUNS } from './properties/arbitraries.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '../../../test/fixtures/binlogs');
const fixture = (name: string) => readFileSync(join(fixtures, name));

function scan(bytes: Uint8Array, cuts: number[] = [], stopAfter?: number): BinlogFacts {
  const scanner = new BinlogScanner(stopAfter === undefined ? {} : { stopAfter });
  let from = 0;
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    scanner.push(bytes.subarray(from, cut));
    from = cut;
  }
  scanner.push(bytes.subarray(from));
  return scanner.finish();
}

describe('one GTID', () => {
  test('parses exactly one domain-server-sequence, sequence numbers of 64 bits', () => {
    expect(parseGtid('0-1-18446744073709551615')).toEqual({ domain: 0, server: 1, seq: '18446744073709551615' });
    for (const text of ['', '0-1', '0-1-2,0-1-3', '0-1-18446744073709551616', 'a-b-c']) expect(parseGtid(text)).toBeUndefined();
  });
});

describe('binlog facts', () => {
  test('the first file of a server: no GTID before it, three transactions, rotated', () => {
    const bytes = fixture('binlog.000001');
    expect(scan(bytes)).toMatchObject({
      serverId: 7,
      serverVersion: '10.11.19-MariaDB-0+deb12u1-log',
      startGtids: [],
      endGtids: [{ domain: 0, server: 7, seq: '3' }],
      transactions: 3,
      closedBy: 'rotate',
      endPosition: bytes.length,
    });
  });

  test('two domains: the start state from its Gtid_list, the end state moved on per domain, and the second that moved them', () => {
    const facts = scan(fixture('binlog.000002'));
    expect(formatGtids(facts.startGtids)).toBe('0-7-3');
    expect(formatGtids(facts.endGtids)).toBe('0-7-4,2-7-1');
    expect(facts.transactions).toBe(2);
    expect(facts.seconds).toEqual([{ at: facts.lastEventTime, gtids: facts.endGtids }]);
    expect(new Date(facts.firstEventTime * 1000).toISOString()).toBe('2026-12-03T12:07:36.000Z');
  });

  test('binlog_checksum=NONE reads the same way', () => {
    const facts = scan(fixture('binlog.000005-no-checksums'));
    expect(formatGtids(facts.startGtids)).toBe('0-7-4,2-7-1');
    expect(formatGtids(facts.endGtids)).toBe('0-7-6,2-7-1');
    expect(facts).toMatchObject({ transactions: 2, closedBy: 'rotate', endPosition: fixture('binlog.000005-no-checksums').length });
  });

  test('the stop position is where the first transaction after the second begins (its GTID event), and none when all are in or before it', () => {
    const bytes = fixture('binlog.000001');
    const { firstEventTime, lastEventTime } = scan(bytes);
    // Positions as `mariadb-binlog` prints them: GTID 0-7-1 at 325; every event of the file is in one second.
    expect(scan(bytes, [], firstEventTime - 1).stopPosition).toBe(325);
    expect(scan(bytes, [], lastEventTime).stopPosition).toBeUndefined();
    expect(scan(fixture('binlog.000002'), [], firstEventTime - 1).stopPosition).toBe(379);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: bytes.length }), { maxLength: 20 }), (cuts) => {
        check(scan(bytes, cuts, firstEventTime - 1).stopPosition === 325, 'the same stop position whatever the chunks', { cuts });
      }),
      { numRuns: RUNS / 4 },
    );
  });

  test('with a GTID to stop after: whether the file holds it, and where the next transaction begins', () => {
    const scanWith = (gtid: string) => {
      const scanner = new BinlogScanner({ stopAfterGtid: parseGtids(gtid)?.[0] as Gtid });
      scanner.push(fixture('binlog.000001'));
      return scanner.finish();
    };
    // GTIDs 0-7-1 at 325, 0-7-2 at 448, 0-7-3 at 621 (as mariadb-binlog prints them).
    expect(scanWith('0-7-1')).toMatchObject({ stopGtidSeen: true, stopPosition: 448 });
    expect(scanWith('0-7-2')).toMatchObject({ stopGtidSeen: true, stopPosition: 621 });
    expect(scanWith('0-7-3').stopPosition).toBeUndefined();
    expect(scanWith('0-7-3').stopGtidSeen).toBe(true);
    expect(scanWith('0-8-1')).toMatchObject({ stopGtidSeen: false });
    expect(scanWith('0-8-1').stopPosition).toBeUndefined();
  });

  test('the server ids a file names: its writer and the servers of its GTID states', () => {
    expect(scan(fixture('binlog.000002')).serverIds).toEqual([7]);
  });

  test('a file cut short ends at its last whole event and is not closed', () => {
    const bytes = fixture('binlog.000001');
    const whole = scan(bytes);
    const cut = scan(bytes.subarray(0, bytes.length - 10));
    expect(cut.closedBy).toBe('none');
    expect(cut.endPosition).toBeLessThan(bytes.length - 10);
    expect(cut.endGtids).toEqual(whole.endGtids);
  });

  test('chunks cut anywhere give the same facts as the whole file (property)', () => {
    for (const name of ['binlog.000001', 'binlog.000002', 'binlog.000005-no-checksums']) {
      const bytes = fixture(name);
      const whole = scan(bytes);
      fc.assert(
        fc.property(fc.array(fc.integer({ min: 0, max: bytes.length }), { maxLength: 40 }), (cuts) => {
          check(JSON.stringify(scan(bytes, cuts)) === JSON.stringify(whole), 'the same facts whatever the chunks', { name, cuts });
        }),
        { numRuns: RUNS / 4 },
      );
    }
  });

  test('bytes that are no binlog, or a damaged one, fail with BinlogFormatError and nothing else (property)', () => {
    const real = fixture('binlog.000002');
    const damaged = fc.tuple(fc.integer({ min: 0, max: real.length - 1 }), fc.integer({ min: 0, max: 255 })).map(([at, value]) => {
      const copy = Uint8Array.from(real);
      copy[at] = value;
      return copy;
    });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }), damaged), (bytes) => {
        try {
          scan(bytes);
        } catch (error) {
          check(error instanceof BinlogFormatError, 'only BinlogFormatError', { error: String(error) });
        }
      }),
      { numRuns: RUNS },
    );
    expect(() => scan(new TextEncoder().encode('hello, this is not a binlog'))).toThrow(BinlogFormatError);
  });
});

describe('GTID lists', () => {
  test('parse and format round trip, sorted by domain; anything else is refused', () => {
    expect(parseGtids('2-7-1,0-7-4')).toEqual([
      { domain: 0, server: 7, seq: '4' },
      { domain: 2, server: 7, seq: '1' },
    ]);
    expect(formatGtids(parseGtids('0-1-18446744073709551615') ?? [])).toBe('0-1-18446744073709551615');
    expect(parseGtids('')).toEqual([]);
    for (const bad of ['0-1', '0-1-x', '0-1-18446744073709551616', '4294967296-1-1', '0-1-2,,']) expect(parseGtids(bad)).toBeUndefined();
  });
});

describe('a binlog its server encrypted (encrypt_binlog)', () => {
  // Written by MariaDB 10.11.19 with file_key_management and encrypt_binlog=ON (server_id 1, three
  // transactions, rotated), and the same file read through that server with
  // `mariadb-binlog --read-from-remote-server --raw`.
  const encrypted = fixture('encrypted.000001');
  const throughServer = fixture('encrypted.000001-read-through-server');

  test('is told apart from its copy read through the server, which has the same size and positions', () => {
    expect(isEncryptedByServer(encrypted)).toBe(true);
    expect(isEncryptedByServer(throughServer)).toBe(false);
    expect(isEncryptedByServer(fixture('binlog.000001'))).toBe(false);
    expect(throughServer.length).toBe(encrypted.length);
    // Too few bytes to say; bytes that are no binlog are not an encrypted one.
    expect(isEncryptedByServer(encrypted.subarray(0, 100))).toBeUndefined();
    expect(isEncryptedByServer(Buffer.from('not a binlog at all, but long enough to hold two event headers and more'))).toBe(false);
  });

  test('is refused by the scanner, which would read noise; its copy read through the server scans whole', () => {
    expect(() => scan(encrypted)).toThrow(new BinlogFormatError('the file is encrypted by its server (encrypt_binlog) from position 256 on: it can only be read through the server'));
    expect(scan(throughServer, [300, 301])).toMatchObject({ serverId: 1, serverVersion: '10.11.19-MariaDB-0+deb12u1-log', transactions: 3, closedBy: 'rotate', endPosition: encrypted.length, endGtids: [{ domain: 0, server: 1, seq: '3' }] });
  });
});

describe('a file still being written, as the stream reads it', () => {
  /** Everything a scan of the first `length` bytes knows at its last whole transaction. */
  function atSafePoint(bytes: Uint8Array, length: number) {
    const scanner = new BinlogScanner();
    scanner.push(bytes.subarray(0, length));
    return scanner.knowsStart ? scanner.factsAtSafePoint() : undefined;
  }

  test('a cut is only ever made after a whole transaction: the file cut there reads exactly as the facts at the cut say (property, every file)', () => {
    for (const name of ['binlog.000001', 'binlog.000002', 'binlog.000005-no-checksums']) {
      const bytes = fixture(name);
      const whole = scan(bytes);
      fc.assert(
        fc.property(fc.integer({ min: 0, max: bytes.length }), (length) => {
          const cut = atSafePoint(bytes, length);
          if (!cut) return;
          check(cut.endPosition <= length, 'the cut is within what arrived', { name, length });
          // The prefix up to the cut, scanned on its own: no transaction in part, the same state and count.
          const prefix = scan(bytes.subarray(0, cut.endPosition));
          check(prefix.transactions === cut.transactions && formatGtids(prefix.endGtids) === formatGtids(cut.endGtids), 'the prefix holds the transactions the cut counts, whole', { name, length, cut: cut.endPosition });
          check(JSON.stringify(prefix.seconds) === JSON.stringify(cut.seconds), 'the same seconds', { name, length });
        }),
        { numRuns: RUNS },
      );
      // All of it arrived: the cut is the file's end, and its facts are the file's.
      expect(atSafePoint(bytes, bytes.length)).toMatchObject({ endPosition: bytes.length, transactions: whole.transactions, endGtids: whole.endGtids, closedBy: whole.closedBy });
    }
  });

  test("a reader that reuses its buffer for each chunk (as the stream's tail does) gets the same facts: the scanner keeps copies, not views", () => {
    for (const name of ['binlog.000001', 'binlog.000002', 'binlog.000005-no-checksums']) {
      const bytes = fixture(name);
      for (const size of [1, 7, 19, 64, 333]) {
        const scanner = new BinlogScanner();
        const reused = Buffer.alloc(size);
        for (let at = 0; at < bytes.length; at += size) {
          const length = bytes.copy(reused, 0, at, Math.min(bytes.length, at + size));
          scanner.push(reused.subarray(0, length));
        }
        expect(scanner.finish()).toEqual(scan(bytes));
      }
    }
  });

  test('a transaction whose events have not all arrived is not counted, and no cut is made inside it', () => {
    const bytes = fixture('binlog.000001');
    // Positions as `mariadb-binlog` prints them: GTID 0-7-1 begins at 325.
    const inside = atSafePoint(bytes, 340);
    expect(inside).toMatchObject({ endPosition: 325, transactions: 0, endGtids: [] });
  });

  test('resumed partway (the stream sends the magic and the format description, then the events from there): the same facts as the whole file', () => {
    const bytes = fixture('binlog.000002');
    const whole = scan(bytes);
    const headerEnd = 4 + bytes.readUInt32LE(4 + 9);
    for (let length = headerEnd; length <= bytes.length; length += 7) {
      const before = atSafePoint(bytes, length);
      if (!before || before.endPosition <= headerEnd) continue;
      const resumed = new BinlogScanner({ resume: { position: before.endPosition, firstEventTime: before.firstEventTime, startGtids: before.startGtids, endGtids: before.endGtids, transactions: before.transactions } });
      resumed.push(bytes.subarray(0, headerEnd));
      resumed.push(bytes.subarray(before.endPosition));
      const facts = resumed.finish();
      expect({ ...facts, seconds: [], events: 0 }).toEqual({ ...whole, seconds: [], events: 0 });
      // Its seconds are those of the part it read: the whole file's from the cut's last second on.
      expect(facts.seconds.every((second) => whole.seconds.some((known) => known.at === second.at))).toBe(true);
    }
  });
});
