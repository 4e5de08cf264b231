/**
 * What a backup tool's failure means: whether another attempt could succeed, and a message a person
 * can read. A corrupted page, a missing file the tool should have written, an option the tool does
 * not know or a version it refuses fail the same way every time, so they fail the work at once; a
 * lost connection or an I/O error may not, so they are retried.
 */

/** Temporal refuses failures larger than about 4 MiB in all, and shows long ones badly: a tool's message stays well below. */
export const MAX_TOOL_MESSAGE_CHARS = 2000;
const MAX_LINE_CHARS = 300;

export interface ToolFailure {
  /** True when the same run would fail the same way again. */
  deterministic: boolean;
  /** What it is, in a few words ("a corrupted page in ./shop/items.ibd"), when recognised. */
  reason?: string;
  /** The tool's last meaningful lines, each cut short, no page dumps. */
  message: string;
}

/** A line that is a dump of bytes (InnoDB prints a page as "len 16384; hex 0000…; asc …"), not words. */
export function isDump(line: string): boolean {
  return /[0-9A-Fa-f]{64,}/.test(line) || /^\s*len \d+; hex /.test(line);
}

/** The tool's log without dumps and with each line cut to a readable length: the last lines, at most MAX_TOOL_MESSAGE_CHARS. */
export function readableToolLog(log: string, keepLines = 12): string {
  const lines = log
    .split('\n')
    .map((line) => line.trimEnd())
    .filter((line) => line.trim() !== '' && !isDump(line))
    .map((line) => (line.length > MAX_LINE_CHARS ? `${line.slice(0, MAX_LINE_CHARS)}… (${line.length - MAX_LINE_CHARS} more characters)` : line));
  let kept = lines.slice(-keepLines);
  while (kept.length > 1 && kept.join('\n').length > MAX_TOOL_MESSAGE_CHARS) kept = kept.slice(1);
  const text = kept.join('\n');
  return text.length > MAX_TOOL_MESSAGE_CHARS ? `${text.slice(0, MAX_TOOL_MESSAGE_CHARS)}…` : text;
}

const DETERMINISTIC: { pattern: RegExp; reason: (match: RegExpExecArray) => string }[] = [
  { pattern: /File (\S+) seems to be corrupted/i, reason: (m) => `a corrupted page in ${m[1]}` },
  { pattern: /Database page corruption[^\n]*?(?:in file |file )?(\S+\.ibd)?/i, reason: (m) => `a corrupted page${m[1] ? ` in ${m[1]}` : ''}` },
  { pattern: /\[ERROR\][^\n]*(?:page|tablespace)[^\n]*corrupt[^\n]*/i, reason: () => 'corrupted data in the source' },
  { pattern: /unknown (?:option|variable) '?([^'\s]+)/i, reason: (m) => `the tool does not know the option ${m[1]}` },
  { pattern: /Unsupported server version|This version of \S+ (?:only works|does not support)|is not supported by this version|must be the same version/i, reason: () => 'the tool does not support this server version' },
  { pattern: /Access denied for user/i, reason: () => 'the database refused the login' },
  { pattern: /(?:requires|needs|missing) (?:the )?([A-Z][A-Z ]+) privilege|privilege[s]? (?:is|are) required[^\n]*/i, reason: (m) => `a missing grant${m[1] ? `: ${m[1].trim()}` : ''}` },
  { pattern: /Encrypted page[^\n]*looks corrupted|Cannot decrypt|No encryption key|key_version=\d+[^\n]*not found/i, reason: () => 'encrypted data the tool has no key for (key management plugin settings)' },
];

/** Classifies a tool's failure from its log. */
export function classifyToolFailure(log: string): ToolFailure {
  const message = readableToolLog(log);
  for (const { pattern, reason } of DETERMINISTIC) {
    const match = pattern.exec(log);
    if (match) return { deterministic: true, reason: reason(match), message };
  }
  return { deterministic: false, message };
}
