/**
 * Issue 21: placing restored files and setting aside the replaced server's, on a real filesystem in a
 * temporary folder, for both flavours' file names (Percona XtraBackup for MySQL 8 cannot run here:
 * its prepared folder is built by hand, with #innodb_redo and undo_001 as MySQL 8.0.30+ writes them).
 */
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { movePath, rollbackServerFiles, swapServerFiles } from '../../activities/placement.js';
import { serverLayout } from '../../domain/server-layout.js';
import { asAttempt } from '../support/replaced-attempt.js';

let root: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'chainbackup-placement-'));
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function files(folder: string, mark: string, names: string[]): Promise<void> {
  await mkdir(folder, { recursive: true });
  for (const name of names) {
    if (name.endsWith('/')) await mkdir(join(folder, name), { recursive: true });
    else await writeFile(join(folder, name), mark);
  }
}

const read = (path: string) => readFile(path, 'utf8');

describe.each([
  { flavour: 'mariadb', redo: ['ib_logfile0'], undo: ['undo001', 'undo002'] },
  { flavour: 'mysql (XtraBackup 8)', redo: ['#innodb_redo/'], undo: ['undo_001', 'undo_002'] },
])('placement for $flavour', ({ redo, undo }) => {
  test('every outside file of the replaced server goes to the kept copy, every restored one where the server reads it, and a rollback undoes both', async () => {
    const datadir = join(root, 'data');
    const kept = join(root, 'data.before-restore-x');
    const prepared = join(root, 'prepared');
    const folders = { redo: join(root, 'redo'), undo: join(root, 'undo'), binlogs: join(root, 'binlogs') };
    // The live server: its datadir, and redo, undo and binlogs outside it.
    await files(datadir, 'old', ['ibdata1', 'shop/']);
    await writeFile(join(datadir, 'shop', 'orders.ibd'), 'old');
    await files(folders.redo, 'old', redo);
    await files(folders.undo, 'old', undo);
    await files(folders.binlogs, 'old', ['mysql-bin.000001', 'mysql-bin.index']);
    // The prepared backup: everything in one folder, as both tools leave it.
    await files(prepared, 'new', ['ibdata1', 'shop/', 'backup-my.cnf', ...redo, ...undo]);
    await writeFile(join(prepared, 'shop', 'orders.ibd'), 'new');
    const layout = serverLayout({
      datadir,
      innodbDataHomeDir: null,
      innodbDataFilePath: 'ibdata1:12M:autoextend',
      innodbUndoTablespaces: 2,
      innodbLogGroupHomeDir: folders.redo,
      innodbUndoDirectory: folders.undo,
      logBinBasename: join(folders.binlogs, 'mysql-bin'),
      logBinIndex: join(folders.binlogs, 'mysql-bin.index'),
      relayLogBasename: null,
      relayLogIndex: null,
      ariaLogDirPath: null,
    });
    const swap = { datadir, kept, prepared, layout, sameServer: true, otherServersFolders: [] };
    await swapServerFiles(swap);
    // A retry after a dead worker changes nothing.
    await swapServerFiles(swap);

    expect(await read(join(datadir, 'shop', 'orders.ibd'))).toBe('new');
    expect((await readdir(folders.undo)).sort()).toEqual([...undo].sort());
    for (const name of undo) expect(await read(join(folders.undo, name))).toBe('new');
    expect((await readdir(folders.redo)).sort()).toEqual(redo.map((name) => name.replace(/\/$/, '')).sort());
    expect(await readdir(folders.binlogs)).toEqual([]);
    expect(await readdir(datadir)).not.toContain(undo[0]);
    expect(await read(join(kept, 'shop', 'orders.ibd'))).toBe('old');
    for (const name of undo) expect(await read(join(kept, '.chainbackup-kept', 'undo', name))).toBe('old');
    expect((await readdir(join(kept, '.chainbackup-kept', 'binlog'))).sort()).toEqual(['mysql-bin.000001', 'mysql-bin.index']);
    const cnf = await read(join(kept, '.chainbackup-kept', 'server.cnf'));
    expect(cnf).toContain(`innodb_undo_directory=${kept}/.chainbackup-kept/undo`);
    expect(cnf).toContain(`log-bin=${kept}/.chainbackup-kept/binlog/mysql-bin`);
    expect(await read(join(kept, '.chainbackup-kept', 'binlog.index'))).toBe(`${kept}/.chainbackup-kept/binlog/mysql-bin.000001\n`);

    await rollbackServerFiles({ datadir, kept, layout });
    expect(await read(join(datadir, 'shop', 'orders.ibd'))).toBe('old');
    expect(await readdir(datadir)).not.toContain('.chainbackup-kept');
    for (const name of undo) expect(await read(join(folders.undo, name))).toBe('old');
    expect((await readdir(folders.binlogs)).sort()).toEqual(['mysql-bin.000001', 'mysql-bin.index']);
    expect(await readdir(root)).not.toContain('data.before-restore-x');
  });
});

describe('remote tablespaces', () => {
  test("kept at their own path only on their own server; elsewhere brought into the datadir, never written over another server's file", async () => {
    const datadir = join(root, 'data');
    const remote = join(root, 'remote', 'shop', 'archive.ibd');
    await files(join(root, 'remote', 'shop'), 'live', ['archive.ibd']);
    const layout = serverLayout({ datadir, innodbDataHomeDir: null, innodbDataFilePath: 'ibdata1:12M:autoextend', innodbUndoTablespaces: 0, innodbLogGroupHomeDir: null, innodbUndoDirectory: null, logBinBasename: null, logBinIndex: null, relayLogBasename: null, relayLogIndex: null, ariaLogDirPath: null });
    const prepare = async (name: string) => {
      const prepared = join(root, name);
      await files(join(prepared, 'shop'), 'restored', ['archive.ibd']);
      await writeFile(join(prepared, 'shop', 'archive.isl'), `${remote}\n`);
      return prepared;
    };
    await files(datadir, 'old', ['ibdata1']);
    // Another server's restore of this backup: the remote file is not its own.
    await swapServerFiles({ datadir, kept: join(root, 'kept-1'), prepared: await prepare('p1'), layout, sameServer: false, otherServersFolders: [] });
    expect(await read(remote)).toBe('live');
    expect(await readdir(join(datadir, 'shop'))).toEqual(['archive.ibd']);
    // Its own server: the restored file takes the path, the replaced one is kept.
    await swapServerFiles({ datadir, kept: join(root, 'kept-2'), prepared: await prepare('p2'), layout, sameServer: true, otherServersFolders: [] });
    expect(await read(remote)).toBe('restored');
    expect(await read(join(root, 'kept-2', '.chainbackup-kept', 'remote', 'shop', 'archive.ibd'))).toBe('live');
    await rollbackServerFiles({ datadir, kept: join(root, 'kept-2'), layout });
    expect(await read(remote)).toBe('live');
  });
});

describe('an attempt frozen mid-swap, going on after a newer attempt finished', () => {
  const layout = () =>
    serverLayout({ datadir: join(root, 'data'), innodbDataHomeDir: null, innodbDataFilePath: 'ibdata1:12M:autoextend', innodbUndoTablespaces: 0, innodbLogGroupHomeDir: null, innodbUndoDirectory: null, logBinBasename: null, logBinIndex: null, relayLogBasename: null, relayLogIndex: null, ariaLogDirPath: null });

  test('never removes the datadir that is in place (a live server may run on it): the swap is refused', async () => {
    const datadir = join(root, 'data');
    // The newer attempt's work: the old datadir kept, the restored one in place and serving.
    await files(join(root, 'data.before-restore-x'), 'old', ['ibdata1']);
    await files(datadir, 'restored', ['ibdata1', 'shop/']);
    // What the frozen attempt still believes: prepared data waiting to go in.
    await files(join(root, 'prepared'), 'stale', ['ibdata1']);
    await expect(swapServerFiles({ datadir, kept: join(root, 'data.before-restore-x'), prepared: join(root, 'prepared'), layout: layout(), sameServer: true, otherServersFolders: [] })).rejects.toMatchObject({ code: 'ENOTEMPTY' });
    expect(await read(join(datadir, 'ibdata1'))).toBe('restored');
    expect((await readdir(datadir)).sort()).toEqual(['ibdata1', 'shop']);
  });

  test('a rollback by an attempt that went silent past its heartbeat time-out removes nothing (a newer one rolled back or finished)', async () => {
    const datadir = join(root, 'data');
    const kept = join(root, 'data.before-restore-x');
    // The state a rollback begins from: the restored datadir in place, the old one kept. A newer attempt may own it now.
    await files(kept, 'old', ['ibdata1']);
    await files(datadir, 'restored', ['ibdata1', 'shop/']);
    await expect(asAttempt(() => rollbackServerFiles({ datadir, kept, layout: layout() }), { stalled: true })).rejects.toMatchObject({ type: 'SupersededAttempt', message: expect.stringContaining('without a liveness beat') as unknown });
    expect(await read(join(datadir, 'ibdata1'))).toBe('restored');
    expect(await read(join(kept, 'ibdata1'))).toBe('old');
    // The same rollback by an attempt that kept its beat puts the old datadir back.
    await asAttempt(() => rollbackServerFiles({ datadir, kept, layout: layout() }), { stalled: false });
    expect(await read(join(datadir, 'ibdata1'))).toBe('old');
  }, 30_000);

  test('across filesystems, a move copies under its own name and renames in: the destination never holds a partial copy', async () => {
    // /dev/shm is a tmpfs: another filesystem than the temporary folder, so the move copies.
    const elsewhere = await mkdtemp('/dev/shm/chainbackup-placement-');
    try {
      expect((await stat(elsewhere)).dev).not.toBe((await stat(root)).dev);
      await files(join(elsewhere, 'prepared'), 'new', ['ibdata1', 'shop/']);
      await movePath(join(elsewhere, 'prepared'), join(root, 'data'));
      expect(await read(join(root, 'data', 'ibdata1'))).toBe('new');
      expect(await readdir(elsewhere)).toEqual([]);
      expect(await readdir(root)).toEqual(['data']);
      // A folder already at the destination is not written over.
      await files(join(elsewhere, 'again'), 'stale', ['ibdata1']);
      await expect(movePath(join(elsewhere, 'again'), join(root, 'data'))).rejects.toMatchObject({ code: 'ENOTEMPTY' });
      expect(await read(join(root, 'data', 'ibdata1'))).toBe('new');
      expect(await readdir(root)).toEqual(['data']);
      expect(await readdir(elsewhere)).toEqual(['again']);
    } finally {
      await rm(elsewhere, { recursive: true, force: true });
    }
  });
});
