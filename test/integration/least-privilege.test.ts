/**
 * Issue 34, least privilege: the worker runs as the documented unit runs it
 * (docs/chainbackup-worker.service: its User and Group, UMask=0077, NoNewPrivileges, no
 * capabilities), from an installed copy of the product only root may change, beside a server that
 * runs as the same account with its datadir in a folder that account owns. With encryption at rest
 * and the filesystem store: a full backup and an increment, a verification, a clone and an in-place
 * restore to a GTID, each exact. Every file the worker writes is the account's, 0600 in 0700
 * folders; the restored datadir keeps its owner and mode, and the server started on it runs as the
 * account. A datadir whose parent the account may not write is refused before the pause.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import YAML from 'yaml';
import type { Client } from '@temporalio/client';
import { MariaDbSandbox } from '../../devtools/sandbox/mariadb.js';
import { repoRoot } from '../../devtools/sandbox/processes.js';
import { WorkflowId } from '../../domain/workflow-contract.js';
import { backup as backupWorkflow, binlogArchiver, restore as restoreWorkflow, type BackupResult, type RestoreResult } from '../../workflows/index.js';
import { stopArchiver, untilArchiveCaughtUp } from '../support/binlog-archive.js';
import { withServerOnFolder } from '../support/server-on-folder.js';
import { serviceSettings, single, unitLauncher } from '../support/systemd-unit.js';
import { connectTestClient, refusedRestore, startWorker, testRoot, uniqueName, type WorkerProcess } from '../support/environment.js';

const name = uniqueName('least-privilege');
const base = join(testRoot(), name);
/** The product as installed (/opt/chainbackup): root's, readable by all. */
const installed = { root: join(base, 'app'), node: join(base, 'app', 'node') };
/** The account's own folder (/srv/mariadb and /srv/chainbackup in the unit's example). */
const own = join(base, 'srv');
const store = join(own, 'store');
const clones = join(own, 'clones');

let unit: Map<string, string[]>;
let account: string;
let uid: number;
let server: MariaDbSandbox;
let worker: WorkerProcess;
let client: Client;
let closeClient: () => Promise<void>;
let full: BackupResult;
let increment: BackupResult;
let atIncrement: Record<string, string>;

/** Copies what the worker runs (not links: modes are set on the copy) and opens it to every account, as a package install does. */
async function install(): Promise<void> {
  await mkdir(installed.root, { recursive: true });
  await execa('cp', ['-a', join(repoRoot, 'dist'), join(repoRoot, 'node_modules'), join(repoRoot, 'package.json'), installed.root]);
  await execa('cp', [process.execPath, installed.node]);
  await execa('chown', ['-R', 'root:root', installed.root]);
  await execa('chmod', ['-R', 'u+rwX,go+rX,go-w', installed.root]);
}

/** Gives `path` (and all in it) to the unit's account, as an operator prepares the folders the unit lists. */
const giveToAccount = (path: string) => execa('chown', ['-R', `${account}:${account}`, path]);

/** Every entry under `folder` whose owner or mode is not the account's 0600 file or 0700 folder. */
async function notPrivate(folder: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(folder, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name);
    const stats = await lstat(path);
    const expected = stats.isDirectory() ? 0o700 : 0o600;
    if (stats.uid !== uid || (stats.mode & 0o777) !== expected) found.push(`${path}: uid ${stats.uid}, mode ${(stats.mode & 0o777).toString(8)}`);
  }
  return found;
}

/** A line of /proc/<pid>/status, such as Uid or NoNewPrivs. */
async function processStatus(pid: number, field: string): Promise<string> {
  const line = (await readFile(`/proc/${pid}/status`, 'utf8')).split('\n').find((candidate) => candidate.startsWith(`${field}:`));
  return line?.slice(field.length + 1).trim() ?? '';
}

const runBackup = (type: 'full' | 'incremental') => client.workflow.execute(backupWorkflow, { taskQueue: name, workflowId: uniqueName(`backup-lp-${type}`), args: [{ cluster: 'lp', type }] });
const runRestore = (request: Record<string, unknown>) => client.workflow.execute(restoreWorkflow, { taskQueue: name, workflowId: uniqueName('restore-lp'), args: [{ cluster: 'lp', ...request }] });

beforeAll(async () => {
  unit = await serviceSettings(join(repoRoot, 'docs/chainbackup-worker.service'));
  account = single(unit, 'User');
  uid = Number((await execa('id', ['-u', account])).stdout);
  // The run's test root is root's alone; the account passes through it to its own folder, as through /srv.
  await chmod(testRoot(), 0o711);
  await mkdir(base, { recursive: true });
  await chmod(base, 0o755);
  await install();
  await mkdir(own, { mode: 0o700 });
  await giveToAccount(own);
  server = await MariaDbSandbox.create(join(own, 'mariadb'), [], { osUser: account });
  await server.loadSampleData(2000);
  const keyFile = join(own, 'storage-key');
  await writeFile(keyFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  await mkdir(join(own, 'restore-work'), { mode: 0o700 });
  const configPath = join(own, 'chainbackup.yaml');
  const cluster = server.clusterConfig(
    'lp',
    { kind: 'filesystem', path: store },
    { taskQueue: `${name}-host`, schedule: { enabled: false }, binlogs: { archive: true, interval: '1s' }, restore: { workDir: join(own, 'restore-work') }, retry: { maximumAttempts: 2, initialInterval: '200ms' } },
  );
  const config = { temporal: { taskQueue: name }, worker: { cloneRoots: [clones] }, clusters: [cluster], encryption: { currentKey: 'storage', keys: [{ id: 'storage', file: keyFile }] } };
  await writeFile(configPath, YAML.stringify(config), { mode: 0o600 });
  await giveToAccount(own);
  // As a service manager starts it: the unit's environment only, working in the installed copy.
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: own, LANG: 'C.UTF-8', TEMPORAL_ADDRESS: process.env.TEMPORAL_ADDRESS ?? '', TEMPORAL_NAMESPACE: 'default' };
  worker = await startWorker(configPath, [], env, { launcher: unitLauncher(unit), installed, exactEnv: true, cwd: installed.root });
  ({ client, close: closeClient } = await connectTestClient());
}, 600_000);

afterAll(async () => {
  await stopArchiver(client, WorkflowId.binlogArchiver(name, 'lp'));
  await closeClient?.();
  await worker?.stop();
  await server?.stop();
  await chmod(testRoot(), 0o700);
  // The installed copy alone is the size of the product with its modules.
  await rm(base, { recursive: true, force: true });
});

describe('the worker as the documented unit runs it', () => {
  test("it runs as the unit's account, with its umask, no capabilities and no way to gain any", async () => {
    const pid = worker.child.pid ?? 0;
    expect(await processStatus(pid, 'Uid')).toBe(`${uid}\t${uid}\t${uid}\t${uid}`);
    expect(await processStatus(pid, 'Umask')).toBe(single(unit, 'UMask'));
    expect(await processStatus(pid, 'NoNewPrivs')).toBe('1');
    for (const set of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) expect({ set, value: await processStatus(pid, set) }).toEqual({ set, value: '0000000000000000' });
    // The server it backs up runs as the same account.
    expect(await processStatus((await server.pid()) ?? 0, 'Uid')).toBe(`${uid}\t${uid}\t${uid}\t${uid}`);
  });

  test("a full backup and an increment, sealed, in a store whose every file is the account's alone", async () => {
    full = await runBackup('full');
    await server.sql('USE shop; UPDATE orders SET total = total + 1 WHERE id % 5 = 0; INSERT INTO customers SELECT 100000 + seq, "after the full", NULL FROM seq_1_to_200');
    increment = await runBackup('incremental');
    expect(increment).toMatchObject({ type: 'incremental', parent: full.name });
    atIncrement = await server.checksums(['shop']);
    const manifest = JSON.parse(await readFile(join(store, increment.path, 'manifest.json'), 'utf8')) as { encryption?: string };
    expect(manifest.encryption).toBe('aes-256-gcm-chunked');
    expect(await notPrivate(store)).toEqual([]);
    expect((await lstat(store)).uid).toBe(uid);
  });

  test('a verification restores the chain on a throw-away server of its own and passes', async () => {
    const verified: RestoreResult = await runRestore({ target: { kind: 'verify' } });
    expect(verified).toMatchObject({ restored: increment.name, chain: [full.name, increment.name] });
    expect(verified.verification?.tables).toBeGreaterThanOrEqual(2);
  });

  test("a clone is exact, and is the account's with the datadir's mode", async () => {
    const clone = join(clones, 'copy');
    await runRestore({ backupName: increment.name, target: { kind: 'new-datadir', path: clone } });
    const stats = await lstat(clone);
    expect({ uid: stats.uid, mode: stats.mode & 0o777 }).toEqual({ uid, mode: (await lstat(server.datadir)).mode & 0o777 });
    const { value } = await withServerOnFolder(clone, [`datadir=${clone}`], join(base, 'clone-reader'), async (sql) => sql('CHECKSUM TABLE shop.customers, shop.orders EXTENDED'));
    expect(value).toBe(`shop.customers\t${atIncrement['shop.customers']}\nshop.orders\t${atIncrement['shop.orders']}`);
  });

  test('an in-place restore to a GTID is exact; the datadir keeps its owner and mode, and the server it starts runs as the account', async () => {
    await client.workflow.start(binlogArchiver, { taskQueue: name, workflowId: WorkflowId.binlogArchiver(name, 'lp'), args: [{ cluster: 'lp' }] });
    await server.sql('USE shop; INSERT INTO customers SELECT 200000 + seq, "before the point", NULL FROM seq_1_to_300');
    const atPoint = await server.checksums(['shop']);
    const [[gtid = ''] = []] = await server.sql('SELECT @@gtid_binlog_pos');
    await server.sql('USE shop; DELETE FROM orders WHERE id % 3 = 0; INSERT INTO customers SELECT 300000 + seq, "after the point", NULL FROM seq_1_to_100');
    await server.sql('FLUSH BINARY LOGS');
    await untilArchiveCaughtUp(client, WorkflowId.binlogArchiver(name, 'lp'), server);
    const before = await lstat(server.datadir);
    const pidBefore = await server.pid();

    const restored = await runRestore({ gtid });
    expect(restored).toMatchObject({ toGtid: gtid, previousDatadir: expect.any(String) as unknown });
    expect(await server.checksums(['shop'])).toEqual(atPoint);
    const after = await lstat(server.datadir);
    expect({ uid: after.uid, gid: after.gid, mode: after.mode & 0o777 }).toEqual({ uid: before.uid, gid: before.gid, mode: before.mode & 0o777 });
    const pid = (await server.pid()) ?? 0;
    expect(pid).not.toBe(pidBefore);
    expect(await processStatus(pid, 'Uid')).toBe(`${uid}\t${uid}\t${uid}\t${uid}`);
    expect(await notPrivate(store)).toEqual([]);
  });

  test('a datadir in a folder the account may not write is refused before the pause, naming the folder', async () => {
    const parent = server.dir;
    const mode = (await lstat(parent)).mode & 0o777;
    await chmod(parent, 0o555);
    try {
      const refused = await refusedRestore(client, server, { taskQueue: name, workflowId: uniqueName('restore-lp-unwritable') }, { cluster: 'lp', backupName: increment.name });
      expect(refused).toMatchObject({ type: 'ConfigInvalid', paused: false, serverRestarted: false });
      expect(refused.message).toContain(`the worker, running as ${account} (uid ${uid}), cannot rename or move files in ${parent} (EACCES)`);
    } finally {
      await chmod(parent, mode);
    }
  });
});
