/** The end of an integration test file: what it started, stopped in order. */
import type { Client } from '@temporalio/client';
import type { MariaDbSandbox } from '../../devtools/sandbox/mariadb.js';
import { stopArchiver } from './binlog-archive.js';
import type { TestBucket, WorkerProcess } from './environment.js';

/**
 * Stops a file's binlog archivers, closes its bucket and Temporal clients, stops its worker, then its
 * servers. Any part may be missing: a `beforeAll` that failed half-way still leaves nothing running.
 */
export async function stopTestFile(parts: { client?: Client; archivers?: string[]; bucket?: TestBucket; closeClient?: () => Promise<void>; worker?: WorkerProcess; sandboxes?: (MariaDbSandbox | undefined)[] }): Promise<void> {
  for (const archiver of parts.archivers ?? []) await stopArchiver(parts.client, archiver);
  parts.bucket?.close();
  await parts.closeClient?.();
  await parts.worker?.stop();
  await Promise.all((parts.sandboxes ?? []).map(async (sandbox) => sandbox?.stop()));
}
