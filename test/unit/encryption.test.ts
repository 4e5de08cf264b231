/** The sealed-object format (activities/encryption.ts, docs/encryption.md): what opens, and every way a sealed object can be spoilt. */
import { describe, expect, test } from '@jest/globals';
import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { CHUNK_BYTES, DecryptStream, EncryptionError, EncryptStream, openBytes, parseKeyMaterial, sealBytes, type EncryptionKey, type KeyRing } from '../../encryption/objects.js';
import { loadKeyRing } from '../../encryption/keys.js';
import { readSecretFile } from '../../encryption/secret-files.js';
import { readPassword } from '../../activities/database/defaults-file.js';

const key: EncryptionKey = { id: 'k2026', key: randomBytes(32) };
const ring = (...keys: EncryptionKey[]): KeyRing => ({ current: keys[0], find: (id) => keys.find((entry) => entry.id === id), ids: keys.map((entry) => entry.id) });
const TAG = 16;

/** Header bytes of a sealed object: magic, length, JSON. */
function headerLength(sealed: Buffer): number {
  return 8 + 4 + sealed.readUInt32BE(8);
}

/** Runs bytes through a stream in pieces of the given sizes, as a network would hand them over. */
async function through(stream: EncryptStream | DecryptStream, input: Buffer, pieces = [7, 4096, 65_537, 1]): Promise<Buffer> {
  const out: Buffer[] = [];
  stream.on('data', (part: Buffer) => out.push(part));
  const ended = new Promise<void>((resolve, reject) => {
    stream.once('end', resolve);
    stream.once('error', reject);
  });
  let offset = 0;
  for (let index = 0; offset < input.length; index++) {
    const size = pieces[index % pieces.length] ?? 1;
    stream.write(input.subarray(offset, offset + size));
    offset += size;
  }
  stream.end();
  await ended;
  return Buffer.concat(out);
}

async function openError(sealed: Buffer, keys: KeyRing = ring(key), object = 'shop-full/backup.xbstream.zst'): Promise<EncryptionError> {
  const error = await openBytes(keys, object, sealed).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!(error instanceof EncryptionError)) throw new Error(`expected an EncryptionError, got ${String(error)}`);
  return error;
}

describe('sealed objects', () => {
  test.each([0, 1, CHUNK_BYTES - 1, CHUNK_BYTES, CHUNK_BYTES + 1, 3 * CHUNK_BYTES + 5])('%d bytes seal and open to the same bytes, whatever the pieces they come in', async (size) => {
    const plain = randomBytes(size);
    const sealed = await through(new EncryptStream(key, 'o'), plain);
    // Every chunk but the last is full; the last may be full, or empty when there is nothing at all: one tag per chunk.
    expect(sealed.length - headerLength(sealed)).toBe(size + Math.max(1, Math.ceil(size / CHUNK_BYTES)) * TAG);
    expect((await through(new DecryptStream(ring(key), 'o'), sealed, [3, 70_000, 12])).equals(plain)).toBe(true);
  });

  test('a flipped byte anywhere after the header, a cut at a chunk boundary or inside a chunk, and reordered chunks each fail, naming the object', async () => {
    const plain = randomBytes(3 * CHUNK_BYTES + 100);
    const sealed = await sealBytes(key, 'shop-full/backup.xbstream.zst', plain);
    const start = headerLength(sealed);
    const sealedChunk = CHUNK_BYTES + TAG;
    const flipped = Buffer.from(sealed);
    flipped[start + sealedChunk + 10] = (flipped[start + sealedChunk + 10] ?? 0) ^ 1;
    expect((await openError(flipped)).message).toBe('shop-full/backup.xbstream.zst: chunk 1 fails authentication: the object is damaged, reordered or spliced from another one');
    // Cut after two whole chunks: the second reads as the last, which it was not sealed as.
    expect((await openError(sealed.subarray(0, start + 2 * sealedChunk))).message).toMatch(/^shop-full\/backup\.xbstream\.zst: its last chunk \(1\) fails authentication: the object is damaged or cut short$/);
    expect((await openError(sealed.subarray(0, sealed.length - 1))).reason).toBe('damaged');
    expect((await openError(sealed.subarray(0, start + 5))).message).toContain('ends before its last chunk');
    expect((await openError(sealed.subarray(0, 20))).message).toContain('ends inside its encryption header');
    const swapped = Buffer.concat([sealed.subarray(0, start), sealed.subarray(start + sealedChunk, start + 2 * sealedChunk), sealed.subarray(start, start + sealedChunk), sealed.subarray(start + 2 * sealedChunk)]);
    expect((await openError(swapped)).message).toContain('chunk 0 fails authentication');
  });

  test('a chunk from another object, or another object whole, is refused even under the same key', async () => {
    const one = await sealBytes(key, 'a/backup.xbstream.zst', randomBytes(2 * CHUNK_BYTES));
    const other = await sealBytes(key, 'b/backup.xbstream.zst', randomBytes(2 * CHUNK_BYTES));
    const start = headerLength(one);
    const spliced = Buffer.concat([one.subarray(0, start + CHUNK_BYTES + TAG), other.subarray(headerLength(other) + CHUNK_BYTES + TAG)]);
    expect((await openError(spliced, ring(key), 'a/backup.xbstream.zst')).message).toContain('fails authentication');
    const moved = await openError(other, ring(key), 'a/backup.xbstream.zst');
    expect(moved).toMatchObject({ reason: 'other-object', message: 'a/backup.xbstream.zst holds the encrypted data of b/backup.xbstream.zst: it was moved or swapped' });
    // A changed header (here: the object name rewritten to match) no longer authenticates the chunks.
    const rewritten = Buffer.from(other.toString('latin1').replace('b/backup.xbstream.zst', 'a/backup.xbstream.zst'), 'latin1');
    expect((await openError(rewritten, ring(key), 'a/backup.xbstream.zst')).reason).toBe('damaged');
  });

  test('a missing key and a wrong key under the right id are named', async () => {
    const sealed = await sealBytes(key, 'o', Buffer.from('data'));
    expect(await openError(sealed, ring({ id: 'k2025', key: randomBytes(32) }), 'o')).toMatchObject({ reason: 'missing-key', message: 'o is encrypted with key "k2026", which this process does not hold (it holds: k2025); add it to encryption.keys' });
    expect(await openError(sealed, ring({ id: 'k2026', key: randomBytes(32) }), 'o')).toMatchObject({ reason: 'wrong-key', message: 'o: key "k2026" does not open it (a different key under the same id, or a damaged header)' });
    // After a rotation, a ring with both opens both.
    const newer: EncryptionKey = { id: 'k2027', key: randomBytes(32) };
    const sealedNewer = await sealBytes(newer, 'o', Buffer.from('newer'));
    expect((await openBytes(ring(newer, key), 'o', sealed)).toString()).toBe('data');
    expect((await openBytes(ring(newer, key), 'o', sealedNewer)).toString()).toBe('newer');
  });

  test('plain objects pass through only where that is allowed, and are refused elsewhere', async () => {
    const plain = Buffer.from('\x28\xb5\x2f\xfd plain zstd bytes of an old archived binlog');
    expect((await through(new DecryptStream(ring(key), 'o', true), plain)).equals(plain)).toBe(true);
    expect((await through(new DecryptStream(ring(key), 'o', true), Buffer.from('abc'))).toString()).toBe('abc');
    expect((await openError(plain, ring(key), 'o')).reason).toBe('not-encrypted');
  });

  test('property: any single flipped byte of a sealed object makes opening fail', async () => {
    const sealed = await sealBytes(key, 'o', randomBytes(CHUNK_BYTES + 300));
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: sealed.length - 1 }), fc.integer({ min: 1, max: 255 }), async (at, mask) => {
        const spoilt = Buffer.from(sealed);
        spoilt[at] = (spoilt[at] ?? 0) ^ mask;
        const outcome = await openBytes(ring(key), 'o', spoilt).then(
          () => 'opened',
          (error: unknown) => (error instanceof EncryptionError ? 'refused' : String(error)),
        );
        expect(outcome).toBe('refused');
      }),
      { numRuns: 200 },
    );
  });
});

describe('keys', () => {
  test('key material is 64 hex digits or 32 bytes in base64, nothing else', () => {
    const bytes = randomBytes(32);
    expect(parseKeyMaterial(`${bytes.toString('hex')}\n`)?.equals(bytes)).toBe(true);
    expect(parseKeyMaterial(bytes.toString('base64'))?.equals(bytes)).toBe(true);
    for (const bad of ['', 'secret', bytes.toString('hex').slice(2), randomBytes(16).toString('base64'), `${bytes.toString('hex')}00`]) expect(parseKeyMaterial(bad)).toBeUndefined();
  });

  test('the ring reads files and variables, and names the key and where it looked when one is missing or malformed, never its content', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'keys-'));
    const current = randomBytes(32);
    await writeFile(join(dir, 'k2026'), current.toString('hex'), { mode: 0o600 });
    await writeFile(join(dir, 'bad'), 'not-a-key-at-all', { mode: 0o600 });
    const ringOf = (keys: { id: string; file?: string; env?: string }[], env: NodeJS.ProcessEnv = {}) => loadKeyRing({ currentKey: keys[0]?.id ?? '', keys }, env);
    const loaded = await ringOf([{ id: 'k2026', file: join(dir, 'k2026') }, { id: 'k2025', env: 'OLD_KEY' }], { OLD_KEY: randomBytes(32).toString('base64') });
    expect(loaded.current?.id).toBe('k2026');
    expect(loaded.current?.key.equals(current)).toBe(true);
    expect(loaded.ids).toEqual(['k2026', 'k2025']);
    await expect(ringOf([{ id: 'k1', file: join(dir, 'missing') }])).rejects.toThrow(`encryption key "k1": cannot read the file ${join(dir, 'missing')}: ENOENT`);
    await expect(ringOf([{ id: 'k1', env: 'NOT_SET' }])).rejects.toThrow('encryption key "k1": the environment variable NOT_SET is not set on this worker');
    const malformed = await ringOf([{ id: 'k1', file: join(dir, 'bad') }]).then(
      () => new Error('a malformed key was taken'),
      (error: unknown) => error as Error,
    );
    expect(malformed.message).toBe(`encryption key "k1": the file ${join(dir, 'bad')} does not hold a 256-bit key (64 hex digits, or 32 bytes in base64)`);
    expect(malformed.message).not.toContain('not-a-key-at-all');
    expect((await loadKeyRing(undefined)).current).toBeUndefined();
  });

  test('a key or password file other accounts may read or change is refused, naming its mode and the fix; one its group may read is taken, said once', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'secret-modes-'));
    const key = randomBytes(32).toString('hex');
    const cases: [number, string | undefined][] = [
      [0o644, 'is mode 0644: every account on this host may use it; chmod 600'],
      [0o604, 'is mode 0604: every account on this host may use it'],
      [0o602, 'is mode 0602: every account on this host may change it'],
      [0o620, 'is mode 0620: its group may change it'],
      [0o640, undefined],
      [0o600, undefined],
      [0o400, undefined],
    ];
    for (const [mode, refusal] of cases) {
      const file = join(dir, `key-${mode.toString(8)}`);
      await writeFile(file, key);
      await chmod(file, mode);
      const keyRing = loadKeyRing({ currentKey: 'k', keys: [{ id: 'k', file }] });
      const password = readPassword({ user: 'backup', socket: '/run/mysqld/mysqld.sock', passwordFile: file });
      if (refusal) {
        await expect(keyRing).rejects.toThrow(`encryption key "k": cannot read the file ${file}: ${file} ${refusal}`);
        await expect(password).rejects.toThrow(`cannot read the password file ${file} (connection.passwordFile): ${file} ${refusal}`);
      } else {
        expect((await keyRing).current?.key.toString('hex')).toBe(key);
        expect(await password).toBe(key);
      }
    }
    // A group-readable file is said once per process, however often it is read.
    const shared = join(dir, 'shared');
    await writeFile(shared, key);
    await chmod(shared, 0o640);
    const said: string[] = [];
    for (const _read of [1, 2]) expect(await readSecretFile(shared, (message) => said.push(message))).toBe(key);
    expect(said).toEqual([`chainbackup: the secret file ${shared} is readable by its group (mode 0640): every member of that group can read it`]);
  });
});
