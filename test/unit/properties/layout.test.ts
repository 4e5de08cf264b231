import { describe, test } from '@jest/globals';
import fc from 'fast-check';
import type { StorageConfig } from '../../../domain/config.js';
import { backupFolder, locateSource, parseBackupPath, type BackupLocation } from '../../../domain/layout.js';
import { parseBackupName } from '../../../domain/names.js';
import { chainNames, check, fullName, incrName, NASTY_PIECES, nastyString } from './arbitraries.js';

/** Path segments: real backup and chain folders, and everything else a user may type. */
const segment = fc.oneof(
  { weight: 3, arbitrary: fullName },
  { weight: 3, arbitrary: incrName },
  { weight: 3, arbitrary: fullName.map((name) => `${name}.incr`) },
  { weight: 2, arbitrary: fc.constantFrom('prod', 'eu', 'manifest.json', 'backup.xbstream.zst', 'shop-2026-02-30T000000.000Z-full', 'shop-2026-04-06T240000.000Z-incr', '.incr', 'latest') },
  { weight: 3, arbitrary: fc.constantFrom(...NASTY_PIECES) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 8 }) },
);
const separator = fc.constantFrom('/', '/', '/', '//', '/./', '/../');

/** Well-formed backup folders of one chain, under a prefix. */
const realFolder = fc.tuple(chainNames, fc.array(fc.constantFrom('prod', 'eu', 'a.b', 'x y', 'é'), { maxLength: 3 }), fc.boolean(), fc.boolean()).map(([chain, prefix, increment, slash]) => {
  const location: BackupLocation = increment ? { name: chain.increments[0] ?? chain.full, base: chain.full } : { name: chain.full, base: chain.full };
  return [...prefix, backupFolder(location)].join('/').replace(/\/$/, slash ? '/' : '');
});

const pathText = fc.oneof(
  { weight: 3, arbitrary: fc.array(fc.tuple(segment, separator), { maxLength: 6 }).map((parts) => parts.map(([piece, sep]) => piece + sep).join('')) },
  { weight: 2, arbitrary: realFolder },
  { weight: 1, arbitrary: nastyString },
);

const URL_HEADS = ['', '/', '//', 's3://', 's3://backups/', 's3://other/', 's3:///', 'S3://backups/', 'file://', 'file:///', 'file:////', 'file://localhost/', 'file://host/', 'FILE:///', 'http://x/', 'https://', 'ftp://h/', 'c:\\', '~/', './', '../'];
const userPath = fc.tuple(fc.constantFrom(...URL_HEADS), pathText).map(([head, rest]) => head + rest);

const s3: StorageConfig = { kind: 's3', bucket: 'backups', prefix: 'prod', region: 'us-east-1', forcePathStyle: false };
const filesystem: StorageConfig = { kind: 'filesystem', path: '/srv/backups' };

/** What every location handed out must satisfy: its names parse and agree with each other. */
function expectSoundLocation(location: BackupLocation): void {
  const name = parseBackupName(location.name);
  const base = parseBackupName(location.base);
  const sound = base?.type === 'full' && name !== undefined && (location.name === location.base || (name.type === 'incremental' && name.cluster === base.cluster));
  check(sound, 'a location is a full backup, or an increment of its own cluster in a full backup’s chain', location);
}

describe('user-given backup paths (properties)', () => {
  test('parseBackupPath never throws; what it finds is a sound location under a clean prefix, found again from its own folder', () => {
    fc.assert(
      fc.property(userPath, (text) => {
        const parsed = parseBackupPath(text);
        if (parsed === undefined) return;
        expectSoundLocation(parsed.location);
        check(parsed.prefix === '' || !parsed.prefix.split('/').includes(''), 'the prefix has no empty segment', parsed);
        check(text.split('/').filter(Boolean).at(-1) === parsed.location.name, 'the backup is the last segment', { text, parsed });
        const again = parseBackupPath(`${parsed.prefix}/${backupFolder(parsed.location)}`);
        check(again?.prefix === parsed.prefix && again.location.name === parsed.location.name && again.location.base === parsed.location.base, 'its own folder is found again', { parsed, again });
      }),
      { numRuns: 3000 },
    );
  });

  test('locateSource never throws; a refusal names source.path and quotes it, a success is a sound location on the same kind of storage', () => {
    fc.assert(
      fc.property(userPath, fc.constantFrom(s3, filesystem), (text, storage) => {
        const located = locateSource(storage, text);
        if (!located.ok) {
          const quoted = `source.path "${text}" `;
          check(located.reason.startsWith(quoted) && located.reason.length > quoted.length, 'a refusal quotes source.path and gives a reason', located.reason);
          return;
        }
        expectSoundLocation(located.location);
        const root = located.storage;
        if (text.startsWith('s3://')) check(root.kind === 's3' && storage.kind === 's3' && root.prefix === '' && root.bucket === storage.bucket, 'an s3:// URL starts at the bucket', { text, root });
        else if (text.startsWith('file://')) check(root.kind === 'filesystem' && storage.kind === 'filesystem' && root.path === '/', 'a file:// URL starts at /', { text, root });
        else check(root === storage, 'a relative path stays on the storage', { text, root });
      }),
      { numRuns: 3000 },
    );
  });

  test('a URL of the wrong kind, bucket, host or scheme is refused with the reason', () => {
    const refusedWith = (storage: StorageConfig, path: string, reason: string) => {
      const located = locateSource(storage, path);
      check(!located.ok && located.reason === `source.path "${path}" ${reason}`, 'refused with the reason', { path, expected: reason, located });
    };
    const found = (storage: StorageConfig, path: string) => check(locateSource(storage, path).ok, 'the backup is found', path);
    fc.assert(
      fc.property(realFolder, fc.constantFrom('http', 'https', 'ftp', 'S3', 'File', 'gs'), (folder, scheme) => {
        refusedWith(filesystem, `s3://backups/${folder}`, 'is an s3:// URL but source.storage is filesystem');
        refusedWith(s3, `file:///${folder}`, 'is a file:// URL but source.storage is s3');
        refusedWith(s3, `s3://other/${folder}`, 'names bucket "other" but source.storage is bucket "backups"');
        refusedWith(filesystem, `file://host/${folder}`, 'names host "host"; a file:// URL names a folder on the restoring host, as file:///<folder>');
        for (const storage of [s3, filesystem]) {
          refusedWith(storage, `${scheme}://backups/${folder}`, `is a ${scheme}:// URL; give a path relative to source.storage, an s3:// URL or a file:/// URL`);
        }
        // The matching URLs and the relative path all find the backup.
        found(s3, `s3://backups/${folder}`);
        found(filesystem, `file:///${folder}`);
        found(filesystem, `file://localhost/${folder}`);
        found(s3, folder);
      }),
      { numRuns: 2000 },
    );
  });
});
