/**
 * Failpoints: named places in the activities where a fault test can hold a worker, so that it can
 * be killed at exactly that step (between moving the datadir aside and putting the prepared one in,
 * while a prepare runs, just after a server was started). Off unless the worker's environment sets
 * CHAINBACKUP_FAILPOINTS to a folder; then a failpoint whose name is a file in that folder writes
 * `<name>.reached` and waits (heartbeating) until the file is removed. Nothing else changes.
 */
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { heartbeat } from './liveness.js';
import { exists } from './files.js';

export type FailpointName = 'prepare-running' | 'swap-placed' | 'apply-running' | 'swap-moved-aside' | 'unpause-spawned' | 'clone-staged' | 'binlog-uploaded' | 'binlog-applying' | 'verify-server-running' | 'seed-server-running';

export async function failpoint(name: FailpointName): Promise<void> {
  const folder = process.env.CHAINBACKUP_FAILPOINTS;
  if (!folder) return;
  const armed = join(folder, name);
  if (!(await exists(armed))) return;
  await writeFile(`${armed}.reached`, `${process.pid}\n`);
  while (await exists(armed)) {
    heartbeat({ phase: `held at failpoint ${name}` });
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  await rm(`${armed}.reached`, { force: true });
}
