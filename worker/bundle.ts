/** Bundles the workflows once at build time (dist/workflow-bundle.js) so workers start fast. */
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode } from '@temporalio/worker';
import { SEALED_FAILURE_CONVERTER_PATH } from '../encryption/payload-codec.js';

const logger = { log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined, warn: console.warn, error: console.error };
const workflowsPath = fileURLToPath(new URL('../workflows/index.js', import.meta.url));
const workflowInterceptorModules = [fileURLToPath(new URL('../workflows/interceptors.js', import.meta.url))];
// Two bundles: the plain one, and one whose failures are encoded, for workers with payload encryption on.
for (const [file, failureConverterPath] of [
  ['../workflow-bundle.js', undefined],
  ['../workflow-bundle-sealed.js', SEALED_FAILURE_CONVERTER_PATH],
] as const) {
  const { code } = await bundleWorkflowCode({ workflowsPath, workflowInterceptorModules, logger, ...(failureConverterPath ? { failureConverterPath } : {}) });
  await writeFile(fileURLToPath(new URL(file, import.meta.url)), code);
}
