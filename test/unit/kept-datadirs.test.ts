/** Which folders are kept datadirs of a cluster (by name alone), and when status warns about them. */
import { describe, expect, test } from '@jest/globals';
import { configSchema } from '../../domain/config.js';
import { healthWarnings, type ClusterHealth } from '../../domain/health.js';
import { keptDatadirTime } from '../../domain/kept-datadirs.js';

describe('kept datadirs', () => {
  test('only <datadir>.before-restore-<restore id> of this datadir is one, and its name gives its time', () => {
    expect(keptDatadirTime('/var/lib/mysql', 'mysql.before-restore-2026-12-04T012000.123Z')).toBe('2026-12-04T01:20:00.123Z');
    expect(keptDatadirTime('/var/lib/mysql/', 'mysql.before-restore-2026-12-04T012000.123Z')).toBe('2026-12-04T01:20:00.123Z');
    for (const name of [
      'mysql',
      'other.before-restore-2026-12-04T012000.123Z',
      'mysql.before-restore-',
      'mysql.before-restore-../../etc',
      'mysql.before-restore-2026-12-04T012000.123Z/..',
      'mysql.before-restore-2026-12-04T012000.123Z.tmp',
      'mysql.before-restore-2026-13-40T012000.123Z',
      '../mysql.before-restore-2026-12-04T012000.123Z',
    ]) {
      expect(keptDatadirTime('/var/lib/mysql', name)).toBeUndefined();
    }
  });

  test('status warns past the configured share of the disk, by default a quarter, and never breaks a rule for it', () => {
    const health = (bytes: number) => ({ cluster: 'shop', keptDatadirs: { count: 2, bytes, diskBytes: 1000 } }) as unknown as ClusterHealth;
    const defaults = configSchema.parse({ clusters: [{ name: 'shop', connection: { socket: '/s', user: 'b' }, datadir: '/d', storage: { kind: 'filesystem', path: '/b' }, controller: { kind: 'command', stop: ['x'], start: ['y'] } }] }).clusters[0]?.health;
    expect(defaults?.keptDatadirsMaxShare).toBe(0.25);
    expect(healthWarnings(health(250), defaults ?? {})).toEqual([]);
    expect(healthWarnings(health(251), defaults ?? {})).toEqual([
      { rule: 'health.keptDatadirsMaxShare', message: '2 datadirs kept by restores take 25.1% of the datadir\'s disk (limit 25%): see `chainbackup kept list shop`, remove with `chainbackup kept remove shop <name>`' },
    ]);
    expect(healthWarnings(health(900), {})).toEqual([]);
    expect(healthWarnings({ cluster: 'shop' } as ClusterHealth, { keptDatadirsMaxShare: 0.1 })).toEqual([]);
  });
});
