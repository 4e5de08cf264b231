/**
 * What a test reads of a store the product wrote, S3 (the run's MinIO) or a local folder, by the
 * same calls: keys relative to the store's root (its prefix, or its folder).
 */
import { mkdir, readdir, readFile, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
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
  /** How the product names this store in messages (`s3://bucket/prefix`, `file:///path`). */
  label: string;
  /** Every object whose key starts with `under/` (every object without it), sorted by key. */
  list(under?: string): Promise<StoredObject[]>;
  getText(key: string): Promise<string>;
  getBytes(key: string): Promise<Buffer>;
  /** Writes an object as whoever can write to the store would: past the product, unsigned, unsealed. */
  put(key: string, body: string | Buffer): Promise<void>;
  delete(key: string): Promise<void>;
  /** Copies every object into another (empty) store of the same kind. */
  copyInto(other: StoreInspector): Promise<void>;
  /**
   * Writes left open: S3's multipart uploads of `keys` (MinIO lists them only for a whole key), a
   * folder's partial files anywhere in it.
   */
  openWrites(keys: string[]): Promise<string[]>;
}

export function inspectStore(storage: StorageConfig, bucket = new TestBucket()): StoreInspector {
  if (storage.kind === 's3') {
    const full = (key: string) => `${storage.prefix}/${key}`;
    const inspector: StoreInspector = {
      label: `s3://${storage.bucket}/${storage.prefix}`,
      list: async (under) => (await bucket.list(under ? full(under) : storage.prefix)).map(({ key, size, etag }) => ({ key: under ? `${under}/${key}` : key, size, tag: etag })),
      getText: (key) => bucket.getText(full(key)),
      getBytes: (key) => bucket.getBytes(full(key)),
      put: (key, body) => bucket.put(full(key), body),
      delete: (key) => bucket.delete(full(key)),
      copyInto: (other) => copyEvery(inspector, other),
      openWrites: async (keys) => (await Promise.all(keys.map((key) => bucket.openMultipartUploads(full(key))))).flat(),
    };
    return inspector;
  }
  const root = storage.path;
  const files = async (under = '') => {
    const entries = await readdir(join(root, under), { recursive: true, withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return [];
      throw error;
    });
    return entries.filter((entry) => entry.isFile()).map((entry) => relative(root, join(entry.parentPath, entry.name)));
  };
  const inspector: StoreInspector = {
    label: `file://${root}`,
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
    put: async (key, body) => {
      await mkdir(dirname(join(root, key)), { recursive: true });
      await writeFile(join(root, key), body);
    },
    // As on S3, where a folder is only a prefix: none is left empty behind the last object.
    delete: async (key) => {
      await rm(join(root, key));
      for (let folder = dirname(join(root, key)); folder !== root && folder.startsWith(root); folder = dirname(folder)) {
        if ((await readdir(folder)).length > 0) break;
        await rmdir(folder);
      }
    },
    copyInto: (other) => copyEvery(inspector, other),
    openWrites: async () => (await files()).filter((key) => key.includes(PARTIAL_MARKER)),
  };
  return inspector;
}

async function copyEvery(from: StoreInspector, to: StoreInspector): Promise<void> {
  for (const object of await from.list()) await to.put(object.key, await from.getBytes(object.key));
}
