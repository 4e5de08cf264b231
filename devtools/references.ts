/**
 * Writes the operators' references into docs/reference/ from the code: the configuration file's
 * JSON Schema and reference, and the CLI's reference. Run by `npm run references`;
 * test/unit/references.test.ts fails while a committed one is out of date.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { referenceFiles } from './references/files.js';
import { repoRoot } from './sandbox/processes.js';

for (const file of referenceFiles()) {
  const path = join(repoRoot, file.path);
  const current = await readFile(path, 'utf8').catch(() => undefined);
  if (current === file.content) {
    console.log(`${file.path}: up to date`);
    continue;
  }
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, file.content);
  console.log(`${file.path}: written`);
}
