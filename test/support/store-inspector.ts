/**
 * What a test reads of a store the product wrote, S3 (the run's MinIO) or a local folder, by the
 * same calls: keys relative to the store's root (its prefix, or its folder).
 */
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { StorageConfig } from '../../domain/config.js';
import { TestBucket } from './environment.js';

/** A partial file of the filesystem store (activities/storage/filesystem.ts): a write not yet renamed into place. */
const PARTIAL_MARKER = '.partial-';

export interface StoredObject {
  key: string;
  size: number;
  /** Changes when the object is replaced: S3's entity tag, a file's inode, size and modification time. */
  tag: string;
}

export interface StoreInspector {
  /** Every object whose key starts with `under/` (every object without it), sorted by key. */
  list(under?: string): Promise<StoredObject[]>;
  getText(key: string): Promise<string>;
  getBytes(key: string): Promise<Buffer>;
  delete(key: string): Promise<void>;
  /**
   * Writes left open: S3's multipart uploads of `keys` (MinIO lists them only for a whole key), a
   * folder's partial files anywhere in it.
   */
  openWrites(keys: string[]): Promise<string[]>;
}

export function inspectStore(storage: StorageConfig, bucket = new TestBucket()): StoreInspector {
  if (storage.kind === 's3') {
    const full = (key: string) => `${storage.prefix}/${key}`;
    return {
      list: async (under) => (await bucket.list(under ? full(under) : storage.prefix)).map(({ key, size, etag }) => ({ key: under ? `${under}/${key}` : key, size, tag: etag })),
      getText: (key) => bucket.getText(full(key)),
      getBytes: (key) => bucket.getBytes(full(key)),
      delete: (key) => bucket.delete(full(key)),
      openWrites: async (keys) => (await Promise.all(keys.map((key) => bucket.openMultipartUploads(full(key))))).flat(),
    };
  }
  const root = storage.path;
  const files = async (under = '') => {
    const entries = await readdir(join(root, under), { recursive: true, withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return [];
      throw error;
    });
    return entries.filter((entry) => entry.isFile()).map((entry) => relative(root, join(entry.parentPath, entry.name)));
  };
  return {
    list: async (under) => {
      const found: StoredObject[] = [];
      for (const key of await files(under)) {
        if (key.includes(PARTIAL_MARKER)) continue;
        const info = await stat(join(root, key));
        found.push({ key, size: info.size, tag: `${info.ino}:${info.size}:${info.mtimeMs}` });
      }
      return found.sort((a, b) => a.key.localeCompare(b.key));
    },
    getText: (key) => readFile(join(root, key), 'utf8'),
    getBytes: (key) => readFile(join(root, key)),
    delete: (key) => rm(join(root, key)),
    openWrites: async () => (await files()).filter((key) => key.includes(PARTIAL_MARKER)),
  };
}
