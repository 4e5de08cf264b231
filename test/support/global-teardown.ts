import { rm } from 'node:fs/promises';
import { stopRecordedServers } from '../../client/sandbox/processes.js';

export default async function globalTeardown(): Promise<void> {
  const root = process.env.CHAINBACKUP_TEST_ROOT;
  if (!root) return;
  await stopRecordedServers(root);
  if (process.env.CHAINBACKUP_KEEP_TEST_ROOT !== '1') await rm(root, { recursive: true, force: true });
}
