/**
 * Issue 14: the catalog walks only the storage layout, never follows a link, honours cancellation,
 * and marks a manifest that disagrees with its folder. Runs on a real filesystem store in a
 * temporary folder.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCatalog } from '../../activities/catalog.js';
import { FilesystemStore } from '../../activities/storage/filesystem.js';
import { stored } from '../support/stored-backups.js';

const SHOP = 'shop-2026-04-01T000000.000Z-full';
const SHOP_I1 = 'shop-2026-04-02T000000.000Z-incr';
const COPY = 'shop-copy-2026-04-09T000000.000Z-full';
let root: string;

async function put(path: string, text: string): Promise<void> {
  await mkdir(join(root, path, '..'), { recursive: true });
  await writeFile(join(root, path), text);
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'chainbackup-catalog-'));
  await put(`${SHOP}/manifest.json`, JSON.stringify(stored(SHOP, SHOP, {}).manifest));
  await put(`${SHOP}/backup.xbstream`, 'data');
  await put(`${SHOP}.incr/${SHOP_I1}/backup.xbstream`, 'data'); // uncommitted
  // A folder named for shop-copy whose manifest says it is shop's: never taken as either.
  await put(`${COPY}/manifest.json`, JSON.stringify({ ...stored(COPY, COPY, { startedAt: '2026-04-09T00:00:00.000Z', finishedAt: '2026-04-09T00:10:00.000Z' }).manifest, cluster: 'shop' }));
  await put(`${COPY}/backup.xbstream`, 'data');
  // Things that are not the layout: never read, and links never followed.
  await put('unrelated/deep/file', 'x');
  await symlink('/usr', join(root, `${SHOP}.incr`, 'shop-2026-04-03T000000.000Z-incr'));
  await symlink('/usr', join(root, 'shop-2026-04-04T000000.000Z-full'));
  await symlink('/usr/bin', join(root, SHOP, 'linked'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('reading the catalog of a filesystem store', () => {
  test('lists only backup folders of the layout, and no link', async () => {
    const backups = await readCatalog(new FilesystemStore(root));
    expect(backups.map((backup) => [backup.name, backup.manifest !== null, backup.objects.map((object) => object.key)])).toEqual([
      [SHOP, true, [`${SHOP}/backup.xbstream`, `${SHOP}/manifest.json`]],
      [SHOP_I1, false, [`${SHOP}.incr/${SHOP_I1}/backup.xbstream`]],
      [COPY, false, [`${COPY}/backup.xbstream`, `${COPY}/manifest.json`]],
    ].sort((a, b) => String(a[0]).localeCompare(String(b[0]))));
  });

  test('a manifest that names another cluster than its folder is a problem, not a backup', async () => {
    const copy = (await readCatalog(new FilesystemStore(root))).find((backup) => backup.name === COPY);
    expect(copy?.manifestProblem).toContain(`of cluster shop (base ${COPY}) but sits in ${COPY}/`);
  });

  test('reading one cluster reads none of the others', async () => {
    expect((await readCatalog(new FilesystemStore(root), { cluster: 'shop' })).map((backup) => backup.name)).toEqual([SHOP, SHOP_I1]);
    expect((await readCatalog(new FilesystemStore(root), { cluster: 'shop-copy' })).map((backup) => backup.name)).toEqual([COPY]);
  });

  test('a walk of a folder that is a link to /usr finds nothing, and a cancelled walk stops', async () => {
    await expect(readCatalog(new FilesystemStore(join(root, 'shop-2026-04-04T000000.000Z-full')))).resolves.toEqual([]);
    const controller = new AbortController();
    controller.abort(new Error('cancelled by the test'));
    await expect(readCatalog(new FilesystemStore(root), { signal: controller.signal })).rejects.toThrow('cancelled by the test');
  });
});
