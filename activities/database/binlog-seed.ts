import { gtidRestartStatements } from '../../domain/server-layout.js';
import { startPrivateServer } from './private-server.js';
import type { TargetServer } from './server-layout.js';
import { failpoint } from '../failpoints.js';

/**
 * Starts the restored server's binlog history at the backup's GTID position before the server takes
 * any connection: a private server runs once on the placed files with an `--init-file` that resets
 * the binlog and sets `gtid_binlog_state` and `gtid_slave_pos`, then stops. Its binlog carries that
 * state, so the real server, however it is started (a systemd unit included), continues from it.
 */
export async function seedBinlogHistory(target: TargetServer, gtid: string, stateDir: string, serverBinary = 'mariadbd'): Promise<void> {
  const statements = gtidRestartStatements(gtid);
  if (!statements || target.layout.binlogBasename === null) return;
  const server = await startPrivateServer(target, { initStatements: statements, serverId: target.serverId, logBin: true, serverBinary, stateDir });
  try {
    await failpoint('seed-server-running');
    const failed = await server.errors();
    if (failed.length > 0) throw new Error(`seeding the binlog history at GTID ${gtid} failed: ${failed.join(' | ')}`);
  } finally {
    await server.stop();
  }
}
