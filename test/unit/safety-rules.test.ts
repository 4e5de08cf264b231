/**
 * Issue 14: the pure rules that keep requests and damaged objects from destroying data. Each case
 * here was a way to lose or damage data before these rules existed.
 */
import { describe, expect, test } from '@jest/globals';
import { checkOwnBackup, checkRecordedLsns, chooseBase, resolveRestoreChain, type CommittedBackup, type StoredBackup } from '../../domain/chain.js';
import { isRefusal } from '../../domain/failures.js';
import { backupsOf, belongsTo } from '../../domain/ownership.js';
import { orphanFolders, planDeletion, planRetention } from '../../domain/retention.js';
import { stored } from '../support/stored-backups.js';

const SHOP = 'shop-2026-04-01T000000.000Z-full';
const SHOP_I1 = 'shop-2026-04-02T000000.000Z-incr';
const SHOP_I2 = 'shop-2026-04-03T000000.000Z-incr';
const SHOP2 = 'shop-2026-04-05T000000.000Z-full';
const SHOP3 = 'shop-2026-04-08T000000.000Z-full';
const COPY = 'shop-copy-2026-04-09T000000.000Z-full';
const COPY_I1 = 'shop-copy-2026-04-09T010000.000Z-incr';

const day = 86_400_000;
const now = Date.parse('2026-05-01T00:00:00.000Z');
const old = { key: 'x', size: 1, lastModified: '2026-04-01T00:00:00.000Z' };
const withObjects = (backup: StoredBackup): StoredBackup => ({ ...backup, objects: [old] });
const broken = (backup: StoredBackup, problem = 'manifest is not valid JSON'): StoredBackup => ({ ...backup, manifest: null, manifestProblem: problem, objects: [old] });

describe('which cluster owns a backup', () => {
  test('names are parsed exactly: "shop" never owns "shop-copy-…"', () => {
    expect(belongsTo({ name: COPY }, 'shop')).toBe(false);
    expect(belongsTo({ name: COPY }, 'shop-copy')).toBe(true);
    expect(belongsTo({ name: SHOP }, 'shop-copy')).toBe(false);
    const all = [stored(SHOP, SHOP, {}), stored(COPY, COPY, null), stored(COPY_I1, COPY, null)];
    expect(backupsOf(all, 'shop').map((backup) => backup.name)).toEqual([SHOP]);
  });

  test('a restore by backupName refuses another cluster\'s backup and says how to ask for it', () => {
    const decision = checkOwnBackup(COPY, 'shop');
    expect(decision).toMatchObject({ ok: false, code: 'ForeignBackup' });
    expect(decision.ok ? '' : decision.reason).toContain('--from-cluster shop-copy');
    expect(isRefusal('ForeignBackup')).toBe(true);
    expect(checkOwnBackup(SHOP, 'shop')).toEqual({ ok: true, value: undefined });
  });

  test('a restore chain never links through another cluster\'s look-alike folder', () => {
    // A shop-copy increment whose manifest claims a shop parent must not splice the chains.
    const backups = [stored(SHOP, SHOP, { toLsn: '100' }), stored(COPY, COPY, { cluster: 'shop-copy', toLsn: '100' }), stored(COPY_I1, COPY, { cluster: 'shop-copy', parent: SHOP, fromLsn: '100' })];
    expect(resolveRestoreChain(backups, COPY_I1, 'x')).toMatchObject({ ok: false, code: 'BrokenChain', reason: expect.stringContaining(`${SHOP}, the parent of ${COPY_I1}, is missing`) });
  });

  test('the newest full backup of "shop" is never one of "shop-copy"', () => {
    const decision = chooseBase([stored(SHOP, SHOP, {}), stored(COPY, COPY, { cluster: 'shop-copy' })], 'shop', 'x');
    expect(decision).toMatchObject({ ok: true, value: { name: SHOP } });
  });

  test('deleting by name refuses another cluster\'s backup', () => {
    expect(planDeletion([stored(COPY, COPY, { cluster: 'shop-copy' })], 'shop', COPY, 'x')).toMatchObject({ ok: false, reason: expect.stringContaining('belongs to cluster "shop-copy", not "shop"') });
  });
});

describe('retention never deletes what it cannot read', () => {
  const policy = { keepChains: 1, orphanAgeHours: 24 };

  test('truncated manifests in the only chain: nothing of that chain is removed, and it is reported', () => {
    const backups = [withObjects(stored(SHOP, SHOP, {})), broken(stored(SHOP_I1, SHOP, null)), broken(stored(SHOP_I2, SHOP, null))];
    const plan = planRetention(backups, 'shop', policy, now);
    expect(plan.expired).toEqual([]);
    expect(plan.orphans).toEqual([]);
    expect(plan.leftAlone).toEqual([{ base: SHOP, reasons: [`${SHOP_I1}: manifest is not valid JSON`, `${SHOP_I2}: manifest is not valid JSON`] }]);
  });

  test('an expired chain with one unreadable manifest stays whole; a readable expired chain goes', () => {
    const backups = [
      withObjects(stored(SHOP, SHOP, {})),
      broken(stored(SHOP_I1, SHOP, null), 'manifest field formatVersion Invalid input: expected 1'),
      withObjects(stored(SHOP2, SHOP2, {})),
      withObjects(stored(SHOP3, SHOP3, {})),
    ];
    const plan = planRetention(backups, 'shop', policy, now);
    expect(plan.expired.map((chain) => chain.base.name)).toEqual([SHOP2]);
    expect(plan.leftAlone.map((chain) => chain.base)).toEqual([SHOP]);
    expect(plan.orphans).toEqual([]);
  });

  test('the sweep takes only folders with no manifest at all that nothing committed needs', () => {
    const backups = [
      // A base whose manifest went missing, with a committed increment on it: needed, never swept.
      withObjects(stored(SHOP, SHOP, null)),
      withObjects(stored(SHOP_I1, SHOP, { parent: SHOP })),
      // A failed increment of a good chain: swept.
      withObjects(stored(SHOP_I2, SHOP2, null)),
      withObjects(stored(SHOP2, SHOP2, {})),
    ];
    expect(orphanFolders(backups, 'shop', 24, now).map((backup) => backup.name)).toEqual([SHOP_I2]);
  });

  test('the newest chain always stays, whatever the policy', () => {
    const backups = [withObjects(stored(SHOP, SHOP, {})), withObjects(stored(SHOP2, SHOP2, {}))];
    expect(planRetention(backups, 'shop', { maxAgeDays: 1, orphanAgeHours: 1 }, now + 400 * day).expired.map((chain) => chain.base.name)).toEqual([SHOP]);
  });

  test('an operator\'s delete of a chain with an unreadable member is refused, naming it', () => {
    const backups = [withObjects(stored(SHOP, SHOP, {})), broken(stored(SHOP_I1, SHOP, null))];
    expect(planDeletion(backups, 'shop', SHOP, 'x')).toMatchObject({ ok: false, code: 'BrokenChain', reason: expect.stringContaining(SHOP_I1) });
  });
});

describe('the data must agree with its manifests', () => {
  const full = stored(SHOP, SHOP, { fromLsn: '0', toLsn: '100', lastLsn: '120' }) as CommittedBackup;
  const increment = stored(SHOP_I1, SHOP, { parent: SHOP, fromLsn: '100', toLsn: '200', lastLsn: '210' }) as CommittedBackup;

  test('extracted checkpoints matching the manifest pass', () => {
    expect(checkRecordedLsns(full, { backupType: 'full-backuped', fromLsn: '0', toLsn: '100', lastLsn: '120' }, 'extracted')).toEqual({ ok: true, value: undefined });
    expect(checkRecordedLsns(increment, { backupType: 'log-applied', fromLsn: '0', toLsn: '200', lastLsn: '210' }, 'prepared')).toEqual({ ok: true, value: undefined });
  });

  test('an altered to_lsn, a swapped type or a missing file is named', () => {
    const altered = stored(SHOP_I1, SHOP, { parent: SHOP, fromLsn: '100', toLsn: '999', lastLsn: '210' }) as CommittedBackup;
    expect(checkRecordedLsns(altered, { backupType: 'incremental', fromLsn: '100', toLsn: '200', lastLsn: '210' }, 'extracted')).toMatchObject({
      ok: false,
      code: 'ChecksumMismatch',
      reason: expect.stringContaining('toLsn is 200 in the data but 999 in the manifest'),
    });
    expect(checkRecordedLsns(altered, { backupType: 'log-applied', fromLsn: '0', toLsn: '200', lastLsn: '210' }, 'prepared')).toMatchObject({ ok: false });
    expect(checkRecordedLsns(increment, { backupType: 'full-backuped', fromLsn: '100', toLsn: '200', lastLsn: '210' }, 'extracted')).toMatchObject({ ok: false, reason: expect.stringContaining('manifest says incremental') });
    expect(checkRecordedLsns(full, { problem: 'the data holds no xtrabackup_checkpoints' }, 'extracted')).toMatchObject({ ok: false, reason: expect.stringContaining('holds no xtrabackup_checkpoints') });
  });
});
