import { describe, expect, test } from '@jest/globals';
import { backupFolder, chainFolder, parseBackupPath, parseObjectKey } from '../../domain/layout.js';
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

  test('object keys map back to their backup folder', () => {
    expect(parseObjectKey(`${full}/manifest.json`)).toEqual({ name: full, base: full, object: 'manifest.json' });
    expect(parseObjectKey(`${full}.incr/${incr}/backup.xbstream.zst`)).toEqual({ name: incr, base: full, object: 'backup.xbstream.zst' });
    // Outside the layout: foreign files, an increment under a non-full folder, another cluster's increment.
    expect(parseObjectKey('README.txt')).toBeUndefined();
    expect(parseObjectKey(`${incr}/manifest.json`)).toBeUndefined();
    expect(parseObjectKey(`${full}.incr/other-2026-04-07T000000.000Z-incr/manifest.json`)).toBeUndefined();
  });

  test('user-given paths split into prefix and backup', () => {
    expect(parseBackupPath(`prod/eu/${full}.incr/${incr}/`)).toEqual({ prefix: 'prod/eu', location: { name: incr, base: full } });
    expect(parseBackupPath(`${full}`)).toEqual({ prefix: '', location: { name: full, base: full } });
    expect(parseBackupPath('prod/eu/')).toBeUndefined();
    expect(parseBackupPath(`prod/${incr}/`)).toBeUndefined();
  });
});
