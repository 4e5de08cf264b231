/**
 * Files that hold a secret (an encryption key, a database password), read as ssh reads a private
 * key: one that any account may read, or anyone but its owner may change, is refused, since a key
 * others can read protects nothing. Readable by its group is allowed (root:mysql 0640 is how a
 * secret is commonly shared with a service's group) and said once.
 */
import { open } from 'node:fs/promises';

/** A secret file whose mode lets other accounts at it: its message says which and how to fix it. */
export class SecretFileTooOpen extends Error {}

const warned = new Set<string>();

/** The text of a secret file, checked on the open file itself (no window between the check and the read). */
export async function readSecretFile(path: string, warn: (message: string) => void = (message) => console.warn(message)): Promise<string> {
  const handle = await open(path, 'r');
  try {
    const mode = (await handle.stat()).mode & 0o777;
    const shown = mode.toString(8).padStart(4, '0');
    const fix = `chmod 600 ${path} (or 640, to share it with its group)`;
    if (mode & 0o007) throw new SecretFileTooOpen(`${path} is mode ${shown}: every account on this host may ${mode & 0o002 ? 'change' : 'use'} it; ${fix}`);
    if (mode & 0o030) throw new SecretFileTooOpen(`${path} is mode ${shown}: its group may change it; ${fix}`);
    if (mode & 0o040 && !warned.has(path)) {
      warned.add(path);
      warn(`chainbackup: the secret file ${path} is readable by its group (mode ${shown}): every member of that group can read it`);
    }
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}

/** Why a secret file could not be read, for a message that names the file's setting: its mode problem, or the system's error code. */
export function secretFileProblem(error: unknown): string {
  if (error instanceof SecretFileTooOpen) return error.message;
  return (error as NodeJS.ErrnoException).code ?? (error as Error).message;
}
