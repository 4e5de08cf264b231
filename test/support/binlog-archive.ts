/** Waiting on a cluster's binlog archiver, for the tests that archive. */
import type { Client } from '@temporalio/client';
import type { MariaDbSandbox } from '../../devtools/sandbox/mariadb.js';
import { gtidPosition, parseGtids } from '../../domain/binlog.js';
import { binlogArchiveQuery, type BinlogArchiveState } from '../../domain/workflow-contract.js';
import { eventually } from './workflow-worker.js';

/** Waits until the archive holds every transaction the server has logged by now (its gtid_binlog_pos). */
export async function untilArchiveCaughtUp(client: Client, archiverId: string, server: MariaDbSandbox): Promise<BinlogArchiveState> {
  const position = parseGtids((await server.sql('SELECT @@gtid_binlog_pos'))[0]?.[0] ?? '') ?? [];
  return eventually('the archive holds every transaction the server logged', async () => {
    const state = await client.workflow.getHandle(archiverId).query(binlogArchiveQuery).catch(() => undefined);
    const archived = gtidPosition(parseGtids(state?.newest?.endGtids ?? '') ?? []);
    return state?.caughtUp && JSON.stringify(archived) === JSON.stringify(position) ? state : undefined;
  }, 120_000);
}

/** Stops an archiver a test started, if it still runs. */
export async function stopArchiver(client: Client | undefined, archiverId: string): Promise<void> {
  await client?.workflow
    .getHandle(archiverId)
    .terminate('test over')
    .catch(() => undefined);
}
