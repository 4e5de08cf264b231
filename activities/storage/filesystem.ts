import { createReadStream } from 'node:fs';
import { lstat, mkdir, open, opendir, readdir, readFile, rename, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import { randomUUID } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { Writable, type Readable } from 'node:stream';
import type { StoredObject } from '../../domain/chain.js';
import { NO_RECORD_KEYS, storageError, type ListOptions, type ObjectStore, type RecordKeySource, type UploadOptions } from './store.js';
import { assertAttemptHolds } from '../attempt-lease.js';

const PARTIAL_MARKER = '.partial-';
/** Backups hold every row: only the worker's own account may read what it stores, whatever its umask. */
const OBJECT_MODE = 0o600;
const FOLDER_MODE = 0o700;

/** How much is written between two flushes to disk while an object streams in. */
const FLUSH_EVERY = 64 * 1024 * 1024;

/**
 * Writes a stream into a file and flushes it to disk as it goes, one flush at a time while writing
 * continues: the disk works beside the stream instead of after it, and the final flush finds little left.
 */
class FlushingFileWriter extends Writable {
  private unflushed = 0;
  private flushing: Promise<void> = Promise.resolve();

  constructor(private readonly file: FileHandle) {
    super({ highWaterMark: 1 << 20 });
  }

  override _writev(chunks: { chunk: Buffer }[], callback: (error?: Error | null) => void): void {
    const buffers = chunks.map(({ chunk }) => chunk);
    this.file.writev(buffers).then(({ bytesWritten }) => {
      this.unflushed += bytesWritten;
      if (this.unflushed >= FLUSH_EVERY) {
        this.unflushed = 0;
        this.flushing = this.flushing.then(() => this.file.datasync());
        this.flushing.catch(() => undefined); // surfaces in _final
      }
      callback();
    }, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.flushing.then(() => this.file.datasync()).then(() => callback(), callback);
  }
}

/** Makes a rename in `folder` survive a crash: the folder's own entry list must reach the disk too. */
async function syncFolder(folder: string): Promise<void> {
  const handle = await open(folder, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * A local folder as object storage. Writes go to a temporary file that is flushed to disk and then
 * renamed into place, so a manifest never reaches the disk before the data it commits.
 */
export class FilesystemStore implements ObjectStore {
  readonly label: string;

  constructor(
    private readonly root: string,
    readonly recordKeys: RecordKeySource = NO_RECORD_KEYS,
  ) {
    this.label = `file://${root}`;
  }

  private path(key: string): string {
    const path = join(this.root, key);
    if (path !== this.root && !path.startsWith(this.root.endsWith(sep) ? this.root : this.root + sep)) {
      throw storageError(this, `resolving key "${key}"`, new Error('key escapes the storage folder'));
    }
    return path;
  }

  async upload(key: string, body: Readable, { signal }: UploadOptions = {}): Promise<void> {
    const target = this.path(key);
    const partial = `${target}${PARTIAL_MARKER}${randomUUID()}`;
    try {
      await mkdir(dirname(target), { recursive: true, mode: FOLDER_MODE });
      const file = await open(partial, 'wx', OBJECT_MODE);
      try {
        await pipeline(body, new FlushingFileWriter(file), signal ? { signal } : {});
      } finally {
        await file.close();
      }
      // The object appears here: not from a step whose attempt may have been replaced (attempt-lease.ts).
      assertAttemptHolds(`store ${key}`);
      await rename(partial, target);
      await syncFolder(dirname(target));
    } catch (error) {
      await rm(partial, { force: true });
      throw signal?.aborted ? error : storageError(this, `writing ${key}`, error);
    }
  }

  async putText(key: string, text: string): Promise<void> {
    const target = this.path(key);
    const partial = `${target}${PARTIAL_MARKER}${randomUUID()}`;
    try {
      await mkdir(dirname(target), { recursive: true, mode: FOLDER_MODE });
      await writeFile(partial, text, { flag: 'wx', flush: true, mode: OBJECT_MODE });
      assertAttemptHolds(`store ${key}`);
      await rename(partial, target);
      await syncFolder(dirname(target));
    } catch (error) {
      await rm(partial, { force: true });
      throw storageError(this, `writing ${key}`, error);
    }
  }

  async getText(key: string): Promise<string | undefined> {
    try {
      return await readFile(this.path(key), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw storageError(this, `reading ${key}`, error);
    }
  }

  async getBytes(key: string): Promise<Buffer | undefined> {
    try {
      return await readFile(this.path(key));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw storageError(this, `reading ${key}`, error);
    }
  }

  async download(key: string): Promise<Readable> {
    const path = this.path(key);
    try {
      await stat(path);
    } catch (error) {
      throw storageError(this, `reading ${key}`, error);
    }
    return createReadStream(path, { highWaterMark: 1 << 20 });
  }

  /** A folder of the store, or undefined when it does not exist (or is not a folder: a link is never followed). */
  private async folder(prefix: string): Promise<string | undefined> {
    const path = this.path(prefix.replace(/\/+$/, ''));
    try {
      // The store's own root may be a link (a mount point elsewhere); nothing below it is followed.
      return (await (path === this.root ? stat(path) : lstat(path))).isDirectory() ? path : undefined;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw storageError(this, `reading ${prefix || '/'}`, error);
    }
  }

  async list(prefix: string, { signal }: ListOptions = {}): Promise<StoredObject[]> {
    const top = await this.folder(prefix);
    if (top === undefined) return [];
    const objects: StoredObject[] = [];
    // Depth first, one open folder per level: memory grows with the depth and the objects found, not the tree.
    const walk = async (folder: string, keyPrefix: string): Promise<void> => {
      const dir = await opendir(folder, { bufferSize: 64 });
      for await (const entry of dir) {
        signal?.throwIfAborted();
        const path = join(folder, entry.name);
        if (entry.isDirectory()) {
          await walk(path, `${keyPrefix}${entry.name}/`);
        } else if (entry.isFile()) {
          const info = await lstat(path).catch(() => undefined);
          if (info?.isFile()) objects.push({ key: `${keyPrefix}${entry.name}`, size: info.size, lastModified: info.mtime.toISOString() });
        }
        // Links, sockets and devices are not objects: never followed, never listed.
      }
    };
    try {
      await walk(top, prefix);
    } catch (error) {
      if (signal?.aborted) throw error;
      throw storageError(this, `listing ${prefix || '/'}`, error);
    }
    return objects.sort((a, b) => a.key.localeCompare(b.key));
  }

  async listFolders(prefix: string, { signal }: ListOptions = {}): Promise<string[]> {
    const top = await this.folder(prefix);
    if (top === undefined) return [];
    const names: string[] = [];
    try {
      for await (const entry of await opendir(top, { bufferSize: 64 })) {
        signal?.throwIfAborted();
        if (entry.isDirectory()) names.push(entry.name);
      }
    } catch (error) {
      if (signal?.aborted) throw error;
      throw storageError(this, `listing ${prefix || '/'}`, error);
    }
    return names.sort();
  }

  async delete(keys: string[]): Promise<void> {
    try {
      for (const key of keys) {
        assertAttemptHolds(`delete ${key}`);
        await rm(this.path(key), { force: true });
      }
      // Remove folders left empty, deepest first, so a deleted backup leaves no trace.
      const folders = new Set(keys.flatMap((key) => key.split('/').slice(0, -1).map((_, i, parts) => parts.slice(0, i + 1).join('/'))));
      for (const folder of [...folders].sort((a, b) => b.length - a.length)) {
        const entries = await readdir(this.path(folder)).catch(() => undefined);
        if (entries?.length === 0) await rm(this.path(folder), { recursive: true, force: true });
      }
    } catch (error) {
      throw storageError(this, `deleting ${keys.length} objects`, error);
    }
  }

  async abortIncompleteUploads(keys: string[]): Promise<number> {
    let removed = 0;
    for (const key of keys) {
      const target = this.path(key);
      const base = `${target.slice(target.lastIndexOf(sep) + 1)}${PARTIAL_MARKER}`;
      const entries = await readdir(dirname(target)).catch(() => [] as string[]);
      const partials = entries.filter((name) => name.startsWith(base));
      for (const name of partials) {
        // A newer attempt's upload in progress may be among them.
        assertAttemptHolds(`remove the unfinished upload ${name}`);
        await rm(join(dirname(target), name), { force: true });
      }
      removed += partials.length;
    }
    return removed;
  }
}
