import type { Readable } from 'node:stream';
import type { StoredObject } from '../../domain/chain.js';

export interface UploadOptions {
  signal?: AbortSignal;
  /** About how large the object will be: S3 sizes its multipart parts from it. */
  expectedBytes?: number;
}

/**
 * Object storage for backups: S3 or a local folder. Keys are relative to the store's root (bucket
 * and prefix, or folder). Bodies stream in and out; nothing holds a whole backup in memory.
 */
export interface ObjectStore {
  /** Names the storage in messages, e.g. "s3://bucket/prefix at http://127.0.0.1:9000". */
  readonly label: string;
  /** Streams `body` to `key`; the object appears only once complete. Aborting removes the partial upload. */
  upload(key: string, body: Readable, options?: UploadOptions): Promise<void>;
  putText(key: string, text: string): Promise<void>;
  /** Undefined when the object does not exist. */
  getText(key: string): Promise<string | undefined>;
  download(key: string): Promise<Readable>;
  /** Every object whose key starts with `prefix`, recursively. */
  list(prefix: string): Promise<StoredObject[]>;
  delete(keys: string[]): Promise<void>;
  /** Removes leftovers of interrupted uploads under `prefix` (multipart uploads, temporary files). */
  abortIncompleteUploads(prefix: string): Promise<number>;
}

export class StorageError extends Error {}

export function storageError(store: { label: string }, action: string, cause: unknown): StorageError {
  const reason = cause instanceof Error ? cause.message || cause.name : String(cause);
  return new StorageError(`storage ${store.label}: ${action} failed: ${reason}`, { cause });
}
