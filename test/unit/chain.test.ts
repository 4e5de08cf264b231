import { describe, expect, test } from '@jest/globals';
import { checkContinuity, checkNotRestoredSince, checkRecordedBinlog, chooseBase, chooseParent, resolveRestoreChain, validateParentCheckpoints, type CommittedBackup, type StoredBackup } from '../../domain/chain.js';
import type { Manifest } from '../../domain/manifest.js';
import { stored } from '../support/stored-backups.js';

const F1 = 'shop-2026-04-06T000000.000Z-full';
const I1 = 'shop-2026-04-07T000000.000Z-incr';
const I2 = 'shop-2026-04-08T000000.000Z-incr';
const F2 = 'shop-2026-04-09T000000.000Z-full';

const chain = [
  stored(F1, F1, { toLsn: '100' }),
  stored(I1, F1, { parent: F1, fromLsn: '100', toLsn: '200' }),
  stored(I2, F1, { parent: I1, fromLsn: '200', toLsn: '300' }),
];

describe('choosing the base and parent of an increment', () => {
  test('no committed full backup: refused, saying to take one first', () => {
    const decision = chooseBase([stored(F1, F1, null)], 'shop', 'file:///b');
    expect(decision).toEqual({ ok: false, code: 'NoFullBackup', reason: 'cluster "shop" has no committed full backup in file:///b; take a full backup first to start a chain' });
  });

  test('the newest committed full backup by default; a failed newer one does not count', () => {
    const backups = [...chain, stored(F2, F2, { toLsn: '400' }), stored('shop-2026-04-10T000000.000Z-full', 'shop-2026-04-10T000000.000Z-full', null)];
    const base = chooseBase(backups, 'shop', 'x');
    expect(base.ok && base.value.name).toBe(F2);
    const parent = chooseParent(backups, (base as { value: StoredBackup & { manifest: Manifest } }).value);
    expect(parent.ok && parent.value.name).toBe(F2);
  });

  test('the parent is the newest committed increment; an uncommitted one is ignored', () => {
    const backups = [...chain, stored('shop-2026-04-08T120000.000Z-incr', F1, null)];
    const base = chooseBase(backups, 'shop', 'x', F1);
    expect(base.ok).toBe(true);
    const parent = chooseParent(backups, (base as { value: StoredBackup & { manifest: Manifest } }).value);
    expect(parent.ok && parent.value.name).toBe(I2);
  });

  test.each([
    ['shop-2030-01-01T000000.000Z-full', 'does not exist in x'],
    [I1, 'is an incremental backup; the base of a chain must be a full backup'],
  ])('a named base %s that cannot start a chain is refused', (name, reason) => {
    const decision = chooseBase(chain, 'shop', 'x', name);
    expect(decision.ok).toBe(false);
    expect(!decision.ok && decision.reason).toContain(reason);
  });

  test('a named base that is not committed, or of another cluster, is refused', () => {
    expect(chooseBase([stored(F2, F2, null)], 'shop', 'x', F2)).toMatchObject({ ok: false, code: 'InvalidBaseBackup', reason: expect.stringContaining('is not committed') });
    const blog = 'blog-2026-04-09T000000.000Z-full';
    expect(chooseBase([stored(blog, blog, { cluster: 'blog' })], 'shop', 'x', blog)).toMatchObject({ ok: false, reason: expect.stringContaining('belongs to cluster "blog", not "shop"') });
  });
});

describe('LSN rules', () => {
  test('a stored checkpoint that disagrees with the manifest, or is missing, is refused with what to do', () => {
    const parent = chain[2] as StoredBackup & { manifest: Manifest };
    expect(validateParentCheckpoints(parent, { backupType: 'incremental', fromLsn: '200', toLsn: '300', lastLsn: '300' })).toEqual({ ok: true, value: '300' });
    expect(validateParentCheckpoints(parent, { backupType: 'incremental', fromLsn: '200', toLsn: '299', lastLsn: '300' })).toMatchObject({
      ok: false,
      code: 'CorruptCheckpoints',
      reason: `backup ${I2}: stored xtrabackup_checkpoints says to_lsn 299 but its manifest says 300: start a new chain with a full backup`,
    });
    expect(validateParentCheckpoints(parent, { problem: 'its xtrabackup_checkpoints is missing' })).toMatchObject({ ok: false, reason: expect.stringContaining('start a new chain') });
  });

  test('a new increment must start at its parent’s to_lsn', () => {
    expect(checkContinuity({ name: I2, toLsn: '300' }, { backupType: 'incremental', fromLsn: '300', toLsn: '350', lastLsn: '350' }).ok).toBe(true);
    expect(checkContinuity({ name: I2, toLsn: '300' }, { backupType: 'incremental', fromLsn: '250', toLsn: '350', lastLsn: '350' })).toEqual({
      ok: false,
      code: 'LsnMismatch',
      reason: `LSN gap: the new increment starts at from_lsn 250 but its parent ${I2} ends at to_lsn 300`,
    });
  });
});

describe('restore chain resolution', () => {
  test('full first, then each increment up to the target', () => {
    const resolved = resolveRestoreChain(chain, I2, 'x');
    expect(resolved.ok && resolved.value.map((backup) => backup.name)).toEqual([F1, I1, I2]);
    const middle = resolveRestoreChain(chain, I1, 'x');
    expect(middle.ok && middle.value.map((backup) => backup.name)).toEqual([F1, I1]);
  });

  test('a missing middle increment is named as a gap', () => {
    expect(resolveRestoreChain([chain[0] as StoredBackup, chain[2] as StoredBackup], I2, 'x')).toEqual({
      ok: false,
      code: 'BrokenChain',
      reason: `cannot restore ${I2}: ${I1}, the parent of ${I2}, is missing: the chain has a gap`,
    });
  });

  test('an uncommitted member and an LSN gap are reported', () => {
    expect(resolveRestoreChain([chain[0] as StoredBackup, stored(I1, F1, null), chain[2] as StoredBackup], I2, 'x')).toMatchObject({ ok: false, reason: expect.stringContaining(`${I1} is not committed`) });
    const gap = [chain[0] as StoredBackup, stored(I1, F1, { parent: F1, fromLsn: '100', toLsn: '190' }), chain[2] as StoredBackup];
    expect(resolveRestoreChain(gap, I2, 'x')).toMatchObject({ ok: false, reason: expect.stringContaining(`LSN gap between ${I1} (to_lsn 190) and ${I2} (from_lsn 200)`) });
  });

  test('an unknown target is named', () => {
    expect(resolveRestoreChain(chain, F2, 'file:///b')).toEqual({ ok: false, code: 'BackupNotFound', reason: `backup "${F2}" does not exist in file:///b` });
  });
});

describe('increments after an in-place restore', () => {
  const tip = chain[2] as StoredBackup & { manifest: Manifest };
  const record = (backup: string, restoredAt: string) => ({ backup, restoredAt, workflowId: 'restore-shop-1' });

  test('a restore to an earlier point after the parent was taken refuses the increment, saying to start a new chain', () => {
    expect(checkNotRestoredSince(tip, record(I1, '2026-04-09T00:00:00.000Z'))).toEqual({
      ok: false,
      code: 'RestoredSinceParent',
      reason: `cluster shop was restored in place to ${I1} at 2026-04-09T00:00:00.000Z, after ${I2} was taken; its data no longer continues that chain: take a full backup to start a new chain`,
    });
  });

  test('no restore, a restore before the parent, or a restore to the parent itself lets the chain go on', () => {
    expect(checkNotRestoredSince(tip, null).ok).toBe(true);
    expect(checkNotRestoredSince(tip, record(I1, '2026-04-08T00:05:00.000Z')).ok).toBe(true);
    expect(checkNotRestoredSince(tip, record(I2, '2026-04-09T00:00:00.000Z')).ok).toBe(true);
  });
});

describe('checkRecordedBinlog', () => {
  const committed = (binlog: Manifest['binlog']) => stored('shop-2026-12-01T000000.000Z-full', 'shop-2026-12-01T000000.000Z-full', { binlog, toolFiles: 'mariadb_backup' }) as CommittedBackup;
  const position = { file: 'binlog.000003', position: '1212', gtid: '0-1-42' };

  test('passes when the data records what the manifest does, none included', () => {
    expect(checkRecordedBinlog(committed(position), { ...position })).toEqual({ ok: true, value: undefined });
    expect(checkRecordedBinlog(committed(null), null)).toEqual({ ok: true, value: undefined });
    expect(checkRecordedBinlog(committed({ file: 'binlog.000003', position: '1212' }), { file: 'binlog.000003', position: '1212' })).toEqual({ ok: true, value: undefined });
  });

  test.each([
    [{ ...position, position: '1427' }, 'binlog.000003:1212 (GTID 0-1-42) in the data but binlog.000003:1427 (GTID 0-1-42) in the manifest'],
    [{ ...position, gtid: '0-1-43' }, 'binlog.000003:1212 (GTID 0-1-42) in the data but binlog.000003:1212 (GTID 0-1-43) in the manifest'],
    [{ ...position, file: 'binlog.000004' }, 'binlog.000003:1212 (GTID 0-1-42) in the data but binlog.000004:1212 (GTID 0-1-42) in the manifest'],
    [null, 'binlog.000003:1212 (GTID 0-1-42) in the data but none in the manifest'],
  ])('refuses a manifest whose position differs from the data: %j', (manifestBinlog, shown) => {
    expect(checkRecordedBinlog(committed(manifestBinlog), { ...position })).toEqual({
      ok: false,
      code: 'ChecksumMismatch',
      reason: `shop-2026-12-01T000000.000Z-full (extracted): mariadb_backup_info disagrees with the manifest: the binary log position is ${shown}; the manifest or the data was altered`,
    });
  });

  test('refuses a position the data does not record, and data whose info file cannot be read', () => {
    expect(checkRecordedBinlog(committed(position), null)).toMatchObject({ ok: false, reason: expect.stringContaining('the binary log position is none in the data but binlog.000003:1212 (GTID 0-1-42) in the manifest') as unknown });
    expect(checkRecordedBinlog(committed(position), { problem: "the data's mariadb_backup_info cannot be read" })).toMatchObject({ ok: false, code: 'ChecksumMismatch' });
  });
});
