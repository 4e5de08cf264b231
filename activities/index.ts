import { checkActivities } from './check.js';
import { clusterSettings, type ClusterSettings, type Config } from '../domain/config.js';
import { backupActivities } from './backup.js';
import { binlogActivities } from './binlogs/index.js';
import { clusterLockActivities } from './cluster-lock.js';
import { deletionActivities } from './deletion.js';
import { healthActivities } from './health.js';
import { keptDatadirActivities } from './kept-datadirs.js';
import { ActivityDeps } from './deps.js';
import { adoptionActivities } from './adoption.js';
import { restoreActivities } from './restore.js';
import { verificationActivities } from './verification.js';

/** Activities of the shared queue: look-ups any worker with the configuration can answer. */
export function createOrchestratorActivities(config: Config) {
  const deps = new ActivityDeps(config);
  return {
    ...clusterLockActivities(config),
    /** The cluster's non-secret settings, or a non-retryable UnknownCluster failure. */
    // eslint-disable-next-line @typescript-eslint/require-await
    async describeCluster(name: string): Promise<ClusterSettings> {
      return clusterSettings(deps.cluster(name), config.temporal.taskQueue);
    },
  };
}

/** Activities that must run on the database host: the backup tool, the datadir, the server. */
export function createHostActivities(config: Config) {
  const deps = new ActivityDeps(config);
  return { ...backupActivities(deps), ...restoreActivities(deps), ...deletionActivities(deps), ...binlogActivities(deps), ...verificationActivities(deps), ...healthActivities(deps), ...keptDatadirActivities(deps), ...adoptionActivities(deps), ...checkActivities(deps) };
}

export type OrchestratorActivities = ReturnType<typeof createOrchestratorActivities>;
export type HostActivities = ReturnType<typeof createHostActivities>;
export type { TakenBackup } from './backup.js';
export type { VerificationReport } from './verification.js';
export type { RestoreSource } from './restore.js';
export type { ArchiveSource } from './binlogs/shared.js';
export type { TargetServer } from './database/server-layout.js';
