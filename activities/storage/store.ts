import type { Readable } from 'node:stream';
import type { StoredObject } from '../../domain/chain.js';
import type { RecordKeys } from '../../encryption/records.js';

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
  /** The keys this worker signs and checks the store's records with (activities/records.ts); none: records are neither signed nor checked. */
  readonly recordKeys: RecordKeySource;
  /** Streams `body` to `key`; the object appears only once complete. Aborting removes the partial upload. */
  upload(key: string, body: Readable, options?: UploadOptions): Promise<void>;
  putText(key: string, text: string): Promise<void>;
  /** Undefined when the object does not exist. */
  getText(key: string): Promise<string | undefined>;
  /** Undefined when the object does not exist. */
  getBytes(key: string): Promise<Buffer | undefined>;
  download(key: string): Promise<Readable>;
  /**
   * Every object under the folder `prefix` ("" for the root, else ending in "/"), recursively. A
   * filesystem store never follows a symbolic link, and both stop when `signal` aborts.
   */
  list(prefix: string, options?: ListOptions): Promise<StoredObject[]>;
  /** The names of the folders directly under `prefix` ("" or ending in "/"), without reading inside them. */
  listFolders(prefix: string, options?: ListOptions): Promise<string[]>;
  delete(keys: string[]): Promise<void>;
  /**
   * Removes leftovers of interrupted uploads of the objects `keys` (multipart uploads, temporary
   * files). Exact keys, because some S3 servers (MinIO) list multipart uploads only for a whole key.
   */
  abortIncompleteUploads(keys: string[]): Promise<number>;
  /** A locking store (S3 Object Lock) only: moves the lock of each object to `until`. */
  extendLocks?(keys: string[], until: Date): Promise<void>;
  /** A locking store only: why its bucket cannot keep the configured lock (none, or a default retention), or undefined. */
  objectLockProblem?(): Promise<string | undefined>;
  /** A versioned store only: the versions of `key` older than the current one, newest first. */
  olderVersions?(key: string): Promise<StoredVersion[]>;
}

/** One earlier version of an object in a versioned bucket. */
export interface StoredVersion {
  versionId: string;
  lastModified?: string;
  text(): Promise<string | undefined>;
}

export type RecordKeySource = () => Promise<RecordKeys | undefined>;

/** A store whose records are neither signed nor checked: a worker with no key, or a test reading what was stored. */
export const NO_RECORD_KEYS: RecordKeySource = () => Promise.resolve(undefined);

export interface ListOptions {
  signal?: AbortSignal;
}

export class StorageError extends Error {
  /**
   * The storage answered that the request itself is wrong (no such bucket, access denied, a host
   * name that does not resolve, not a folder): retrying cannot help, unlike an outage.
   */
  readonly refusal: boolean;

  constructor(message: string, options: { cause: unknown; refusal: boolean }) {
    super(message, { cause: options.cause });
    this.refusal = options.refusal;
  }
}

const REFUSING_NAMES = new Set(['NoSuchBucket', 'AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'InvalidBucketName', 'PermanentRedirect', 'AuthorizationHeaderMalformed', 'AllAccessDisabled', 'InvalidArgument']);
const REFUSING_CODES = new Set(['ENOTFOUND', 'ENOTDIR', 'EACCES', 'EPERM', 'ELOOP', 'ENAMETOOLONG', 'ERR_INVALID_URL']);

/** Whether a storage error means the request is wrong (see StorageError.refusal) rather than a fault. */
export function isRefusingError(cause: unknown): boolean {
  if (!(cause instanceof Error)) return false;
  const { code, $metadata } = cause as Error & { code?: string; $metadata?: { httpStatusCode?: number } };
  const status = $metadata?.httpStatusCode;
  return REFUSING_NAMES.has(cause.name) || (code !== undefined && REFUSING_CODES.has(code)) || status === 301 || status === 400 || status === 403 || status === 404;
}

export function storageError(store: { label: string }, action: string, cause: unknown): StorageError {
  const reason = cause instanceof Error ? cause.message || cause.name : String(cause);
  return new StorageError(`storage ${store.label}: ${action} failed: ${reason}`, { cause, refusal: isRefusingError(cause) });
}
