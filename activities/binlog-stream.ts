/**
 * The binary log as a replica reads it (binlogs.rpo): `mariadb-binlog --read-from-remote-server
 * --raw --stop-never` writes each file the server sends into a private scratch folder as it comes,
 * and this tail reads those files as they grow, through the binlog scanner, and offers them in
 * parts cut after whole transactions. The server's binlog is never rotated for it, and a file the
 * server encrypts (encrypt_binlog) comes decrypted, at the same positions.
 *
 * A stream that starts partway through a file (after the parts the archive holds) gets the magic and
 * the format description event, then the events from that position: the tail maps its local offsets
 * back to the server's positions. The connection is the client's: a server restart or a cut ends
 * the child, and the caller starts the stream again where the archive ends.
 */
import { open, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { BinlogScanner, type BinlogFacts, type ScanResume } from '../domain/binlog.js';
import { splitBinlogName } from '../domain/binlog-archive.js';
import type { ClusterConfig } from '../domain/config.js';
import { readableToolLog } from '../domain/tool-failures.js';
import { childProcessOptions } from './child-env.js';
import { readPassword, writeDefaultsFile, type DefaultsFile } from './database/defaults-file.js';

/** Where a stream starts: a file, from its start or after the part of it the archive holds. */
export interface StreamStart {
  file: string;
  resume?: ScanResume;
}

/** A part of a file ready to store: server positions [start, end), the local bytes that hold them, and the file's facts at its end. */
export interface TailCut {
  file: string;
  start: number;
  end: number;
  localPath: string;
  localStart: number;
  localEnd: number;
  facts: BinlogFacts;
  /** This part's own seconds (the first may repeat the last second of the part before, with more moved since). */
  seconds: BinlogFacts['seconds'];
  /** The file ended (rotated or stopped) at `end`: no part follows it. */
  closes: boolean;
}

interface TailedFile {
  file: string;
  path: string;
  scanner: BinlogScanner;
  /** Server position minus local offset, once known (0 for a file read from its start). */
  shift: number | undefined;
  resumed: boolean;
  /** Local bytes read into the scanner. */
  read: number;
  /** Server position up to which the parts are stored. */
  stored: number;
  /** The last second of the stored parts, which the next part's seconds start from. */
  lastSecond?: number;
  /** When the oldest whole transaction not stored yet arrived. */
  waitingSince?: number;
}

const READ_CHUNK = 1 << 20;
/** How much of the current file the stream's copy may hold before the stream starts again after the stored parts. */
const REBASE_BYTES = 64 << 20;

function bySequence(a: string, b: string): number {
  return (splitBinlogName(a)?.sequence ?? 0) - (splitBinlogName(b)?.sequence ?? 0) || a.localeCompare(b);
}

export class BinlogTail {
  private child: ResultPromise | undefined;
  private defaults: DefaultsFile | undefined;
  private current: TailedFile | undefined;
  private exited: Promise<string> | undefined;
  /** The child's last words when it ended on its own. */
  private ended: string | undefined;

  constructor(
    private readonly cluster: ClusterConfig,
    private readonly folder: string,
    private readonly serverId: number,
  ) {}

  /** Starts the stream at `start`, from a clean scratch folder. */
  async start(start: StreamStart): Promise<void> {
    await this.stop();
    for (const name of await readdir(this.folder)) await rm(join(this.folder, name), { force: true, recursive: true });
    this.defaults = await writeDefaultsFile(this.cluster.connection, await readPassword(this.cluster.connection));
    const position = start.resume?.position;
    // setpriv --pdeathsig: a worker that is killed takes its stream with it (it writes to files, so no broken pipe would end it).
    const child = execa(
      'setpriv',
      [
        '--pdeathsig',
        'TERM',
        '--',
        this.cluster.flavour === 'mariadb' ? 'mariadb-binlog' : 'mysqlbinlog',
        `--defaults-file=${this.defaults.path}`,
        '--read-from-remote-server',
        '--raw',
        '--stop-never',
        // A replica's id of its own, so the server keeps one dump thread for it, never a real replica's.
        `--stop-never-slave-server-id=${this.serverId}`,
        ...(position !== undefined ? [`--start-position=${position}`] : []),
        `--result-file=${this.folder}/`,
        start.file,
      ],
      { reject: false, all: true, buffer: true, ...childProcessOptions() },
    );
    this.child = child;
    this.ended = undefined;
    this.exited = child.then((result) => {
      this.ended = readableToolLog(String(result.all ?? '')) || `mariadb-binlog ended (exit ${String(result.exitCode ?? result.signal)})`;
      return this.ended;
    });
    this.current = { file: start.file, path: join(this.folder, start.file), scanner: new BinlogScanner(start.resume ? { resume: start.resume } : {}), shift: start.resume ? undefined : 0, resumed: start.resume !== undefined, read: 0, stored: start.resume?.position ?? 0 };
  }

  /** Why the stream stopped on its own (the server restarted, the connection was cut), or undefined while it runs. */
  get endedWith(): string | undefined {
    return this.ended;
  }

  get file(): string | undefined {
    return this.current?.file;
  }

  /** Where the stored parts of the current file end. */
  get storedPosition(): number {
    return this.current?.stored ?? 0;
  }

  /** When the oldest whole transaction that no stored part holds arrived (undefined: none waits). */
  get waitingSince(): number | undefined {
    return this.current?.waitingSince;
  }

  /** Reads what arrived, and returns the part to store now, if one is due (`due`: how long a transaction may wait for more to join it). */
  async poll(now: number, dueMs: number): Promise<TailCut | undefined> {
    const current = this.current;
    if (!current) return undefined;
    await this.readArrived(current);
    // Nothing is cut before the file's start (its format description and GTID list) has arrived.
    if (!current.scanner.knowsStart) return undefined;
    const safe = current.scanner.safePosition;
    if (safe > current.stored) current.waitingSince ??= now;
    const closes = safe > current.stored && current.scanner.factsAtSafePoint().closedBy !== 'none';
    if (safe <= current.stored || (!closes && now - (current.waitingSince ?? now) < dueMs)) return undefined;
    return this.cut(current);
  }

  /** The part of the current file not stored yet, up to its last whole transaction, whether due or not. */
  async pending(): Promise<TailCut | undefined> {
    const current = this.current;
    if (!current) return undefined;
    await this.readArrived(current);
    return current.scanner.knowsStart && current.scanner.safePosition > current.stored ? this.cut(current) : undefined;
  }

  private cut(current: TailedFile): TailCut | undefined {
    const facts = current.scanner.factsAtSafePoint();
    if (current.shift === undefined) return undefined;
    const end = facts.endPosition;
    const seconds = current.lastSecond === undefined ? facts.seconds : facts.seconds.filter((second) => second.at >= (current.lastSecond ?? 0));
    return { file: current.file, start: current.stored, end, localPath: current.path, localStart: current.stored - current.shift, localEnd: end - current.shift, facts, seconds, closes: facts.closedBy !== 'none' };
  }

  /** The part is stored: the next one starts at its end; after a file's last part, the stream's next file is tailed. */
  async stored(cut: TailCut): Promise<void> {
    const current = this.current;
    if (!current || current.file !== cut.file) return;
    current.stored = cut.end;
    current.lastSecond = cut.seconds.at(-1)?.at ?? current.lastSecond;
    // What arrived after the cut waits from the next poll that sees it.
    delete current.waitingSince;
    if (cut.closes) await this.next(current.file);
  }

  /**
   * The stream's copy of the current file grows with it (up to the server's max_binlog_size), in a
   * folder that may be memory (a tmpfs /tmp): once it holds more than this, and everything whole in it
   * is stored, the stream starts again after the stored parts, leaving the copy at a few kilobytes.
   */
  async rebaseIfLarge(limitBytes = REBASE_BYTES): Promise<boolean> {
    const current = this.current;
    if (!current || current.read < limitBytes || current.shift === undefined || !current.scanner.knowsStart) return false;
    const facts = current.scanner.factsAtSafePoint();
    if (facts.endPosition !== current.stored || facts.closedBy !== 'none') return false;
    const lastSecond = current.lastSecond;
    await this.start({ file: current.file, resume: { position: current.stored, firstEventTime: facts.firstEventTime, startGtids: facts.startGtids, endGtids: facts.endGtids, transactions: facts.transactions } });
    if (this.current && lastSecond !== undefined) this.current.lastSecond = lastSecond;
    return true;
  }

  /** Moves on past `file` (its whole file is archived now): the next file the stream wrote, from its start. */
  async next(file: string): Promise<boolean> {
    const current = this.current;
    if (!current || bySequence(current.file, file) > 0) return false;
    const names = (await readdir(this.folder)).filter((name) => splitBinlogName(name) !== undefined && bySequence(name, file) > 0).sort(bySequence);
    // The stream may not have written the next file yet: it is tailed from its start once it does.
    const following = names[0] ?? nextName(file);
    this.current = { file: following, path: join(this.folder, following), scanner: new BinlogScanner(), shift: 0, resumed: false, read: 0, stored: 0 };
    await rm(current.path, { force: true });
    return true;
  }

  private async readArrived(current: TailedFile): Promise<void> {
    const handle = await open(current.path, 'r').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    if (!handle) return;
    try {
      const buffer = Buffer.alloc(READ_CHUNK);
      for (;;) {
        const { bytesRead } = await handle.read(buffer, 0, READ_CHUNK, current.read);
        if (bytesRead === 0) break;
        const chunk = buffer.subarray(0, bytesRead);
        if (current.shift === undefined && current.resumed) {
          // The stream's own magic and format description event come first: the file's events follow at the resumed position.
          const head = await readAt(handle, 0, 4 + 19);
          if (head.length === 4 + 19) current.shift = current.stored - (4 + head.readUInt32LE(4 + 9));
        }
        current.scanner.push(chunk);
        current.read += bytesRead;
        if (bytesRead < READ_CHUNK) break;
      }
    } finally {
      await handle.close();
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child) {
      child.kill('SIGTERM');
      await this.exited;
    }
    await this.defaults?.dispose();
    this.defaults = undefined;
  }
}

async function readAt(handle: Awaited<ReturnType<typeof open>>, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  const { bytesRead } = await handle.read(buffer, 0, length, position);
  return buffer.subarray(0, bytesRead);
}

/** The name of the file after `file` in its sequence. */
function nextName(file: string): string {
  const split = splitBinlogName(file);
  if (!split) return file;
  const width = file.length - split.base.length - 1;
  return `${split.base}.${String(split.sequence + 1).padStart(width, '0')}`;
}
