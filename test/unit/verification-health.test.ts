/** The rules of verification and health that need no server: user checks, the LSN rule, refusing failed chains, health thresholds, Prometheus text. */
import { describe, expect, test } from '@jest/globals';
import { checkVerifiedChain, isCommitted, type CommittedBackup } from '../../domain/chain.js';
import { configSchema, userCheckSchema } from '../../domain/config.js';
import { brokenRules, prometheusText, type ClusterHealth, type ClusterStatus, type MetricsReading } from '../../domain/health.js';
import { parseVerificationRecord, type VerificationRecord } from '../../domain/manifest.js';
import { backupRequestSchema, restoreRequestSchema } from '../../domain/requests.js';
import { parseWith } from '../../domain/validation.js';
import { lsnProblem, statusLsn, userCheckProblem } from '../../domain/verification.js';
import { stored } from '../support/stored-backups.js';

const check = (fields: Record<string, unknown>) => userCheckSchema.parse({ name: 'orders today', query: 'SELECT COUNT(*) FROM shop.orders', ...fields });

describe('a user check', () => {
  test('holds or fails by the first column of the first row, and names itself when it fails', () => {
    expect(userCheckProblem(check({ atLeast: 1 }), [['12']])).toBeUndefined();
    expect(userCheckProblem(check({ atLeast: 1 }), [['0']])).toBe('check "orders today" returned 0, expected >= 1');
    expect(userCheckProblem(check({ atLeast: 1, atMost: 10 }), [['12']])).toBe('check "orders today" returned 12, expected >= 1 and <= 10');
    expect(userCheckProblem(check({ equals: 3 }), [['3']])).toBeUndefined();
    expect(userCheckProblem(check({ equals: 3 }), [['3.5']])).toBe('check "orders today" returned 3.5, expected = 3');
    expect(userCheckProblem(check({ equals: 'utf8mb4' }), [['latin1']])).toBe('check "orders today" returned latin1, expected = utf8mb4');
    expect(userCheckProblem(check({ equals: 'utf8mb4' }), [['utf8mb4', 'ignored']])).toBeUndefined();
    expect(userCheckProblem(check({ atLeast: 1 }), [])).toBe('check "orders today" returned no row');
    expect(userCheckProblem(check({ atLeast: 1 }), [['NULL']])).toBe('check "orders today" returned NULL, not a number (expected >= 1)');
    expect(userCheckProblem(check({ equals: 0 }), [['']])).toBe('check "orders today" returned , expected = 0');
  });

  test('the configuration refuses a check without an expected result, and two checks of one name', () => {
    expect(userCheckSchema.safeParse({ name: 'x', query: 'SELECT 1' }).error?.issues[0]?.message).toBe('needs an expected result: equals, atLeast or atMost');
    const cluster = {
      name: 'shop',
      connection: { socket: '/run/mysqld/mysqld.sock', user: 'backup' },
      datadir: '/var/lib/mysql',
      storage: { kind: 'filesystem', path: '/backups' },
      controller: { kind: 'command', stop: ['systemctl', 'stop', 'mariadb'], start: ['systemctl', 'start', 'mariadb'] },
      verification: { checks: [check({ atLeast: 1 }), check({ atMost: 5 })] },
    };
    const parsed = parseWith(configSchema, { clusters: [cluster] }, 'configuration');
    expect(parsed.ok ? '' : parsed.message).toMatch(/clusters\.0\.verification\.checks\.1\.name.*"orders today" names two checks/);
  });
});

describe('the LSN a server started on a prepared chain reports', () => {
  test('is read from SHOW ENGINE INNODB STATUS and must reach the last LSN of the backups', () => {
    const status = '=====\\nLOG\\n---\\nLog sequence number 123456789\\nLog flushed up to   123456789\\n';
    expect(statusLsn(status)).toBe('123456789');
    expect(lsnProblem('123456789', '123456000')).toBeUndefined();
    expect(lsnProblem('123456789', '123456789')).toBeUndefined();
    expect(lsnProblem('1000', '123456789')).toBe('the server on the prepared data is at LSN 1000, before the 123456789 its backups carry: the prepare did not apply the whole chain');
    expect(lsnProblem(statusLsn('nothing here'), '1')).toBe('the server on the prepared data did not report its log sequence number');
  });
});

const verification = (backup: string, result: 'passed' | 'failed'): VerificationRecord => ({
  formatVersion: 1,
  backup,
  result,
  problems: result === 'failed' ? ['CHECK TABLE shop.orders: corrupt'] : [],
  verifiedAt: '2026-04-07T01:00:00.000Z',
  worker: 'db1',
  workflowId: 'verify-shop-x',
});

function chainOf(...verified: ('passed' | 'failed' | undefined)[]): CommittedBackup[] {
  const base = 'shop-2026-04-06T010000.000Z-full';
  return verified.map((result, index) => {
    const name = index === 0 ? base : `shop-2026-04-0${6 + index}T010000.000Z-incr`;
    const backup = stored(name, base, {});
    if (!isCommitted(backup)) throw new Error('not committed');
    return result ? { ...backup, verification: verification(name, result) } : backup;
  });
}

describe('a chain one of whose backups failed its verification', () => {
  test('is refused for a restore and for the next increment, naming the backup and what to do, unless accepted', () => {
    const chain = chainOf('passed', 'failed', undefined);
    const restore = checkVerifiedChain(chain, 'restore', false);
    expect(restore).toMatchObject({ ok: false, code: 'FailedVerification' });
    expect(restore.ok ? '' : restore.reason).toContain('shop-2026-04-07T010000.000Z-incr (verified 2026-04-07T01:00:00.000Z: CHECK TABLE shop.orders: corrupt)');
    const next = checkVerifiedChain(chain, 'continue', false);
    expect(next.ok ? '' : next.reason).toContain('Start a new chain (chainbackup backup shop --type full)');
    expect(checkVerifiedChain(chain, 'restore', true).ok).toBe(true);
    expect(checkVerifiedChain(chainOf('passed', undefined, 'passed'), 'restore', false).ok).toBe(true);
  });

  test('requests carry the override, off unless set; a verification may name no backup (the newest), a restore may not', () => {
    expect(backupRequestSchema.parse({ cluster: 'shop', type: 'incremental' }).acceptFailedVerification).toBe(false);
    expect(restoreRequestSchema.parse({ cluster: 'shop', target: { kind: 'verify' } })).toMatchObject({ acceptFailedVerification: false });
    const refused = parseWith(restoreRequestSchema, { cluster: 'shop' }, 'restore request');
    expect(refused.ok ? '' : refused.message).toContain('give exactly one of backupName, source, pointInTime or gtid');
    const wrongType = parseWith(restoreRequestSchema, { cluster: 'shop', backupName: 'shop-2026-04-06T010000.000Z-full', acceptFailedVerification: 'yes' }, 'restore request');
    expect(wrongType.ok ? '' : wrongType.message).toContain('acceptFailedVerification');
  });

  test('a stored verification record that cannot be read says why', () => {
    expect(parseVerificationRecord('{')).toEqual({ ok: false, reason: 'verification.json is not valid JSON' });
    expect(parseVerificationRecord('{"formatVersion":1}')).toMatchObject({ ok: false, reason: expect.stringMatching(/^verification.json field backup /) as unknown });
    expect(parseVerificationRecord(JSON.stringify(verification('b', 'passed')))).toMatchObject({ ok: true });
  });
});

const healthy = (overrides: Partial<ClusterHealth> = {}): ClusterHealth => ({
  cluster: 'shop',
  checkedAt: '2026-04-08T00:00:00.000Z',
  storage: { label: 'file:///backups', committedBytes: 1000, uncommittedBytes: 0, chains: 1 },
  newestBackup: { name: 'shop-2026-04-07T010000.000Z-incr', type: 'incremental', finishedAt: '2026-04-07T01:00:00.000Z', ageSeconds: 23 * 3600 },
  newestVerified: { name: 'shop-2026-04-06T010000.000Z-full', finishedAt: '2026-04-06T01:00:00.000Z', verifiedAt: '2026-04-06T02:00:00.000Z', ageSeconds: 47 * 3600 },
  failedVerifications: [],
  failuresSinceBackup: [],
  running: [],
  schedules: [{ id: 'chainbackup-schedule-shop-full', type: 'full', paused: false, nextRun: '2026-04-12T01:00:00.000Z' }],
  pointInTime: { window: { from: '2026-04-06T01:00:00.000Z', to: '2026-04-07T23:59:00.000Z', gaps: 0 }, lagSeconds: 60, caughtUp: true },
  ...overrides,
});

/** A cluster read just now, as the metrics endpoint serves it. */
const reading = (status: ClusterStatus): MetricsReading => ({ cluster: status.health.cluster, status, up: true, readAtMs: Date.parse(status.health.checkedAt) });

describe('the health rules', () => {
  const rules = { newestBackupWithin: '26h', newestVerifiedWithin: '8d', maxFailuresSinceBackup: 0, archiveLagWithin: '5m' };

  test('a healthy cluster breaks none; no rule configured, none is checked', () => {
    expect(brokenRules(healthy(), rules)).toEqual([]);
    expect(brokenRules(healthy({ newestBackup: null, newestVerified: null }), {})).toEqual([]);
  });

  test('each threshold, broken, is named with the fact and the limit', () => {
    expect(brokenRules(healthy({ newestBackup: { ...healthy().newestBackup!, ageSeconds: 27 * 3600 } }), rules)).toEqual([
      { rule: 'health.newestBackupWithin', message: 'the newest backup shop-2026-04-07T010000.000Z-incr is 27.0h old (limit 26h)' },
    ]);
    expect(brokenRules(healthy({ newestBackup: null }), rules)).toEqual([{ rule: 'health.newestBackupWithin', message: 'no committed backup (limit 26h)' }]);
    expect(brokenRules(healthy({ newestVerified: { ...healthy().newestVerified!, ageSeconds: 9 * 86_400 } }), rules)).toEqual([
      { rule: 'health.newestVerifiedWithin', message: 'the newest verified backup shop-2026-04-06T010000.000Z-full is 9.0d old (limit 8d)' },
    ]);
    expect(brokenRules(healthy({ newestVerified: null }), rules).map((rule) => rule.rule)).toEqual(['health.newestVerifiedWithin']);
    expect(brokenRules(healthy({ failuresSinceBackup: [{ workflowId: 'backup-shop-incremental-1', type: 'incremental', closedAt: '2026-04-07T02:00:00.000Z' }] }), rules)).toEqual([
      { rule: 'health.maxFailuresSinceBackup', message: '1 backups failed since the newest committed one (limit 0): backup-shop-incremental-1' },
    ]);
    expect(brokenRules(healthy({ pointInTime: { window: null, lagSeconds: 900, caughtUp: false } }), rules)).toEqual([{ rule: 'health.archiveLagWithin', message: 'the binlog archive is 15m behind (limit 5m)' }]);
    expect(brokenRules(healthy({ pointInTime: { window: null, lastError: 'access denied' } }), rules)).toEqual([
      { rule: 'health.archiveLagWithin', message: 'the binlog archiver did not answer (last error: access denied) (limit 5m)' },
    ]);
    // A streamed archive: its lag above its RPO breaks binlogs.rpo, whatever the configured rules; at or below, nothing.
    expect(brokenRules(healthy({ pointInTime: { window: null, lagSeconds: 7.25, caughtUp: false, rpoSeconds: 5, lastError: 'connection refused' } }), {})).toEqual([
      { rule: 'binlogs.rpo', message: 'the binlog archive is 7.3s behind the server, more than its RPO of 5s (last error: connection refused)' },
    ]);
    expect(brokenRules(healthy({ pointInTime: { window: null, lagSeconds: 5, caughtUp: false, rpoSeconds: 5 } }), {})).toEqual([]);
    expect(brokenRules(healthy({ pointInTime: { window: null, rpoSeconds: 5 } }), {})).toEqual([
      { rule: 'binlogs.rpo', message: "the binlog stream did not report how far behind it is: is the host's worker running? (RPO 5s)" },
    ]);
    expect(brokenRules(healthy({ failedVerifications: [{ name: 'b', verifiedAt: 't', problems: ['x'] }] }), {})).toEqual([{ rule: 'verification', message: 'b failed its verification at t: start a new chain' }]);
  });

  test('binlogs lost after the newest backup break a rule of their own, whatever is configured; a failing archive is exported', () => {
    const gap = { window: { from: '2026-04-06T01:00:00.000Z', to: '2026-04-07T11:59:59Z', gaps: 1, unreachableFrom: { from: '2026-04-07T12:00:00.000Z', after: 'bin.000007' } }, lagSeconds: 5, caughtUp: true };
    expect(brokenRules(healthy({ pointInTime: gap }), {})).toEqual([
      { rule: 'binlogs.gap', message: 'binlogs after bin.000007 were purged before they were archived: no point in time from 2026-04-07T12:00:00.000Z on can be restored until the next backup (take one now)' },
    ]);
    const failing = prometheusText([reading({ health: healthy({ pointInTime: { window: null, lagSeconds: 400, caughtUp: false, failing: true, lastError: 'storage down' } }), broken: [] })]);
    expect(failing).toContain('chainbackup_binlog_archive_failing{cluster="shop"} 1\n');
    expect(prometheusText([reading({ health: healthy(), broken: [] })])).toContain('chainbackup_binlog_archive_failing{cluster="shop"} 0\n');
  });

  test('exported as Prometheus text: one gauge per fact, a sample per cluster, nothing for an unknown fact', () => {
    const text = prometheusText([reading({ health: healthy(), broken: [] }), reading({ health: healthy({ cluster: 'a"b', newestBackup: null, pointInTime: undefined }), broken: [{ rule: 'r', message: 'm' }] }), { cluster: 'down', up: false }]);
    expect(text).toContain('# TYPE chainbackup_last_backup_timestamp_seconds gauge\nchainbackup_last_backup_timestamp_seconds{cluster="shop"} 1775523600\n');
    expect(text).not.toContain('chainbackup_last_backup_timestamp_seconds{cluster="a\\"b"}');
    expect(text).toContain('chainbackup_healthy{cluster="shop"} 1\nchainbackup_healthy{cluster="a\\"b"} 0\n');
    expect(text).toContain('chainbackup_status_up{cluster="down"} 0\n');
    expect(text).toContain('chainbackup_binlog_archive_lag_seconds{cluster="shop"} 60\n');
    expect(text).toContain('chainbackup_schedule_next_run_timestamp_seconds{cluster="shop",schedule="full"} 1775955600\n');
    expect(text.endsWith('\n')).toBe(true);
    // Every sample line is a metric name, labels and a number.
    for (const line of text.split('\n').filter((entry) => entry !== '' && !entry.startsWith('#'))) expect(line).toMatch(/^chainbackup_[a-z_]+\{[^}]*\} -?\d+(\.\d+)?$/);
  });
});
