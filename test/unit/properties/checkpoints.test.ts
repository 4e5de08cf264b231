import { describe, test } from '@jest/globals';
import fc from 'fast-check';
import { CheckpointsError, compareLsn, isLsn, parseBackupInfo, parseCheckpoints, type Checkpoints } from '../../../domain/checkpoints.js';
import { check, nastyString, RUNS } from './arbitraries.js';

const MAX_LSN = 2n ** 64n - 1n;
const KEYS = ['backup_type', 'from_lsn', 'to_lsn', 'last_lsn'] as const;
type Key = (typeof KEYS)[number];

/** An LSN by its definition: 1 to 20 ASCII digits, below 2^64 (written without the product's regex). */
function lsnOracle(value: string): boolean {
  return value.length >= 1 && value.length <= 20 && [...value].every((c) => c >= '0' && c <= '9') && BigInt(value) <= MAX_LSN;
}

const lsn = fc.oneof(fc.bigInt({ min: 0n, max: MAX_LSN }).map(String), fc.nat().map(String), fc.constantFrom('0', '1', String(MAX_LSN), String(MAX_LSN - 1n)));

/** What a tool writes: the four keys and some others, in any order, with either line end. */
const checkpointsFile = fc
  .record({
    backupType: fc.constantFrom('full-backuped', 'incremental', 'log-applied', 'full-prepared'),
    lsns: fc.tuple(lsn, lsn).map(([a, b]): [string, string] => (BigInt(a) <= BigInt(b) ? [a, b] : [b, a])),
    lastLsn: lsn,
    others: fc.subarray(['recover_binlog_info = 0', 'flushed_lsn = 0', 'redo_memory = 0', 'redo_frames = 0', 'compact = 0', '# a comment', '']),
    separator: fc.constantFrom(' = ', '=', '  =\t', ' =  '),
    eol: fc.constantFrom('\n', '\r\n'),
    trailingEol: fc.boolean(),
  })
  .chain(({ backupType, lsns: [fromLsn, toLsn], lastLsn, others, separator, eol, trailingEol }) => {
    const values: Record<Key, string> = { backup_type: backupType, from_lsn: fromLsn, to_lsn: toLsn, last_lsn: lastLsn };
    const lines = [...KEYS.map((key) => `${key}${separator}${values[key]}`), ...others];
    return fc.shuffledSubarray(lines, { minLength: lines.length }).map((shuffled) => ({
      values,
      separator,
      eol,
      text: shuffled.join(eol) + (trailingEol ? eol : ''),
    }));
  });

/** Values an LSN must not be; some arbitrary strings may happen to be valid, the oracle decides. */
const badLsnValue = fc.oneof(
  fc.constantFrom('', '-1', '+1', '1.5', '1e3', '0x10', ' 12 34', 'abc', '١٢٣', '18446744073709551616', '99999999999999999999', '1'.repeat(21), '0'.repeat(21), '12a'),
  nastyString,
  fc.bigInt({ min: 2n ** 64n, max: 10n ** 30n }).map(String),
);

function thrownBy(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  return undefined;
}

function expectRefusal(error: unknown, message: string): void {
  check(error instanceof CheckpointsError && error.message === message, 'refused with a CheckpointsError', { expected: message, got: String(error) });
}

const MESSAGE = /^xtrabackup_checkpoints has (?:no (?:backup_type|from_lsn|to_lsn|last_lsn)|an invalid (?:from_lsn|to_lsn|last_lsn): ".*"|to_lsn \d+ below from_lsn \d+)$/s;

describe('xtrabackup_checkpoints (properties)', () => {
  test('every file a tool can write parses to its four values, whatever the order, spacing and line ends', () => {
    fc.assert(
      fc.property(checkpointsFile, ({ values, text }) => {
        const parsed = parseCheckpoints(text);
        check(
          parsed.backupType === values.backup_type && parsed.fromLsn === values.from_lsn && parsed.toLsn === values.to_lsn && parsed.lastLsn === values.last_lsn,
          'the file parses to its values',
          { text, parsed },
        );
      }),
      { numRuns: RUNS },
    );
  });

  test('a file with one key removed or one value spoilt is refused with a CheckpointsError naming that key', () => {
    const mutation = fc.record({ key: fc.constantFrom(...KEYS), remove: fc.boolean(), value: badLsnValue.filter((v) => !/[\r\n]/.test(v)) });
    fc.assert(
      fc.property(checkpointsFile, mutation, ({ values, separator, eol }, { key, remove, value }) => {
        const lines = KEYS.filter((k) => !(remove && k === key)).map((k) => `${k}${separator}${k === key ? value : values[k]}`);
        const error = thrownBy(() => parseCheckpoints(lines.join(eol)));
        if (remove) {
          expectRefusal(error, `xtrabackup_checkpoints has no ${key}`);
          return;
        }
        const trimmed = value.trim();
        if (key === 'backup_type' || lsnOracle(trimmed)) {
          // Still a well-formed file; only a to_lsn now below from_lsn can make it wrong.
          const from = key === 'from_lsn' ? trimmed : values.from_lsn;
          const to = key === 'to_lsn' ? trimmed : values.to_lsn;
          if (BigInt(to) < BigInt(from)) expectRefusal(error, `xtrabackup_checkpoints has to_lsn ${to} below from_lsn ${from}`);
          else check(error === undefined, 'a well-formed file is accepted', String(error));
          return;
        }
        expectRefusal(error, `xtrabackup_checkpoints has an invalid ${key}: "${trimmed}"`);
      }),
      { numRuns: 3000 },
    );
  });

  test('a to_lsn below from_lsn is refused with both values', () => {
    fc.assert(
      fc.property(checkpointsFile, ({ values, separator, eol }) => {
        fc.pre(values.from_lsn !== values.to_lsn);
        const swapped = { ...values, from_lsn: values.to_lsn, to_lsn: values.from_lsn };
        const text = KEYS.map((k) => `${k}${separator}${swapped[k]}`).join(eol);
        expectRefusal(
          thrownBy(() => parseCheckpoints(text)),
          `xtrabackup_checkpoints has to_lsn ${swapped.to_lsn} below from_lsn ${swapped.from_lsn}`,
        );
      }),
      { numRuns: RUNS },
    );
  });

  test('arbitrary text throws nothing but a CheckpointsError naming a key; what parses holds valid, ordered LSNs', () => {
    const line = fc.oneof(
      fc.tuple(fc.oneof(fc.constantFrom(...KEYS), nastyString), fc.constantFrom('=', ' = ', '==', ''), fc.oneof(lsn, badLsnValue)).map((parts) => parts.join('')),
      nastyString,
    );
    const text = fc.oneof(nastyString, fc.array(line, { maxLength: 8 }).map((lines) => lines.join('\n')));
    fc.assert(
      fc.property(text, (input) => {
        let parsed: Checkpoints | undefined;
        const error = thrownBy(() => (parsed = parseCheckpoints(input)));
        if (parsed) {
          check([parsed.fromLsn, parsed.toLsn, parsed.lastLsn].every(lsnOracle), 'parsed LSNs are LSNs', parsed);
          check(BigInt(parsed.toLsn) >= BigInt(parsed.fromLsn), 'to_lsn is not below from_lsn', parsed);
          return;
        }
        check(error instanceof CheckpointsError && MESSAGE.test(error.message), 'only a CheckpointsError naming a key', String(error));
      }),
      { numRuns: 3000 },
    );
  });
});

describe('LSNs (properties)', () => {
  test('isLsn accepts exactly 1 to 20 ASCII digits below 2^64', () => {
    const text = fc.oneof(nastyString, badLsnValue, lsn, fc.stringMatching(/^\d{0,25}$/));
    fc.assert(
      fc.property(text, (value) => {
        check(isLsn(value) === lsnOracle(value), 'isLsn agrees with the definition', value);
      }),
      { numRuns: 3000 },
    );
  });

  test('compareLsn orders decimal strings of up to 30 digits as BigInt does', () => {
    const decimal = fc.oneof(fc.stringMatching(/^\d{1,30}$/), lsn);
    fc.assert(
      fc.property(decimal, decimal, (a, b) => {
        const [x, y] = [BigInt(a), BigInt(b)];
        check(compareLsn(a, b) === (x < y ? -1 : x > y ? 1 : 0), 'compareLsn agrees with BigInt', { a, b });
        check(compareLsn(b, a) + compareLsn(a, b) === 0, 'compareLsn is antisymmetric', { a, b });
        check(compareLsn(a, `000${a}`) === 0, 'leading zeros do not count', a);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('xtrabackup_info (properties)', () => {
  test('arbitrary text never throws, and a binlog position is only taken whole', () => {
    const line = fc.oneof(fc.tuple(fc.constantFrom('tool_name', 'tool_version', 'server_version', 'binlog_pos'), fc.constantFrom(' = ', '='), nastyString).map((parts) => parts.join('')), nastyString);
    fc.assert(
      fc.property(fc.array(line, { maxLength: 6 }), (lines) => {
        const info = parseBackupInfo(lines.join('\n'));
        check(Object.keys(info).every((key) => ['toolName', 'toolVersion', 'serverVersion', 'binlog'].includes(key)), 'only known fields', info);
        if (info.binlog) check(info.binlog.file !== '' && /^\d+$/.test(info.binlog.position), 'a binlog position is whole', info.binlog);
      }),
      { numRuns: RUNS },
    );
  });

  test('the binlog position of both tools is read exactly', () => {
    const file = fc.stringMatching(/^[A-Za-z0-9._-]{1,30}$/);
    const gtid = fc.option(fc.stringMatching(/^\d{1,3}-\d{1,3}-\d{1,9}(?:,\d{1,3}-\d{1,3}-\d{1,9}){0,2}$/), { nil: undefined });
    fc.assert(
      fc.property(file, fc.nat().map(String), gtid, fc.constantFrom('\n', '\r\n'), (name, position, lastGtid, eol) => {
        const pos = `filename '${name}', position '${position}'${lastGtid === undefined ? '' : `, GTID of the last change '${lastGtid}'`}`;
        const info = parseBackupInfo(['tool_name = mariadb-backup', `binlog_pos = ${pos}`, 'server_version = 10.11.19-MariaDB'].join(eol));
        check(info.binlog?.file === name && info.binlog.position === position && info.binlog.gtid === lastGtid, 'the position is read exactly', { pos, binlog: info.binlog });
      }),
      { numRuns: RUNS },
    );
  });
});
