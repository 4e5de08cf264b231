import { describe, expect, test } from '@jest/globals';
import { backupFolder, chainFolder, locateSource, parseBackupPath } from '../../domain/layout.js';
import { backupName, formatTimestamp, isValidClusterName, parseBackupName } from '../../domain/names.js';

const at = Date.UTC(2026, 3, 6, 1, 2, 3, 45);

describe('backup names', () => {
  test('carry cluster, UTC time and kind', () => {
    expect(formatTimestamp(at)).toBe('2026-04-06T010203.045Z');
    expect(backupName('shop', 'full', at)).toBe('shop-2026-04-06T010203.045Z-full');
    expect(backupName('shop-eu', 'incremental', at)).toBe('shop-eu-2026-04-06T010203.045Z-incr');
  });

  test('parse back to what they were made from', () => {
    expect(parseBackupName('shop-eu-2026-04-06T010203.045Z-incr')).toEqual({ cluster: 'shop-eu', type: 'incremental', takenAt: at });
    expect(parseBackupName('shop-2026-04-06-full')).toBeUndefined();
    expect(parseBackupName('shop-2026-13-06T010203.045Z-full')).toBeUndefined();
  });

  test('cluster names are safe in paths and ids', () => {
    expect(isValidClusterName('shop_eu-1')).toBe(true);
    for (const bad of ['', 'Shop', '-shop', 'shop-', 'a/b', 'x'.repeat(64)]) expect(isValidClusterName(bad)).toBe(false);
  });
});

describe('storage layout', () => {
  const full = 'shop-2026-04-06T000000.000Z-full';
  const incr = 'shop-2026-04-07T000000.000Z-incr';

  test('a full backup is its own folder; increments live in its .incr folder', () => {
    expect(backupFolder({ name: full, base: full })).toBe(`${full}/`);
    expect(backupFolder({ name: incr, base: full })).toBe(`${full}.incr/${incr}/`);
    expect(chainFolder(full)).toBe(`${full}.incr/`);
  });

  test('user-given paths split into prefix and backup', () => {
    expect(parseBackupPath(`prod/eu/${full}.incr/${incr}/`)).toEqual({ prefix: 'prod/eu', location: { name: incr, base: full } });
    expect(parseBackupPath(`${full}`)).toEqual({ prefix: '', location: { name: full, base: full } });
    expect(parseBackupPath('prod/eu/')).toBeUndefined();
    expect(parseBackupPath(`prod/${incr}/`)).toBeUndefined();
  });
});

describe('restore source paths', () => {
  const s3 = { kind: 's3' as const, bucket: 'backups', prefix: 'prod', region: 'eu-west-1', forcePathStyle: false };
  const full = 'shop-2026-04-06T010203.045Z-full';
  const incr = 'shop-2026-04-07T010203.045Z-incr';

  test('a relative path is under the storage prefix', () => {
    expect(locateSource(s3, `eu/${full}.incr/${incr}/`)).toEqual({ ok: true, storage: s3, prefix: 'eu', location: { name: incr, base: full } });
  });

  test('an s3:// URL names the place itself, as listings print it', () => {
    expect(locateSource(s3, `s3://backups/other/${full}/`)).toEqual({ ok: true, storage: { ...s3, prefix: '' }, prefix: 'other', location: { name: full, base: full } });
    expect(locateSource({ kind: 'filesystem', path: '/srv' }, `file:///mnt/b/${full}`)).toEqual({ ok: true, storage: { kind: 'filesystem', path: '/' }, prefix: 'mnt/b', location: { name: full, base: full } });
  });

  test('a URL that disagrees with the storage, or a path that is no backup folder, is refused with the reason', () => {
    expect(locateSource(s3, `s3://elsewhere/${full}`)).toEqual({ ok: false, reason: `source.path "s3://elsewhere/${full}" names bucket "elsewhere" but source.storage is bucket "backups"` });
    expect(locateSource(s3, `file:///x/${full}`)).toEqual({ ok: false, reason: `source.path "file:///x/${full}" is a file:// URL but source.storage is s3` });
    expect(locateSource(s3, 'prod/latest')).toEqual({ ok: false, reason: 'source.path "prod/latest" does not end in a backup folder (<cluster>-<time>-full or <full>.incr/<cluster>-<time>-incr)' });
  });
});
