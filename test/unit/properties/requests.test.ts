import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import type { z } from 'zod';
import { isValidClusterName, parseBackupName } from '../../../domain/names.js';
import { backupRequestSchema, deleteRequestSchema, restoreRequestSchema, retentionRequestSchema } from '../../../domain/requests.js';
import { parseWith } from '../../../domain/validation.js';
import { check, clusterName, fullName, incrName, nastyString, notOfType, related, REMOVE, withValueAt, type Path } from './arbitraries.js';

/** Absolute paths the rule takes: parts of printable characters, none of them "." or "..". */
const absolutePath = fc
  .array(fc.stringMatching(/^[^\u0000-\u001f\u007f/]{1,12}$/).filter((part) => part !== '.' && part !== '..'), { maxLength: 4 })
  .map((parts) => `/${parts.join('/')}`);
/** Keys inside a store the rule takes: no control character, no ".." part. */
const storeKey = fc.stringMatching(/^[^\u0000-\u001f\u007f]{1,30}$/).filter((key) => !key.split('/').includes('..'));
const bucket = fc.stringMatching(/^[a-z0-9][a-z0-9.-]{1,20}[a-z0-9]$/);
const storage = fc.oneof(
  fc.record({ kind: fc.constant('filesystem'), path: absolutePath }),
  fc.record(
    {
      kind: fc.constant('s3'),
      bucket,
      prefix: fc.constantFrom('', 'prod', 'prod/eu', 'a b/ü'),
      region: fc.constantFrom('us-east-1', 'eu-west-1'),
      endpoint: fc.webUrl({ withQueryParameters: false, withFragments: false }),
      forcePathStyle: fc.boolean(),
    },
    { requiredKeys: ['kind', 'bucket'] },
  ),
);
const target = fc.oneof(fc.constant({ kind: 'in-place' }), fc.constant({ kind: 'verify' }), absolutePath.map((path) => ({ kind: 'new-datadir', path })));
const backupNameText = fc.oneof(fullName, incrName);
const pointTarget = fc.oneof(fc.constant({ kind: 'in-place' }), absolutePath.map((path) => ({ kind: 'new-datadir', path })));
/** A moment as the CLI passes --to-time: UTC, or an offset, with or without a fraction. */
const pointTime = fc
  .record({ at: fc.integer({ min: Date.parse('2020-01-01T00:00:00Z'), max: Date.parse('2035-01-01T00:00:00Z') }), fraction: fc.boolean(), offset: fc.constantFrom('Z', '+02:00', '-05:30') })
  .map(({ at, fraction, offset }) => `${new Date(at).toISOString().slice(0, fraction ? 23 : 19)}${offset}`);

/** Well-formed requests of each workflow, as the CLI or `temporal workflow start --input` sends them. */
const valid = {
  backup: fc.record({ cluster: clusterName, type: fc.constantFrom('full', 'incremental'), baseBackupName: fullName }, { requiredKeys: ['cluster', 'type'] }),
  restore: fc.oneof(
    fc.record({ cluster: clusterName, backupName: backupNameText, target }, { requiredKeys: ['cluster', 'backupName'] }),
    fc.record({ cluster: clusterName, source: fc.record({ storage, path: storeKey }), target }, { requiredKeys: ['cluster', 'source'] }),
    // To a point: planned only, or waiting for the archive to cover it.
    fc.record(
      { cluster: clusterName, pointInTime: pointTime, target: pointTarget, waitForArchive: fc.constantFrom('500ms', '30s', '2m', '24h'), dryRun: fc.boolean() },
      { requiredKeys: ['cluster', 'pointInTime'] },
    ),
  ),
  delete: fc.record({ cluster: clusterName, backupName: backupNameText }),
  retention: fc.record({ cluster: clusterName, dryRun: fc.boolean() }, { requiredKeys: ['cluster'] }),
};

const schemas: Record<keyof typeof valid, z.ZodType> = { backup: backupRequestSchema, restore: restoreRequestSchema, delete: deleteRequestSchema, retention: retentionRequestSchema };
const kinds = Object.keys(valid) as (keyof typeof valid)[];

const KNOWN_KEYS = ['cluster', 'type', 'baseBackupName', 'backupName', 'source', 'target', 'dryRun', 'storage', 'path', 'kind', 'bucket', 'prefix', 'endpoint', 'pointInTime', 'gtid', 'waitForArchive'];

/** Arbitrary JSON objects that use the requests' own keys often, with arbitrary and near-valid values. */
const jsonObject = fc.dictionary(
  fc.oneof(fc.constantFrom(...KNOWN_KEYS), fc.string({ maxLength: 8 }), fc.constantFrom('__proto__', 'constructor', 'toString', '')),
  fc.oneof(fc.jsonValue({ maxDepth: 3 }), clusterName, backupNameText, nastyString, target, storage, fc.record({ storage, path: nastyString }), pointTime, fc.constantFrom('2m', 'soon', '48h', '0-1-5')),
  { maxKeys: 6 },
);

/** Every problem zod found is in the message: with its field path when it has one, with each unknown key. */
function expectNamesEveryIssue(schema: z.ZodType, input: unknown, message: string, subject: string): void {
  check(message.startsWith(`invalid ${subject}: `), 'the message starts with the subject', message);
  const issues = schema.safeParse(input).error?.issues ?? [];
  check(issues.length > 0, 'a refusal has issues', message);
  for (const issue of issues) {
    check(issue.message.trim() !== '', 'every issue has a reason', issue);
    const path = issue.path.map(String).join('.');
    check(message.includes(path ? `${path}: ${issue.message}` : issue.message), 'the message names the field path and reason of every issue', { message, path, reason: issue.message });
    if (issue.code === 'unrecognized_keys') for (const key of issue.keys) check(message.includes(`"${key}"`), 'the message names every unknown key', { message, key });
  }
}

/** The fields of a valid request a mutation can reach, and the JSON type each one has. */
function fields(request: Record<string, unknown>): [Path, 'string' | 'boolean' | 'object'][] {
  const paths: [Path, 'string' | 'boolean' | 'object'][] = [];
  for (const [key, value] of Object.entries(request)) {
    paths.push([[key], typeof value === 'boolean' ? 'boolean' : typeof value === 'object' ? 'object' : 'string']);
    if (value && typeof value === 'object') {
      for (const [inner, innerValue] of Object.entries(value as Record<string, unknown>)) {
        paths.push([[key, inner], typeof innerValue === 'object' ? 'object' : typeof innerValue === 'boolean' ? 'boolean' : 'string']);
        if (innerValue && typeof innerValue === 'object') {
          for (const [deepest, deepestValue] of Object.entries(innerValue)) paths.push([[key, inner, deepest], typeof deepestValue === 'boolean' ? 'boolean' : 'string']);
        }
      }
    }
  }
  return paths;
}

/** The fields a request may leave out. */
const OPTIONAL_FIELDS = new Set(['baseBackupName', 'target', 'dryRun', 'waitForArchive', 'source.storage.prefix', 'source.storage.region', 'source.storage.endpoint', 'source.storage.forcePathStyle']);

/** Strings a field of that name must refuse. */
const badStrings: Record<string, fc.Arbitrary<string>> = {
  cluster: nastyString.filter((text) => !isValidClusterName(text)),
  backupName: nastyString.filter((text) => parseBackupName(text) === undefined),
  baseBackupName: nastyString.filter((text) => parseBackupName(text) === undefined),
  type: fc.constantFrom('Full', 'incr', 'differential', ''),
  kind: fc.constantFrom('In-place', 'newdatadir', 's4', 'gcs', ''),
  path: fc.constantFrom('relative/dir', '', '~/x', './x'),
  bucket: fc.constantFrom('Backups', 'ab', 'my_bucket', '-x-', 'b'.repeat(64), ''),
  prefix: fc.constantFrom('/prod', 'prod/', 'a//b', '/'),
  endpoint: fc.constantFrom('minio:9000', 'ftp://minio', 'not a url', '', 'file:///x'),
  region: fc.constant(''),
  pointInTime: fc.constantFrom('2026-04-06 14:05', '2026-04-06T14:05:09', 'yesterday', ''),
  waitForArchive: fc.constantFrom('soon', '2 minutes', '-1m', '48h', '2d', ''),
};

describe('workflow requests (properties)', () => {
  test.each(kinds)('every well-formed %s request is accepted, and accepting it again changes nothing', (kind) => {
    fc.assert(
      fc.property(valid[kind], (request) => {
        const parsed = parseWith(schemas[kind], request, `${kind} request`);
        check(parsed.ok, 'a well-formed request is accepted', { request, parsed });
        expect(parseWith(schemas[kind], parsed.value, `${kind} request`)).toEqual(parsed);
      }),
      { numRuns: 1000 },
    );
  });

  test('arbitrary JSON given as any request never throws; a refusal names every problem and field', () => {
    fc.assert(
      fc.property(fc.oneof({ weight: 4, arbitrary: jsonObject }, fc.jsonValue({ maxDepth: 2 })), (input) => {
        for (const kind of kinds) {
          const subject = `${kind} request`;
          const parsed = parseWith(schemas[kind], input, subject);
          if (!parsed.ok) expectNamesEveryIssue(schemas[kind], input, parsed.message, subject);
        }
      }),
      { numRuns: 2000 },
    );
  });

  test.each(kinds)('a %s request with one field removed, retyped or spoilt is refused naming that field', (kind) => {
    const subject = `${kind} request`;
    const mutated = (valid[kind] as fc.Arbitrary<Record<string, unknown>>).chain((request) =>
      fc.constantFrom(...fields(request)).chain(([path, type]) => {
        const name = String(path.at(-1));
        const replacement = fc.oneof(fc.constant<unknown>(REMOVE), notOfType(type), ...(type === 'string' && badStrings[name] ? [badStrings[name]] : []));
        return fc.record({ request: fc.constant(request), path: fc.constant(path), replacement });
      }),
    );
    fc.assert(
      fc.property(mutated, ({ request, path, replacement }) => {
        const input = withValueAt(request, path, replacement);
        const parsed = parseWith(schemas[kind], input, subject);
        const dotted = path.join('.');
        if (parsed.ok) {
          // Only removing an optional field, or a string that is still valid for a free-text field, is fine.
          // A verification that names no backup verifies the newest one.
          const verifiesNewest = kind === 'restore' && (dotted === 'backupName' || dotted === 'source') && (request.target as { kind?: string } | undefined)?.kind === 'verify';
          check(replacement === REMOVE ? OPTIONAL_FIELDS.has(dotted) || verifiesNewest : typeof replacement === 'string', 'only a harmless change is accepted', { dotted, replacement });
          return;
        }
        expectNamesEveryIssue(schemas[kind], input, parsed.message, subject);
        const problem = parsed.message.slice(`invalid ${subject}: `.length);
        if (kind === 'restore' && replacement === REMOVE && (dotted === 'backupName' || dotted === 'source' || dotted === 'pointInTime')) {
          // Without a point, waitForArchive and dryRun are refused too, each by name, after it.
          check(problem.startsWith('give exactly one of backupName, source, pointInTime or gtid (a verification without any verifies the newest backup)'), 'a restore without a source names every choice', problem);
        } else {
          const named = /^([\w.]+): /.exec(problem)?.[1] ?? '';
          check(named !== '' && related(named, dotted), 'the refusal names the changed field', { dotted, problem });
        }
      }),
      { numRuns: 1000 },
    );
  });

  test.each(kinds)('an unknown field in a %s request is refused by name', (kind) => {
    const unknown = fc.string({ minLength: 1, maxLength: 10 }).filter((key) => !KNOWN_KEYS.includes(key) && key !== 'region' && key !== 'forcePathStyle');
    fc.assert(
      fc.property(valid[kind], unknown, fc.jsonValue({ maxDepth: 1 }), (request, key, value) => {
        const parsed = parseWith(schemas[kind], withValueAt(request, [key], value), `${kind} request`);
        check(!parsed.ok && parsed.message.includes(`Unrecognized key: "${key}"`), 'an unknown field is named', { key, parsed });
      }),
      { numRuns: 1000 },
    );
  });
});
