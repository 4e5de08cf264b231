import { rm } from 'node:fs/promises';
import { stopRecordedServers } from '../../devtools/sandbox/processes.js';
import { recordHistories } from './record-histories.js';

export default async function globalTeardown(): Promise<void> {
  const root = process.env.CHAINBACKUP_TEST_ROOT;
  if (!root) return;
  try {
    const recordTo = process.env.CHAINBACKUP_RECORD_HISTORIES;
    if (recordTo) console.log(`recorded histories:\n${(await recordHistories(recordTo)).join('\n')}`);
  } finally {
    await stopRecordedServers(root);
    if (process.env.CHAINBACKUP_KEEP_TEST_ROOT !== '1') await rm(root, { recursive: true, force: true });
  }
}
