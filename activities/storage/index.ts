import type { StorageConfig } from '../../domain/config.js';
import { FilesystemStore } from './filesystem.js';
import { S3Store } from './s3.js';
import { NO_RECORD_KEYS, type ObjectStore, type RecordKeySource } from './store.js';

export type { ObjectStore } from './store.js';
export { NO_RECORD_KEYS, StorageError, type RecordKeySource } from './store.js';

export function openStore(config: StorageConfig, recordKeys: RecordKeySource = NO_RECORD_KEYS): ObjectStore {
  return config.kind === 'filesystem' ? new FilesystemStore(config.path, recordKeys) : new S3Store(config, recordKeys);
}
