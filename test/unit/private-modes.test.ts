/**
 * What the product writes holds every row: the filesystem store keeps objects to the worker's own
 * account whatever its umask, and a restored datadir or clone is no more open than the datadir it
 * replaces (mbstream writes 0644 files in 0755 folders).
 */
import { describe, expect, test } from '@jest/globals';
import { chmod, mkdir, mkdtemp, readdir, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { adoptOwnerAndMode, modeWithin } from '../../activities/files.js';
import { FilesystemStore } from '../../activities/storage/filesystem.js';

const modeOf = async (path: string) => (await stat(path)).mode & 0o777;

/** Every entry under `root` with its mode, in octal. */
async function modes(root: string): Promise<Record<string, string>> {
  const found: Record<string, string> = { '.': (await modeOf(root)).toString(8) };
  for (const entry of (await readdir(root, { recursive: true })).sort()) found[entry] = (await modeOf(join(root, entry))).toString(8);
  return found;
}

describe('the filesystem store', () => {
  test('writes every object 0600 in folders 0700, under a umask that would give 0644 and 0755', async () => {
    const previous = process.umask(0o022);
    try {
      const root = join(await mkdtemp(join(tmpdir(), 'store-modes-')), 'store');
      const store = new FilesystemStore(root);
      await store.upload('shop-full/backup.xbstream.zst', Readable.from([Buffer.from('rows')]));
      await store.putText('shop-full/manifest.json', '{}');
      await store.putText('binlogs/shop/history-1/binlog.000001.json', '{}');
      expect(await modes(root)).toEqual({
        '.': '700',
        binlogs: '700',
        'binlogs/shop': '700',
        'binlogs/shop/history-1': '700',
        'binlogs/shop/history-1/binlog.000001.json': '600',
        'shop-full': '700',
        'shop-full/backup.xbstream.zst': '600',
        'shop-full/manifest.json': '600',
      });
    } finally {
      process.umask(previous);
    }
  });
});

describe('a placed datadir', () => {
  test('no entry keeps access for group or others that the datadir it replaces did not give', () => {
    expect(modeWithin(0o100644, 0o40700).toString(8)).toBe('600');
    expect(modeWithin(0o40755, 0o40700).toString(8)).toBe('700');
    expect(modeWithin(0o100644, 0o40750).toString(8)).toBe('640');
    expect(modeWithin(0o100660, 0o40755).toString(8)).toBe('640');
    expect(modeWithin(0o100600, 0o40755).toString(8)).toBe('600');
  });

  test.each([
    [0o700, { '.': '700', shop: '700', 'shop/items.ibd': '600', ibdata1: '600' }],
    [0o750, { '.': '750', shop: '750', 'shop/items.ibd': '640', ibdata1: '640' }],
    [0o755, { '.': '755', shop: '755', 'shop/items.ibd': '644', ibdata1: '644' }],
  ])('takes the owner and the mode of the datadir it replaces (%o)', async (original, expected) => {
    const dir = await mkdtemp(join(tmpdir(), 'datadir-modes-'));
    const datadir = join(dir, 'datadir');
    await mkdir(datadir);
    await chmod(datadir, original);
    const restored = join(dir, 'restored');
    await mkdir(join(restored, 'shop'), { recursive: true, mode: 0o755 });
    await chmod(restored, 0o755);
    await writeFile(join(restored, 'shop', 'items.ibd'), 'pages', { mode: 0o644 });
    await writeFile(join(restored, 'ibdata1'), 'pages', { mode: 0o644 });
    await adoptOwnerAndMode(restored, await stat(datadir));
    expect(await modes(restored)).toEqual(expected);
  });
});
