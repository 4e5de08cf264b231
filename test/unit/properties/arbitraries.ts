/** Generators shared by the property tests: names, times and hostile text. */
import fc from 'fast-check';
import { backupName, type BackupType } from '../../../domain/names.js';

/** Runs per property: enough to find the odd case, few enough that the suite stays fast on 2 cores. */
export const RUNS = 2000;

/** Every cluster name the product accepts (1 to 63 characters). */
export const clusterName = fc.stringMatching(/^[a-z0-9](?:[a-z0-9_-]{0,61}[a-z0-9])?$/);

/** Short cluster names, so that two of them joined still make a valid name. */
export const shortClusterName = fc.stringMatching(/^[a-z0-9](?:[a-z0-9_-]{0,12}[a-z0-9])?$/);

/** The last millisecond a four-digit year can show: 9999-12-31T23:59:59.999Z. */
export const MAX_EPOCH_MS = 253_402_300_799_999;

export const epochMs = fc.oneof(
  { weight: 5, arbitrary: fc.integer({ min: 0, max: MAX_EPOCH_MS }) },
  // Edges: the epoch, the last representable moment, leap days, month and year ends.
  fc.constantFrom(0, MAX_EPOCH_MS, Date.UTC(2024, 1, 29, 23, 59, 59, 999), Date.UTC(2000, 1, 29), Date.UTC(2026, 11, 31, 23, 59, 59, 999), Date.UTC(2026, 0, 1)),
);

export const backupType = fc.constantFrom<BackupType>('full', 'incremental');

export const fullName = fc.tuple(clusterName, epochMs).map(([cluster, at]) => backupName(cluster, 'full', at));
export const incrName = fc.tuple(clusterName, epochMs).map(([cluster, at]) => backupName(cluster, 'incremental', at));

/** A full backup and increments of the same cluster. */
export const chainNames = fc
  .tuple(shortClusterName, epochMs, fc.array(epochMs, { minLength: 1, maxLength: 3 }))
  .map(([cluster, at, later]) => ({ cluster, full: backupName(cluster, 'full', at), increments: later.map((ms) => backupName(cluster, 'incremental', ms)) }));

/** Pieces that break parsers: separators, dots, URL schemes, escapes, controls, non-ASCII. */
export const NASTY_PIECES = [
  '',
  ' ',
  '\t',
  '\n',
  '\r\n',
  '\u0000',
  '/',
  '//',
  '\\',
  '.',
  '..',
  '...',
  '%2e%2e',
  '%2F',
  ':',
  '://',
  's3://',
  'file://',
  'http://',
  '?',
  '#',
  '=',
  '"',
  "'",
  '`',
  '$',
  '{',
  '}',
  '[',
  ']',
  '-',
  '_',
  '.incr',
  '-full',
  '-incr',
  'T',
  'Z',
  '0',
  '9',
  '2026-04-06T010203.045Z',
  'é',
  'İ',
  'ß',
  '\u200b',
  '\u202e',
  '\ufeff',
  '\ud800',
  '🙂',
  '١٢٣',
  'null',
  'true',
  '__proto__',
  'constructor',
] as const;

/** Arbitrary text, weighted towards the pieces parsers trip on. */
export const nastyString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 60 }),
  fc.string({ unit: 'grapheme', maxLength: 30 }),
  fc.array(fc.oneof(fc.constantFrom(...NASTY_PIECES), fc.string({ maxLength: 4 })), { maxLength: 10 }).map((pieces) => pieces.join('')),
);

/** Applies one random edit (insert, delete or replace a character) to a string. */
export function mutateText(text: string): fc.Arbitrary<string> {
  const piece = fc.oneof(fc.constantFrom(...NASTY_PIECES), fc.string({ unit: 'binary', minLength: 1, maxLength: 2 }), fc.constantFrom('A', 'a', '1', '-', '_'));
  return fc.tuple(fc.nat({ max: text.length }), fc.constantFrom('insert', 'delete', 'replace'), piece).map(([at, edit, inserted]) => {
    if (edit === 'insert') return text.slice(0, at) + inserted + text.slice(at);
    if (edit === 'delete') return text.slice(0, at) + text.slice(at + 1);
    return text.slice(0, at) + inserted + text.slice(at + 1);
  });
}

/** JSON values that are not of the given JSON type, for "wrong type" mutations. */
export function notOfType(type: 'string' | 'number' | 'boolean' | 'object' | 'array'): fc.Arbitrary<unknown> {
  return fc
    .oneof(
      fc.string({ maxLength: 8 }),
      fc.integer(),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.boolean(),
      fc.constant(null),
      fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 3 }),
      fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 }),
    )
    .filter((value) => jsonType(value) !== type);
}

export function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

export type Path = readonly (string | number)[];

/** A deep copy of `value` with the value at `path` replaced, or removed when `replacement` is REMOVE. */
export const REMOVE = Symbol('remove');
export function withValueAt<T>(value: T, path: Path, replacement: unknown): T {
  const copy = structuredClone(value);
  let container = copy as Record<string | number, unknown>;
  for (const key of path.slice(0, -1)) container = container[key] as Record<string | number, unknown>;
  const last = path.at(-1);
  if (last === undefined) return replacement as T;
  if (replacement === REMOVE) {
    if (Array.isArray(container) && typeof last === 'number') container.splice(last, 1);
    else delete container[last];
  } else {
    Object.defineProperty(container, last, { value: replacement, enumerable: true, writable: true, configurable: true });
  }
  return copy;
}

export function valueAt(value: unknown, path: Path): unknown {
  let current = value;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string | number, unknown>)[key];
  }
  return current;
}

/** Whether one dotted field path is the other or lies inside it ("a.b" and "a.b.c"; "" and anything). */
export function related(a: string, b: string): boolean {
  const inside = (outer: string, inner: string) => outer === '' || inner === outer || inner.startsWith(`${outer}.`);
  return inside(a, b) || inside(b, a);
}

/** The field path a "path: reason" message starts with, or "" for a message about the whole input. */
export function leadingPath(message: string): string {
  return /^((?:[A-Za-z_$][\w$]*|\d+)(?:\.(?:[A-Za-z_$][\w$]*|\d+))*): /.exec(message)?.[1] ?? '';
}

/**
 * A cheap assertion for the hot loop of a property: Jest's expect costs more than the parsers under
 * test, and fast-check reports the thrown error with the counterexample all the same.
 */
export function check(condition: boolean, what: string, details?: unknown): asserts condition {
  if (!condition) throw new Error(details === undefined ? what : `${what}: ${JSON.stringify(details)}`);
}
