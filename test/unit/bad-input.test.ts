/**
 * One test per row of docs/bad-input.md that no other test covers: each asserts the exact answer a
 * user gets, which names the field and the reason.
 */
import { describe, expect, test } from '@jest/globals';
import { ApplicationFailure } from '@temporalio/common';
import { ConfigError, parseConfig } from '../../config/file.js';
import { ActivityDeps } from '../../activities/deps.js';
import type { StorageConfig } from '../../domain/config.js';
import { locateSource } from '../../domain/layout.js';
import { ManifestError, parseManifest } from '../../domain/manifest.js';
import { parseBackupName } from '../../domain/names.js';
import { belongsTo } from '../../domain/ownership.js';
import { backupRequestSchema, deleteRequestSchema, restoreRequestSchema, retentionRequestSchema } from '../../domain/requests.js';
import { parseWith } from '../../domain/validation.js';

const cluster = {
  name: 'shop',
  connection: { socket: '/run/mysqld/mysqld.sock', user: 'backup', passwordEnv: 'SHOP_BACKUP_PASSWORD' },
  datadir: '/var/lib/mysql',
  storage: { kind: 's3', bucket: 'backups', prefix: 'prod' },
  controller: { kind: 'command', stop: ['systemctl', 'stop', 'mariadb'], start: ['systemctl', 'start', 'mariadb'] },
};
const FULL = 'shop-2026-04-06T010203.045Z-full';

/** The message parseConfig refuses the cluster with, `overrides` merged into one section (or the cluster). */
function configError(overrides: Record<string, unknown>, section?: string): string {
  const changed = section ? { ...cluster, [section]: { ...(cluster as Record<string, unknown>)[section] as object, ...overrides } } : { ...cluster, ...overrides };
  return textError(JSON.stringify({ clusters: [changed] }));
}

function textError(text: string): string {
  try {
    parseConfig(text, 'test.yaml');
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error('the configuration was accepted');
}

const restore = (input: unknown) => parseWith(restoreRequestSchema, input, 'restore request');
const refused = (message: string) => ({ ok: false, message });

describe('bad input: names', () => {
  test('a malformed cluster name in a request is refused naming the cluster field', () => {
    const rule = 'must be lowercase letters, digits, "-" and "_", 1 to 63 characters, starting and ending with a letter or digit';
    expect(parseWith(backupRequestSchema, { cluster: 'Shop', type: 'full' }, 'backup request')).toEqual(refused(`invalid backup request: cluster: ${rule}`));
    expect(parseWith(retentionRequestSchema, { cluster: 'shop/eu' }, 'retention request')).toEqual(refused(`invalid retention request: cluster: ${rule}`));
  });

  test('a cluster the configuration does not list is refused naming the ones it does', () => {
    const deps = new ActivityDeps(parseConfig(JSON.stringify({ clusters: [cluster] }), 'test.yaml'));
    let failure: unknown;
    try {
      deps.cluster('blog');
    } catch (error) {
      failure = error;
    }
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({ type: 'UnknownCluster', nonRetryable: true, message: 'unknown cluster "blog": the configuration lists shop' });
  });

  test('a backup name that is no backup name, or shows an impossible time, is refused naming the field', () => {
    const reason = 'must be a backup name such as "shop-2026-04-06T010000.000Z-full"';
    expect(restore({ cluster: 'shop', backupName: 'latest' })).toEqual(refused(`invalid restore request: backupName: ${reason}`));
    expect(parseWith(deleteRequestSchema, { cluster: 'shop', backupName: 'shop-2026-02-30T000000.000Z-full' }, 'delete request')).toEqual(refused(`invalid delete request: backupName: ${reason}`));
    expect(parseWith(backupRequestSchema, { cluster: 'shop', type: 'incremental', baseBackupName: 'shop-2026-04-06T240000.000Z-full' }, 'backup request')).toEqual(
      refused(`invalid backup request: baseBackupName: ${reason}`),
    );
    expect(parseBackupName('shop-2026-02-29T000000.000Z-full')).toBeUndefined(); // 2026 is no leap year
    expect(parseBackupName('shop-2028-02-29T000000.000Z-full')).toEqual({ cluster: 'shop', type: 'full', takenAt: Date.UTC(2028, 1, 29) });
  });

  test('a backup of "shop-copy" is not a backup of "shop"', () => {
    const name = 'shop-copy-2026-04-06T010203.045Z-full';
    expect(name.startsWith('shop-')).toBe(true);
    expect(belongsTo({ name }, 'shop')).toBe(false);
    expect(belongsTo({ name }, 'shop-copy')).toBe(true);
  });
});

describe('bad input: configuration paths', () => {
  test('every path in the configuration must be absolute, and says so', () => {
    const reason = 'must be an absolute path';
    expect(configError({ socket: 'run/mysqld.sock' }, 'connection')).toBe(`test.yaml: clusters.0.connection.socket: ${reason}`);
    expect(configError({ connection: { socket: '/run/mysqld/mysqld.sock', user: 'backup', passwordFile: '~/pw' } })).toBe(`test.yaml: clusters.0.connection.passwordFile: ${reason}`);
    expect(configError({ restore: { workDir: './restore' } })).toBe(`test.yaml: clusters.0.restore.workDir: ${reason}`);
    expect(configError({ storage: { kind: 'filesystem', path: 'backups' } })).toBe(`test.yaml: clusters.0.storage.path: ${reason}`);
    expect(configError({ controller: { kind: 'process', defaultsFile: 'my.cnf' } })).toBe(`test.yaml: clusters.0.controller.defaultsFile: ${reason}`);
  });
});

describe('bad input: restore targets and sources', () => {
  test('a new-datadir target needs an absolute path; other kinds take none; unknown kinds are listed', () => {
    expect(restore({ cluster: 'shop', backupName: FULL, target: { kind: 'new-datadir', path: 'restored' } })).toEqual(refused('invalid restore request: target.path: must be an absolute path'));
    expect(restore({ cluster: 'shop', backupName: FULL, target: { kind: 'new-datadir' } })).toEqual(refused('invalid restore request: target.path: Invalid input: expected string, received undefined'));
    expect(restore({ cluster: 'shop', backupName: FULL, target: { kind: 'in-place', path: '/x' } })).toEqual(refused('invalid restore request: target: Unrecognized key: "path"'));
    expect(restore({ cluster: 'shop', backupName: FULL, target: { kind: 'elsewhere' } })).toEqual(
      refused("invalid restore request: target.kind: Invalid discriminator value. Expected 'in-place' | 'new-datadir' | 'verify'"),
    );
    expect(restore({ cluster: 'shop', backupName: FULL, target: 'verify' })).toEqual(refused('invalid restore request: target: Invalid input: expected object, received string'));
  });

  test('a path that reaches the file system is sane: absolute, no control character, no "." or ".." part, no part or whole too long', () => {
    const clone = (path: string) => restore({ cluster: 'shop', backupName: FULL, target: { kind: 'new-datadir', path } });
    expect(clone('/srv/clones/../../etc/cron.d')).toEqual(refused('invalid restore request: target.path: must not contain "." or ".." parts'));
    expect(clone('/srv/./clone')).toEqual(refused('invalid restore request: target.path: must not contain "." or ".." parts'));
    expect(clone('/srv/clone\u0000x')).toEqual(refused('invalid restore request: target.path: must not contain control characters'));
    expect(clone('/srv/clone\nx')).toEqual(refused('invalid restore request: target.path: must not contain control characters'));
    expect(clone(`/srv/${'a'.repeat(256)}`)).toEqual(refused('invalid restore request: target.path: must not have a part longer than 255 bytes'));
    expect(clone(`/${'a/'.repeat(2100)}`)).toEqual(refused('invalid restore request: target.path: must be at most 4096 bytes'));
    expect(restore({ cluster: 'shop', source: { storage: { kind: 's3', bucket: 'backups' }, path: `../other/${FULL}` } })).toEqual(refused('invalid restore request: source.path: must not contain ".." parts'));
    expect(configError({ datadir: '/var/../etc' })).toBe('test.yaml: clusters.0.datadir: must not contain "." or ".." parts');
  });

  test('a restore source needs a known storage kind and a non-empty path', () => {
    const storage = { kind: 's3', bucket: 'backups' };
    expect(restore({ cluster: 'shop', source: { storage, path: '' } })).toEqual(refused('invalid restore request: source.path: Too small: expected string to have >=1 characters'));
    expect(restore({ cluster: 'shop', source: { storage: { kind: 'gcs' }, path: FULL } })).toEqual(refused("invalid restore request: source.storage.kind: Invalid discriminator value. Expected 'filesystem' | 's3'"));
    expect(restore({ cluster: 'shop', source: { storage: { kind: 'filesystem', path: 'backups' }, path: FULL } })).toEqual(refused('invalid restore request: source.storage.path: must be an absolute path'));
  });

  const s3: StorageConfig = { kind: 's3', bucket: 'backups', prefix: 'prod', region: 'us-east-1', forcePathStyle: false };
  const filesystem: StorageConfig = { kind: 'filesystem', path: '/srv/backups' };

  test('an s3:// URL on a filesystem storage, or one without a bucket, is refused with the reason', () => {
    expect(locateSource(filesystem, `s3://backups/${FULL}`)).toEqual({ ok: false, reason: `source.path "s3://backups/${FULL}" is an s3:// URL but source.storage is filesystem` });
    expect(locateSource(s3, `s3://${FULL}`)).toEqual({ ok: false, reason: `source.path "s3://${FULL}" names bucket "${FULL}" but source.storage is bucket "backups"` });
  });

  test('a file:// URL naming another host, and URLs of other schemes, are refused with the reason', () => {
    expect(locateSource(filesystem, `file://backup-host/srv/${FULL}`)).toEqual({
      ok: false,
      reason: `source.path "file://backup-host/srv/${FULL}" names host "backup-host"; a file:// URL names a folder on the restoring host, as file:///<folder>`,
    });
    expect(locateSource(filesystem, `file://localhost/srv/${FULL}`)).toMatchObject({ ok: true, prefix: 'srv' });
    expect(locateSource(s3, `https://backups.s3.amazonaws.com/${FULL}`)).toEqual({
      ok: false,
      reason: `source.path "https://backups.s3.amazonaws.com/${FULL}" is a https:// URL; give a path relative to source.storage, an s3:// URL or a file:/// URL`,
    });
    expect(locateSource(s3, `S3://backups/${FULL}`)).toMatchObject({ ok: false, reason: expect.stringContaining('is a S3:// URL') as unknown });
  });

  test('a relative source path keeps "." and ".." segments as written and drops empty ones', () => {
    expect(locateSource(filesystem, `../other//./${FULL}/`)).toEqual({ ok: true, storage: filesystem, prefix: '../other/.', location: { name: FULL, base: FULL } });
  });

  test('an increment inside another cluster’s chain folder is no backup folder', () => {
    const path = `${FULL}.incr/blog-2026-04-07T000000.000Z-incr`;
    expect(locateSource(s3, path)).toEqual({ ok: false, reason: `source.path "${path}" does not end in a backup folder (<cluster>-<time>-full or <full>.incr/<cluster>-<time>-incr)` });
  });
});

describe('bad input: S3 storage', () => {
  test('an S3 endpoint must be an http:// or https:// URL', () => {
    const reason = 'must be an http:// or https:// URL such as "https://s3.eu-west-1.amazonaws.com" or "http://127.0.0.1:9000"';
    expect(configError({ endpoint: 'minio:9000' }, 'storage')).toBe(`test.yaml: clusters.0.storage.endpoint: ${reason}`);
    expect(configError({ endpoint: 'ftp://minio:9000' }, 'storage')).toBe(`test.yaml: clusters.0.storage.endpoint: ${reason}`);
    expect(restore({ cluster: 'shop', source: { storage: { kind: 's3', bucket: 'backups', endpoint: 'file:///tmp' }, path: FULL } })).toEqual(
      refused(`invalid restore request: source.storage.endpoint: ${reason}`),
    );
  });

  test('bucket names and key prefixes are checked, naming the field', () => {
    expect(configError({ bucket: 'My_Backups' }, 'storage')).toBe('test.yaml: clusters.0.storage.bucket: must be a valid S3 bucket name');
    expect(configError({ bucket: 'ab' }, 'storage')).toBe('test.yaml: clusters.0.storage.bucket: must be a valid S3 bucket name');
    const prefixReason = 'must be a key prefix without leading, trailing or double "/"';
    expect(configError({ prefix: '/prod' }, 'storage')).toBe(`test.yaml: clusters.0.storage.prefix: ${prefixReason}`);
    expect(configError({ prefix: 'prod/' }, 'storage')).toBe(`test.yaml: clusters.0.storage.prefix: ${prefixReason}`);
    expect(configError({ prefix: 'prod//eu' }, 'storage')).toBe(`test.yaml: clusters.0.storage.prefix: ${prefixReason}`);
    expect(configError({ kind: 'gcs' }, 'storage')).toBe("test.yaml: clusters.0.storage.kind: Invalid discriminator value. Expected 'filesystem' | 's3'");
  });
});

describe('bad input: schedules', () => {
  test('a time that is not HH:MM in 24-hour time is refused', () => {
    expect(configError({ schedule: { time: '1:00' } })).toBe('test.yaml: clusters.0.schedule.time: must be HH:MM in 24-hour time');
    expect(configError({ schedule: { time: '12:60' } })).toBe('test.yaml: clusters.0.schedule.time: must be HH:MM in 24-hour time');
  });

  test('a time zone that is not an IANA name is refused', () => {
    const reason = 'must be an IANA time zone such as "UTC" or "Europe/Berlin"';
    expect(configError({ schedule: { timezone: 'CEST' } })).toBe(`test.yaml: clusters.0.schedule.timezone: ${reason}`);
    expect(configError({ schedule: { timezone: 'Europe/Berln' } })).toBe(`test.yaml: clusters.0.schedule.timezone: ${reason}`);
  });

  test('a week schedule day that is no day is refused naming it', () => {
    expect(configError({ incremental: { enabled: true, fullBackupWeekSchedule: 'monday' } })).toBe(
      'test.yaml: clusters.0.incremental.fullBackupWeekSchedule: "monday" is not a day; use mon, tue, wed, thu, fri, sat or sun',
    );
    expect(configError({ incremental: { enabled: true, fullBackupWeekSchedule: 'mon,' } })).toBe(
      'test.yaml: clusters.0.incremental.fullBackupWeekSchedule: "" is not a day; use mon, tue, wed, thu, fri, sat or sun',
    );
  });

  test('a duration without a unit, with a fraction or in words is refused', () => {
    const reason = 'must be a duration such as "500ms", "30s", "5m", "12h" or "2d"';
    expect(configError({ backup: { timeout: '1.5h' } })).toBe(`test.yaml: clusters.0.backup.timeout: ${reason}`);
    expect(configError({ restore: { timeout: '12' } })).toBe(`test.yaml: clusters.0.restore.timeout: ${reason}`);
    expect(configError({ schedule: { jitter: '5 minutes' } })).toBe(`test.yaml: clusters.0.schedule.jitter: ${reason}`);
    expect(configError({ retry: { initialInterval: '1w' } })).toBe(`test.yaml: clusters.0.retry.initialInterval: ${reason}`);
    expect(configError({ schedule: { catchupWindow: 3600 } })).toBe('test.yaml: clusters.0.schedule.catchupWindow: Invalid input: expected string, received number');
  });
});

describe('bad input: numbers', () => {
  test('ports, parallelism, chains kept, prepare memory, throttle and attempts are bounded integers', () => {
    const host = { host: 'db', user: 'backup' };
    expect(configError({ connection: { ...host, port: 0 } })).toBe('test.yaml: clusters.0.connection.port: Too small: expected number to be >=1');
    expect(configError({ connection: { ...host, port: 65536 } })).toBe('test.yaml: clusters.0.connection.port: Too big: expected number to be <=65535');
    expect(configError({ connection: { ...host, port: 3306.5 } })).toBe('test.yaml: clusters.0.connection.port: Invalid input: expected int, received number');
    expect(configError({ backup: { parallel: 65 } })).toBe('test.yaml: clusters.0.backup.parallel: Too big: expected number to be <=64');
    expect(configError({ backup: { parallel: -2 } })).toBe('test.yaml: clusters.0.backup.parallel: Too small: expected number to be >=1');
    expect(configError({ backup: { throttle: 0 } })).toBe('test.yaml: clusters.0.backup.throttle: Too small: expected number to be >=1');
    expect(configError({ retention: { keepChains: 0 } })).toBe('test.yaml: clusters.0.retention.keepChains: Too small: expected number to be >=1');
    expect(configError({ retention: { keepChains: 1.5 } })).toBe('test.yaml: clusters.0.retention.keepChains: Invalid input: expected int, received number');
    expect(configError({ retention: { orphanAgeHours: -1 } })).toBe('test.yaml: clusters.0.retention.orphanAgeHours: Too small: expected number to be >=0');
    expect(configError({ restore: { prepareMemoryMb: 8 } })).toBe('test.yaml: clusters.0.restore.prepareMemoryMb: Too small: expected number to be >=16');
    expect(configError({ restore: { prepareMemoryMb: 1e20 } })).toBe('test.yaml: clusters.0.restore.prepareMemoryMb: Too big: expected int to be <=9007199254740991');
    expect(configError({ retry: { maximumAttempts: 101 } })).toBe('test.yaml: clusters.0.retry.maximumAttempts: Too big: expected number to be <=100');
  });
});

describe('bad input: connection, controller and choices', () => {
  test('password settings, enumerations and controller kinds name the field', () => {
    expect(configError({ passwordEnv: 'shop-password' }, 'connection')).toBe('test.yaml: clusters.0.connection.passwordEnv: must be an environment variable name');
    expect(configError({ passwordFile: '/etc/pw' }, 'connection')).toBe('test.yaml: clusters.0.connection: set at most one of passwordEnv or passwordFile');
    expect(configError({ host: 'db' }, 'connection')).toBe('test.yaml: clusters.0.connection: set exactly one of socket or host');
    expect(configError({ flavour: 'percona' })).toBe('test.yaml: clusters.0.flavour: Invalid option: expected one of "mariadb"|"mysql"');
    expect(configError({ backup: { compression: 'gzip' } })).toBe('test.yaml: clusters.0.backup.compression: Invalid option: expected one of "none"|"zstd"');
    expect(configError({ controller: { kind: 'systemd' } })).toBe("test.yaml: clusters.0.controller.kind: Invalid discriminator value. Expected 'command' | 'process'");
  });
});

describe('bad input: wrong types and documents', () => {
  test('a value of the wrong type names the field and both types', () => {
    expect(parseWith(backupRequestSchema, { cluster: 5, type: 'full' }, 'backup request')).toEqual(refused('invalid backup request: cluster: Invalid input: expected string, received number'));
    expect(parseWith(retentionRequestSchema, { cluster: 'shop', dryRun: 'yes' }, 'retention request')).toEqual(refused('invalid retention request: dryRun: Invalid input: expected boolean, received string'));
    expect(parseWith(backupRequestSchema, 'shop', 'backup request')).toEqual(refused('invalid backup request: Invalid input: expected object, received string'));
    expect(configError({ connection: { host: 'db', user: 'backup', port: '3306' } })).toBe('test.yaml: clusters.0.connection.port: Invalid input: expected number, received string');
    expect(configError({ controller: { kind: 'command', stop: 'systemctl stop mariadb', start: ['x'] } })).toBe('test.yaml: clusters.0.controller.stop: Invalid input: expected array, received string');
    expect(configError({ datadir: null })).toBe('test.yaml: clusters.0.datadir: Invalid input: expected string, received null');
  });

  test('an empty file, a file without clusters and a YAML alias bomb are refused', () => {
    expect(textError('')).toBe('test.yaml: Invalid input: expected object, received null');
    expect(textError('clusters: []')).toBe('test.yaml: clusters: must list at least one cluster');
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]', 'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]', 'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]', 'd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]'].join('\n');
    expect(textError(bomb)).toBe('test.yaml: not valid YAML or JSON: Excessive alias count indicates a resource exhaustion attack');
  });

  test('an unknown field at the top of a request or the configuration is named', () => {
    expect(restore({ cluster: 'shop', backupName: FULL, force: true })).toEqual(refused('invalid restore request: Unrecognized key: "force"'));
    expect(textError(JSON.stringify({ clusters: [cluster], workers: 2 }))).toBe('test.yaml: Unrecognized key: "workers"');
  });
});

describe('bad input: stored files', () => {
  test('a manifest that is no JSON, or has a bad LSN, is named with its place', () => {
    const where = 's3://backups/prod/shop-2026-04-06T010203.045Z-full/';
    const error = (text: string) => {
      try {
        parseManifest(text, where);
      } catch (caught) {
        if (caught instanceof ManifestError) return caught.message;
        throw caught;
      }
      throw new Error('the manifest was accepted');
    };
    expect(error('{"formatVersion": 1,')).toBe(`${where}: manifest is not valid JSON`);
    expect(error('[]')).toBe(`${where}: manifest field (root) Invalid input: expected object, received array`);
    const manifest = {
      formatVersion: 1,
      name: 'shop-2026-04-06T010203.045Z-full',
      cluster: 'shop',
      type: 'full',
      base: 'shop-2026-04-06T010203.045Z-full',
      parent: null,
      fromLsn: '0',
      toLsn: '44x',
      lastLsn: '48166',
    };
    expect(error(JSON.stringify(manifest))).toBe(`${where}: manifest field toLsn must be a decimal LSN`);
  });
});

describe('bad input: accepted as given (known gaps, see docs/bad-input.md)', () => {
  const accepted = (overrides: Record<string, unknown>) => parseConfig(JSON.stringify({ clusters: [{ ...cluster, ...overrides }] }), 'test.yaml').clusters[0];

  test('durations have no bounds; time zones are matched without case and with legacy names; S3 naming rules beyond the pattern are not checked', () => {
    expect(accepted({ backup: { timeout: '0s' } })?.backup.timeout).toBe('0s');
    expect(accepted({ backup: { timeout: '99999999999999999999d' } })?.backup.timeout).toBe('99999999999999999999d');
    expect(accepted({ schedule: { timezone: 'utc' } })?.schedule.timezone).toBe('utc');
    expect(accepted({ schedule: { timezone: 'US/Pacific' } })?.schedule.timezone).toBe('US/Pacific');
    expect(accepted({ storage: { kind: 's3', bucket: 'a..b' } })?.storage).toMatchObject({ bucket: 'a..b' });
    expect(accepted({ storage: { kind: 's3', bucket: '192.168.0.1' } })?.storage).toMatchObject({ bucket: '192.168.0.1' });
  });

  test('absolute paths are not normalised, and week days are matched without case or spaces', () => {
    expect(accepted({ datadir: '/' })?.datadir).toBe('/');
    expect(accepted({ datadir: '/var/lib//mysql/' })?.datadir).toBe('/var/lib//mysql/');
    expect(accepted({ storage: { kind: 's3', bucket: 'backups', prefix: '../x' } })?.storage).toMatchObject({ prefix: '../x' });
    expect(accepted({ incremental: { enabled: true, fullBackupWeekSchedule: 'MON, Thu' } })?.incremental.fullBackupWeekSchedule).toBe('MON, Thu');
  });
});
