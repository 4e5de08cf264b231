import {
  AbortMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  GetObjectLockConfigurationCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  NoSuchKey,
  PutObjectCommand,
  PutObjectRetentionCommand,
  S3Client,
  type ObjectIdentifier,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { Readable } from 'node:stream';
import type { StoredObject } from '../../domain/chain.js';
import type { StorageConfig } from '../../domain/config.js';
import { storageLabel } from '../../domain/config.js';
import { isLockedKey, lockEnd } from '../../domain/object-lock.js';
import { NO_RECORD_KEYS, storageError, type ListOptions, type ObjectStore, type RecordKeySource, type StoredVersion, type UploadOptions } from './store.js';
import { assertAttemptHolds } from '../attempt-lease.js';

type S3Config = Extract<StorageConfig, { kind: 's3' }>;

const MiB = 1024 * 1024;
/** S3's limit on the parts of one multipart upload. */
const MAX_PARTS = 10_000;
/** The smallest part and the most parts in flight: 16 MiB × 4 keeps upload memory near 64 MiB. */
const MIN_PART_SIZE = 16 * MiB;
const MAX_QUEUE_SIZE = 4;

/**
 * Multipart shape for an object of about `expectedBytes`. 16 MiB parts cap an object at 160 GB, so
 * parts grow with the expected size (with half again as margin: the redo log copied during a busy
 * backup adds to the stream), and fewer of them are in flight so memory stays bounded.
 */
export function multipartShape(expectedBytes = 0): { partSize: number; queueSize: number } {
  const partSize = Math.max(MIN_PART_SIZE, Math.ceil((expectedBytes * 1.5) / MAX_PARTS / MiB) * MiB);
  return { partSize, queueSize: Math.max(2, Math.min(MAX_QUEUE_SIZE, Math.floor((MIN_PART_SIZE * MAX_QUEUE_SIZE) / partSize))) };
}

/** S3 or an S3-compatible store (MinIO). Credentials come from the standard AWS chain. */
export class S3Store implements ObjectStore {
  readonly label: string;
  private readonly client: S3Client;

  constructor(
    private readonly config: S3Config,
    readonly recordKeys: RecordKeySource = NO_RECORD_KEYS,
  ) {
    this.label = storageLabel(config);
    this.client = new S3Client({
      region: config.region,
      forcePathStyle: config.forcePathStyle,
      ...(config.endpoint ? { endpoint: config.endpoint } : {}),
      maxAttempts: 3,
    });
    // Checked as each request leaves, retries included: a step whose attempt may have been replaced
    // (attempt-lease.ts) writes and deletes nothing more. Aborting its own multipart upload stays allowed.
    this.client.middlewareStack.add(
      (next) => async (args) => {
        const request = args.request as { method?: string; path?: string; query?: Record<string, unknown> };
        const abortsOwnUpload = request.method === 'DELETE' && request.query?.uploadId !== undefined;
        if (['PUT', 'POST', 'DELETE'].includes(request.method ?? '') && !abortsOwnUpload) assertAttemptHolds(`send ${request.method ?? ''} ${request.path ?? ''} to ${this.label}`);
        return next(args);
      },
      { step: 'deserialize', name: 'attemptHolds' },
    );
  }

  private key(key: string): string {
    return this.config.prefix ? `${this.config.prefix}/${key}` : key;
  }

  private relative(fullKey: string): string {
    return this.config.prefix ? fullKey.slice(this.config.prefix.length + 1) : fullKey;
  }

  async upload(key: string, body: Readable, { signal, expectedBytes }: UploadOptions = {}): Promise<void> {
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.config.bucket, Key: this.key(key), Body: body, ...this.serverSideEncryption(), ...this.lockFor(key) },
      ...multipartShape(expectedBytes),
      leavePartsOnError: false,
    });
    const abort = () => void upload.abort().catch(() => undefined);
    signal?.addEventListener('abort', abort, { once: true });
    try {
      await upload.done();
    } catch (error) {
      // A failed multipart upload is aborted so its parts neither cost storage nor linger.
      await upload.abort().catch(() => undefined);
      throw signal?.aborted ? error : storageError(this, `uploading ${key}`, error);
    } finally {
      signal?.removeEventListener('abort', abort);
    }
  }

  /** The SSE parameters of every write, as configured (SSE-S3 or SSE-KMS with its key). */
  private serverSideEncryption(): { ServerSideEncryption?: 'AES256' | 'aws:kms'; SSEKMSKeyId?: string } {
    const { serverSideEncryption, kmsKeyId } = this.config;
    return { ...(serverSideEncryption ? { ServerSideEncryption: serverSideEncryption } : {}), ...(kmsKeyId ? { SSEKMSKeyId: kmsKeyId } : {}) };
  }

  /** The Object Lock of a new object at `key`: a backup's or an archived binlog's, when the storage locks (domain/object-lock.ts). */
  private lockFor(key: string): { ObjectLockMode?: 'GOVERNANCE' | 'COMPLIANCE'; ObjectLockRetainUntilDate?: Date } {
    const lock = this.config.objectLock;
    if (!lock || !isLockedKey(key)) return {};
    return { ObjectLockMode: lock.mode === 'compliance' ? 'COMPLIANCE' : 'GOVERNANCE', ObjectLockRetainUntilDate: new Date(lockEnd(Date.now(), lock.days)) };
  }

  async objectLockProblem(): Promise<string | undefined> {
    if (!this.config.objectLock) return undefined;
    try {
      const { ObjectLockConfiguration: lock } = await this.client.send(new GetObjectLockConfigurationCommand({ Bucket: this.config.bucket }));
      if (lock?.ObjectLockEnabled !== 'Enabled') return `bucket ${this.config.bucket} does not have Object Lock enabled: it can only be enabled when a bucket is created (create one with it, e.g. aws s3api create-bucket --object-lock-enabled-for-bucket)`;
      const rule = lock.Rule?.DefaultRetention;
      if (rule) return `bucket ${this.config.bucket} has a default retention (${rule.Mode ?? '?'}, ${rule.Days ?? rule.Years ?? '?'} ${rule.Days ? 'days' : 'years'}): chainbackup rewrites its markers, which must stay unlocked; remove the bucket's default rule (storage.objectLock sets each backup's lock)`;
      return undefined;
    } catch (error) {
      if ((error as Error).name === 'ObjectLockConfigurationNotFoundError') return `bucket ${this.config.bucket} was not created with Object Lock, which storage.objectLock needs: it can only be enabled when a bucket is created`;
      throw storageError(this, 'reading the bucket\'s Object Lock configuration', error);
    }
  }

  /** Moves the lock of each object's current version to `until` (a lock only ever lengthens). */
  async extendLocks(keys: string[], until: Date): Promise<void> {
    const lock = this.config.objectLock;
    if (!lock) return;
    try {
      for (const key of keys) {
        await this.client.send(
          new PutObjectRetentionCommand({ Bucket: this.config.bucket, Key: this.key(key), Retention: { Mode: lock.mode === 'compliance' ? 'COMPLIANCE' : 'GOVERNANCE', RetainUntilDate: until } }),
        );
      }
    } catch (error) {
      throw storageError(this, `extending the lock of ${keys.length} objects`, error);
    }
  }

  async putText(key: string, text: string): Promise<void> {
    try {
      await this.client.send(new PutObjectCommand({ Bucket: this.config.bucket, Key: this.key(key), Body: text, ...this.serverSideEncryption(), ...this.lockFor(key) }));
    } catch (error) {
      throw storageError(this, `writing ${key}`, error);
    }
  }

  async getText(key: string): Promise<string | undefined> {
    try {
      const response = await this.client.send(new GetObjectCommand({ Bucket: this.config.bucket, Key: this.key(key) }));
      return await response.Body?.transformToString('utf8');
    } catch (error) {
      if (error instanceof NoSuchKey) return undefined;
      throw storageError(this, `reading ${key}`, error);
    }
  }

  async getBytes(key: string): Promise<Buffer | undefined> {
    try {
      const response = await this.client.send(new GetObjectCommand({ Bucket: this.config.bucket, Key: this.key(key) }));
      return Buffer.from((await response.Body?.transformToByteArray()) ?? []);
    } catch (error) {
      if (error instanceof NoSuchKey) return undefined;
      throw storageError(this, `reading ${key}`, error);
    }
  }

  async download(key: string): Promise<Readable> {
    try {
      const response = await this.client.send(new GetObjectCommand({ Bucket: this.config.bucket, Key: this.key(key) }));
      if (!response.Body) throw new Error('empty response body');
      return response.Body as Readable;
    } catch (error) {
      throw storageError(this, `reading ${key}`, error);
    }
  }

  async list(prefix: string, { signal }: ListOptions = {}): Promise<StoredObject[]> {
    const objects: StoredObject[] = [];
    let token: string | undefined;
    try {
      do {
        signal?.throwIfAborted();
        const page = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.config.bucket, Prefix: this.key(prefix), ...(token ? { ContinuationToken: token } : {}) }),
          signal ? { abortSignal: signal } : {},
        );
        for (const item of page.Contents ?? []) {
          if (item.Key === undefined) continue;
          objects.push({ key: this.relative(item.Key), size: item.Size ?? 0, lastModified: (item.LastModified ?? new Date(0)).toISOString() });
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    } catch (error) {
      if (signal?.aborted) throw error;
      throw storageError(this, `listing ${prefix || '/'}`, error);
    }
    return objects;
  }

  async listFolders(prefix: string, { signal }: ListOptions = {}): Promise<string[]> {
    const names: string[] = [];
    const fullPrefix = prefix === '' ? (this.config.prefix ? `${this.config.prefix}/` : '') : this.key(prefix);
    let token: string | undefined;
    try {
      do {
        signal?.throwIfAborted();
        const page = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.config.bucket, Prefix: fullPrefix, Delimiter: '/', ...(token ? { ContinuationToken: token } : {}) }),
          signal ? { abortSignal: signal } : {},
        );
        for (const common of page.CommonPrefixes ?? []) {
          if (common.Prefix !== undefined) names.push(common.Prefix.slice(fullPrefix.length, -1));
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    } catch (error) {
      if (signal?.aborted) throw error;
      throw storageError(this, `listing ${prefix || '/'}`, error);
    }
    return names.sort();
  }

  /**
   * Removes the objects. A locking store is versioned: there every version of each goes (a delete
   * without a version only hides the object behind a delete marker, still stored and billed), and
   * one still locked fails the deletion, naming it.
   */
  async delete(keys: string[]): Promise<void> {
    try {
      const targets: ObjectIdentifier[] = this.config.objectLock ? await this.versionsOf(keys) : keys.map((key) => ({ Key: this.key(key) }));
      for (let i = 0; i < targets.length; i += 1000) {
        const batch = targets.slice(i, i + 1000);
        const result = await this.client.send(new DeleteObjectsCommand({ Bucket: this.config.bucket, Delete: { Objects: batch, Quiet: true } }));
        const failed = result.Errors?.[0];
        if (failed) throw new Error(`${failed.Key ?? '?'}: ${failed.Message ?? failed.Code ?? 'unknown error'}`);
      }
    } catch (error) {
      throw storageError(this, `deleting ${keys.length} objects`, error);
    }
  }

  async olderVersions(key: string): Promise<StoredVersion[]> {
    const fullKey = this.key(key);
    try {
      // Newest first, as S3 lists them; one page (1000 versions) is more history than a record has.
      const page = await this.client.send(new ListObjectVersionsCommand({ Bucket: this.config.bucket, Prefix: fullKey }));
      return (page.Versions ?? [])
        .filter((version) => version.Key === fullKey && version.IsLatest !== true && version.VersionId !== undefined && version.VersionId !== 'null')
        .map((version) => ({
          versionId: version.VersionId as string,
          ...(version.LastModified ? { lastModified: version.LastModified.toISOString() } : {}),
          text: async () => {
            const response = await this.client.send(new GetObjectCommand({ Bucket: this.config.bucket, Key: fullKey, VersionId: version.VersionId }));
            return response.Body?.transformToString('utf8');
          },
        }));
    } catch (error) {
      throw storageError(this, `listing the versions of ${key}`, error);
    }
  }

  /** Every version and delete marker of the objects at `keys`. */
  private async versionsOf(keys: string[]): Promise<ObjectIdentifier[]> {
    const found: ObjectIdentifier[] = [];
    for (const key of keys) {
      const fullKey = this.key(key);
      let keyMarker: string | undefined;
      let versionMarker: string | undefined;
      do {
        const page = await this.client.send(
          new ListObjectVersionsCommand({ Bucket: this.config.bucket, Prefix: fullKey, ...(keyMarker ? { KeyMarker: keyMarker } : {}), ...(versionMarker ? { VersionIdMarker: versionMarker } : {}) }),
        );
        for (const version of [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])]) {
          if (version.Key === fullKey && version.VersionId !== undefined) found.push({ Key: fullKey, VersionId: version.VersionId });
        }
        ({ NextKeyMarker: keyMarker, NextVersionIdMarker: versionMarker } = page.IsTruncated ? page : { NextKeyMarker: undefined, NextVersionIdMarker: undefined });
      } while (keyMarker !== undefined);
    }
    return found;
  }

  async abortIncompleteUploads(keys: string[]): Promise<number> {
    let aborted = 0;
    try {
      for (const key of keys) {
        let keyMarker: string | undefined;
        let uploadIdMarker: string | undefined;
        do {
          const page = await this.client.send(
            new ListMultipartUploadsCommand({ Bucket: this.config.bucket, Prefix: this.key(key), ...(keyMarker ? { KeyMarker: keyMarker } : {}), ...(uploadIdMarker ? { UploadIdMarker: uploadIdMarker } : {}) }),
          );
          for (const upload of page.Uploads ?? []) {
            if (upload.Key !== this.key(key)) continue;
            // Another attempt's upload in progress may be among them: not aborted by a replaced attempt.
            assertAttemptHolds(`abort the unfinished upload of ${key}`);
            await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.config.bucket, Key: upload.Key, UploadId: upload.UploadId }));
            aborted++;
          }
          ({ NextKeyMarker: keyMarker, NextUploadIdMarker: uploadIdMarker } = page.IsTruncated ? page : { NextKeyMarker: undefined, NextUploadIdMarker: undefined });
        } while (keyMarker !== undefined);
      }
    } catch (error) {
      throw storageError(this, `aborting incomplete uploads of ${keys.join(', ')}`, error);
    }
    return aborted;
  }
}
