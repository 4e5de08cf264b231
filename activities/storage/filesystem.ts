import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { randomUUID } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { Writable, type Readable } from 'node:stream';
import type { StoredObject } from '../../domain/chain.js';
import { storageError, type ObjectStore, type UploadOptions } from './store.js';

const PARTIAL_MARKER = '.partial-';

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

  constructor(private readonly root: string) {
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
      await mkdir(dirname(target), { recursive: true });
      const file = await open(partial, 'wx');
      try {
        await pipeline(body, new FlushingFileWriter(file), signal ? { signal } : {});
      } finally {
        await file.close();
      }
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
      await mkdir(dirname(target), { recursive: true });
      await writeFile(partial, text, { flag: 'wx', flush: true });
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

  async download(key: string): Promise<Readable> {
    const path = this.path(key);
    try {
      await stat(path);
    } catch (error) {
      throw storageError(this, `reading ${key}`, error);
    }
    return createReadStream(path, { highWaterMark: 1 << 20 });
  }

  async list(prefix: string): Promise<StoredObject[]> {
    const start = this.path(prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '');
    let names: string[];
    try {
      names = await readdir(start, { recursive: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw storageError(this, `listing ${prefix || '/'}`, error);
    }
    const objects: StoredObject[] = [];
    for (const name of names) {
      const path = join(start, name);
      const key = relative(this.root, path).split(sep).join('/');
      if (!key.startsWith(prefix)) continue;
      const info = await stat(path).catch(() => undefined);
      if (!info?.isFile()) continue;
      objects.push({ key, size: info.size, lastModified: info.mtime.toISOString() });
    }
    return objects.sort((a, b) => a.key.localeCompare(b.key));
  }

  async delete(keys: string[]): Promise<void> {
    try {
      for (const key of keys) await rm(this.path(key), { force: true });
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

  async abortIncompleteUploads(prefix: string): Promise<number> {
    const partials = (await this.list(prefix)).filter((object) => object.key.includes(PARTIAL_MARKER));
    await this.delete(partials.map((object) => object.key));
    return partials.length;
  }
}
