/**
 * Issue 34: the cluster's ledger of committed backups, and the catalog held against it: a backup
 * committed but gone from the store, and one in the store that no commit listed, are each named;
 * a vanished member keeps its chain from retention, the sweep, an increment and "the newest".
 */
import { describe, expect, test } from '@jest/globals';
import { chooseParent, isCommitted } from '../../domain/chain.js';
import { nextLedger, withLedger, type Ledger } from '../../domain/ledger.js';
import { orphanFolders, planRetention } from '../../domain/retention.js';
import { stored } from '../support/stored-backups.js';

const FULL = 'shop-2026-04-01T000000.000Z-full';
const I1 = 'shop-2026-04-02T000000.000Z-incr';
const I2 = 'shop-2026-04-03T000000.000Z-incr';
const OLD = 'shop-2026-03-01T000000.000Z-full';
const NOW = '2026-04-04T00:00:00.000Z';

const chain = () => [stored(OLD, OLD, {}), stored(FULL, FULL, {}), stored(I1, FULL, { parent: FULL }), stored(I2, FULL, { parent: I1 })];
const ledgerOf = (names: string[], seq = 5): Ledger => ({ formatVersion: 1, cluster: 'shop', seq, updatedAt: NOW, backups: names.map((name) => ({ name, base: name.endsWith('-full') ? name : FULL })) });

describe('the ledger', () => {
  test('starts from the committed backups the store holds, then counts each change', () => {
    const first = nextLedger('shop', undefined, [...chain(), stored('shop-2026-04-05T000000.000Z-incr', FULL, null)], { add: [{ name: 'shop-2026-04-05T000000.000Z-incr', base: FULL }] }, NOW);
    expect(first.seq).toBe(1);
    expect(first.backups.map((entry) => entry.name)).toEqual([OLD, FULL, I1, I2, 'shop-2026-04-05T000000.000Z-incr']);
    const second = nextLedger('shop', first, [], { remove: [OLD] }, NOW);
    expect(second).toMatchObject({ seq: 2, backups: expect.not.arrayContaining([expect.objectContaining({ name: OLD })]) as unknown });
  });

  test('a backup it lists that the store lost is named, and not committed', () => {
    const held = chain().filter((backup) => backup.name !== I2);
    const read = withLedger(held, ledgerOf([OLD, FULL, I1, I2]));
    const lost = read.find((backup) => backup.name === I2);
    expect(lost).toMatchObject({ vanished: true, manifest: null, folder: `${FULL}.incr/${I2}/` });
    expect(lost?.manifestProblem).toContain('committed (ledger seq 5 lists it) but nothing of it is left');
    // Its manifest alone removed: the folder is there, and named the same way.
    const hidden = chain().map((backup) => (backup.name === I2 ? { ...backup, manifest: null } : backup));
    expect(withLedger(hidden, ledgerOf([OLD, FULL, I1, I2])).find((backup) => backup.name === I2)?.manifestProblem).toContain('its manifest is gone');
  });

  test('a chain being deleted by chainbackup is not taken for a loss', () => {
    const deleting = chain().map((backup) => (backup.base === FULL ? { ...backup, manifest: null, deleting: true as const } : backup));
    expect(withLedger(deleting, ledgerOf([OLD, FULL, I1, I2])).filter((backup) => backup.vanished)).toEqual([]);
  });

  test('a committed backup the ledger does not list is named', () => {
    const read = withLedger(chain(), ledgerOf([FULL, I1, I2]));
    expect(read.find((backup) => backup.name === OLD)?.recordProblems?.[0]).toContain('committed in the store but not in its ledger (seq 5)');
  });

  test('a vanished member keeps its chain from retention and the sweep, and refuses an increment', () => {
    const read = withLedger(
      chain().filter((backup) => backup.name !== I2),
      ledgerOf([OLD, FULL, I1, I2]),
    );
    const plan = planRetention(read, 'shop', { keepChains: 1, orphanAgeHours: 0 }, Date.parse(NOW));
    expect(plan.leftAlone.map((chain) => chain.base)).toEqual([FULL]);
    expect(orphanFolders(read, 'shop', 0, Date.parse(NOW)).map((backup) => backup.name)).not.toContain(I2);
    const base = read.find((backup) => backup.name === FULL);
    if (!base || !isCommitted(base)) throw new Error('the base is committed');
    expect(chooseParent(read, base)).toMatchObject({ ok: false, code: 'BrokenChain', reason: expect.stringContaining(`the chain of ${FULL} lost ${I2}`) as unknown });
  });
});
