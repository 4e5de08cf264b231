/**
 * processExists: a zombie (a process that exited and that its parent never collected, as a frozen
 * worker's tools are) does not count as running, so that nothing waits for it to end for ever.
 */
import { afterEach, expect, test } from '@jest/globals';
import { readFile } from 'node:fs/promises';
import { execa, type ResultPromise } from 'execa';
import { processExists } from '../../activities/processes.js';
import { eventually } from '../support/workflow-worker.js';

let parent: ResultPromise | undefined;

afterEach(async () => {
  parent?.kill('SIGKILL');
  await parent;
});

test('a running process exists; its child that exited uncollected (a zombie) does not', async () => {
  // `sleep 0` exits at once; the shell then becomes `sleep 30`, which never collects it.
  parent = execa('sh', ['-c', 'sleep 0 & exec sleep 30'], { reject: false });
  const parentPid = parent.pid ?? 0;
  const zombie = await eventually('the child has exited uncollected', async () => {
    const children = (await readFile(`/proc/${parentPid}/task/${parentPid}/children`, 'utf8').catch(() => '')).trim();
    const pid = Number(children.split(' ')[0] ?? 0);
    if (pid <= 0) return undefined;
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z' ? pid : undefined;
  }, 10_000);
  expect(processExists(parentPid)).toBe(true);
  expect(processExists(zombie)).toBe(false);
  expect(processExists(process.pid)).toBe(true);
});
