/**
 * `decrypt`: opens one sealed object (docs/encryption.md) from stdin to stdout, with a key from a
 * file, a variable, or the configuration's `encryption.keys`. No Temporal, no worker: for a restore
 * by hand. Every chunk is checked before its bytes are written; any failure exits 1 naming why.
 */
import { readSecretFile, secretFileProblem } from '../../encryption/secret-files.js';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import { encryptionKeyId } from '../../domain/config.js';
import { loadKeyRing } from '../../encryption/keys.js';
import { DecryptStream, EncryptionError, parseKeyMaterial, type KeyRing } from '../../encryption/objects.js';
import { CliError, ExitCode, type CliContext } from '../cli-context.js';

/** A ring of one key, taken for the id a header names (or only for `--key-id`'s). */
function singleKeyRing(material: string, where: string, keyId: string | undefined): KeyRing {
  const key = parseKeyMaterial(material);
  if (!key) throw new CliError(`${where} does not hold a 256-bit key (64 hex digits, or 32 bytes in base64)`, ExitCode.refused);
  return { current: undefined, find: (id) => (keyId === undefined || id === keyId ? { id, key } : undefined), ids: [keyId ?? `the key in ${where}`] };
}

export function registerDecryptCommand(program: Command, cli: CliContext): void {
  program
    .command('decrypt')
    .description('open a sealed stored object from stdin to stdout (a backup stream, a checkpoints copy, an archived binlog), checking every chunk; for a restore without Temporal or a worker')
    .option('--object <name>', 'what the object must have been sealed as: "<backup>/<object>" (e.g. shop-…-full/backup.xbstream.zst) or "binlogs/<cluster>/history-<n>/<file>.zst"')
    .option('--key-file <path>', "a file holding the key (default: the configuration's encryption.keys)")
    .option('--key-env <variable>', 'an environment variable holding the key')
    .option('--key-id <id>', 'with --key-file or --key-env: the id the object must name')
    .action(async (options: { object?: string; keyFile?: string; keyEnv?: string; keyId?: string }) => {
      if (options.keyFile !== undefined && options.keyEnv !== undefined) throw new CliError('give --key-file or --key-env, not both', ExitCode.refused);
      if (options.keyId !== undefined && !encryptionKeyId.safeParse(options.keyId).success) throw new CliError(`--key-id "${options.keyId}": must be 1 to 64 letters, digits, ".", "_" or "-"`, ExitCode.refused);
      let keys: KeyRing;
      if (options.keyFile !== undefined) {
        const text = await readSecretFile(options.keyFile).catch((error: unknown) => {
          throw new CliError(`--key-file ${options.keyFile}: ${secretFileProblem(error)}`, ExitCode.refused);
        });
        keys = singleKeyRing(text, `--key-file ${options.keyFile}`, options.keyId);
      } else if (options.keyEnv !== undefined) {
        const text = process.env[options.keyEnv];
        if (text === undefined) throw new CliError(`--key-env ${options.keyEnv}: the variable is not set`, ExitCode.refused);
        keys = singleKeyRing(text, `--key-env ${options.keyEnv}`, options.keyId);
      } else {
        const config = await cli.config();
        if (!config.encryption) throw new CliError(`${cli.configPath} has no encryption.keys: give --key-file or --key-env`, ExitCode.refused);
        keys = await loadKeyRing(config.encryption).catch((error: unknown) => {
          throw new CliError((error as Error).message, ExitCode.refused);
        });
      }
      const opener = new DecryptStream(keys, options.object ?? '', false, options.object === undefined);
      try {
        await pipeline(process.stdin, opener, process.stdout);
      } catch (error) {
        if (error instanceof EncryptionError) throw new CliError(error.message, ExitCode.failed);
        throw error;
      }
    });
}
