/**
 * Facts of a MariaDB binary log file, read once from its event headers while it is archived: its
 * server, the time of its first and last event, the GTID state at its start (the Gtid_list event)
 * and at its end, and, for each second in which transactions began, the newest GTID of each domain
 * by then. The archive answers every later question (what a point in time needs, where the gaps are)
 * from these facts alone, never by reading an archived file again.
 *
 * The v4 format: a 4-byte magic, then events, each with a 19-byte header (timestamp 4, type 1,
 * server id 4, event length 4, next position 4, flags 2), all little-endian. Only the bodies of the
 * format description, Gtid_list and GTID events are read; every other event is skipped by length.
 */

const MAGIC = [0xfe, 0x62, 0x69, 0x6e];
const HEADER_BYTES = 19;
const EVENT = { query: 2, stop: 3, rotate: 4, formatDescription: 15, xid: 16, gtid: 162, gtidList: 163, startEncryption: 164 } as const;
/** A Query event longer than this is a statement, never the COMMIT or ROLLBACK that ends a group. */
const MAX_GROUP_END_QUERY = 512;
/** FL_STANDALONE in a GTID event's flags: its group is the GTID event and one Query event (DDL). */
const GTID_STANDALONE = 1;
/** The largest body read whole; the events read are a few dozen bytes, anything bigger is damage. */
const MAX_READ_BODY = 1 << 20;

export interface Gtid {
  domain: number;
  server: number;
  /** A decimal string: sequence numbers are 64-bit. */
  seq: string;
}

export interface BinlogFacts {
  /** The server id of the format description event: the server that wrote the file. */
  serverId: number;
  serverVersion: string;
  /** Seconds since the epoch (UTC) of the first and the last event with a time. */
  firstEventTime: number;
  lastEventTime: number;
  /**
   * The server's binlog state when the file began (its Gtid_list event): the last GTID of each
   * server in each domain, as MariaDB keeps it.
   */
  startGtids: Gtid[];
  /** The binlog state when it ended: the start state moved on by every GTID event in it. */
  endGtids: Gtid[];
  /** Bytes of the file that hold whole events (the position after its last event). */
  endPosition: number;
  events: number;
  transactions: number;
  /** How the file was closed: rotated to the next file, the server stopped, or neither (cut short). */
  closedBy: 'rotate' | 'stop' | 'none';
  /**
   * For each second in which a transaction began: the GTID state at the end of that second,
   * as the domains that moved in it (the rest is as before). Lets a point in time be turned into
   * a GTID position without reading the file.
   */
  seconds: { at: number; gtids: Gtid[] }[];
  /**
   * With `stopAfter`: where the first transaction that began after that second starts (the
   * position of its GTID event), if the file has one; with `stopAfterGtid`, where the transaction
   * after that one starts. Applying the file up to there applies
   * exactly the transactions logged in or before that second.
   */
  stopPosition?: number;
  /** With `stopAfterGtid`: whether the file holds that transaction. */
  stopGtidSeen?: boolean;
  /** Every server id the file names: its writer's, and those of the GTIDs in its states. */
  serverIds: number[];
}

export class BinlogFormatError extends Error {}

export function formatGtids(gtids: Gtid[]): string {
  return gtids.map((gtid) => `${gtid.domain}-${gtid.server}-${gtid.seq}`).join(',');
}

/** Parses one GTID, "0-1-10"; undefined for anything else. */
export function parseGtid(text: string): Gtid | undefined {
  const parsed = text.includes(',') ? undefined : parseGtids(text);
  return parsed?.length === 1 ? parsed[0] : undefined;
}

/** Parses "0-1-10,2-1-3"; undefined for anything else. */
export function parseGtids(text: string): Gtid[] | undefined {
  if (text.trim() === '') return [];
  const gtids: Gtid[] = [];
  for (const part of text.split(',')) {
    const match = /^\s*(\d{1,10})-(\d{1,10})-(\d{1,20})\s*$/.exec(part);
    if (!match) return undefined;
    const [domain, server, seq] = [Number(match[1]), Number(match[2]), BigInt(match[3] as string)];
    if (domain > 0xffffffff || server > 0xffffffff || seq > 0xffffffffffffffffn) return undefined;
    gtids.push({ domain, server, seq: seq.toString() });
  }
  return sortGtids(gtids);
}

function sortGtids(gtids: Gtid[]): Gtid[] {
  return [...gtids].sort((a, b) => a.domain - b.domain || a.server - b.server);
}

/**
 * The replication position of a binlog state: per domain, its newest GTID (the highest sequence
 * number), as `gtid_binlog_pos` shows it.
 */
export function gtidPosition(state: Gtid[]): Gtid[] {
  const newest = new Map<number, Gtid>();
  for (const gtid of state) {
    const seen = newest.get(gtid.domain);
    if (!seen || BigInt(gtid.seq) > BigInt(seen.seq)) newest.set(gtid.domain, gtid);
  }
  return sortGtids([...newest.values()]);
}

/** Whether two binlog states hold the same GTIDs. */
export function sameGtidState(a: Gtid[], b: Gtid[]): boolean {
  return formatGtids(sortGtids(a)) === formatGtids(sortGtids(b));
}

const u32 = (bytes: Uint8Array, at: number) => ((bytes[at] as number) | ((bytes[at + 1] as number) << 8) | ((bytes[at + 2] as number) << 16)) + (bytes[at + 3] as number) * 0x1000000;
const u64 = (bytes: Uint8Array, at: number) => BigInt(u32(bytes, at)) + (BigInt(u32(bytes, at + 4)) << 32n);

/**
 * Reads a binlog file chunk by chunk, as it streams to storage: `push` each chunk in order, then
 * `finish`. Holds at most one event header and one small body in memory.
 */
/**
 * A scan that starts partway through a file, as a replica's stream does (`mariadb-binlog --raw
 * --start-position`: the magic and the format description event, then the events from that
 * position): what the file held before it, from the archive's record of that part.
 */
export interface ScanResume {
  position: number;
  firstEventTime: number;
  startGtids: Gtid[];
  endGtids: Gtid[];
  transactions: number;
}

export class BinlogScanner {
  /**
   * @param options.stopAfter seconds since the epoch: find where the first transaction after that second begins.
   * @param options.stopAfterGtid find where the transaction after this one begins (and whether the file holds it).
   */
  constructor(private readonly options: { stopAfter?: number; stopAfterGtid?: Gtid; resume?: ScanResume } = {}) {}

  private stopPosition: number | undefined;
  private stopGtidSeen = false;
  private pending = new Uint8Array(0);
  private position = 0;
  /** Bytes of the current event's body still to skip (events that are not read). */
  private skipping = 0;
  private magicSeen = false;
  private serverId: number | undefined;
  private serverVersion = '';
  private firstEventTime: number | undefined;
  private lastEventTime: number | undefined;
  private startGtids: Gtid[] | undefined;
  /** The binlog state, keyed by domain and server. */
  private readonly state = new Map<string, Gtid>();
  private events = 0;
  private transactions = 0;
  private lastType = -1;
  private endPosition = 0;
  private readonly seconds: { at: number; moved: Map<number, Gtid> }[] = [];
  /** The event group (transaction) under way: its GTID, whose effects count once the group ends. */
  private group: { gtid: Gtid; time: number; standalone: boolean } | undefined;
  /** The event under way ends the group once it has arrived whole. */
  private groupEnds = false;
  /** Where the last whole group (or event outside any group) ends, and what was known there. */
  private safe = { position: 0, lastEventTime: 0, events: 0, lastType: -1 };

  push(chunk: Uint8Array): void {
    let offset = 0;
    if (this.skipping > 0) {
      const skipped = Math.min(this.skipping, chunk.length);
      this.skipping -= skipped;
      this.position += skipped;
      offset = skipped;
      if (this.skipping === 0) {
        this.endPosition = this.position;
        this.eventDone();
      }
    }
    if (offset === chunk.length) return;
    let bytes = this.pending.length > 0 ? concat(this.pending, chunk.subarray(offset)) : chunk.subarray(offset);
    let at = 0;
    if (!this.magicSeen) {
      if (bytes.length < MAGIC.length) {
        this.pending = Uint8Array.from(bytes);
        return;
      }
      if (MAGIC.some((value, index) => bytes[index] !== value)) throw new BinlogFormatError('not a binary log: the file does not start with the binlog magic bytes');
      this.magicSeen = true;
      at = MAGIC.length;
      this.position = MAGIC.length;
      this.endPosition = MAGIC.length;
    }
    for (;;) {
      if (bytes.length - at < HEADER_BYTES) break;
      const length = u32(bytes, at + 9);
      if (length < HEADER_BYTES) throw new BinlogFormatError(`event at position ${this.position} claims ${length} bytes, less than its own header`);
      const type = bytes[at + 4] as number;
      if (readsBody(type, length)) {
        if (length > MAX_READ_BODY) throw new BinlogFormatError(`event of type ${type} at position ${this.position} claims ${length} bytes`);
        if (bytes.length - at < length) break;
        this.event(bytes.subarray(at, at + length), type);
        at += length;
        this.position += length;
        this.endPosition = this.position;
        if (type === EVENT.formatDescription) this.resumeAfterFormatDescription();
        this.eventDone();
        continue;
      }
      this.event(bytes.subarray(at, at + HEADER_BYTES), type);
      const available = bytes.length - at;
      if (available >= length) {
        at += length;
        this.position += length;
        this.endPosition = this.position;
        this.eventDone();
        continue;
      }
      // The rest of this event's body is in later chunks.
      this.skipping = length - available;
      this.position += available;
      at = bytes.length;
      break;
    }
    bytes = bytes.subarray(at);
    // A copy: a caller may reuse its chunk's memory (a Buffer's slice() would be a view of it).
    this.pending = bytes.length > 0 ? Uint8Array.from(bytes) : new Uint8Array(0);
  }

  /** A scan that resumes partway through a file: its events continue at the resumed position, after what the file held before. */
  private resumeAfterFormatDescription(): void {
    const resume = this.options.resume;
    if (!resume || this.startGtids !== undefined) return;
    this.position = resume.position;
    this.endPosition = resume.position;
    this.startGtids = resume.startGtids;
    for (const gtid of resume.endGtids) this.state.set(`${gtid.domain}-${gtid.server}`, gtid);
    this.firstEventTime = resume.firstEventTime;
    // The format description event is the stream's, not an event of this part of the file.
    this.lastEventTime = resume.firstEventTime;
    this.transactions = resume.transactions;
  }

  /** After a whole event: where it closes a group, or stands outside any, the file can be cut after it. */
  private eventDone(): void {
    if (this.groupEnds) {
      this.groupEnds = false;
      this.endGroup();
    }
    if (this.group) return;
    this.safe = { position: this.position, lastEventTime: this.lastEventTime ?? 0, events: this.events, lastType: this.lastType };
  }

  /** Whether the file's start is known: its writer (format description) and its GTID state (Gtid_list, or the resumed part). */
  get knowsStart(): boolean {
    return this.serverId !== undefined && this.startGtids !== undefined;
  }

  /** The position after the last whole event group: a cut there leaves no transaction in part. */
  get safePosition(): number {
    return this.safe.position;
  }

  /**
   * The facts of the file up to its last whole group (safePosition), for a file still being
   * written: a group whose events have not all arrived counts only once they have.
   */
  factsAtSafePoint(): BinlogFacts {
    const facts = this.factsWith(false);
    return { ...facts, endPosition: this.safe.position, lastEventTime: this.safe.lastEventTime || facts.firstEventTime, events: this.safe.events, closedBy: this.safe.lastType === EVENT.rotate ? 'rotate' : this.safe.lastType === EVENT.stop ? 'stop' : 'none' };
  }

  finish(): BinlogFacts {
    return this.factsWith(true);
  }

  private factsWith(endGroup: boolean): BinlogFacts {
    // A group cut short at the file's end (a file that is not closed) counts as logged, as its GTID event says.
    if (endGroup) this.endGroup();
    if (!this.magicSeen) throw new BinlogFormatError('not a binary log: the file is shorter than the binlog magic bytes');
    if (this.serverId === undefined) throw new BinlogFormatError('the file has no format description event');
    if (this.startGtids === undefined) throw new BinlogFormatError('the file has no Gtid_list event: not a MariaDB binary log with GTIDs');
    const endGtids = sortGtids([...this.state.values()]);
    return {
      serverId: this.serverId,
      serverVersion: this.serverVersion,
      firstEventTime: this.firstEventTime ?? 0,
      lastEventTime: this.lastEventTime ?? 0,
      startGtids: this.startGtids,
      endGtids,
      endPosition: this.endPosition,
      events: this.events,
      transactions: this.transactions,
      closedBy: this.skipping > 0 || this.pending.length > 0 ? 'none' : this.lastType === EVENT.rotate ? 'rotate' : this.lastType === EVENT.stop ? 'stop' : 'none',
      seconds: this.seconds.map((second) => ({ at: second.at, gtids: sortGtids([...second.moved.values()]) })),
      ...(this.stopPosition === undefined ? {} : { stopPosition: this.stopPosition }),
      ...(this.options.stopAfterGtid ? { stopGtidSeen: this.stopGtidSeen } : {}),
      serverIds: [...new Set([this.serverId, ...[...this.startGtids, ...endGtids].map((gtid) => gtid.server)])].sort((a, b) => a - b),
    };
  }

  /** One event: its header, and its whole body for the types that are read. */
  private event(bytes: Uint8Array, type: number): void {
    // Every event after it is encrypted with the server's key: its facts cannot be read here (see
    // isEncryptedByServer). A copy read through the server keeps it, marked ignorable, before plain events.
    if (type === EVENT.startEncryption && !ignorable(bytes)) throw new BinlogFormatError(`the file is encrypted by its server (encrypt_binlog) from position ${this.position} on: it can only be read through the server`);
    this.events++;
    this.lastType = type;
    const time = u32(bytes, 0);
    if (type !== EVENT.gtid) this.groupEvent(bytes, type);
    if (time > 0) {
      this.firstEventTime ??= time;
      this.lastEventTime = Math.max(this.lastEventTime ?? 0, time);
    }
    const body = bytes.subarray(HEADER_BYTES);
    if (type === EVENT.formatDescription) {
      this.serverId ??= u32(bytes, 5);
      // binlog version (2), then the server version, 50 bytes padded with zeros.
      this.serverVersion ||= new TextDecoder().decode(body.subarray(2, 52)).replace(/\0.*$/s, '');
    } else if (type === EVENT.gtidList && this.startGtids === undefined) {
      if (body.length < 4) throw new BinlogFormatError('a Gtid_list event without its count');
      const count = u32(body, 0) & 0x0fffffff;
      if (body.length < 4 + count * 16) throw new BinlogFormatError(`a Gtid_list event of ${count} GTIDs in ${body.length} bytes`);
      const list: Gtid[] = [];
      for (let index = 0; index < count; index++) {
        const at = 4 + index * 16;
        list.push({ domain: u32(body, at), server: u32(body, at + 4), seq: u64(body, at + 8).toString() });
      }
      this.startGtids = sortGtids(list);
      for (const gtid of list) this.state.set(`${gtid.domain}-${gtid.server}`, gtid);
    } else if (type === EVENT.gtid) {
      if (body.length < 12) throw new BinlogFormatError('a GTID event shorter than its sequence number and domain');
      const gtid: Gtid = { domain: u32(body, 8), server: u32(bytes, 5), seq: u64(body, 0).toString() };
      this.endGroup();
      this.group = { gtid, time, standalone: ((body[12] ?? 0) & GTID_STANDALONE) !== 0 };
      // Events are read before the position moves past them: `position` is where this one begins.
      if (this.options.stopAfter !== undefined && this.stopPosition === undefined && time > this.options.stopAfter) this.stopPosition = this.position;
      const target = this.options.stopAfterGtid;
      if (target) {
        if (this.stopGtidSeen && this.stopPosition === undefined) this.stopPosition = this.position;
        if (gtid.domain === target.domain && gtid.server === target.server && gtid.seq === target.seq) this.stopGtidSeen = true;
      }
    }
  }

  /** An event other than a GTID event: whether it ends the group under way (or stands outside any). */
  private groupEvent(bytes: Uint8Array, type: number): void {
    const group = this.group;
    if (!group) return;
    // The group ends once this event has arrived whole (eventDone), not when its header has.
    if (type === EVENT.xid || (type === EVENT.query && (group.standalone || endsGroup(bytes)))) this.groupEnds = true;
    // Events that never belong to a group: a group before them has ended, whatever the reason.
    else if (type === EVENT.rotate || type === EVENT.stop || type === EVENT.formatDescription || type === EVENT.gtidList) this.endGroup();
  }

  /** The group under way has ended: its GTID moves the state, and its second. */
  private endGroup(): void {
    const group = this.group;
    if (!group) return;
    this.group = undefined;
    const { gtid, time } = group;
    this.state.set(`${gtid.domain}-${gtid.server}`, gtid);
    this.transactions++;
    const last = this.seconds.at(-1);
    if (last && last.at === time) last.moved.set(gtid.domain, gtid);
    else this.seconds.push({ at: time, moved: new Map([[gtid.domain, gtid]]) });
  }
}

function readsBody(type: number, length: number): boolean {
  return type === EVENT.formatDescription || type === EVENT.gtidList || type === EVENT.gtid || (type === EVENT.query && length <= MAX_GROUP_END_QUERY);
}

/**
 * Whether a Query event is the COMMIT or ROLLBACK that ends a group: after its 13 bytes of
 * post-header (thread id, time, schema length, error code, status variables' length), the status
 * variables and the schema's name with its NUL, the statement.
 */
function endsGroup(event: Uint8Array): boolean {
  if (event.length <= HEADER_BYTES + 13) return false;
  const body = event.subarray(HEADER_BYTES);
  const schemaLength = body[8] as number;
  const statusLength = (body[11] as number) | ((body[12] as number) << 8);
  const at = 13 + statusLength + schemaLength + 1;
  const text = new TextDecoder().decode(body.subarray(at, at + 8)).toUpperCase();
  return text.startsWith('COMMIT') || text.startsWith('ROLLBACK');
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const joined = new Uint8Array(a.length + b.length);
  joined.set(a, 0);
  joined.set(b, a.length);
  return joined;
}

/**
 * Whether a binlog file's first bytes say that its server encrypted the rest of it (encrypt_binlog):
 * a Start_encryption event right after the format description. Such a file's events cannot be read
 * from disk, only through the server, which sends them decrypted at the same positions (keeping the
 * Start_encryption event, marked ignorable). Undefined when `head` is too short to tell.
 */
export function isEncryptedByServer(head: Uint8Array): boolean | undefined {
  if (head.length < MAGIC.length + HEADER_BYTES) return undefined;
  if (MAGIC.some((value, index) => head[index] !== value)) return false;
  const next = MAGIC.length + u32(head, MAGIC.length + 9);
  if (head.length < next + HEADER_BYTES) return undefined;
  return head[next + 4] === EVENT.startEncryption && !ignorable(head.subarray(next));
}

/** LOG_EVENT_IGNORABLE_F in an event header's flags: a reader that does not know the event may skip it. */
function ignorable(header: Uint8Array): boolean {
  return (((header[17] as number) | ((header[18] as number) << 8)) & 0x80) !== 0;
}
