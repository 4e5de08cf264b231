export { backup, type BackupResult } from './backup.js';
export { restore, type RestoreResult } from './restore.js';
