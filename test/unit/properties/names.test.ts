import { describe, test } from '@jest/globals';
import fc from 'fast-check';
import { belongsTo } from '../../../domain/ownership.js';
import { backupName, formatTimestamp, isValidClusterName, parseBackupName } from '../../../domain/names.js';
import { backupType, check, clusterName, epochMs, fullName, incrName, mutateText, nastyString, shortClusterName } from './arbitraries.js';

/** The cluster-name rule, written out character by character (independent of the product's regex). */
function clusterNameOracle(name: string): boolean {
  const chars = [...name];
  const alnum = (c: string) => (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
  return name.length >= 1 && name.length <= 63 && chars.length === name.length && chars.every((c) => alnum(c) || c === '-' || c === '_') && alnum(chars[0] ?? '') && alnum(chars.at(-1) ?? '');
}

function daysInMonth(year: number, month: number): number {
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  return [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1] ?? 0;
}

const pad = (n: number, width: number) => String(n).padStart(width, '0');

/** Date.UTC without its mapping of years 0 to 99 onto 1900 to 1999. */
function utc(year: number, month: number, day: number, hour: number, minute: number, second: number, ms: number): number {
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, ms);
  return date.getTime();
}

describe('backup names (properties)', () => {
  test('a name made by backupName parses back to exactly its cluster, type and time', () => {
    fc.assert(
      fc.property(clusterName, backupType, epochMs, (cluster, type, at) => {
        const name = backupName(cluster, type, at);
        const parsed = parseBackupName(name);
        check(parsed?.cluster === cluster && parsed.type === type && parsed.takenAt === at, 'the name parses back to what made it', { name, parsed });
        check(belongsTo({ name }, cluster), 'a name is a backup of its own cluster', name);
      }),
      { numRuns: 3000 },
    );
  });

  test('clusters whose names are prefixes or suffixes of each other never take each other’s backups', () => {
    // "shop" and "shop-copy", "shop" and "old-shop", and tails that look like parts of a backup name.
    const tail = fc.oneof(shortClusterName, fc.constantFrom('copy', 'full', 'incr', '2026', '2026-04-06', '2026-04-06t010203', '0', 'x-full', 'full-incr'));
    fc.assert(
      fc.property(shortClusterName, fc.constantFrom('-', '_', ''), tail, fc.boolean(), backupType, epochMs, (cluster, separator, extra, after, type, at) => {
        const other = after ? `${cluster}${separator}${extra}` : `${extra}${separator}${cluster}`;
        fc.pre(isValidClusterName(other) && other !== cluster);
        const mine = backupName(cluster, type, at);
        const theirs = backupName(other, type, at);
        check(parseBackupName(mine)?.cluster === cluster, 'a name parses as its own cluster', mine);
        check(parseBackupName(theirs)?.cluster === other, 'a name parses as its own cluster', theirs);
        check(!belongsTo({ name: theirs }, cluster) && !belongsTo({ name: mine }, other), 'neither cluster takes the other’s backup', { mine, theirs });
      }),
      { numRuns: 3000 },
    );
  });

  test('a name parses only if it is exactly what backupName makes of what it parses to (no impossible dates)', () => {
    // Names with every field of the timestamp drawn from a range wider than the calendar's.
    const stamp = fc.tuple(
      fc.integer({ min: 0, max: 9999 }),
      fc.integer({ min: 0, max: 19 }),
      fc.integer({ min: 0, max: 39 }),
      fc.integer({ min: 0, max: 29 }),
      fc.integer({ min: 0, max: 69 }),
      fc.integer({ min: 0, max: 69 }),
      fc.integer({ min: 0, max: 999 }),
    );
    fc.assert(
      fc.property(shortClusterName, stamp, fc.constantFrom('full', 'incr'), (cluster, [y, mo, d, h, mi, s, ms], kind) => {
        const name = `${cluster}-${pad(y, 4)}-${pad(mo, 2)}-${pad(d, 2)}T${pad(h, 2)}${pad(mi, 2)}${pad(s, 2)}.${pad(ms, 3)}Z-${kind}`;
        const real = mo >= 1 && mo <= 12 && d >= 1 && d <= daysInMonth(y, mo) && h <= 23 && mi <= 59 && s <= 59;
        const parsed = parseBackupName(name);
        if (!real) {
          check(parsed === undefined, 'a name with an impossible time does not parse', { name, parsed });
          return;
        }
        const type = kind === 'full' ? 'full' : 'incremental';
        check(parsed?.cluster === cluster && parsed.type === type && parsed.takenAt === utc(y, mo, d, h, mi, s, ms), 'a real time parses to itself', { name, parsed });
        check(backupName(cluster, type, parsed.takenAt) === name, 'the name is canonical', name);
      }),
      { numRuns: 3000 },
    );
  });

  test('arbitrary text and edited names never throw; whatever parses is a canonical name of a valid cluster', () => {
    const text = fc.oneof(nastyString, fullName.chain(mutateText), incrName.chain(mutateText));
    fc.assert(
      fc.property(text, (name) => {
        const parsed = parseBackupName(name);
        if (parsed === undefined) return;
        check(isValidClusterName(parsed.cluster), 'the cluster of a parsed name is valid', { name, parsed });
        check(backupName(parsed.cluster, parsed.type, parsed.takenAt) === name, 'a parsed name is canonical', { name, parsed });
      }),
      { numRuns: 3000 },
    );
  });

  test('isValidClusterName is the documented rule, for arbitrary text', () => {
    const chars = fc.constantFrom('a', 'z', 'm', '0', '9', '-', '_', 'A', 'Z', '.', '/', ' ', 'é', '🙂', '\n');
    const text = fc.oneof(nastyString, clusterName, fc.array(chars, { maxLength: 66 }).map((list) => list.join('')));
    fc.assert(
      fc.property(text, (name) => {
        check(isValidClusterName(name) === clusterNameOracle(name), 'isValidClusterName agrees with the rule', name);
      }),
      { numRuns: 3000 },
    );
  });

  test('timestamps have one shape and sort as the times they show', () => {
    fc.assert(
      fc.property(epochMs, epochMs, (a, b) => {
        const [ta, tb] = [formatTimestamp(a), formatTimestamp(b)];
        check(/^\d{4}-\d{2}-\d{2}T\d{6}\.\d{3}Z$/.test(ta), 'a timestamp has one shape', ta);
        // Catalogs sort names with localeCompare; plain comparison is what file listings give.
        check(Math.sign(ta.localeCompare(tb)) === Math.sign(a - b) && ta < tb === a < b, 'timestamps sort as their times', { ta, tb });
      }),
      { numRuns: 3000 },
    );
  });
});
