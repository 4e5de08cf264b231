/** What a backup's manifest records of the source's tables, for a verification to expect. */
import { describe, expect, test } from '@jest/globals';
import { inventoryProblems, stableInventory } from '../../domain/manifest.js';

describe('the table inventory of a backup', () => {
  test('only the tables two readings agree on, engine included: one made, dropped or altered between them is left out', () => {
    const before = [
      { schema: 'shop', table: 'orders', engine: 'InnoDB' },
      { schema: 'shop', table: 'dropped', engine: 'InnoDB' },
      { schema: 'shop', table: 'altered', engine: 'MyISAM' },
      { schema: 'app', table: 'users', engine: 'InnoDB' },
    ];
    const after = [
      { schema: 'shop', table: 'orders', engine: 'InnoDB' },
      { schema: 'shop', table: 'altered', engine: 'InnoDB' },
      { schema: 'shop', table: 'made', engine: 'InnoDB' },
      { schema: 'app', table: 'users', engine: 'InnoDB' },
    ];
    expect(stableInventory(before, after)).toEqual([
      { schema: 'app', table: 'users', engine: 'InnoDB' },
      { schema: 'shop', table: 'orders', engine: 'InnoDB' },
    ]);
  });
});

describe('a verification against the inventory', () => {
  test('names each table that is missing or has another engine; tables made after the backup are no problem', () => {
    const expected = [
      { schema: 'shop', table: 'orders', engine: 'InnoDB' },
      { schema: 'shop', table: 'gone', engine: 'InnoDB' },
      { schema: 'shop', table: 'log', engine: 'Aria' },
    ];
    const found = [
      { schema: 'shop', table: 'orders', engine: 'InnoDB' },
      { schema: 'shop', table: 'log', engine: 'MyISAM' },
      { schema: 'shop', table: 'new', engine: 'InnoDB' },
    ];
    expect(inventoryProblems(expected, found)).toEqual(['table shop.gone (InnoDB) is missing', 'table shop.log is MyISAM, the backup recorded Aria']);
    expect(inventoryProblems([], found)).toEqual([]);
  });
});
