/**
 * Issue 7: the operator's tools against the real dev server and real MariaDB. The chainbackup CLI
 * run as a child process (backup, list, show, verify, restore, delete, refusals and their exit
 * codes); the `temporal` CLI commands printed in docs/guide/operations.md, run as written; and workflows found by
 * each search attribute.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { refusalIn } from '../../domain/failures.js';
import { chmod, lstat, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { execa } from 'execa';
import type { Client } from '@temporalio/client';
import type { MariaDbSandbox } from '../../devtools/sandbox/mariadb.js';
import { repoRoot, toolPath } from '../../devtools/sandbox/processes.js';
import type { KeptDatadirs } from '../../domain/kept-datadirs.js';
import type { Manifest } from '../../domain/manifest.js';
import { productVersion } from '../../config/release.js';
import { READ_ONLY_BACKUP_TYPES, SAVED_VIEWS } from '../../domain/search-attributes.js';
import { DEFAULT_DEPLOYMENT, WorkflowId, WorkflowType } from '../../domain/workflow-contract.js';
import { formatBytes } from '../../domain/units.js';
import { keptDatadirs, type BackupResult, type ClusterCatalog, type RestoreResult } from '../../workflows/index.js';
import { connectTestClient, createSandbox, failureChain, filesystemStorage, runCli, startWorker, testRoot, uniqueName, writeConfig, type WorkerProcess } from '../support/environment.js';
import { eventually } from '../support/workflow-worker.js';

const taskQueue = uniqueName('operator');
let source: MariaDbSandbox;
let configPath: string;
let worker: WorkerProcess;
let client: Client;
let closeClient: () => Promise<void>;

const cli = (...args: string[]) => runCli(['--config', configPath, ...args]);

async function toolScript(name: string, lines: string[]): Promise<string> {
  const path = join(testRoot(), `${taskQueue}-${name}.sh`);
  await writeFile(path, ['#!/bin/sh', ...lines, ''].join('\n'));
  await chmod(path, 0o755);
  return path;
}

beforeAll(async () => {
  source = await createSandbox(`${taskQueue}-source`);
  await source.loadSampleData();
  const config = {
    temporal: { taskQueue },
    // "shop" is the cluster the guide's commands name; no other test in this namespace uses it.
    clusters: [
      source.clusterConfig('shop', filesystemStorage(taskQueue)),
      source.clusterConfig('ops', filesystemStorage(`${taskQueue}-ops`)),
      // A tool that always fails: its step is retried, and the follower shows the attempt and the error.
      source.clusterConfig('ops-flaky', filesystemStorage(`${taskQueue}-flaky`), { backup: { toolPath: await toolScript('failing-tool', ['echo "simulated tool failure: disk quota exceeded" >&2', 'exit 1']) }, retry: { maximumAttempts: 3, initialInterval: '3s' } }),
      // A tool that takes its time: Ctrl-C while it runs, then cancel.
      source.clusterConfig('ops-slow', filesystemStorage(`${taskQueue}-slow`), { backup: { toolPath: await toolScript('slow-tool', ['sleep 20', 'exec mariadb-backup "$@"']) } }),
    ],
  };
  configPath = await writeConfig(taskQueue, config);
  worker = await startWorker(configPath);
  ({ client, close: closeClient } = await connectTestClient());
});

afterAll(async () => {
  await closeClient?.();
  await worker?.stop();
  await source?.stop();
});

describe('the chainbackup CLI, as an operator runs it', () => {
  test('backup, list, show, verify, restore and delete', async () => {
    const fullRun = await cli('backup', 'ops', '--type', 'full', '--json');
    expect(fullRun.exitCode).toBe(0);
    const full = JSON.parse(fullRun.stdout) as BackupResult;
    const fullChecksums = await source.checksums(['shop']);

    await source.sql(`UPDATE shop.customers SET email = 'after-full' WHERE id < 100`);
    const incrementRun = await cli('backup', 'ops');
    expect(incrementRun.exitCode).toBe(0);
    expect(incrementRun.stdout).toMatch(/^ops-\S+-incr {2}incremental, LSN \d+ to \d+ \(redo to \d+\), [\d.]+ (KiB|MiB) stored \([\d.]+ MiB streamed\) in [\d.]+ s\n {2}at file:\/\//);
    // Progress goes to stderr, phase by phase when it is not a terminal.
    expect(incrementRun.stderr).toMatch(/\[\d\d:\d\d\] /);
    const incrementName = /^(\S+)/.exec(incrementRun.stdout)?.[1] as string;

    const list = await cli('list', 'ops', '--json');
    expect(list.exitCode).toBe(0);
    const [catalog] = JSON.parse(list.stdout) as ClusterCatalog[];
    expect(catalog?.chains.map((chain) => [chain.base.name, chain.increments.map((increment) => increment.name)])).toEqual([[full.name, [incrementName]]]);
    expect(catalog?.chains[0]?.increments[0]).toMatchObject({ type: 'incremental', parent: full.name, fromLsn: full.toLsn, state: 'committed' });
    const tree = await cli('list', 'ops');
    expect(tree.stdout.split('\n')).toEqual([
      expect.stringMatching(/^ops {2}\(file:\/\/\S+\)$/),
      expect.stringMatching(new RegExp(`^ {2}${full.name} {2}full {2}LSN 0\\.\\.\\d+ {2}[\\d.]+ [KM]iB {2}\\d+m {2}committed {2}unverified$`)),
      expect.stringMatching(new RegExp(`^ {4}└ ${incrementName} {2}incremental {2}LSN \\d+\\.\\.\\d+`)),
    ]);

    const show = await cli('show', 'ops', incrementName, '--json');
    expect((JSON.parse(show.stdout) as Manifest).parent).toBe(full.name);
    expect((await cli('show', 'ops', incrementName)).stdout).toMatch(/binlog: {3}binlog\.\d+:\d+/);

    const verify = await cli('verify', 'ops', incrementName);
    expect(verify).toMatchObject({ exitCode: 0, stdout: expect.stringMatching(new RegExp(`^verified ${incrementName}: 2 backups downloaded`)) as unknown });
    expect(verify.stdout).toMatch(/; a throw-away server on it found (\d+) tables \(\1 recorded at backup time\), each checked and read end to end, at LSN \d+, in [\d.]+ s$/m);

    // In place needs --yes (or a "y" on a terminal); without it, or with --dry-run, it shows the plan and changes nothing.
    const unconfirmed = await cli('restore', 'ops', full.name);
    expect(unconfirmed.exitCode).toBe(2);
    expect(unconfirmed.stderr.split('\n')).toEqual([
      'chainbackup: restore ops in place:',
      `  chain: ${full.name} (1 backups, ${formatBytes(full.sizeBytes)} stored)`,
      `  everything is downloaded, checked and prepared first; then the server started from ${source.serverDefaultsFile} is stopped, then started again`,
      `  its datadir ${source.datadir} is replaced; the current one is kept at ${source.datadir}.before-restore-<time> (never deleted), and put back if anything fails`,
      'refused: this changes or removes data; run again with --yes to do it (or --dry-run to see the plan only)',
    ]);
    const dryRun = await cli('restore', 'ops', incrementName, '--dry-run');
    expect(dryRun).toMatchObject({ exitCode: 0, stdout: expect.stringMatching(new RegExp(`^restore ops in place:\\n {2}chain: ${full.name} → ${incrementName} \\(2 backups, [\\d.]+ \\S+ stored\\)\\n[^]*\\(dry run: nothing was changed\\)$`)) as unknown });
    const deleteDryRun = await cli('delete', 'ops', full.name, '--dry-run');
    expect(deleteDryRun).toMatchObject({ exitCode: 0, stdout: expect.stringContaining(`delete ${full.name} and its whole chain:\n  removes ${incrementName}, ${full.name} (`) as unknown });
    for await (const execution of client.workflow.list({ query: `BackupCluster = "ops" AND BackupType IN ("restore", "delete")` })) throw new Error(`an unconfirmed command started ${execution.workflowId}`);

    const restore = await cli('restore', 'ops', full.name, '--json', '--yes');
    expect(restore.exitCode).toBe(0);
    expect((JSON.parse(restore.stdout) as RestoreResult).chain).toEqual([full.name]);
    expect(await source.checksums(['shop'])).toEqual(fullChecksums);

    const middle = await cli('delete', 'ops', full.name, '--yes');
    expect(middle).toMatchObject({ exitCode: 0, stdout: expect.stringMatching(new RegExp(`^deleted ${incrementName}, ${full.name} \\(`)) as unknown });
    expect(JSON.parse((await cli('list', 'ops', '--json')).stdout)).toEqual([expect.objectContaining({ chains: [], uncommitted: [] })]);
  });

  test('kept datadirs: listed with size and age, weighed by status, removed only when named and confirmed; nothing else is touched', async () => {
    // The in-place restore above kept the replaced datadir.
    const listed = await cli('kept', 'list', 'ops', '--json');
    expect(listed.exitCode).toBe(0);
    const listing = JSON.parse(listed.stdout) as KeptDatadirs;
    expect(listing.datadir).toBe(source.datadir);
    expect(listing.kept).toHaveLength(1);
    const [kept] = listing.kept as [KeptDatadirs['kept'][number]];
    expect(kept.name).toMatch(new RegExp(`^${basename(source.datadir)}\\.before-restore-\\d{4}-\\d{2}-\\d{2}T\\d{6}\\.\\d{3}Z$`));
    // Every file's bytes (folders themselves not counted), as find sees them.
    expect(kept.sizeBytes).toBe((await execa('find', [kept.path, '-not', '-type', 'd', '-printf', '%s\\n'])).stdout.split('\n').reduce((sum, size) => sum + Number(size), 0));
    expect(listing.disk.totalBytes).toBeGreaterThan(kept.sizeBytes);
    const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    expect((await cli('kept', 'list', 'ops')).stdout.split('\n')).toEqual([
      expect.stringMatching(new RegExp(`^ops: 1 kept datadir beside ${escape(source.datadir)}, ${escape(formatBytes(kept.sizeBytes))} \\([\\d.]+% of the disk, [\\d.]+ \\S+ free\\)$`)),
      expect.stringMatching(new RegExp(`^ {2}${escape(kept.name)} {2}${escape(formatBytes(kept.sizeBytes))} {2}kept \\S+ ago \\(${escape(kept.keptAt)}\\)$`)),
    ]);

    // Traps with a kept datadir's name: a link to the cluster's storage, and a plain file. Neither is listed or removed.
    const parent = dirname(source.datadir);
    const storage = (filesystemStorage(`${taskQueue}-ops`) as { path: string }).path;
    const storedBefore = (await execa('find', [storage])).stdout;
    const link = `${basename(source.datadir)}.before-restore-2020-01-01T000000.000Z`;
    const file = `${basename(source.datadir)}.before-restore-2020-01-02T000000.000Z`;
    await symlink(storage, join(parent, link));
    await writeFile(join(parent, file), 'not a datadir\n');
    try {
      expect((JSON.parse((await cli('kept', 'list', 'ops', '--json')).stdout) as KeptDatadirs).kept.map((entry) => entry.name)).toEqual([kept.name]);
      for (const name of [link, file, '../x', basename(source.datadir), `${basename(source.datadir)}.before-restore-../../etc`]) {
        const refused = await cli('kept', 'remove', 'ops', name, '--yes');
        expect(refused).toMatchObject({ exitCode: 2, stderr: expect.stringContaining(`"${name}": not a datadir kept by a restore of ops (kept: ${kept.name}); nothing was removed`) as unknown });
        // The workflow refuses it too, when asked directly.
        const direct = await client.workflow.execute(keptDatadirs, { taskQueue, workflowId: uniqueName('kept-direct'), args: [{ cluster: 'ops', remove: [name] }] }).catch((error: unknown) => error);
        expect(failureChain(direct)[0]).toMatchObject({ type: 'InvalidRequest', message: expect.stringContaining(`"${name}" is not a datadir kept by a restore of ops`) as unknown });
      }
      expect(await cli('kept', 'remove', 'ops', '--older-than', 'a while', '--yes')).toMatchObject({ exitCode: 2, stderr: expect.stringContaining('--older-than: "a while" is not a duration') as unknown });
      expect(await cli('kept', 'remove', 'ops')).toMatchObject({ exitCode: 2, stderr: expect.stringContaining('name the kept datadirs, or give --all, or --older-than') as unknown });
      // Younger than the limit: nothing to remove.
      expect(await cli('kept', 'remove', 'ops', '--older-than', '30d', '--yes')).toMatchObject({ exitCode: 0, stdout: expect.stringMatching(/^nothing to remove\n/) as unknown });

      // status warns (and stays healthy) when they take more than the configured share of the disk.
      const strict = await writeConfig(`${taskQueue}-kept-share`, { temporal: { taskQueue }, clusters: [source.clusterConfig('ops', filesystemStorage(`${taskQueue}-ops`), { health: { keptDatadirsMaxShare: 0.000001 } })] });
      const status = await runCli(['--config', strict, 'status', 'ops']);
      expect(status.exitCode).toBe(0);
      expect(status.stdout).toMatch(/^ {2}kept datadirs: {4}1, [\d.]+ \S+ \([\d.]+% of the disk\), oldest \S+$/m);
      expect(status.stdout).toContain('  WARNING health.keptDatadirsMaxShare: 1 datadir kept by restores take ');
      expect((await cli('status', 'ops')).stdout).not.toContain('WARNING');

      const unconfirmed = await cli('kept', 'remove', 'ops', '--all');
      expect(unconfirmed).toMatchObject({ exitCode: 2, stderr: expect.stringContaining(`remove 1 kept datadir of ops:\n  removes ${kept.path} (${formatBytes(kept.sizeBytes)})`) as unknown });
      expect(await cli('kept', 'remove', 'ops', '--all', '--dry-run')).toMatchObject({ exitCode: 0, stdout: expect.stringContaining('(dry run: nothing was changed)') as unknown });
      expect((await lstat(kept.path)).isDirectory()).toBe(true);

      const checksums = await source.checksums(['shop']);
      const removed = await cli('kept', 'remove', 'ops', '--all', '--yes');
      expect(removed).toMatchObject({ exitCode: 0, stdout: expect.stringMatching(new RegExp(`^removed ${escape(kept.name)} \\(${escape(formatBytes(kept.sizeBytes))} freed\\)\nops: 0 kept datadirs`)) as unknown });
      await expect(lstat(kept.path)).rejects.toThrow(/ENOENT/);
      // The datadir in use, the storage behind the link, and the file are as they were.
      expect(await source.checksums(['shop'])).toEqual(checksums);
      expect((await execa('find', [storage])).stdout).toBe(storedBefore);
      expect(await readFile(join(parent, file), 'utf8')).toBe('not a datadir\n');
    } finally {
      await rm(join(parent, link), { force: true });
      await rm(join(parent, file), { force: true });
    }
  });

  test('a refused request exits 2 with the reason; --no-wait returns the workflow id', async () => {
    const refused = await cli('backup', 'ops', '--type', 'incremental');
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toMatch(/^chainbackup: refused \(workflow backup-ops-incremental-\S+\): NoFullBackup: cluster "ops" has no committed full backup in file:\/\/\S+; take a full backup first to start a chain$/m);

    const unknown = await cli('backup', 'nope');
    expect(unknown).toMatchObject({ exitCode: 2, stderr: expect.stringContaining('chainbackup: unknown cluster "nope"') as unknown });
    const badType = await cli('backup', 'ops', '--type', 'weekly');
    expect(badType.exitCode).toBe(2);
    expect(badType.stderr).toMatch(/option '--type <type>' argument 'weekly' is invalid\. Allowed choices are full, incremental/);
    const middle = await cli('delete', 'ops', 'not-a-backup');
    expect(middle).toMatchObject({ exitCode: 2, stderr: expect.stringContaining('InvalidRequest: invalid delete request: backupName: must be a backup name') as unknown });

    const started = await cli('backup', 'ops', '--type', 'full', '--no-wait');
    expect(started.exitCode).toBe(0);
    expect(started.stdout).toMatch(/^backup-ops-full-\S+$/);
    const result = (await client.workflow.getHandle(started.stdout).result()) as BackupResult;
    expect(result.type).toBe('full');

    // No worker on the queue: a listing gives up within the time given, saying so, and leaves no workflow running.
    const lonely = await writeConfig(`${taskQueue}-lonely`, { temporal: { taskQueue: `${taskQueue}-nobody` }, clusters: [source.clusterConfig('ops', filesystemStorage(`${taskQueue}-ops`))] });
    const noWorker = await runCli(['--config', lonely, '--worker-timeout', '3', 'list', 'ops']);
    expect(noWorker).toMatchObject({ exitCode: 3, stderr: expect.stringMatching(new RegExp(`^chainbackup: no worker answered within 3 s \\(workflow catalog-ops-\\S+ waited on the shared queue ${taskQueue}-nobody\\): is a chainbackup worker running`)) as unknown });
    for await (const execution of client.workflow.list({ query: `TaskQueue = "${taskQueue}-nobody" AND ExecutionStatus = "Running"` })) throw new Error(`left running: ${execution.workflowId}`);
    expect(await runCli(['--version'])).toMatchObject({ exitCode: 0, stdout: productVersion });
    expect(await runCli(['--config', '/no/such/chainbackup.yaml', 'list'])).toMatchObject({ exitCode: 2, stderr: expect.stringContaining('no configuration file at /no/such/chainbackup.yaml: name one with --config <path> or the CHAINBACKUP_CONFIG environment variable') as unknown });
    expect((await runCli(['backup', '--help'])).stdout).toMatch(/Example:\n {2}chainbackup backup shop --type full\n\nExit codes: 0 done; [^\n]+\nEnvironment: CHAINBACKUP_CONFIG/);

    const unreachable = await runCli(['--config', configPath, 'list', 'ops'], { TEMPORAL_ADDRESS: '127.0.0.1:9' });
    expect(unreachable.exitCode).toBe(3);
    expect(unreachable.stderr).toMatch(/^chainbackup: cannot reach Temporal at 127\.0\.0\.1:9 \(/);
    expect((await runCli(['kept', 'list', '--help'])).stdout).toContain('Example:\n  chainbackup kept list shop\n');
  });
});

describe('following work', () => {
  test('the first line is the workflow id; a retried step shows its attempt and last error', async () => {
    const run = await cli('backup', 'ops-flaky', '--type', 'full');
    expect(run.exitCode).toBe(1);
    const lines = run.stderr.split('\n');
    expect(lines[0]).toMatch(/^workflow backup-ops-flaky-full-\S+$/);
    expect(lines.find((line) => line.includes('attempt 2'))).toMatch(/\] Streaming full backup \S+ .*attempt 2 {2}last error: .*simulated tool failure: disk quota exceeded/);
    expect(run.stderr).toMatch(/chainbackup: failed \(workflow backup-ops-flaky-full-\S+\): .*simulated tool failure/);
  });

  test('Ctrl-C stops following, not the work, and says how to watch or cancel it; cancel waits for the clean-up; watch follows to the end', async () => {
    const following = execa(process.execPath, [join(repoRoot, 'dist/client/cli.js'), '--config', configPath, 'backup', 'ops-slow', '--type', 'full'], { reject: false });
    let stderr = '';
    const workflowId = await new Promise<string>((resolve) => {
      following.stderr?.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        const id = /^workflow (\S+)\n/.exec(stderr)?.[1];
        if (id) resolve(id);
      });
    });
    // Once the backup is streaming (the slow tool is running), interrupt the follower.
    await eventually('the backup is streaming', () => Promise.resolve(stderr.includes('Streaming') ? true : undefined));
    following.kill('SIGINT');
    const interrupted = await following;
    expect(interrupted.exitCode).toBe(130);
    expect(interrupted.stderr).toContain(`stopped following; the work goes on as workflow ${workflowId}\n  watch it:  chainbackup watch ${workflowId}\n  cancel it: chainbackup cancel ${workflowId}`);
    expect((await client.workflow.getHandle(workflowId).describe()).status.name).toBe('RUNNING');

    const cancelled = await cli('cancel', workflowId);
    expect(cancelled).toMatchObject({ exitCode: 0, stdout: `cancelled ${workflowId}; its clean-up has finished` });
    expect((await client.workflow.getHandle(workflowId).describe()).status.name).toBe('CANCELLED');
    // The uncommitted backup was discarded: nothing of it is listed.
    expect(JSON.parse((await cli('list', 'ops-slow', '--json')).stdout)).toEqual([expect.objectContaining({ chains: [], uncommitted: [] })]);
    expect(await cli('cancel', workflowId)).toMatchObject({ exitCode: 2, stderr: expect.stringContaining(`workflow ${workflowId} is not running (cancelled): nothing to cancel`) as unknown });
    expect(await cli('watch', 'no-such-workflow')).toMatchObject({ exitCode: 2, stderr: expect.stringContaining('no workflow "no-such-workflow"') as unknown });

    const started = await cli('backup', 'ops', '--type', 'full', '--no-wait');
    const watched = await cli('watch', started.stdout, '--json');
    expect(watched.exitCode).toBe(0);
    expect(JSON.parse(watched.stdout)).toMatchObject({ type: 'full', cluster: 'ops' });
  });
});

/** The operator's guide, where the `temporal` lines and the Web UI's views are printed. */
const operationsGuide = join(repoRoot, 'docs/guide/operations.md');

/** The guide's `temporal` lines, split like a shell would (single quotes only, as they are written). */
async function guideTemporalCommands(): Promise<string[][]> {
  const guide = await readFile(operationsGuide, 'utf8');
  const block = /<!-- temporal-cli-commands -->\n```sh\n([\s\S]*?)```/.exec(guide)?.[1];
  if (!block) throw new Error('docs/guide/operations.md has no temporal-cli-commands block');
  return block
    .trim()
    .split('\n')
    .map((line) => [...line.matchAll(/'([^']*)'|(\S+)/g)].map((match) => match[1] ?? match[2] ?? ''));
}

describe('the operator guide’s temporal CLI commands', () => {
  test('run as written against the dev server and say what the guide promises', async () => {
    expect((await cli('schedule', 'apply')).exitCode).toBe(0);
    const commands = await guideTemporalCommands();
    expect(commands.length).toBeGreaterThanOrEqual(8);
    const outputs: string[] = [];
    let backupName = '<backup name>';
    for (const command of commands) {
      expect(command[0]).toBe('temporal');
      // The guide speaks of the default deployment (task queue `chainbackup`); this test's deployment has its own queue, and its schedule ids name it.
      const args = command.slice(1).map((arg) => (arg === 'chainbackup' ? taskQueue : arg.replace(WorkflowId.schedulePrefix(DEFAULT_DEPLOYMENT), WorkflowId.schedulePrefix(taskQueue)).replaceAll('<backup name>', backupName)));
      // Visibility is eventually consistent: a list may need a moment to show a new workflow.
      let output = '';
      for (let attempt = 0; attempt < 50; attempt++) {
        const run = await execa(toolPath('temporal'), args, { reject: false, env: { ...process.env, TEMPORAL_ADDRESS: process.env.TEMPORAL_ADDRESS } });
        expect(run.exitCode === 0 ? 'exit 0' : `${args.join(' ')}: exit ${run.exitCode}: ${run.stderr}${run.stdout}`).toBe('exit 0');
        output = run.stdout;
        if (!(args[1] === 'list' && args[0] === 'workflow') || output.includes('backup-shop-full-manual-1')) break;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      outputs.push(output);
      const named = /"name":\s*"(shop-[^"\s]+-full)"/.exec(output);
      if (named?.[1]) backupName = named[1];
    }
    const [start, result, query, listByCluster, listByName, restoreStart, restoreResult, schedules, trigger] = outputs;
    expect(start).toContain('backup-shop-full-manual-1');
    expect(result).toMatch(/"type":\s*"full"/);
    expect(backupName).toMatch(/^shop-\d{4}-\d{2}-\d{2}T\d{6}\.\d{3}Z-full$/);
    expect(query).toMatch(/Committed shop-\S+-full/);
    expect(listByCluster).toContain('backup-shop-full-manual-1');
    expect(listByName).toContain('backup-shop-full-manual-1');
    expect(restoreStart).toContain('restore-shop-manual-1');
    expect(restoreResult).toMatch(new RegExp(`"restored":\\s*"${backupName}"`));
    expect(schedules).toContain(`${taskQueue}-schedule-shop-full`);
    expect(trigger).toBeDefined();
  });
});

describe('the saved views', () => {
  test('the guide lists each one; each query runs on the server; the work views leave the read-only runs out', async () => {
    const guide = await readFile(operationsGuide, 'utf8');
    const ids = async (query: string) => {
      const found: string[] = [];
      for await (const execution of client.workflow.list({ query: `(${query}) AND TaskQueue = "${taskQueue}"` })) found.push(execution.workflowId);
      return found;
    };
    const views = Object.fromEntries(SAVED_VIEWS.map((view) => [view.name, view.query]));
    for (const view of SAVED_VIEWS) expect(guide).toContain(`| ${view.name} | \`${view.query}\` |`);
    // The earlier tests ran list, show, status and kept list (read-only), backups, a refused backup and a verification.
    const readOnly = await eventually('the read-only runs are listed', async () => {
      const found = await ids(`BackupType IN (${READ_ONLY_BACKUP_TYPES.map((type) => `"${type}"`).join(', ')})`);
      return ['catalog-ops-', 'status-ops-', 'kept-datadirs-ops-'].every((prefix) => found.some((id) => id.startsWith(prefix))) ? found : undefined;
    });
    expect(readOnly.length).toBeGreaterThan(3);
    const work = await ids(views['Backup work'] ?? '');
    expect(work).toEqual(expect.arrayContaining([expect.stringMatching(/^backup-ops-full-/), expect.stringMatching(/^restore-ops-/), expect.stringMatching(/^verify-ops-/), expect.stringMatching(new RegExp(`^(${taskQueue}-)?delete-ops-`))]));
    expect(work.filter((id) => readOnly.includes(id))).toEqual([]);
    const failed = await ids(views['Failed backup work'] ?? '');
    expect(failed).toEqual(expect.arrayContaining([expect.stringMatching(/^backup-ops-flaky-full-/)]));
    expect(failed.filter((id) => readOnly.includes(id) || id === 'backup-shop-full-manual-1')).toEqual([]);
    // A refusal is not a failure: the refused backup (NoFullBackup, above) completed with its refusal, and no failure view has it.
    const refusedRuns: string[] = [];
    for await (const execution of client.workflow.list({ query: `WorkflowId STARTS_WITH "backup-ops-incremental-" AND ExecutionStatus = "Completed" AND TaskQueue = "${taskQueue}"` })) {
      if (refusalIn(await client.workflow.getHandle(execution.workflowId, execution.runId).result())?.type === 'NoFullBackup') refusedRuns.push(execution.workflowId);
    }
    expect(refusedRuns).toHaveLength(1);
    expect(failed.filter((id) => refusedRuns.includes(id))).toEqual([]);
    // The refused requests view has it (and only refusals); the unverified backups view does not.
    const refusedView = await ids(views['Refused requests'] ?? '');
    expect(refusedView).toEqual(expect.arrayContaining(refusedRuns));
    expect(refusedView.filter((id) => id.startsWith('backup-ops-full-') || id.startsWith('backup-ops-flaky-'))).toEqual([]);
    const unverified = await ids(views['Unverified backups'] ?? '');
    expect(unverified).toEqual(expect.arrayContaining([expect.stringMatching(/^backup-ops-full-/)]));
    expect(unverified.filter((id) => refusedRuns.includes(id))).toEqual([]);
    // A backup held by its slow tool is running: the view has it, and only running backups.
    const slow = await cli('backup', 'ops-slow', '--type', 'full', '--no-wait');
    expect(slow.exitCode).toBe(0);
    try {
      const running = await eventually('the running backup is listed', async () => {
        const found = await ids(views['Running backups'] ?? '');
        return found.includes(slow.stdout) ? found : undefined;
      });
      // Backups only: asked ones (`backup-…`) and scheduled ones, whose ids name this test's deployment (`<queue>-backup-…`).
      expect(running.filter((id) => !id.startsWith('backup-') && !id.startsWith(`${taskQueue}-backup-`))).toEqual([]);
    } finally {
      await client.workflow.getHandle(slow.stdout).cancel();
      await client.workflow.getHandle(slow.stdout).result().catch(() => undefined);
    }
    expect(await ids(views['Failed verifications'] ?? '')).toEqual([]);
    // The guide's shell line for "failed in the last day", as written but for this test's queue.
    const line = /`(temporal workflow list --query "ExecutionStatus = 'Failed'[^`]*)`/.exec(guide)?.[1];
    expect(line).toBeDefined();
    const run = await execa('bash', ['-c', (line ?? '').replace('temporal ', `${toolPath('temporal')} `).replace('CloseTime >', `TaskQueue = '${taskQueue}' AND CloseTime >`)], { env: { ...process.env }, reject: false });
    expect(run).toMatchObject({ exitCode: 0, stdout: expect.stringMatching(/backup-ops-flaky-full-/) as unknown });
    expect(run.stdout).not.toContain(refusedRuns[0] ?? '-');
  });
});

describe('search attributes', () => {
  test('each one finds the backup', async () => {
    const result = (await client.workflow.execute(WorkflowType.backup, { taskQueue, workflowId: uniqueName('backup-shop-sa'), args: [{ cluster: 'shop', type: 'full' }] })) as BackupResult;
    for (const query of [`BackupCluster = "shop"`, `BackupType = "full"`, `BackupName = "${result.name}"`, `BackupChainBase = "${result.base}"`]) {
      let found: string[] = [];
      for (let attempt = 0; attempt < 50 && !found.some((id) => id.startsWith('backup-shop-sa-')); attempt++) {
        found = [];
        for await (const execution of client.workflow.list({ query: `${query} AND TaskQueue = "${taskQueue}"` })) found.push(execution.workflowId);
        if (!found.some((id) => id.startsWith('backup-shop-sa-'))) await new Promise((resolve) => setTimeout(resolve, 200));
      }
      expect({ query, found: found.some((id) => id.startsWith('backup-shop-sa-')) }).toEqual({ query, found: true });
    }
  });
});
