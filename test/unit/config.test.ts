import { describe, expect, test } from '@jest/globals';
import { ConfigError, parseConfig } from '../../config/file.js';
import { parseWeekSchedule } from '../../domain/week.js';
import { backupRequestSchema, restoreRequestSchema } from '../../domain/requests.js';
import { parseWith } from '../../domain/validation.js';

const cluster = {
  name: 'shop',
  connection: { socket: '/run/mysqld/mysqld.sock', user: 'backup', passwordEnv: 'SHOP_BACKUP_PASSWORD' },
  datadir: '/var/lib/mysql',
  storage: { kind: 's3', bucket: 'backups', prefix: 'prod' },
  controller: { kind: 'command', stop: ['systemctl', 'stop', 'mariadb'], start: ['systemctl', 'start', 'mariadb'] },
};

function configError(clusterOverrides: Record<string, unknown>): string {
  try {
    parseConfig(JSON.stringify({ clusters: [{ ...cluster, ...clusterOverrides }] }), 'test.yaml');
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error('the configuration was accepted');
}

describe('configuration', () => {
  test('fills in defaults', () => {
    const config = parseConfig(JSON.stringify({ clusters: [cluster] }), 'test.yaml');
    expect(config.temporal.taskQueue).toBe('chainbackup');
    expect(config.clusters[0]).toMatchObject({ flavour: 'mariadb', backup: { parallel: 2, compression: 'zstd' }, incremental: { enabled: false }, retry: { maximumAttempts: 5 } });
  });

  test.each([
    [{ connection: { ...cluster.connection, password: 'hunter2' } }, 'clusters.0.connection: Unrecognized key: "password"'],
    [{ incremental: { enabled: true } }, 'clusters.0.incremental.fullBackupWeekSchedule: is required when incremental backups are enabled'],
    [{ incremental: { enabled: true, fullBackupWeekSchedule: 'mon,fun' } }, 'clusters.0.incremental.fullBackupWeekSchedule: "fun" is not a day'],
    [{ incremental: { enabled: true, fullBackupWeekSchedule: 'mon,mon' } }, '"mon" is listed twice'],
    [{ incremental: { enabled: true, fullBackupWeekSchedule: '' } }, 'lists no day'],
    [{ name: 'Shop!' }, 'clusters.0.name: must be lowercase letters'],
    [{ datadir: 'var/lib/mysql' }, 'clusters.0.datadir: must be an absolute path'],
    [{ connection: { user: 'backup' } }, 'clusters.0.connection: set exactly one of socket or host'],
    [{ controller: { kind: 'command', stop: [], start: ['x'] } }, 'clusters.0.controller.stop: must be a command as an argument array'],
    [{ schedule: { time: '25:00' } }, 'clusters.0.schedule.time: must be HH:MM'],
    [{ retry: { heartbeatTimeout: '5s' } }, 'clusters.0.retry.heartbeatTimeout: must be at least 10s'],
    [{ retry: { heartbeatTimeout: '5 s' } }, 'clusters.0.retry.heartbeatTimeout: must be a duration'],
  ])('refuses %j, naming the field', (overrides, message) => {
    expect(configError(overrides)).toContain(message);
  });

  test('refuses two clusters with one name, and non-YAML text', () => {
    expect(() => parseConfig(JSON.stringify({ clusters: [cluster, cluster] }), 'c.yaml')).toThrow('clusters.1.name: "shop" is used by two clusters');
    expect(() => parseConfig('clusters: [', 'c.yaml')).toThrow('c.yaml: not valid YAML or JSON');
  });

  test('week schedules follow the Aiven contract', () => {
    expect(parseWeekSchedule('wed, mon')).toEqual({ ok: true, days: ['mon', 'wed'] });
  });
});

describe('encryption settings', () => {
  const refused = (extra: Record<string, unknown>, clusterOverrides: Record<string, unknown> = {}) => {
    try {
      parseConfig(JSON.stringify({ clusters: [{ ...cluster, ...clusterOverrides }], ...extra }), 'test.yaml');
    } catch (error) {
      if (error instanceof ConfigError) return error.message;
      throw error;
    }
    throw new Error('the configuration was accepted');
  };
  const keys = [{ id: 'k1', file: '/etc/k1' }, { id: 'k2', env: 'K2' }];

  test('keys, a current key among them, and S3 server-side encryption are taken', () => {
    const config = parseConfig(JSON.stringify({ clusters: [{ ...cluster, storage: { ...cluster.storage, serverSideEncryption: 'aws:kms', kmsKeyId: 'alias/backups' } }], encryption: { currentKey: 'k2', keys }, temporal: { payloadEncryption: { currentKey: 'k1', keys } } }), 'test.yaml');
    expect(config.encryption?.currentKey).toBe('k2');
    expect(config.temporal.payloadEncryption?.keys).toHaveLength(2);
    expect(config.clusters[0]?.storage).toMatchObject({ serverSideEncryption: 'aws:kms', kmsKeyId: 'alias/backups' });
  });

  test.each([
    [{ encryption: { currentKey: 'k9', keys } }, {}, 'encryption.currentKey: "k9" is not one of keys (k1, k2)'],
    [{ encryption: { currentKey: 'k1', keys: [...keys, { id: 'k1', env: 'OTHER' }] } }, {}, 'encryption.keys.2.id: "k1" is listed twice'],
    [{ encryption: { currentKey: 'k1', keys: [{ id: 'k1', file: '/etc/k1', env: 'K1' }] } }, {}, 'encryption.keys.0: set exactly one of file or env'],
    [{ encryption: { currentKey: 'k1', keys: [{ id: 'k1' }] } }, {}, 'encryption.keys.0: set exactly one of file or env'],
    [{ encryption: { currentKey: 'k 1', keys: [{ id: 'k 1', file: '/etc/k1' }] } }, {}, 'must be 1 to 64 letters, digits, ".", "_" or "-"'],
    [{ encryption: { currentKey: 'k1', keys: [] } }, {}, 'encryption.keys: must list at least one key'],
    [{ encryption: { currentKey: 'k1', keys: [{ id: 'k1', file: 'relative/k1' }] } }, {}, 'encryption.keys.0.file: must be an absolute path'],
    [{ temporal: { payloadEncryption: { currentKey: 'p1', keys } } }, {}, 'temporal.payloadEncryption.currentKey: "p1" is not one of keys'],
    [{ encryption: { currentKey: 'k1', keys, plaintextBefore: 'yesterday' } }, {}, 'encryption.plaintextBefore: must be a time such as "2026-12-01T00:00:00Z"'],
    [{ temporal: { payloadEncryption: { currentKey: 'k1', keys, plaintextBefore: '2026-12-01T00:00:00Z' } } }, {}, 'temporal.payloadEncryption: Unrecognized key: "plaintextBefore"'],
    [{}, { storage: { ...cluster.storage, kmsKeyId: 'alias/backups' } }, 'clusters.0.storage.kmsKeyId: kmsKeyId needs serverSideEncryption "aws:kms"'],
    [{}, { storage: { ...cluster.storage, serverSideEncryption: 'aes' } }, 'clusters.0.storage.serverSideEncryption'],
  ])('refuses %j, naming the field', (extra, clusterOverrides, message) => {
    expect(refused(extra, clusterOverrides)).toContain(message);
  });
});

describe('workflow requests', () => {
  test('a backup request names the bad field', () => {
    expect(parseWith(backupRequestSchema, { cluster: 'shop', type: 'incremental' }, 'backup request')).toEqual({ ok: true, value: { cluster: 'shop', type: 'incremental', acceptFailedVerification: false, newChainWhenNeeded: false } });
    expect(parseWith(backupRequestSchema, { cluster: 'shop', type: 'incremental', newChainWhenNeeded: 'yes' }, 'backup request')).toMatchObject({ ok: false, message: expect.stringMatching(/^invalid backup request: newChainWhenNeeded: /) });
    expect(parseWith(backupRequestSchema, { cluster: 'shop', type: 'weekly' }, 'backup request')).toMatchObject({ ok: false, message: expect.stringMatching(/^invalid backup request: type: /) });
    expect(parseWith(backupRequestSchema, { cluster: 'shop', type: 'full', password: 'x' }, 'backup request')).toMatchObject({ ok: false, message: expect.stringContaining('Unrecognized key: "password"') });
    expect(parseWith(backupRequestSchema, { cluster: 'shop', type: 'incremental', baseBackupName: 'latest' }, 'backup request')).toMatchObject({ ok: false, message: expect.stringContaining('baseBackupName: must be a backup name') });
  });

  test('a restore request needs exactly one of backupName, source, pointInTime or gtid', () => {
    expect(parseWith(restoreRequestSchema, { cluster: 'shop' }, 'restore request')).toMatchObject({ ok: false, message: 'invalid restore request: give exactly one of backupName, source, pointInTime or gtid (a verification without any verifies the newest backup)' });
    const ok = parseWith(restoreRequestSchema, { cluster: 'shop', backupName: 'shop-2026-04-06T000000.000Z-full' }, 'restore request');
    expect(ok).toMatchObject({ ok: true, value: { target: { kind: 'in-place' }, skipVerification: false } });
    expect(parseWith(restoreRequestSchema, { cluster: 'shop', backupName: 'shop-2026-04-06T000000.000Z-full', skipVerification: 'yes' }, 'restore request')).toMatchObject({ ok: false, message: expect.stringMatching(/^invalid restore request: skipVerification: /) });
  });

  test('binlogs.rpo is a duration from 1s to 1h, named when it is not', () => {
    const parsed = (rpo?: unknown) => parseConfig(JSON.stringify({ clusters: [{ ...cluster, binlogs: { archive: true, ...(rpo === undefined ? {} : { rpo }) } }] }), 'test.yaml').clusters[0]?.binlogs.rpo;
    expect(parsed('5s')).toBe('5s');
    expect(parsed()).toBeUndefined();
    expect(configError({ binlogs: { archive: true, rpo: '500ms' } })).toContain('binlogs.rpo: must be between 1s and 1h');
    expect(configError({ binlogs: { archive: true, rpo: '2h' } })).toContain('binlogs.rpo: must be between 1s and 1h');
    expect(configError({ binlogs: { archive: true, rpo: 'soon' } })).toContain('binlogs.rpo: must be a duration');
  });

  test('a point in time needs a zone, a GTID is one GTID, and either needs a server to apply binlogs in', () => {
    expect(parseWith(restoreRequestSchema, { cluster: 'shop', pointInTime: '2026-04-06 14:05' }, 'restore request')).toMatchObject({
      ok: false,
      message: 'invalid restore request: pointInTime: must be an ISO 8601 time with a zone, such as "2026-04-06T14:05:09Z" or "2026-04-06T16:05:09+02:00"',
    });
    expect(parseWith(restoreRequestSchema, { cluster: 'shop', pointInTime: '2026-04-06T14:05:09' }, 'restore request')).toMatchObject({ ok: false, message: expect.stringContaining('pointInTime: must be an ISO 8601 time with a zone') });
    expect(parseWith(restoreRequestSchema, { cluster: 'shop', pointInTime: '2026-04-06T16:05:09+02:00' }, 'restore request')).toMatchObject({ ok: true });
    expect(parseWith(restoreRequestSchema, { cluster: 'shop', pointInTime: '2026-04-06T14:05:09Z', target: { kind: 'verify' } }, 'restore request')).toMatchObject({ ok: false, message: expect.stringContaining('target: a restore to a point or a GTID needs a server to apply binlogs in') });
    expect(parseWith(restoreRequestSchema, { cluster: 'shop', pointInTime: '2026-04-06T14:05:09Z', target: { kind: 'new-datadir', path: '/srv/clone' } }, 'restore request')).toMatchObject({ ok: true });
    expect(parseWith(restoreRequestSchema, { cluster: 'shop', gtid: '0-1-1234', target: { kind: 'new-datadir', path: '/srv/clone' } }, 'restore request')).toMatchObject({ ok: true });
    for (const gtid of ['0-1', '0-1-1234,1-1-3', 'x-1-2', '0-1-18446744073709551616', '']) {
      expect(parseWith(restoreRequestSchema, { cluster: 'shop', gtid }, 'restore request')).toMatchObject({ ok: false, message: 'invalid restore request: gtid: must be one GTID such as "0-1-1234" (domain, server id, sequence number)' });
    }
    expect(parseWith(restoreRequestSchema, { cluster: 'shop', gtid: '0-1-5', target: { kind: 'verify' } }, 'restore request')).toMatchObject({ ok: false, message: expect.stringContaining('target: a restore to a point or a GTID needs a server') });
    // Another cluster's backups and archive, for a restore to a point: a source that names a cluster, never with a backup path.
    const storage = { kind: 's3', bucket: 'backups', prefix: 'prod' };
    expect(parseWith(restoreRequestSchema, { cluster: 'copy', gtid: '0-1-5', source: { storage, cluster: 'shop' } }, 'restore request')).toMatchObject({ ok: true });
    expect(parseWith(restoreRequestSchema, { cluster: 'copy', source: { storage, cluster: 'shop' } }, 'restore request')).toMatchObject({ ok: false, message: expect.stringContaining('source.cluster: names the cluster whose backups and binlog archive a restore to a point reads') });
    expect(parseWith(restoreRequestSchema, { cluster: 'copy', gtid: '0-1-5', source: { storage, cluster: 'shop', path: 'shop-2026-04-06T000000.000Z-full/' } }, 'restore request')).toMatchObject({ ok: false, message: expect.stringContaining('source: set exactly one of path (a backup) or cluster') });
    expect(parseWith(restoreRequestSchema, { cluster: 'copy', gtid: '0-1-5', source: { storage, path: 'shop-2026-04-06T000000.000Z-full/' } }, 'restore request')).toMatchObject({ ok: false, message: 'invalid restore request: give exactly one of backupName, source, pointInTime or gtid (a verification without any verifies the newest backup)' });
    expect(parseWith(restoreRequestSchema, { cluster: 'shop', gtid: '0-1-5', pointInTime: '2026-04-06T14:05:09Z' }, 'restore request')).toMatchObject({ ok: false, message: 'invalid restore request: give exactly one of backupName, source, pointInTime or gtid (a verification without any verifies the newest backup)' });
    expect(parseWith(restoreRequestSchema, { cluster: 'shop', pointInTime: '2026-04-06T14:05:09Z', backupName: 'shop-2026-04-06T000000.000Z-full' }, 'restore request')).toMatchObject({ ok: false, message: 'invalid restore request: give exactly one of backupName, source, pointInTime or gtid (a verification without any verifies the newest backup)' });
  });

  test('waiting for the archive and planning only go with a point or a GTID; the wait is a duration of at most a day', () => {
    const point = { cluster: 'shop', pointInTime: '2026-04-06T14:05:09.300Z' };
    expect(parseWith(restoreRequestSchema, { ...point, waitForArchive: '2m' }, 'restore request')).toMatchObject({ ok: true, value: { waitForArchive: '2m' } });
    expect(parseWith(restoreRequestSchema, { cluster: 'shop', gtid: '0-1-5', dryRun: true }, 'restore request')).toMatchObject({ ok: true, value: { dryRun: true } });
    expect(parseWith(restoreRequestSchema, { ...point, waitForArchive: 'soon' }, 'restore request')).toMatchObject({ ok: false, message: 'invalid restore request: waitForArchive: must be a duration such as "500ms", "30s", "5m", "12h" or "2d"' });
    expect(parseWith(restoreRequestSchema, { ...point, waitForArchive: '2d' }, 'restore request')).toMatchObject({ ok: false, message: expect.stringContaining('waitForArchive: must be at most a day ("24h")') });
    expect(parseWith(restoreRequestSchema, { cluster: 'shop', backupName: 'shop-2026-04-06T000000.000Z-full', waitForArchive: '2m' }, 'restore request')).toMatchObject({ ok: false, message: 'invalid restore request: waitForArchive: waits for the binlog archive to cover a point: give pointInTime or gtid with it' });
    expect(parseWith(restoreRequestSchema, { cluster: 'shop', backupName: 'shop-2026-04-06T000000.000Z-full', dryRun: true }, 'restore request')).toMatchObject({ ok: false, message: expect.stringContaining('dryRun: plans a restore to a point or a GTID') });
    expect(parseWith(restoreRequestSchema, { ...point, dryRun: 'yes' }, 'restore request')).toMatchObject({ ok: false, message: 'invalid restore request: dryRun: Invalid input: expected boolean, received string' });
  });
});
