/**
 * Issue 14, the safety envelope, on real MariaDB, Temporal and MinIO: requests that used to lose or
 * damage data are refused before anything changes, damaged manifests are left alone, and secrets
 * reach neither Temporal nor the tool processes. Clusters "sf-shop" and "sf-shop-copy" (names unique in
 * the suite: a cluster's lock workflow is named after it) share one storage prefix, as in the report.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { refusalIn } from '../../domain/failures.js';
import { chmod, mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { tmpdir } from 'node:os';
import type { Client } from '@temporalio/client';
import type { MariaDbSandbox } from '../../devtools/sandbox/mariadb.js';
import type { Manifest } from '../../domain/manifest.js';
import { backup as backupWorkflow, restore as restoreWorkflow, retention as retentionWorkflow, type BackupResult } from '../../workflows/index.js';
import {
  activityRuns,
  connectTestClient,
  createSandbox,
  failureChain,
  filesystemStorage,
  runCli,
  s3Storage,
  startWorker,
  testRoot,
  TestBucket,
  toolFileNames,
  uniqueName,
  writeConfig,
  type WorkerProcess,
} from '../support/environment.js';

const taskQueue = uniqueName('safety');
const sharedPrefix = `${taskQueue}-shared`;
const shared = s3Storage(sharedPrefix);
const fastRetry = { maximumAttempts: 3, initialInterval: '200ms' };
const bucket = new TestBucket();
const dir = join(testRoot(), taskQueue);
const secretsDir = join(dir, 'secrets');
const toolDumps = join(dir, 'tool-dumps');
const passwordVariable = 'CHAINBACKUP_TEST_SHOP_PASSWORD';

let shop: MariaDbSandbox;
let copy: MariaDbSandbox;
let configPath: string;
let worker: WorkerProcess;
let client: Client;
let closeClient: () => Promise<void>;
let shopPassword: string;
let shopFull: BackupResult;
let copyFull: BackupResult;

const cli = (...args: string[]) => runCli(['--config', configPath, ...args]);

/** A backup tool that records its command line and environment, then runs the real one (after `delaySeconds`). */
async function recordingTool(name: string, delaySeconds = 0): Promise<string> {
  const path = join(dir, `${name}.sh`);
  await writeFile(
    path,
    [
      '#!/bin/sh',
      `mkdir -p ${toolDumps}`,
      `tr '\\0' '\\n' < /proc/$$/environ > ${toolDumps}/${name}-$$.environ`,
      `printf '%s\\n' "$@" > ${toolDumps}/${name}-$$.args`,
      ...(delaySeconds > 0 ? [`sleep ${delaySeconds}`] : []),
      'exec mariadb-backup "$@"',
      '',
    ].join('\n'),
  );
  await chmod(path, 0o755);
  return path;
}

beforeAll(async () => {
  await mkdir(dir, { recursive: true });
  [shop, copy] = await Promise.all([createSandbox(`${taskQueue}-shop`), createSandbox(`${taskQueue}-copy`)]);
  await Promise.all([shop.loadSampleData(3000), copy.loadSampleData(500)]);
  shopPassword = (await readFile(shop.passwordFile, 'utf8')).trim();
  const shopConnection = { socket: shop.socket, user: shop.backupUser, passwordEnv: passwordVariable };
  const config = {
    temporal: { taskQueue },
    clusters: [
      shop.clusterConfig('sf-shop', shared, { retry: fastRetry, connection: shopConnection, backup: { toolPath: await recordingTool('shop') } }),
      copy.clusterConfig('sf-shop-copy', shared, { retry: fastRetry }),
      // The tool starts only after 25 s: longer than this cluster's heartbeat timeout.
      shop.clusterConfig('sf-slow', filesystemStorage(`${taskQueue}-slow`), { retry: { ...fastRetry, heartbeatTimeout: '10s' }, backup: { toolPath: await recordingTool('slow', 25) } }),
      shop.clusterConfig('sf-nopass', filesystemStorage(`${taskQueue}-nopass`), { retry: fastRetry, connection: { ...shopConnection, passwordEnv: 'CHAINBACKUP_TEST_NOT_SET' } }),
      shop.clusterConfig('sf-keep', filesystemStorage(`${taskQueue}-keep`), { retry: fastRetry, retention: { keepChains: 1, orphanAgeHours: 0 } }),
      shop.clusterConfig('sf-altered', s3Storage(`${taskQueue}-altered`), { retry: fastRetry }),
      shop.clusterConfig('sf-sweep', s3Storage(`${taskQueue}-sweep`), { retry: fastRetry, retention: { orphanAgeHours: 0 } }),
    ],
  };
  configPath = await writeConfig(taskQueue, config);
  worker = await startWorker(configPath, [], { [passwordVariable]: shopPassword, CHAINBACKUP_SECRETS_DIR: secretsDir });
  ({ client, close: closeClient } = await connectTestClient());
  [shopFull, copyFull] = await Promise.all([runBackup('sf-shop', 'full'), runBackup('sf-shop-copy', 'full')]);
});

afterAll(async () => {
  bucket.close();
  await closeClient?.();
  await worker?.stop();
  await Promise.all([shop?.stop(), copy?.stop()]);
});

function runBackup(cluster: string, type: 'full' | 'incremental', workflowId = uniqueName(`backup-${cluster}`)): Promise<BackupResult> {
  return client.workflow.execute(backupWorkflow, { taskQueue, workflowId, args: [{ cluster, type }] });
}

async function failedRestore(args: Record<string, unknown>): Promise<{ workflowId: string; failure: { type?: string; message: string } }> {
  const workflowId = uniqueName(`restore-${String(args.cluster)}`);
  const error = await client.workflow.execute(restoreWorkflow, { taskQueue, workflowId, args: [args as never] }).then(
    (result: unknown) => (refusalIn(result) ? result : undefined),
    (caught: unknown) => caught,
  );
  expect(error).toBeDefined();
  const failure = failureChain(error).find((link) => link.type !== undefined) ?? { message: String(error) };
  return { workflowId, failure };
}

describe('requests that could destroy data are refused before anything changes', () => {
  test("restoring another cluster's backup by name is refused, and says how to ask for it", async () => {
    const before = await shop.checksums(['shop']);
    const run = await cli('restore', 'sf-shop', copyFull.name, '--yes');
    expect(run.exitCode).toBe(2);
    expect(run.stderr).toContain('ForeignBackup');
    expect(run.stderr).toContain(`--from-cluster sf-shop-copy`);
    expect(await shop.checksums(['shop'])).toEqual(before);
  });

  test('a cluster whose name is a prefix of another sees none of its folders', async () => {
    // An uncommitted folder of shop-copy in the shared prefix (a failed backup).
    const stray = 'sf-shop-copy-2026-01-01T000000.000Z-full';
    await bucket.put(`${sharedPrefix}/${stray}/backup.xbstream.zst`, 'partial');
    const list = await cli('list', 'sf-shop', '--json');
    expect(list.exitCode).toBe(0);
    const text = list.stdout;
    expect(text).toContain(shopFull.name);
    expect(text).not.toContain('sf-shop-copy-');
    const show = await cli('show', 'sf-shop', copyFull.name);
    expect(show.exitCode).toBe(2);
    expect(show.stdout).not.toContain('"cluster": "sf-shop-copy"');
    // shop-copy's own listing still has both.
    const copyList = await cli('list', 'sf-shop-copy', '--json');
    expect(copyList.stdout).toContain(copyFull.name);
    expect(copyList.stdout).toContain(stray);
  });

  test('clone targets that are, hold or lie in a datadir, a system folder, a non-empty folder or outside worker.cloneRoots are refused before any download', async () => {
    const nonEmpty = join(dir, 'not-empty');
    await mkdir(nonEmpty, { recursive: true });
    await writeFile(join(nonEmpty, 'keep-me'), 'precious');
    const linkToCopy = join(dir, 'link-to-copy-datadir');
    await symlink(copy.datadir, linkToCopy);
    const before = { shop: await shop.checksums(['shop']), copy: await copy.checksums(['shop']) };
    const targets = [
      [join(shop.datadir, 'clone'), 'lies inside the datadir of cluster sf-shop'],
      [copy.datadir, 'lies inside the datadir of cluster sf-shop-copy'],
      [dirname(shop.datadir), 'contains the datadir of cluster sf-shop'],
      [join(linkToCopy, 'clone'), 'lies inside the datadir of cluster sf-shop-copy'],
      ['/', 'a system folder'],
      ['/etc', 'a system folder'],
      ['/usr/local/clone', 'a system folder'],
      [nonEmpty, 'is not empty'],
      // Anywhere the worker could write but its configuration does not place clones (this run's workers: the test root only).
      [join(tmpdir(), uniqueName('clone-outside')), `is not inside a folder this worker places clones in (worker.cloneRoots: ${testRoot()})`],
    ] as const;
    for (const [path, reason] of targets) {
      const { workflowId, failure } = await failedRestore({ cluster: 'sf-shop', backupName: shopFull.name, target: { kind: 'new-datadir', path } });
      expect(failure).toMatchObject({ type: 'InvalidRequest', message: expect.stringContaining(reason) });
      expect(failure.message).toContain(`target.path ${path}`);
      const types = (await activityRuns(client, workflowId)).map((run) => run.type);
      expect(types).not.toContain('downloadBackup');
      expect(types).not.toContain('prepareRestoreWorkspace');
    }
    expect(await readdir(nonEmpty)).toEqual(['keep-me']);
    expect(await readdir(shop.datadir)).not.toContain('clone');
    expect({ shop: await shop.checksums(['shop']), copy: await copy.checksums(['shop']) }).toEqual(before);
  });

  test('a filesystem restore source outside the allowed folders is refused at once', async () => {
    const { workflowId, failure } = await failedRestore({ cluster: 'sf-shop', source: { storage: { kind: 'filesystem', path: '/usr' }, path: 'sf-shop-2026-01-01T000000.000Z-full' } });
    expect(failure).toMatchObject({ type: 'InvalidRequest', message: expect.stringContaining('worker.restoreSourceRoots') });
    expect(await activityRuns(client, workflowId)).toContainEqual({ type: 'listSourceBackups', attempts: 1 });
  });

  test('an S3 source in a bucket that does not exist is refused at the first look, and the lock is free again', async () => {
    const { workflowId, failure } = await failedRestore({ cluster: 'sf-shop', source: { storage: { ...shared, bucket: 'no-such-bucket-here' }, path: shopFull.path } });
    expect(failure).toMatchObject({ type: 'StorageRefused', message: expect.stringContaining('no-such-bucket-here') });
    expect(await activityRuns(client, workflowId)).toContainEqual({ type: 'listSourceBackups', attempts: 1 });
    // Nothing holds shop's lock: a backup runs at once.
    await expect(runBackup('sf-shop', 'incremental')).resolves.toMatchObject({ type: 'incremental' });
  });

  test('a missing password variable fails at once, naming it', async () => {
    const workflowId = uniqueName('backup-sf-nopass');
    const error = await runBackup('sf-nopass', 'full', workflowId).catch((caught: unknown) => caught);
    expect(failureChain(error)).toContainEqual({ type: 'ConfigInvalid', message: expect.stringContaining('CHAINBACKUP_TEST_NOT_SET (connection.passwordEnv) is not set') });
    expect((await activityRuns(client, workflowId)).find((run) => run.type === 'takeBackup')).toEqual({ type: 'takeBackup', attempts: 1 });
  });
});

describe('faults and damage', () => {
  test('a tool that is quiet for longer than the heartbeat timeout is not taken for a dead worker', async () => {
    const workflowId = uniqueName('backup-sf-slow');
    const run = runBackup('sf-slow', 'full', workflowId);
    // If it does not finish, say where it is: the pending activity, its attempt and last failure.
    let timer: NodeJS.Timeout | undefined;
    const stuck = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        void client.workflow
          .getHandle(workflowId)
          .describe()
          .then((description) => reject(new Error(`backup ${workflowId} still running: ${JSON.stringify(description.raw.pendingActivities ?? [])}\n${worker.output().slice(-3000)}`)), reject);
      }, 200_000);
    });
    try {
      await expect(Promise.race([run, stuck])).resolves.toMatchObject({ type: 'full' });
    } finally {
      clearTimeout(timer);
    }
    expect((await activityRuns(client, workflowId)).find((run) => run.type === 'takeBackup')).toEqual({ type: 'takeBackup', attempts: 1 });
  });

  test('retention and the sweep leave a chain with unreadable manifests whole, and say so', async () => {
    const store = filesystemStorage(`${taskQueue}-keep`);
    if (store.kind !== 'filesystem') throw new Error('unreachable');
    const full = await runBackup('sf-keep', 'full');
    const first = await runBackup('sf-keep', 'incremental');
    const second = await runBackup('sf-keep', 'incremental');
    // Truncate two manifests of the only chain, as a failing disk or a bad copy would.
    for (const increment of [first, second]) {
      const manifest = join(store.path, increment.path, 'manifest.json');
      await writeFile(manifest, (await readFile(manifest, 'utf8')).slice(0, 40));
    }
    const listing = async () => (await readdir(store.path, { recursive: true })).sort();
    const before = await listing();
    const retention = (workflowId: string) => client.workflow.execute(retentionWorkflow, { taskQueue, workflowId, args: [{ cluster: 'sf-keep' }] });
    const result = await retention(uniqueName('retention-keep'));
    expect(result).toMatchObject({ removed: [], orphans: [] });
    expect(result.leftAlone).toEqual([{ base: full.name, reasons: [expect.stringContaining(first.name), expect.stringContaining(second.name)] }]);
    expect(await listing()).toEqual(before);

    // A newer chain makes the damaged one expire by policy: it still stays, whole.
    const newer = await runBackup('sf-keep', 'full');
    await new Promise((resolve) => setTimeout(resolve, 1000)); // the retention that follows a full backup
    const again = await retention(uniqueName('retention-keep'));
    expect(again.removed).toEqual([]);
    expect(again.keptChains).toContain(newer.name);
    for (const entry of before) expect(await listing()).toContain(entry);
  });

  test('verify fails a backup whose manifest to_lsn was altered, naming it', async () => {
    const full = await runBackup('sf-altered', 'full');
    await shop.sql(`UPDATE shop.customers SET name = 'altered' WHERE id < 50`);
    const tip = await runBackup('sf-altered', 'incremental');
    const key = `${taskQueue}-altered/${tip.path}manifest.json`;
    const manifest = JSON.parse(await bucket.getText(key)) as { toLsn: string };
    manifest.toLsn = String(BigInt(manifest.toLsn) + 1000n);
    await bucket.put(key, JSON.stringify(manifest));
    const { failure } = await failedRestore({ cluster: 'sf-altered', backupName: tip.name, target: { kind: 'verify' } });
    expect(failure).toMatchObject({ type: 'ChecksumMismatch', message: expect.stringContaining(`${tip.name} (extracted): ${toolFileNames.checkpoints} disagrees with the manifest: toLsn is`) });
    // The untouched full backup still verifies.
    const verified = await client.workflow.execute(restoreWorkflow, { taskQueue, workflowId: uniqueName('verify-altered'), args: [{ cluster: 'sf-altered', backupName: full.name, target: { kind: 'verify' } }] });
    expect(verified).toMatchObject({ restored: full.name });
    // A throw-away server started on the prepared data found every table of the inventory, checked and read each.
    const tables = Number((await shop.sql(`SELECT COUNT(*) FROM information_schema.tables WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')`))[0]?.[0]);
    expect(verified.verification).toMatchObject({ tables, inventoryTables: tables });
    expect(tables).toBeGreaterThanOrEqual(2);
    // The outcome is stored beside the backup, last.
    expect(JSON.parse(await bucket.getText(`${taskQueue}-altered/${full.path}verification.json`))).toMatchObject({ formatVersion: 1, backup: full.name, result: 'passed', problems: [], tables, inventoryTables: tables });
  });

  test("a restore of a backup whose manifest's binlog position or GTID was altered is refused before the pause, naming both", async () => {
    await shop.sql(`UPDATE shop.customers SET name = 'before the position' WHERE id < 20`);
    const full = await runBackup('sf-altered', 'full');
    const key = `${taskQueue}-altered/${full.path}manifest.json`;
    const original = await bucket.getText(key);
    const recorded = (JSON.parse(original) as { binlog: { file: string; position: string; gtid?: string } }).binlog;
    const pidBefore = await shop.pid();
    const checksumsBefore = await shop.checksums(['shop']);
    // The next transaction's position (what makes a replay skip one), then a GTID ahead of the data's.
    const position = String(Number(recorded.position) + 215);
    const gtid = (recorded.gtid ?? '0-1-1').replace(/-(\d+)$/, (_, sequence: string) => `-${Number(sequence) + 1}`);
    for (const [altered, restoreTarget, shown] of [
      [{ position }, undefined, `${recorded.file}:${position}${recorded.gtid ? ` (GTID ${recorded.gtid})` : ''}`],
      [{ gtid }, { kind: 'verify' }, `${recorded.file}:${recorded.position} (GTID ${gtid})`],
    ] as const) {
      const manifest = JSON.parse(original) as { binlog: Record<string, string> };
      await bucket.put(key, JSON.stringify({ ...manifest, binlog: { ...manifest.binlog, ...altered } }));
      const { failure } = await failedRestore({ cluster: 'sf-altered', backupName: full.name, ...(restoreTarget ? { target: restoreTarget } : {}) });
      expect(failure).toMatchObject({
        type: 'ChecksumMismatch',
        message: expect.stringContaining(`${full.name} (extracted): ${toolFileNames.info} disagrees with the manifest: the binary log position is ${recorded.file}:${recorded.position}${recorded.gtid ? ` (GTID ${recorded.gtid})` : ''} in the data but ${shown} in the manifest`) as unknown,
      });
    }
    // Refused before the pause: the same server, the same data.
    expect(await shop.pid()).toBe(pidBefore);
    expect(await shop.checksums(['shop'])).toEqual(checksumsBefore);
    await bucket.put(key, original);
  });

  test('verify fails a backup whose data lacks a table its inventory recorded, naming the table', async () => {
    const full = await runBackup('sf-altered', 'full');
    const key = `${taskQueue}-altered/${full.path}manifest.json`;
    const intact = await bucket.getText(key);
    const manifest = JSON.parse(intact) as Manifest;
    await bucket.put(key, JSON.stringify({ ...manifest, inventory: [...(manifest.inventory ?? []), { schema: 'shop', table: 'ghost', engine: 'InnoDB' }, { schema: 'shop', table: 'customers', engine: 'MyISAM' }] }));
    try {
      const { failure } = await failedRestore({ cluster: 'sf-altered', backupName: full.name, target: { kind: 'verify' } });
      expect(failure).toMatchObject({ type: 'VerificationFailed', message: expect.stringContaining(`verification of ${full.name} failed: table shop.ghost (InnoDB) is missing; table shop.customers is InnoDB, the backup recorded MyISAM`) });
      const stored = JSON.parse(await bucket.getText(`${taskQueue}-altered/${full.path}verification.json`)) as { result: string; problems: string[] };
      expect(stored).toMatchObject({ result: 'failed', problems: [expect.stringContaining('table shop.ghost (InnoDB) is missing')] });
    } finally {
      await bucket.put(key, intact);
    }
  });
});

describe('leftovers of killed backups', () => {
  test('the orphan sweep aborts the open multipart upload of a backup whose workflow never finished', async () => {
    // What a backup leaves when its worker dies and its workflow is terminated: the start marker and an open upload.
    const folder = `${taskQueue}-sweep/sf-sweep-2026-01-01T000000.000Z-full/`;
    await bucket.put(`${folder}started.json`, '{}');
    await bucket.startMultipartUpload(`${folder}backup.xbstream.zst`);
    expect(await bucket.openMultipartUploads(`${folder}backup.xbstream.zst`)).toHaveLength(1);
    const result = await client.workflow.execute(retentionWorkflow, { taskQueue, workflowId: uniqueName('retention-sweep'), args: [{ cluster: 'sf-sweep' }] });
    expect(result.orphans).toEqual(['sf-sweep-2026-01-01T000000.000Z-full/']);
    expect(await bucket.openMultipartUploads(`${folder}backup.xbstream.zst`)).toEqual([]);
    expect(await bucket.list(`${taskQueue}-sweep`)).toEqual([]);
  });
});

describe('secrets', () => {
  test('a worker killed while holding a password file leaves none behind once it is restarted', async () => {
    const handle = await client.workflow.start(backupWorkflow, { taskQueue, workflowId: uniqueName('backup-slow-killed'), args: [{ cluster: 'sf-slow', type: 'full' }] });
    const ownFolder = join(secretsDir, `process-${worker.child.pid ?? 0}`);
    // The tool sleeps before it starts, holding its defaults file: one that stays for half a second is
    // the tool's, not that of a quick query (those come and go, and a folder appears before its file).
    const defaultsFiles = async () => (await readdir(ownFolder, { recursive: true }).catch(() => [])).filter((file) => file.endsWith('client.cnf'));
    let held: string | undefined;
    for (let tries = 0; tries < 100 && held === undefined; tries++) {
      const seen = await defaultsFiles();
      await new Promise((resolve) => setTimeout(resolve, 500));
      held = (await defaultsFiles()).find((file) => seen.includes(file));
    }
    expect(held).toBeDefined();
    await worker.kill();
    expect((await readdir(ownFolder, { recursive: true })).some((file) => file.endsWith('client.cnf'))).toBe(true);
    worker = await startWorker(configPath, [], { [passwordVariable]: shopPassword, CHAINBACKUP_SECRETS_DIR: secretsDir });
    await expect(readdir(ownFolder)).rejects.toThrow('ENOENT');
    await expect(handle.result()).resolves.toMatchObject({ type: 'full' });
  });

  test('no password or storage secret in any history, the worker log, or a tool process', async () => {
    const secret = process.env.AWS_SECRET_ACCESS_KEY as string;
    expect(secret.length).toBeGreaterThan(8);
    // A backup and two restores of shop (a clone and in place), so every kind of step has run.
    const increment = await runBackup('sf-shop', 'incremental');
    const clone = join(dir, 'clone-for-secrets');
    await client.workflow.execute(restoreWorkflow, { taskQueue, workflowId: uniqueName('clone-shop'), args: [{ cluster: 'sf-shop', backupName: increment.name, target: { kind: 'new-datadir', path: clone } }] });
    await client.workflow.execute(restoreWorkflow, { taskQueue, workflowId: uniqueName('restore-shop'), args: [{ cluster: 'sf-shop', backupName: increment.name }] });

    const histories: string[] = [];
    for await (const execution of client.workflow.list({ query: `TaskQueue = "${taskQueue}"` })) {
      const handle = client.workflow.getHandle(execution.workflowId, execution.runId);
      histories.push(JSON.stringify(await handle.fetchHistory()), JSON.stringify(await handle.describe()));
    }
    expect(histories.length).toBeGreaterThan(10);
    const dumps = await readdir(toolDumps);
    expect(dumps.filter((file) => file.endsWith('.environ')).length).toBeGreaterThan(1);
    const toolFiles = await Promise.all(dumps.map((file) => readFile(join(toolDumps, file), 'utf8')));
    const serverPid = await shop.pid();
    const serverEnviron = await readFile(`/proc/${serverPid ?? 0}/environ`, 'utf8');
    const serverCmdline = await readFile(`/proc/${serverPid ?? 0}/cmdline`, 'utf8');
    for (const [where, text] of [
      ['workflow histories', histories.join('\n')],
      ['the worker log', worker.output()],
      ['the backup tool', toolFiles.join('\n')],
      ['the restarted server', serverEnviron + serverCmdline],
    ] as const) {
      expect({ where, hasPassword: text.includes(shopPassword), hasSecret: text.includes(secret) }).toEqual({ where, hasPassword: false, hasSecret: false });
    }
    // The tool got the connection through a defaults file, and no variable of the worker's but the basic ones.
    const environ = toolFiles.filter((_, index) => dumps[index]?.endsWith('.environ')).join('\n');
    expect(environ).not.toMatch(/^(AWS_|CHAINBACKUP_|TEMPORAL_)/m);
    expect(toolFiles.join('\n')).toMatch(/^--defaults-file=.*client\.cnf$/m);
  });
});
