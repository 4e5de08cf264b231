/**
 * Issue 34: which objects S3 Object Lock keeps, until when a chain is kept, and how retention and
 * deletion plan around it; the configuration refuses a retention shorter than the lock.
 */
import { describe, expect, test } from '@jest/globals';
import { parseConfig } from '../../config/file.js';
import { chainLockedUntil, isLockedKey } from '../../domain/object-lock.js';
import { planDeletion, planRetention } from '../../domain/retention.js';
import { stored } from '../support/stored-backups.js';

const OLD = 'shop-2026-03-01T000000.000Z-full';
const OLD_I1 = 'shop-2026-03-02T000000.000Z-incr';
const NEW = 'shop-2026-04-01T000000.000Z-full';
const DAY = 86_400_000;

const at = (backup: ReturnType<typeof stored>, lastModified: string) => ({ ...backup, objects: [{ key: `${backup.folder}backup.xbstream`, size: 10, lastModified }] });
const backups = () => [at(stored(OLD, OLD, {}), '2026-03-01T00:10:00.000Z'), at(stored(OLD_I1, OLD, { parent: OLD }), '2026-03-02T00:10:00.000Z'), at(stored(NEW, NEW, {}), '2026-04-01T00:10:00.000Z')];

describe('Object Lock', () => {
  test('locks backups and archived binlogs, never the markers chainbackup rewrites', () => {
    for (const key of [`${OLD}/backup.xbstream.zst`, `${OLD}/manifest.json`, `${OLD}/xtrabackup_checkpoints`, `${OLD}.incr/${OLD_I1}/manifest.json`, 'binlogs/shop/history-0/mysql-bin.000003.zst', 'binlogs/shop/history-0/mysql-bin.000003.json']) expect({ key, locked: isLockedKey(key) }).toEqual({ key, locked: true });
    for (const key of [`${OLD}/verification.json`, `${OLD}/pinned.json`, `${OLD}/deleting.json`, `${OLD}/started.json`, 'binlogs/shop/history-0/gap-mysql-bin.000002.json', 'ledger/shop.json', 'restores/shop.json', 'restores/shop.running.json', '.chainbackup-check/0b9e2c4a-probe']) expect({ key, locked: isLockedKey(key) }).toEqual({ key, locked: false });
  });

  test('a chain is kept until its newest object plus the lock', () => {
    const [base, increment] = backups();
    expect(new Date(chainLockedUntil([base as never, increment as never], 30)).toISOString()).toBe('2026-04-01T00:10:00.000Z');
  });

  test('retention keeps what the lock keeps, and says until when; once it has ended, removes it', () => {
    const policy = { keepChains: 1, orphanAgeHours: 24, objectLockDays: 40 };
    const during = planRetention(backups(), 'shop', policy, Date.parse('2026-04-02T00:00:00Z'));
    expect(during.expired).toEqual([]);
    expect(during.locked).toEqual([{ base: OLD, until: new Date(Date.parse('2026-03-02T00:10:00.000Z') + 40 * DAY).toISOString() }]);
    const after = planRetention(backups(), 'shop', policy, Date.parse('2026-04-12T00:00:00Z'));
    expect(after.expired.map((chain) => chain.base.name)).toEqual([OLD]);
    expect(after.locked).toEqual([]);
  });

  test('a deletion the lock would refuse is refused before anything changes, naming the date', () => {
    const refused = planDeletion(backups(), 'shop', OLD, 's3://b', { days: 40, nowMs: Date.parse('2026-04-02T00:00:00Z') });
    expect(refused).toMatchObject({ ok: false, code: 'Locked', reason: expect.stringContaining(`cannot delete ${OLD} yet: the storage's Object Lock keeps its chain (${OLD_I1}, ${OLD}) until 2026-04-11T00:10:00.000Z`) as unknown });
    expect(planDeletion(backups(), 'shop', OLD, 's3://b', { days: 40, nowMs: Date.parse('2026-04-12T00:00:00Z') })).toMatchObject({ ok: true });
  });

  test('a retention shorter than the lock is refused, naming both', () => {
    const config = (maxAgeDays: number) =>
      parseConfig(
        JSON.stringify({
          clusters: [{ name: 'shop', connection: { socket: '/run/mysqld/mysqld.sock', user: 'backup' }, datadir: '/var/lib/mysql', storage: { kind: 's3', bucket: 'backups', objectLock: { mode: 'governance', days: 30 } }, controller: { kind: 'command', stop: ['false'], start: ['false'] }, retention: { maxAgeDays } }],
        }),
        'test.json',
      );
    expect(() => config(7)).toThrow('clusters.0.retention.maxAgeDays: 7 is shorter than storage.objectLock.days (30)');
    expect(() => config(30)).not.toThrow();
  });
});
