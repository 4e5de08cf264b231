import { execa } from 'execa';
import { childProcessOptions } from '../child-env.js';

const versions = new Map<string, Promise<string>>();

/** What `<tool> --version` prints (one line), asked once per binary and worker. */
export function installedToolVersion(binary: string): Promise<string> {
  let version = versions.get(binary);
  if (version === undefined) {
    version = execa(binary, ['--version'], { all: true, timeout: 30_000, ...childProcessOptions() }).then(
      (result) => String(result.all ?? '').trim().split('\n').find((line) => /\d+\.\d+\.\d+/.test(line)) ?? '',
      (error: unknown) => {
        versions.delete(binary);
        throw new Error(`cannot run ${binary} --version: ${(error as Error).message.split('\n')[0] ?? ''}`);
      },
    );
    versions.set(binary, version);
  }
  return version;
}
