import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import fc from 'fast-check';
import YAML from 'yaml';
import { ConfigError, parseConfig } from '../../../config/file.js';
import { check, clusterName, leadingPath, mutateText, nastyString, notOfType, related, REMOVE, valueAt, withValueAt, type Path } from './arbitraries.js';

// The configurations the mutations start from: the unit tests' minimal one, one with every field
// set, and one on a filesystem with a process controller.
const minimal = {
  name: 'shop',
  connection: { socket: '/run/mysqld/mysqld.sock', user: 'backup', passwordEnv: 'SHOP_BACKUP_PASSWORD' },
  datadir: '/var/lib/mysql',
  storage: { kind: 's3', bucket: 'backups', prefix: 'prod' },
  controller: { kind: 'command', stop: ['systemctl', 'stop', 'mariadb'], start: ['systemctl', 'start', 'mariadb'] },
};
const complete = {
  name: 'shop-eu',
  taskQueue: 'db-shop-eu',
  flavour: 'mysql',
  connection: { host: 'db.example', port: 3306, user: 'backup', passwordFile: '/etc/chainbackup/shop.pw' },
  datadir: '/var/lib/mysql',
  storage: { kind: 's3', bucket: 'backups.eu', prefix: 'prod/eu', region: 'eu-west-1', endpoint: 'http://127.0.0.1:9000', forcePathStyle: true },
  controller: { kind: 'command', stop: ['systemctl', 'stop', 'mysql'], start: ['systemctl', 'start', 'mysql'] },
  backup: { parallel: 4, compression: 'none', toolPath: '/usr/bin/xtrabackup', throttle: 100, timeout: '12h' },
  restore: { workDir: '/var/lib/chainbackup', prepareMemoryMb: 1024, timeout: '6h' },
  schedule: { enabled: true, time: '01:30', timezone: 'Europe/Berlin', catchupWindow: '6h', jitter: '10m' },
  incremental: { enabled: true, fullBackupWeekSchedule: 'mon,thu' },
  retention: { keepChains: 3, maxAgeDays: 30, orphanAgeHours: 24 },
  retry: { maximumAttempts: 5, initialInterval: '10s' },
};
const local = {
  name: 'lab',
  connection: { socket: '/tmp/lab.sock', user: 'root' },
  datadir: '/srv/lab/data',
  storage: { kind: 'filesystem', path: '/srv/lab/backups' },
  controller: { kind: 'process', defaultsFile: '/srv/lab/my.cnf', serverBinary: 'mariadbd' },
};
type Cluster = typeof minimal | typeof complete | typeof local;

/** The minimal configuration with one part of the complete one: smaller documents parse faster. */
function withPartOfComplete(part: string): Cluster {
  return { ...minimal, [part]: complete[part as keyof typeof complete] };
}

// Oracles: each rule written out again, without the product's regular expressions.
const isDigit = (c: string) => c >= '0' && c <= '9';
const durationOracle = (v: unknown) => {
  if (typeof v !== 'string') return false;
  let i = 0;
  while (i < v.length && isDigit(v.charAt(i))) i++;
  return i > 0 && ['ms', 's', 'm', 'h', 'd'].includes(v.slice(i));
};
const timeOracle = (v: unknown) =>
  typeof v === 'string' && v.length === 5 && v[2] === ':' && [0, 1, 3, 4].every((i) => isDigit(v.charAt(i))) && Number(v.slice(0, 2)) <= 23 && Number(v.slice(3)) <= 59;
const timeZoneOracle = (v: unknown) => {
  if (typeof v !== 'string') return false;
  try {
    return new Intl.DateTimeFormat('en', { timeZone: v }).resolvedOptions().timeZone !== undefined;
  } catch {
    return false;
  }
};
const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const weekOracle = (v: unknown) => {
  if (typeof v !== 'string') return false;
  const items = v.split(',').map((item) => item.trim().toLowerCase());
  return items.every((item) => DAYS.includes(item)) && new Set(items).size === items.length;
};
const lowerAlnum = (c: string) => (c >= 'a' && c <= 'z') || isDigit(c);
const bucketOracle = (v: unknown) =>
  typeof v === 'string' && v.length >= 3 && v.length <= 63 && [...v].every((c) => lowerAlnum(c) || c === '.' || c === '-') && lowerAlnum(v.charAt(0)) && lowerAlnum(v.charAt(v.length - 1));
const prefixOracle = (v: unknown) => typeof v === 'string' && (v === '' || (!v.startsWith('/') && !v.endsWith('/') && !v.includes('//')));
/** The rule for paths, written again: absolute, no control character, no "." or ".." part, parts of 255 bytes and the whole of 4096 at most. */
const absoluteOracle = (v: unknown) =>
  typeof v === 'string' &&
  v.startsWith('/') &&
  !/[\u0000-\u001f\u007f]/.test(v) &&
  v.split('/').every((part) => part !== '.' && part !== '..' && new TextEncoder().encode(part).length <= 255) &&
  new TextEncoder().encode(v).length <= 4096;
const nonEmptyOracle = (v: unknown) => typeof v === 'string' && v.length > 0;
const envNameOracle = (v: unknown) =>
  typeof v === 'string' && v.length > 0 && [...v].every((c, i) => (c >= 'A' && c <= 'Z') || c === '_' || (i > 0 && isDigit(c)));
const clusterNameOracle = (v: unknown) =>
  typeof v === 'string' && v.length >= 1 && v.length <= 63 && [...v].every((c) => lowerAlnum(c) || c === '-' || c === '_') && lowerAlnum(v.charAt(0)) && lowerAlnum(v.charAt(v.length - 1));
const numberOracle =
  ({ int, min, max = Infinity }: { int: boolean; min: number; max?: number }) =>
  (v: unknown) =>
    typeof v === 'number' && Number.isFinite(v) && (!int || Number.isSafeInteger(v)) && v >= min && v <= max;
const oneOf = (allowed: string[]) => (v: unknown) => typeof v === 'string' && allowed.includes(v);
const commandOracle = (v: unknown) => Array.isArray(v) && v.length > 0 && v.every((arg) => typeof arg === 'string' && arg.length > 0);
const booleanOracle = (v: unknown) => typeof v === 'boolean';
const endpointOracle = (v: unknown) => {
  if (typeof v !== 'string') return false;
  try {
    const url = new URL(v);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
  } catch {
    return false;
  }
};

// Values to try, per kind of field.
const strings = (...pool: string[]) => fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...pool) }, nastyString, notOfType('string'));
const durations = fc.oneof(
  fc.stringMatching(/^\d{1,8}(?:ms|s|m|h|d)$/),
  strings('', '5', '1.5h', '-5m', '5 m', '5M', '1w', '1y', '5min', 'PT5M', '5mss', ' 5m', '5m ', '٥m', '0x5m', '1e3s', 'ms', '0s', '99999999999999999999d'),
);
const times = fc.oneof(
  fc.tuple(fc.integer({ min: 0, max: 99 }), fc.integer({ min: 0, max: 99 }), fc.constantFrom(1, 2, 3)).map(([h, m, width]) => `${String(h).padStart(width, '0')}:${String(m).padStart(2, '0')}`),
  strings('24:00', '23:60', '1:00', '01.00', '0100', '01:00:00', ' 01:00', '01:00 ', 'noon', '1am', '-1:00', '１２:００'),
);
const timeZones = strings('UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kolkata', 'Etc/GMT+5', 'US/Pacific', 'utc', 'Mars/Olympus', 'CEST', 'UTC+1', '+01:00', 'Europe/Berln', 'GMT', 'Z', '');
const weeks = fc.oneof(
  fc
    .tuple(
      fc.array(fc.constantFrom(...DAYS, 'MON', 'Sun', ' wed ', 'monday', '', 'fun', 'Mo', 'ＭＯＮ', 'mon;tue', 'sat sun'), { maxLength: 9 }),
      fc.constantFrom(',', ', ', ' ,', ',,'),
    )
    .map(([items, sep]) => items.join(sep)),
  strings('mon,thu', 'mon,mon', '', ' ', ',', 'all', 'weekdays', 'mon-fri'),
);
const buckets = fc.oneof(fc.stringMatching(/^[a-zA-Z0-9._-]{0,66}$/), strings('a..b', '192.168.0.1', 'xn--abc', 'ab', 'abc', 'my_bucket', 'Backups', '-backups', 'backups-', 'b'.repeat(63), 'b'.repeat(64)));
const prefixes = fc.oneof(
  fc.tuple(fc.array(fc.constantFrom('prod', '', 'eu', '..', '.', ' ', 'é'), { maxLength: 4 }), fc.constantFrom('', '/')).map(([parts, edge]) => edge + parts.join('/')),
  strings('/prod', 'prod/', 'a//b', '/', 'prod'),
);
const endpoints = fc.oneof(
  fc.webUrl(),
  strings('minio:9000', 'ftp://minio', 'file:///x', 's3://backups', 'http://', 'https://[::1]:9000', 'HTTP://MINIO:9000', 'mailto:a@b', 'javascript:alert(1)', 'not a url', ''),
);
const numbers = fc.oneof(
  fc.integer({ min: -100, max: 70_000 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(0, -1, 1, 15, 16, 63, 64, 65, 100, 101, 65535, 65536, 2 ** 53 - 1, 2 ** 53, 1e20, 1.5, -0.5, 1e-300),
  fc.constantFrom('3306', '1', 'two', '', true, null, [], {}),
);
const paths = fc.oneof(
  fc.string({ maxLength: 20 }).map((rest) => `/${rest}`),
  strings('var/lib/mysql', './data', '../data', '~/data', '', ' /data', 'C:\\data', '\\\\server\\share', 'file:///data', '/', '//x', '/var/../etc', '/srv/./x', '/srv/x\u0000', '/srv/\nx', `/${'a'.repeat(256)}`, `/${'a/'.repeat(2100)}`),
);
const commands = fc.oneof(fc.array(fc.oneof(fc.constantFrom('systemctl', 'stop', 'mariadb', '', ' '), fc.string({ maxLength: 6 }), notOfType('string')), { maxLength: 4 }), strings('systemctl stop mariadb'));

interface Field {
  path: Path;
  values: fc.Arbitrary<unknown>;
  valid: (value: unknown, base: Cluster) => boolean;
  required?: boolean;
  in?: Cluster[];
  /** The field a refusal must name, when not this one (a changed kind names its whole object). */
  names?: Path;
}

/** The fields of a cluster, what may go there, and what the rule says is right. */
const FIELDS: Field[] = [
  { path: ['name'], values: fc.oneof(clusterName, strings('Shop', 'shop-', '-shop', 'a/b', 'x'.repeat(64), 'shop.eu', 'ß')), valid: clusterNameOracle, required: true },
  { path: ['taskQueue'], values: strings('', 'q'), valid: nonEmptyOracle, in: [complete] },
  { path: ['flavour'], values: strings('mariadb', 'mysql', 'MariaDB', 'mysql ', 'percona', 'postgres'), valid: oneOf(['mariadb', 'mysql']) },
  { path: ['datadir'], values: paths, valid: absoluteOracle, required: true },
  { path: ['connection'], values: notOfType('object'), valid: () => false, required: true },
  { path: ['connection', 'socket'], values: paths, valid: absoluteOracle, required: true, in: [minimal, local] },
  { path: ['connection', 'host'], values: strings('', 'db'), valid: nonEmptyOracle, required: true, in: [complete] },
  { path: ['connection', 'port'], values: numbers, valid: numberOracle({ int: true, min: 1, max: 65535 }), in: [complete] },
  { path: ['connection', 'user'], values: strings('', 'backup'), valid: nonEmptyOracle, required: true },
  { path: ['connection', 'passwordEnv'], values: strings('PW', 'SHOP_PW', '_X', 'pw', '1PW', 'PW-1', 'PW ', ''), valid: envNameOracle, in: [minimal] },
  { path: ['connection', 'passwordFile'], values: paths, valid: absoluteOracle, in: [complete] },
  { path: ['storage'], values: notOfType('object'), valid: () => false, required: true },
  // The other kind leaves the fields of this one unknown and its own missing.
  { path: ['storage', 'kind'], values: strings('s3', 'filesystem', 'S3', 'gcs', 'azure'), valid: (v, base) => v === base.storage.kind, required: true, names: ['storage'] },
  { path: ['storage', 'bucket'], values: buckets, valid: bucketOracle, required: true, in: [minimal, complete] },
  { path: ['storage', 'prefix'], values: prefixes, valid: prefixOracle, in: [minimal, complete] },
  { path: ['storage', 'region'], values: strings('', 'eu-west-1'), valid: nonEmptyOracle, in: [complete] },
  { path: ['storage', 'endpoint'], values: endpoints, valid: endpointOracle, in: [complete] },
  { path: ['storage', 'forcePathStyle'], values: fc.oneof(fc.boolean(), notOfType('boolean'), fc.constantFrom('true', 'yes', 1)), valid: booleanOracle, in: [complete] },
  { path: ['storage', 'path'], values: paths, valid: absoluteOracle, required: true, in: [local] },
  { path: ['controller'], values: notOfType('object'), valid: () => false, required: true },
  { path: ['controller', 'kind'], values: strings('command', 'process', 'systemd', 'Command'), valid: (v, base) => v === base.controller.kind, required: true, names: ['controller'] },
  { path: ['controller', 'stop'], values: commands, valid: commandOracle, required: true, in: [minimal, complete] },
  { path: ['controller', 'start'], values: commands, valid: commandOracle, required: true, in: [minimal, complete] },
  { path: ['controller', 'defaultsFile'], values: paths, valid: absoluteOracle, required: true, in: [local] },
  { path: ['controller', 'serverBinary'], values: strings('', 'mysqld'), valid: nonEmptyOracle, in: [local] },
  ...['backup', 'restore', 'schedule', 'incremental', 'retention', 'retry'].map((section) => ({ path: [section], values: notOfType('object'), valid: () => false, in: [complete] })),
  { path: ['backup', 'parallel'], values: numbers, valid: numberOracle({ int: true, min: 1, max: 64 }), in: [complete] },
  { path: ['backup', 'compression'], values: strings('none', 'zstd', 'gzip', 'ZSTD', 'lz4'), valid: oneOf(['none', 'zstd']), in: [complete] },
  { path: ['backup', 'toolPath'], values: strings('', 'mariabackup'), valid: nonEmptyOracle, in: [complete] },
  { path: ['backup', 'throttle'], values: numbers, valid: numberOracle({ int: true, min: 1 }), in: [complete] },
  { path: ['backup', 'timeout'], values: durations, valid: durationOracle, in: [complete] },
  { path: ['restore', 'workDir'], values: paths, valid: absoluteOracle, in: [complete] },
  { path: ['restore', 'prepareMemoryMb'], values: numbers, valid: numberOracle({ int: true, min: 16 }), in: [complete] },
  { path: ['restore', 'timeout'], values: durations, valid: durationOracle, in: [complete] },
  { path: ['schedule', 'enabled'], values: fc.oneof(fc.boolean(), notOfType('boolean')), valid: booleanOracle, in: [complete] },
  { path: ['schedule', 'time'], values: times, valid: timeOracle, in: [complete] },
  { path: ['schedule', 'timezone'], values: timeZones, valid: timeZoneOracle, in: [complete] },
  { path: ['schedule', 'catchupWindow'], values: durations, valid: durationOracle, in: [complete] },
  { path: ['schedule', 'jitter'], values: durations, valid: durationOracle, in: [complete] },
  { path: ['incremental', 'fullBackupWeekSchedule'], values: weeks, valid: weekOracle, required: true, in: [complete] },
  { path: ['retention', 'keepChains'], values: numbers, valid: numberOracle({ int: true, min: 1 }), in: [complete] },
  { path: ['retention', 'maxAgeDays'], values: numbers, valid: numberOracle({ int: true, min: 1 }), in: [complete] },
  { path: ['retention', 'orphanAgeHours'], values: numbers, valid: numberOracle({ int: false, min: 0 }), in: [complete] },
  { path: ['retry', 'maximumAttempts'], values: numbers, valid: numberOracle({ int: true, min: 1, max: 100 }), in: [complete] },
  { path: ['retry', 'initialInterval'], values: durations, valid: durationOracle, in: [complete] },
];

const OBJECT_PATHS: Path[] = [[], ['connection'], ['storage'], ['controller'], ['backup'], ['restore'], ['schedule'], ['incremental'], ['retention'], ['retry']];

type Format = 'json' | 'yaml';
const format = fc.constantFrom<Format>('json', 'yaml');
/** Mostly JSON (parseConfig reads it with the YAML parser too), YAML often enough. */
const yamlOrJson = fc.constantFrom<Format>('json', 'json', 'yaml');
const serialize = (value: unknown, as: Format) => (as === 'json' ? JSON.stringify(value) : YAML.stringify(value));
const decode = (text: string, as: Format): unknown => (as === 'json' ? JSON.parse(text) : YAML.parse(text));

function refusal(text: string, source: string): ConfigError | undefined {
  try {
    parseConfig(text, source);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  return undefined;
}

/** The message of a refused configuration: after the source, "path: reason" for its first problem. */
function expectFieldMessage(error: ConfigError, fieldPath: string): void {
  const problem = error.message.slice('test.yaml: '.length);
  check(error.message.startsWith('test.yaml: ') && problem.trim() !== '', 'the message starts with the source and gives a reason', error.message);
  check(related(leadingPath(problem), fieldPath), 'the message names the field', { field: fieldPath, message: error.message });
}

describe('configuration file (properties)', () => {
  test('every base configuration is valid, as JSON and as YAML', () => {
    for (const cluster of [minimal, complete, local]) for (const as of ['json', 'yaml'] as const) expect(refusal(serialize({ clusters: [cluster] }, as), 'test.yaml')).toBeUndefined();
  });

  // One property per field, so that a failure names the field.
  test.each(FIELDS.map((field) => [field.path.join('.'), field] as const))('%s: accepted exactly when the rule allows; refused naming the field', (_, field) => {
    const bases = (field.in ?? [minimal, complete, local]).map((base) => (base === complete && field.path[0] !== undefined ? withPartOfComplete(String(field.path[0])) : base));
    fc.assert(
      fc.property(fc.constantFrom(...bases), fc.oneof({ weight: 1, arbitrary: fc.constant<unknown>(REMOVE) }, { weight: 12, arbitrary: field.values }), yamlOrJson, (base, value, as) => {
        const text = serialize({ clusters: [withValueAt(base, field.path, value)] }, as);
        const decoded = valueAt(decode(text, as), ['clusters', 0, ...field.path]);
        const error = refusal(text, 'test.yaml');
        const expectedValid = value === REMOVE ? !field.required : field.valid(decoded, base);
        check((error === undefined) === expectedValid, expectedValid ? 'a valid value is accepted' : 'an invalid value is refused', { value: decoded, message: error?.message });
        if (error) expectFieldMessage(error, ['clusters', 0, ...(field.names ?? field.path)].join('.'));
      }),
      { numRuns: 100 },
    );
  });

  test('an unknown key anywhere is refused, naming the key and where it is', () => {
    const key = fc.oneof(fc.string({ minLength: 1, maxLength: 10 }), fc.constantFrom('password', 'secretKey', 'Name', 'data_dir', '__proto__', 'constructor', '<<'));
    fc.assert(
      fc.property(fc.constantFrom(minimal, complete, local), fc.constantFrom(...OBJECT_PATHS), key, fc.jsonValue({ maxDepth: 1 }), format, (base, at, name, value, as) => {
        const container = valueAt(base, at) as Record<string, unknown> | undefined;
        fc.pre(container !== undefined && !Object.prototype.hasOwnProperty.call(container, name));
        const known = ['taskQueue', 'flavour', 'backup', 'restore', 'schedule', 'incremental', 'retention', 'retry', 'port', 'host', 'socket', 'passwordEnv', 'passwordFile', 'prefix', 'region', 'endpoint', 'forcePathStyle', 'bucket', 'path', 'serverBinary', 'defaultsFile', 'stop', 'start'];
        fc.pre(!known.includes(name));
        const error = refusal(serialize({ clusters: [withValueAt(base, [...at, name], value)] }, as), 'test.yaml');
        const where = ['clusters', 0, ...at].join('.');
        check(error?.message.includes(`test.yaml: ${where}: Unrecognized key: "${name}"`) === true, 'the unknown key is named where it is', { where, name, message: error?.message });
      }),
      { numRuns: 1000 },
    );
  });

  test('cluster names must differ; every repeated use of a name is named', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('shop', 'shop-copy', 'lab', 'old-shop'), { minLength: 1, maxLength: 5 }), format, (names, as) => {
        const error = refusal(serialize({ clusters: names.map((name) => ({ ...minimal, name })) }, as), 'test.yaml');
        const repeated = names.flatMap((name, index) => (names.indexOf(name) !== index ? [`clusters.${index}.name: "${name}" is used by two clusters`] : []));
        if (repeated.length === 0) check(error === undefined, 'distinct names are accepted', names);
        else check(error?.message === `test.yaml: ${repeated.join('; ')}`, 'every repeated name is named', { names, message: error?.message });
      }),
      { numRuns: 300 },
    );
  });

  describe('arbitrary text', () => {
    // YAML's warnings (an unresolved tag, a collection used as a key) go to process.emitWarning.
    let muted: { mockRestore(): void } | undefined;
    beforeAll(() => {
      muted = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    });
    afterAll(() => muted?.mockRestore());

    test('throws nothing but a ConfigError that starts with the source and says what is wrong', () => {
      const YAML_PIECES = ['clusters:', '\n', '\n  ', '- ', ': ', '[', ']', '{', '}', ',', '&a ', '*a', '!!binary ', '!!str ', '!tag ', '%YAML 1.1\n', '---\n', '...\n', '? ', '|\n  ', '>-\n  ', '#', '"', "'", '\t', '~', 'null', 'true', '0x1F', '1e3', '.inf', '.nan', '<<: *a', 'name: shop'];
      const yamlish = fc.array(fc.oneof(fc.constantFrom(...YAML_PIECES), fc.string({ maxLength: 5 })), { maxLength: 25 }).map((pieces) => pieces.join(''));
      const damaged = fc
        .tuple(fc.constantFrom(minimal, complete, local), format)
        .chain(([cluster, as]) => mutateText(serialize({ clusters: [cluster] }, as)).chain((once) => mutateText(once)));
      fc.assert(
        fc.property(fc.oneof(nastyString, yamlish, damaged, fc.json({ maxDepth: 3 })), (text) => {
          const error = refusal(text, 'c.yaml');
          if (error === undefined) return;
          const problem = error.message.slice('c.yaml: '.length);
          check(error.message.startsWith('c.yaml: ') && problem.trim() !== '', 'the message starts with the source and gives a reason', error.message);
          if (problem.startsWith('not valid YAML or JSON: ')) return;
          // A schema problem: about the whole document, or about a field of it.
          check(leadingPath(problem) === '' || /^(?:temporal|clusters)(?:\.|:)/.test(problem), 'a schema problem names a field of the document', problem);
        }),
        { numRuns: 2000 },
      );
    });
  });
});
