/** The worker's key-encryption keys, read from its own files and environment (never from Temporal). */
import type { EncryptionConfig } from '../domain/config.js';
import { businessFailure, FailureType } from '../domain/failures.js';
import { parseKeyMaterial, type EncryptionKey, type KeyRing } from './objects.js';
import { readSecretFile, secretFileProblem } from './secret-files.js';

const NO_KEYS: KeyRing = { current: undefined, find: () => undefined, ids: [] };

/** Every configured key, checked: a missing or malformed one fails naming its id and where it was read from, never showing its content. */
export async function loadKeyRing(encryption: EncryptionConfig | undefined, env: NodeJS.ProcessEnv = process.env, what = 'encryption key'): Promise<KeyRing> {
  if (!encryption) return NO_KEYS;
  const keys: EncryptionKey[] = [];
  for (const entry of encryption.keys) {
    const where = entry.file !== undefined ? `the file ${entry.file}` : `the environment variable ${entry.env ?? ''}`;
    let text: string | undefined;
    if (entry.file !== undefined) {
      text = await readSecretFile(entry.file).catch((error: unknown) => {
        throw businessFailure(FailureType.ConfigInvalid, `${what} "${entry.id}": cannot read ${where}: ${secretFileProblem(error)}`);
      });
    } else {
      text = env[entry.env ?? ''];
      if (text === undefined) throw businessFailure(FailureType.ConfigInvalid, `${what} "${entry.id}": ${where} is not set on this worker`);
    }
    const key = parseKeyMaterial(text);
    if (!key) throw businessFailure(FailureType.ConfigInvalid, `${what} "${entry.id}": ${where} does not hold a 256-bit key (64 hex digits, or 32 bytes in base64)`);
    keys.push({ id: entry.id, key });
  }
  const byId = new Map(keys.map((key) => [key.id, key]));
  return { current: byId.get(encryption.currentKey), find: (id) => byId.get(id), ids: keys.map((key) => key.id) };
}
