export { backup, type BackupResult } from './backup.js';
export { restore, type RestoreResult } from './restore.js';
export { clusterLock } from './cluster-lock.js';
export { deleteBackup, pinBackup, retention, type DeletionResult, type PinResult, type RetentionResult } from './retention.js';
export { catalog, checkCluster, clusterStatus, type ClusterCatalog, type BackupListing } from './catalog.js';
export { binlogArchiver } from './binlog-archiver.js';
export { adoptRecords } from './adoption.js';
export { keptDatadirs, type KeptDatadirsResult } from './kept-datadirs.js';
