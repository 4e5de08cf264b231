/**
 * The integration tests share one Temporal namespace, and a cluster's lock and binlog archiver are
 * workflows whose ids name the cluster: two test files with a cluster of the same name share a lock,
 * served by whichever file's worker started it first, and the other file's work waits for ever once
 * that worker is gone. Every cluster name a test file configures is its own.
 */
import { describe, expect, test } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const integration = join(dirname(fileURLToPath(import.meta.url)), '../../../test/integration');

describe('cluster names in the integration tests', () => {
  test('no two test files configure a cluster of the same name', () => {
    const owners = new Map<string, Set<string>>();
    for (const file of readdirSync(integration).filter((name) => name.endsWith('.test.ts'))) {
      const text = readFileSync(join(integration, file), 'utf8');
      // clusterConfig('<name>', …) of a sandbox, and clusterEntry('<name>', …) of the files that wrap it.
      for (const [, name] of text.matchAll(/cluster(?:Config|Entry)\('([^']+)'/g)) {
        if (name !== undefined) owners.set(name, (owners.get(name) ?? new Set()).add(file));
      }
    }
    expect(owners.size).toBeGreaterThan(20);
    const shared = [...owners].filter(([, files]) => files.size > 1).map(([name, files]) => `${name}: ${[...files].join(', ')}`);
    expect(shared).toEqual([]);
  });
});
