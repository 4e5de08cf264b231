import { describe, expect, test } from '@jest/globals';
import { committedChains, expiredChains, orphanFolders, planDeletion, planRetention } from '../../domain/retention.js';
import { stored } from '../support/stored-backups.js';

const F1 = 'shop-2026-04-01T000000.000Z-full';
const F1I1 = 'shop-2026-04-02T000000.000Z-incr';
const F1I2 = 'shop-2026-04-03T000000.000Z-incr';
const F2 = 'shop-2026-04-04T000000.000Z-full';
const F2I1 = 'shop-2026-04-05T000000.000Z-incr';
const F3 = 'shop-2026-04-08T000000.000Z-full';

const backups = [
  stored(F1, F1, { sizeBytes: 100 }),
  stored(F1I1, F1, { parent: F1, sizeBytes: 10 }),
  stored(F1I2, F1, { parent: F1I1, sizeBytes: 5 }),
  stored(F2, F2, {}),
  stored(F2I1, F2, { parent: F2 }),
  stored(F3, F3, {}),
];
const day = 86_400_000;
const now = Date.parse('2026-04-10T00:00:00.000Z');

describe('chains and retention', () => {
  test('chains are grouped whole, newest first, aged by their newest backup', () => {
    const chains = committedChains(backups, 'shop');
    expect(chains.map((chain) => [chain.base.name, chain.increments.map((increment) => increment.name), chain.newestAt, chain.sizeBytes])).toEqual([
      [F3, [], '2026-04-08T00:10:00.000Z', 10],
      [F2, [F2I1], '2026-04-05T00:10:00.000Z', 20],
      [F1, [F1I1, F1I2], '2026-04-03T00:10:00.000Z', 115],
    ]);
  });

  test('keepChains keeps the newest N; maxAgeDays keeps young chains; a chain goes only when every rule lets it go', () => {
    const chains = committedChains(backups, 'shop');
    const bases = (policy: Parameters<typeof expiredChains>[1]) => expiredChains(chains, policy, now).map((chain) => chain.base.name);
    expect(bases({ keepChains: 2 })).toEqual([F1]);
    expect(bases({ maxAgeDays: 6 })).toEqual([F1]); // F1's newest backup is 6.96 days old
    expect(bases({ maxAgeDays: 7 })).toEqual([]);
    expect(bases({ keepChains: 1, maxAgeDays: 6 })).toEqual([F1]);
    expect(bases({ keepChains: 1, maxAgeDays: 4 })).toEqual([F2, F1]);
    expect(bases({})).toEqual([]);
    // The newest chain stays even when it is old: the next increment continues it.
    expect(expiredChains(chains, { maxAgeDays: 1 }, now + 30 * day).map((chain) => chain.base.name)).toEqual([F2, F1]);
  });
});

describe('deletion rules', () => {
  test('the base takes its whole chain, newest increment first', () => {
    const plan = planDeletion(backups, 'shop', F1, 'file:///b');
    expect(plan.ok && plan.value.kind === 'chain' && plan.value.members.map((member) => member.name)).toEqual([F1I2, F1I1, F1]);
  });

  test('the last increment goes alone; a middle one is refused, naming the chain and its dependants', () => {
    const last = planDeletion(backups, 'shop', F1I2, 'file:///b');
    expect(last.ok && last.value.kind).toBe('increment');
    expect(planDeletion(backups, 'shop', F1I1, 'file:///b')).toEqual({
      ok: false,
      code: 'BrokenChain',
      reason: `cannot delete ${F1I1}: it is in the middle of chain ${F1}, and ${F1I2} depends on it; delete the later increments first (newest first), or delete ${F1} to remove the whole chain`,
    });
  });

  test('unknown, uncommitted and foreign backups are refused with the reason', () => {
    expect(planDeletion(backups, 'shop', 'shop-2020-01-01T000000.000Z-full', 'file:///b')).toMatchObject({ ok: false, code: 'BackupNotFound' });
    expect(planDeletion([stored(F1, F1, null)], 'shop', F1, 'file:///b')).toMatchObject({ ok: false, reason: expect.stringContaining('it has no manifest') as unknown });
    expect(planDeletion(backups, 'other', F1, 'file:///b')).toMatchObject({ ok: false, reason: `backup "${F1}" belongs to cluster "shop", not "other"` });
  });
});

describe('the orphan sweep', () => {
  test('takes uncommitted folders of the cluster older than the age, increments before their base', () => {
    const old = { key: 'x', size: 1, lastModified: '2026-04-01T00:00:00.000Z' };
    const recent = { key: 'y', size: 1, lastModified: '2026-04-09T23:00:00.000Z' };
    const withObjects = (backup: ReturnType<typeof stored>, objects: (typeof old)[]) => ({ ...backup, objects });
    const folders = [
      withObjects(stored(F1, F1, null), [old]),
      withObjects(stored(F1I1, F1, null), [old]),
      withObjects(stored(F3, F3, null), [recent]),
      withObjects(stored('other-2026-04-01T000000.000Z-full', 'other-2026-04-01T000000.000Z-full', null), [old]),
      withObjects(stored(F2, F2, {}), [old]),
    ];
    expect(orphanFolders(folders, 'shop', 24, now).map((folder) => folder.name)).toEqual([F1I1, F1]);
  });
});

describe('pins', () => {
  const pin = { pinnedAt: '2026-04-06T00:00:00.000Z', note: 'audit' };
  const pinnedMiddle = backups.map((backup) => (backup.name === F1I1 ? { ...backup, pinned: pin } : backup));

  test('a pinned backup keeps its whole chain from retention, and the plan says so', () => {
    const plan = planRetention(pinnedMiddle, 'shop', { keepChains: 1, orphanAgeHours: 24 }, now);
    expect(plan.expired.map((chain) => chain.base.name)).toEqual([F2]);
    expect(plan.pinned.map((chain) => chain.base.name)).toEqual([F1]);
  });

  test('a deletion that would remove a pinned backup is refused, naming the pin', () => {
    for (const name of [F1, F1I2]) {
      const decision = planDeletion(pinnedMiddle.map((backup) => (backup.name === F1I2 ? { ...backup, pinned: pin } : backup)), 'shop', name, 'file:///b');
      expect(decision).toMatchObject({ ok: false, code: 'Pinned' });
      expect(decision.ok ? '' : decision.reason).toContain(`is pinned (since ${pin.pinnedAt}: audit); unpin it first (chainbackup unpin shop <backup>)`);
    }
    expect(planDeletion(pinnedMiddle, 'shop', F2, 'file:///b').ok).toBe(true);
  });

  test('a folder without a manifest that holds a pin is never swept', () => {
    const orphan = stored('shop-2026-04-09T000000.000Z-full', 'shop-2026-04-09T000000.000Z-full', null);
    const withPin = { ...orphan, objects: [...orphan.objects, { key: `${orphan.folder}pinned.json`, size: 10, lastModified: '2026-04-01T00:00:00.000Z' }] };
    expect(orphanFolders([orphan], 'shop', 0, now).map((backup) => backup.name)).toEqual([orphan.name]);
    expect(orphanFolders([withPin], 'shop', 0, now)).toEqual([]);
  });
});
