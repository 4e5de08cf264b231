import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { ManifestError, manifestSchema, parseManifest, type Manifest } from '../../../domain/manifest.js';
import { check, mutateText, nastyString, notOfType, related, REMOVE, withValueAt, type Path } from './arbitraries.js';

const text = fc.string({ unit: 'binary', maxLength: 20 });
const nonEmpty = fc.string({ unit: 'binary', minLength: 1, maxLength: 20 });
const lsn = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map(String);
const size = fc.oneof(fc.nat(), fc.maxSafeNat());
const isoTime = fc.date({ min: new Date(0), max: new Date(253_402_300_799_999), noInvalidDate: true }).map((date) => date.toISOString());

/** Every manifest the schema describes (the optional fields sometimes absent). */
const manifest: fc.Arbitrary<Manifest> = fc.record(
  {
    formatVersion: fc.constant(1 as const),
    name: nonEmpty,
    cluster: nonEmpty,
    type: fc.constantFrom('full' as const, 'incremental' as const),
    base: nonEmpty,
    parent: fc.option(nonEmpty, { nil: null }),
    fromLsn: lsn,
    toLsn: lsn,
    lastLsn: lsn,
    flavour: fc.constantFrom('mariadb' as const, 'mysql' as const),
    tool: fc.record({ name: text, version: text }, { requiredKeys: ['name'] }),
    serverVersion: text,
    binlog: fc.option(fc.record({ file: text, position: text, gtid: text }, { requiredKeys: ['file', 'position'] }), { nil: null }),
    startedAt: isoTime,
    finishedAt: isoTime,
    sizeBytes: size,
    streamBytes: size,
    objects: fc.array(fc.record({ name: nonEmpty, size, sha256: fc.stringMatching(/^[0-9a-f]{64}$/) }), { minLength: 1, maxLength: 3 }),
    dataObject: nonEmpty,
    compression: fc.constantFrom('none' as const, 'zstd' as const),
    encryption: fc.constant('none' as const),
    parallel: fc.integer({ min: 1, max: 2 ** 31 }),
    takenBy: fc.record({ workflowId: text, runId: text }),
  },
  { requiredKeys: ['formatVersion', 'name', 'cluster', 'type', 'base', 'parent', 'fromLsn', 'toLsn', 'lastLsn', 'flavour', 'tool', 'binlog', 'startedAt', 'finishedAt', 'sizeBytes', 'streamBytes', 'objects', 'dataObject', 'compression', 'encryption', 'parallel'] },
);

const FIELDS = Object.keys(manifestSchema.shape);
/** Fields the schema lets a manifest leave out (older manifests lack the newer ones). */
const OPTIONAL = new Set(FIELDS.filter((field) => manifestSchema.shape[field as keyof typeof manifestSchema.shape].safeParse(undefined).success));

/** The fields of a manifest a mutation can reach, nested ones only where their parent exists. */
function fieldPaths(value: Manifest): Path[] {
  return [
    ...FIELDS.map((field) => [field]),
    ['tool', 'name'],
    ['tool', 'version'],
    ['objects', 0],
    ['objects', 0, 'name'],
    ['objects', 0, 'size'],
    ['objects', 0, 'sha256'],
    ...(value.binlog ? [['binlog', 'file'], ['binlog', 'position'], ['binlog', 'gtid']] : []),
    ...(value.takenBy ? [['takenBy', 'runId']] : []),
  ];
}

/** Values a field is likely not to accept: wrong types, and strings and numbers just outside the rules. */
const wrongValue = fc.oneof(
  notOfType('string'),
  notOfType('number'),
  fc.constantFrom('', '-1', '1.5', 'abc', '18446744073709551616', '0x10', '2026-13-01T00:00:00Z', '2026-04-06 12:00:00', 'FULL', 'gzip', 'aes', 'A'.repeat(64), 'mariadb '),
  fc.constantFrom(-1, 0, 1.5, 2, 2 ** 53, 1e300, -0),
  nastyString,
);

function refusal(run: () => unknown): ManifestError | undefined {
  try {
    run();
  } catch (error) {
    if (error instanceof ManifestError) return error;
    throw error;
  }
  return undefined;
}

const FIELD_MESSAGE = /^where: manifest field (\S+) \S/s;

describe('manifest.json (properties)', () => {
  test('a valid manifest round-trips through JSON text', () => {
    fc.assert(
      fc.property(manifest, (value) => {
        expect(parseManifest(JSON.stringify(value), 'where')).toEqual(value);
        expect(parseManifest(JSON.stringify(value, null, 2), 'where')).toEqual(value);
      }),
      { numRuns: 1000 },
    );
  });

  test('unknown fields (a newer writer) are dropped, the rest still round-trips', () => {
    const extra = fc.dictionary(
      fc.string({ maxLength: 8 }).filter((key) => !FIELDS.includes(key)),
      fc.jsonValue({ maxDepth: 2 }),
      { minKeys: 1, maxKeys: 3 },
    );
    fc.assert(
      fc.property(manifest, extra, (value, fields) => {
        expect(parseManifest(JSON.stringify({ ...fields, ...value }), 'where')).toEqual(value);
      }),
      { numRuns: 1000 },
    );
  });

  test('one field removed or retyped: refused with a ManifestError naming that field', () => {
    const mutated = manifest.chain((value) =>
      fc.record({ value: fc.constant(value), path: fc.constantFrom(...fieldPaths(value)), replacement: fc.oneof(fc.constant<unknown>(REMOVE), wrongValue) }),
    );
    fc.assert(
      fc.property(mutated, ({ value, path, replacement }) => {
        const changed = withValueAt(value, path, replacement);
        const error = refusal(() => parseManifest(JSON.stringify(changed), 'where'));
        const dotted = path.join('.');
        if (replacement === REMOVE && path.length === 1 && !OPTIONAL.has(dotted)) check(error !== undefined, 'a manifest without a required field is refused', dotted);
        if (error === undefined) return; // the mutation happened to be valid (e.g. a removed optional field)
        const named = FIELD_MESSAGE.exec(error.message)?.[1];
        // The field itself, or a field around or inside it (an emptied "objects" names "objects").
        check(named !== undefined && related(named, dotted), 'the refusal names the changed field', { changed: dotted, message: error.message });
      }),
      { numRuns: 2000 },
    );
  });

  test('an LSN field that is not a decimal LSN is named', () => {
    const bad = fc.oneof(fc.constantFrom('', '-1', '1.5', '0x10', '18446744073709551616', ' 1'), fc.bigInt({ min: 2n ** 64n, max: 10n ** 25n }).map(String));
    fc.assert(
      fc.property(manifest, fc.constantFrom('fromLsn', 'toLsn', 'lastLsn'), bad, (value, field, lsnText) => {
        const error = refusal(() => parseManifest(JSON.stringify({ ...value, [field]: lsnText }), 'where'));
        check(error?.message === `where: manifest field ${field} must be a decimal LSN`, 'the LSN field is named', { field, lsnText, message: error?.message });
      }),
      { numRuns: 1000 },
    );
  });

  test('arbitrary text, JSON and damaged manifests throw nothing but a ManifestError that says what is wrong', () => {
    const input = fc.oneof(
      nastyString,
      fc.json({ maxDepth: 3 }),
      fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value)),
      manifest.map((value) => JSON.stringify(value)).chain(mutateText),
      manifest.chain((value) => {
        const json = JSON.stringify(value);
        return fc.nat({ max: json.length }).map((cut) => json.slice(0, cut));
      }),
    );
    fc.assert(
      fc.property(input, nastyString, (json, where) => {
        const error = refusal(() => parseManifest(json, where));
        let isJson = true;
        try {
          JSON.parse(json);
        } catch {
          isJson = false;
        }
        if (!isJson) {
          check(error?.message === `${where}: manifest is not valid JSON`, 'text that is no JSON is called so', { json, message: error?.message });
          return;
        }
        if (error === undefined) return;
        check(error.message.startsWith(`${where}: manifest field `), 'a JSON refusal names a field', error.message);
        const rest = error.message.slice(`${where}: manifest field `.length);
        // "(root)" when the text is JSON but no object; otherwise a field path and a reason.
        check(/^(?:\(root\)|[^ ]+) \S/s.test(rest), 'a field path and a reason follow', error.message);
        const atRoot = manifestSchema.safeParse(JSON.parse(json)).error?.issues[0]?.path.length === 0;
        check(rest.startsWith('(root)') === atRoot, '"(root)" exactly for a problem with the whole value', error.message);
      }),
      { numRuns: 2000 },
    );
  });

  test('a manifest that is JSON but not an object is refused at the root', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 2 }).filter((value) => value === null || typeof value !== 'object' || Array.isArray(value)), (value) => {
        const error = refusal(() => parseManifest(JSON.stringify(value), 'where'));
        check(/^where: manifest field \(root\) Invalid input: expected object, received \w+$/.test(error?.message ?? ''), 'refused at the root', error?.message);
      }),
      { numRuns: 500 },
    );
  });
});
