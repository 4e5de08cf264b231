import type { StorageConfig } from '../../domain/config.js';
import { FilesystemStore } from './filesystem.js';
import { S3Store } from './s3.js';
import type { ObjectStore } from './store.js';

export type { ObjectStore } from './store.js';
export { StorageError } from './store.js';

export function openStore(config: StorageConfig): ObjectStore {
  return config.kind === 'filesystem' ? new FilesystemStore(config.path) : new S3Store(config);
}
