/** Sizes and durations as a person reads them (scripts read the exact numbers of `--json`). */

/** Bytes in binary units: "512 B", "1.5 KiB", "12.3 MiB". */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

/** A duration as a clock: "07:05", "1:02:03". */
/** An age for people: minutes under an hour, hours under two days, then days ("42m", "5.3h", "8.0d"). */
export function formatAge(seconds: number): string {
  return seconds < 3600 ? `${Math.round(seconds / 60)}m` : seconds < 172_800 ? `${(seconds / 3600).toFixed(1)}h` : `${(seconds / 86_400).toFixed(1)}d`;
}

/** How far behind something is: seconds to a tenth under a minute ("0.4s", "12.0s"), then as an age. */
export function formatLag(seconds: number): string {
  return seconds < 60 ? `${seconds.toFixed(1)}s` : formatAge(seconds);
}

/** A span of time as configurations write it: "45s", "10m", "1h30m", "2d". */
export function formatSpan(seconds: number): string {
  const parts: string[] = [];
  let left = Math.max(0, Math.round(seconds));
  for (const [unit, size] of [['d', 86_400], ['h', 3600], ['m', 60], ['s', 1]] as const) {
    if (left >= size) {
      parts.push(`${Math.floor(left / size)}${unit}`);
      left %= size;
    }
  }
  return parts.join('') || '0s';
}

/** A moment in a time zone, for people: "2026-12-05 02:30 Europe/Berlin". */
export function formatInZone(iso: string, timeZone: string): string {
  const fields = Object.fromEntries(
    new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).formatToParts(new Date(iso)).map((part) => [part.type, part.value]),
  );
  return `${fields.year}-${fields.month}-${fields.day} ${fields.hour}:${fields.minute} ${timeZone}`;
}

export function formatDuration(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  const hours = Math.floor(seconds / 3600);
  const clock = `${String(Math.floor((seconds % 3600) / 60)).padStart(2, '0')}:${String(seconds % 60).padStart(2, '0')}`;
  return hours > 0 ? `${hours}:${clock}` : clock;
}

/** What a follower shows at one moment. */
export interface FollowState {
  phase: string;
  bytes?: number;
  total?: number;
  /** The highest attempt among running activities, when one is a retry, and that activity's last error. */
  retry?: { activity: string; attempt: number; lastError?: string };
  /**
   * Work no worker has taken yet, and for how long: a step (its host worker is down) or, with `queue`,
   * the workflow itself (no worker serves the shared queue).
   */
  waiting?: { activity: string; seconds: number } | { queue: string; seconds: number };
}

/**
 * One progress line, at most `width` characters: the figures are kept whole and the phase text is
 * shortened to make room (the last error last, shortened first).
 */
function waitingNotice(waiting: NonNullable<FollowState['waiting']>): string {
  if ('queue' in waiting) return `no worker has taken this work for ${waiting.seconds} s: is a chainbackup worker serving queue ${waiting.queue} running?`;
  return `no worker has taken ${waiting.activity} for ${waiting.seconds} s: is the cluster's host worker running?`;
}

export function progressLine(elapsedMs: number, state: FollowState, rate: number | undefined, width: number): string {
  const figures: string[] = [];
  if (state.bytes !== undefined) {
    const known = state.total !== undefined && state.total >= state.bytes;
    figures.push(known ? `${formatBytes(state.bytes)}/${formatBytes(state.total as number)} ${Math.floor(((state.bytes / (state.total as number)) * 100))}%` : formatBytes(state.bytes));
    if (rate !== undefined && rate > 0) {
      figures.push(`${formatBytes(rate)}/s`);
      if (known) figures.push(`${formatDuration((((state.total as number) - state.bytes) / rate) * 1000)} left`);
    }
  }
  const retry = state.retry ? `attempt ${state.retry.attempt}` : state.waiting ? waitingNotice(state.waiting) : '';
  const head = `[${formatDuration(elapsedMs)}] `;
  const tail = [...figures, ...(retry ? [retry] : [])].join('  ');
  const error = state.retry?.lastError ? `last error: ${state.retry.lastError.replace(/\s+/g, ' ')}` : '';
  const room = width - head.length - (tail ? tail.length + 2 : 0);
  const phase = state.phase.length <= Math.max(room, 12) ? state.phase : `${state.phase.slice(0, Math.max(room, 12) - 1)}…`;
  let line = `${head}${phase}${tail ? `  ${tail}` : ''}`;
  if (error && line.length + 2 < width) line += `  ${error.length <= width - line.length - 2 ? error : `${error.slice(0, width - line.length - 3)}…`}`;
  return line.slice(0, width);
}

/**
 * Which files the backup tool has finished reading, from its log: mariadb-backup writes
 * "[NN] <date> <time> Streaming <path>[ to <STDOUT>]" and later "[NN] … ...done" on the same thread
 * NN; xtrabackup writes "Copying <path> …" and "Done: Copying <path> …". Returns a function that
 * takes one log line and gives the path of a file it completes (as the tool names it), if any.
 */
export function toolCopyTracker(): (line: string) => string | undefined {
  const open = new Map<string, string>();
  return (line) => {
    const thread = /^\[(\d+)\]/.exec(line)?.[1] ?? '';
    const done = /Done: Copying (\S+)/.exec(line);
    if (done) return done[1];
    const started = /\d\d:\d\d:\d\d (?:Streaming|Copying) (\S+)/.exec(line);
    if (started?.[1]) {
      open.set(thread, started[1]);
      return undefined;
    }
    if (/\.\.\.done\s*$/.test(line)) {
      const path = open.get(thread);
      open.delete(thread);
      return path;
    }
    return undefined;
  };
}
