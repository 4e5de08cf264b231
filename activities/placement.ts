/**
 * Puts restored data where the target server looks for it, and sets aside every file of the
 * replaced server that the restored one would otherwise open: the datadir, and each folder of the
 * layout that lies outside it (redo log, undo tablespaces, system tablespace, Aria log, binary and
 * relay logs), and the files of remote tablespaces. What is set aside forms the kept copy:
 * `<datadir>.before-restore-<id>/` with the outside pieces under `.chainbackup-kept/<label>/` and a
 * `server.cnf` that starts it as a server of its own. Every step is recorded in a journal in the
 * kept copy, so that a retry after a dead worker, and a rollback, know exactly what has moved.
 * Every move and removal is refused to an attempt that may have been replaced (attempt-lease.ts):
 * a rollback frozen between its checks and its acts must not remove a datadir a newer attempt put back.
 */
import { cp, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import {
  belongsToPlace,
  keptServerOptions,
  placesOutsideDatadir,
  remoteTablespacePlacement,
  type RemoteTablespace,
  type ServerLayout,
} from '../domain/server-layout.js';
import { assertAttemptHolds } from './attempt-lease.js';
import { failpoint } from './failpoints.js';
import { exists } from './files.js';

const PIECES = '.chainbackup-kept';

interface Journal {
  /** Every outside file of the replaced server is in the kept copy. */
  asideDone: boolean;
  /** Remote tablespaces kept at their own path: the replaced server's file went to `kept`. */
  remote: { link: string; path: string; kept: string }[];
}

/**
 * Moves a file or folder, across filesystems too: copied under a name of its own, then renamed in,
 * so that `to` never holds a partial copy and nothing ever has to remove what is at `to` (which,
 * for an attempt frozen mid-step, may be what a newer attempt put there: a live datadir).
 */
export async function movePath(from: string, to: string): Promise<void> {
  assertAttemptHolds(`move ${from} to ${to}`);
  await mkdir(dirname(to), { recursive: true });
  try {
    await rename(from, to);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
    const copying = `${to}.chainbackup-copying`;
    await rm(copying, { recursive: true, force: true });
    await cp(from, copying, { recursive: true, preserveTimestamps: true, errorOnExist: true, force: false });
    try {
      assertAttemptHolds(`move ${from} to ${to}`);
      await rename(copying, to);
    } catch (renameError) {
      await rm(copying, { recursive: true, force: true });
      throw renameError;
    }
    await remove(from);
  }
}

/** Removes a file or folder, unless this step's attempt may have been replaced. */
async function remove(path: string): Promise<void> {
  assertAttemptHolds(`remove ${path}`);
  await rm(path, { recursive: true, force: true });
}

/** Renames, unless this step's attempt may have been replaced. */
async function renameHeld(from: string, to: string): Promise<void> {
  assertAttemptHolds(`rename ${from} to ${to}`);
  await rename(from, to);
}

async function readJournal(kept: string): Promise<Journal> {
  const text = await readFile(join(kept, PIECES, 'journal.json'), 'utf8').catch(() => undefined);
  return text === undefined ? { asideDone: false, remote: [] } : (JSON.parse(text) as Journal);
}

async function writeJournal(kept: string, journal: Journal): Promise<void> {
  await mkdir(join(kept, PIECES), { recursive: true });
  await writeFile(join(kept, PIECES, 'journal.json.new'), JSON.stringify(journal));
  await renameHeld(join(kept, PIECES, 'journal.json.new'), join(kept, PIECES, 'journal.json'));
}

async function namesIn(folder: string): Promise<string[]> {
  return readdir(folder).catch(() => [] as string[]);
}

/** Every remote tablespace link (`<db>/<table>.isl`) under a datadir. */
export async function remoteTablespaces(datadir: string): Promise<RemoteTablespace[]> {
  const found: RemoteTablespace[] = [];
  for (const database of await readdir(datadir, { withFileTypes: true }).catch(() => [])) {
    if (!database.isDirectory() || database.name.startsWith('.')) continue;
    for (const name of await namesIn(join(datadir, database.name))) {
      if (!name.endsWith('.isl')) continue;
      const link = `${database.name}/${name}`;
      found.push({ link, path: (await readFile(join(datadir, link), 'utf8')).trim() });
    }
  }
  return found;
}

/** A remote tablespace brought into the datadir: its `.ibd` stays beside the `.frm`, the link goes. */
async function bringIntoDatadir(datadir: string, tablespace: RemoteTablespace): Promise<void> {
  await remove(join(datadir, tablespace.link));
}

export interface SwapOptions {
  datadir: string;
  kept: string;
  prepared: string;
  layout: ServerLayout;
  /** The cluster's own data back on its own server: its remote tablespaces may keep their paths. */
  sameServer: boolean;
  /** Folders of the other configured servers: no restored file may go there. */
  otherServersFolders: string[];
}

export async function swapServerFiles(options: SwapOptions): Promise<void> {
  const { datadir, kept, prepared, layout } = options;
  if (!(await exists(kept))) await renameHeld(datadir, kept);
  await failpoint('swap-moved-aside');
  const journal = await readJournal(kept);
  const places = placesOutsideDatadir(layout);
  if (!journal.asideDone) {
    for (const place of places) {
      for (const name of await namesIn(place.folder)) {
        if (belongsToPlace(place, name)) await movePath(join(place.folder, name), join(kept, PIECES, place.label, name));
      }
    }
    journal.asideDone = true;
    await writeJournal(kept, journal);
  }
  // Never a removal of what is at the datadir's path: a rename refuses a folder that is not empty.
  if (await exists(prepared)) await movePath(prepared, datadir);
  for (const place of places.filter((candidate) => candidate.restored)) {
    for (const name of await namesIn(datadir)) {
      if (belongsToPlace(place, name)) await movePath(join(datadir, name), join(place.folder, name));
    }
  }
  for (const tablespace of await remoteTablespaces(datadir)) {
    const ibd = join(datadir, tablespace.link.replace(/\.isl$/, '.ibd'));
    if (remoteTablespacePlacement(tablespace, options) === 'into-datadir') {
      await bringIntoDatadir(datadir, tablespace);
      continue;
    }
    if (!journal.remote.some((entry) => entry.link === tablespace.link)) {
      const keptFile = join(kept, PIECES, 'remote', tablespace.link.replace(/\.isl$/, '.ibd'));
      if (await exists(tablespace.path)) await movePath(tablespace.path, keptFile);
      journal.remote.push({ link: tablespace.link, path: tablespace.path, kept: keptFile });
      await writeJournal(kept, journal);
      // The kept copy's own link now names its own file, so it can start as a server of its own.
      if (await exists(join(kept, tablespace.link))) await writeFile(join(kept, tablespace.link), `${keptFile}\n`);
    }
    if (await exists(ibd)) await movePath(ibd, tablespace.path);
  }
  await writeKeptServerFiles(kept, layout, places);
  await failpoint('swap-placed');
}

/** `server.cnf` (and a binlog index naming the kept binlogs) that start the kept copy as a server of its own. */
async function writeKeptServerFiles(kept: string, layout: ServerLayout, places: ReturnType<typeof placesOutsideDatadir>): Promise<void> {
  const present = [];
  for (const place of places) if ((await namesIn(join(kept, PIECES, place.label))).length > 0) present.push(place);
  const options = keptServerOptions(kept, layout, present);
  await writeFile(join(kept, PIECES, 'server.cnf'), `# Starts this kept copy as a server of its own: add a socket, port and pid-file of its own.\n[mysqld]\n${options.join('\n')}\n`);
  if (layout.binlogBasename === null) return;
  const inside = layout.binlogBasename.startsWith(`${layout.datadir}/`);
  const folder = inside ? join(kept, dirname(layout.binlogBasename.slice(layout.datadir.length + 1))) : join(kept, PIECES, 'binlog');
  const base = layout.binlogBasename.slice(layout.binlogBasename.lastIndexOf('/') + 1);
  const logs = (await namesIn(folder)).filter((name) => name.startsWith(`${base}.`) && /\.\d+$/.test(name)).sort();
  await writeFile(join(kept, PIECES, 'binlog.index'), logs.map((name) => `${join(folder, name)}\n`).join(''));
}

/** Puts the replaced server's files back where they were; the restored ones are removed. Idempotent. */
export async function rollbackServerFiles(options: { datadir: string; kept: string; layout: ServerLayout }): Promise<void> {
  const { datadir, kept, layout } = options;
  if (!(await exists(kept))) return; // never swapped, or already rolled back
  const journal = await readJournal(kept);
  for (const entry of journal.remote) {
    if (await exists(entry.kept)) {
      await remove(entry.path);
      await movePath(entry.kept, entry.path);
    }
    if (await exists(join(kept, entry.link))) await writeFile(join(kept, entry.link), `${entry.path}\n`);
  }
  for (const place of placesOutsideDatadir(layout)) {
    const aside = join(kept, PIECES, place.label);
    // Until every old file was set aside, what is still in the folder is the replaced server's own.
    if (journal.asideDone) {
      for (const name of await namesIn(place.folder)) if (belongsToPlace(place, name)) await remove(join(place.folder, name));
    }
    for (const name of await namesIn(aside)) await movePath(join(aside, name), join(place.folder, name));
  }
  await remove(join(kept, PIECES));
  await remove(datadir);
  await renameHeld(kept, datadir);
}

/** A clone is a datadir of its own: remote tablespaces come into it, and its backup-my.cnf names its own folders. */
export async function makeSelfContained(folder: string): Promise<void> {
  for (const tablespace of await remoteTablespaces(folder)) await bringIntoDatadir(folder, tablespace);
  const cnf = join(folder, 'backup-my.cnf');
  const text = await readFile(cnf, 'utf8').catch(() => undefined);
  if (text !== undefined) await writeFile(cnf, text.replace(/^innodb_undo_directory=.*$/m, 'innodb_undo_directory=./'));
}
