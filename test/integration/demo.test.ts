/**
 * The demo, when the work fails: it prints the cause (the failure the worker raised, not only
 * "Workflow execution failed") and where the worker's log is, and stops every server it started.
 * The failure is forced by a `mariadb-backup` first on PATH that refuses an option, as a tool of
 * another release would.
 */
import { describe, expect, test } from '@jest/globals';
import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { repoRoot } from '../../devtools/sandbox/processes.js';
import { testRoot, uniqueName } from '../support/environment.js';

describe('the demo', () => {
  test('a failed backup prints its cause and the worker log, and leaves no server running', async () => {
    const dir = join(testRoot(), uniqueName('demo'));
    const tools = join(dir, 'tools');
    await mkdir(tools, { recursive: true });
    await writeFile(join(tools, 'mariadb-backup'), "#!/bin/sh\necho \"mariadb-backup: unknown option '--stream=xbstream'\" >&2\nexit 7\n");
    await chmod(join(tools, 'mariadb-backup'), 0o755);
    const demo = await execa(process.execPath, [join(repoRoot, 'dist/devtools/demo.js')], {
      reject: false,
      env: { ...process.env, CHAINBACKUP_DEMO_DIR: join(dir, 'sandbox'), PATH: `${tools}:${process.env.PATH ?? ''}` },
    });
    expect(demo.exitCode).toBe(1);
    expect(demo.stderr).toMatch(/^demo failed: Workflow execution failed: BackupToolFailed: mariadb-backup failed for cluster shop: the tool does not know the option --stream=xbstream \(retrying cannot help\)/m);
    expect(demo.stderr).toContain(`the worker's log: ${join(dir, 'sandbox', 'worker.log')}`);
    expect(demo.stdout).toContain('Servers stopped.');
    // No process the demo started runs on: none has its folder on its command line.
    const running: string[] = [];
    for (const pid of await readdir('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      const command = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
      if (command.includes(join(dir, 'sandbox'))) running.push(command.replace(/\0/g, ' '));
    }
    expect(running).toEqual([]);
  });
});
