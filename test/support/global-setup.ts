import { mkdir } from 'node:fs/promises';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMinio } from '../../devtools/sandbox/minio.js';
import { stopRecordedServers } from '../../devtools/sandbox/processes.js';
import { startTemporalDevServer } from '../../devtools/sandbox/temporal.js';

/** One Temporal dev server and one MinIO for the whole run; tests start their own MariaDB sandboxes. */
export default async function globalSetup(): Promise<void> {
  const root = process.env.CHAINBACKUP_TEST_ROOT ?? (await mkdtemp(join(tmpdir(), 'chainbackup-test-')));
  await mkdir(root, { recursive: true });
  process.env.CHAINBACKUP_TEST_ROOT = root;
  try {
    const [temporal, minio] = await Promise.all([startTemporalDevServer(join(root, 'temporal'), {
        ui: false,
        // Cluster locks live long; a low threshold makes them continue as new within the suite.
        dynamicConfig: { 'limit.historyCount.suggestContinueAsNew': 150 },
      }), startMinio(join(root, 'minio'))]);
    process.env.TEMPORAL_ADDRESS = temporal.address;
    process.env.TEMPORAL_NAMESPACE = 'default';
    process.env.AWS_ACCESS_KEY_ID = minio.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = minio.secretAccessKey;
    process.env.AWS_REGION = 'us-east-1';
    process.env.CHAINBACKUP_TEST_S3_ENDPOINT = minio.endpoint;
    await minio.createBucket('backups');
    // For the Object Lock tests: a lock can only be switched on when a bucket is created.
    await minio.createBucket('backups-locked', { objectLock: true });
  } catch (error) {
    await stopRecordedServers(root);
    throw error;
  }
}
