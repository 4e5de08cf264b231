import { stat } from 'node:fs/promises';

/** Whether something is at `path` (following links); any error reading it counts as nothing there. */
export async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
