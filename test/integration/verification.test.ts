/**
 * Issue 17: backups proven by a real restore, and each cluster's health. On real MariaDB, the real
 * dev server and filesystem storage: a healthy chain verified while the live server is queried and
 * written to (its data and uptime untouched), the outcome in `list`, `show`, `status` and the search
 * attributes; a data page flipped inside a stored increment's delta (everything else, sha256 and
 * sizes included, made consistent) caught only by the verification, after which restores and the
 * next increment refuse the chain; a failing user check; verification right after a backup; and
 * `status` exiting non-zero naming each health rule that is broken.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join, relative } from 'node:path';
import { execa } from 'execa';
import type { Client } from '@temporalio/client';
import type { MariaDbSandbox } from '../../devtools/sandbox/mariadb.js';
import type { Manifest, VerificationRecord } from '../../domain/manifest.js';
import type { ClusterStatus } from '../../domain/health.js';
import { backup as backupWorkflow, restore as restoreWorkflow, type BackupResult, type ClusterCatalog, type RestoreResult } from '../../workflows/index.js';
import { freePort, repoRoot, toolPath } from '../../devtools/sandbox/processes.js';
import { activityRuns, connectTestClient, typedFailureOf, createSandbox, filesystemStorage, runCli, startWorker, testRoot, uniqueName, writeConfig, type WorkerProcess } from '../support/environment.js';
import { eventually } from '../support/workflow-worker.js';
import { SEARCH_ATTRIBUTES } from '../../domain/search-attributes.js';

const taskQueue = uniqueName('verification');
const dir = join(testRoot(), taskQueue);
const storage = (cluster: string) => filesystemStorage(`${taskQueue}-${cluster}`);
const userCheck = { name: 'customers are there', query: 'SELECT COUNT(*) FROM shop.customers', atLeast: 1 };

let source: MariaDbSandbox;
let configPath: string;
let worker: WorkerProcess;
let client: Client;
let closeClient: () => Promise<void>;

const cli = (...args: string[]) => runCli(['--config', configPath, ...args]);

function clusterEntry(name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return source.clusterConfig(name, storage(name), { schedule: { enabled: false }, retry: { maximumAttempts: 2, initialInterval: '200ms' }, ...extra });
}

beforeAll(async () => {
  await mkdir(dir, { recursive: true });
  source = await createSandbox(`${taskQueue}-source`);
  await source.loadSampleData(3000);
  await source.sql('CREATE TABLE shop.live_writes (id INT PRIMARY KEY AUTO_INCREMENT, at DATETIME(3)) ENGINE=InnoDB');
  await writeFile(join(dir, 'narrow-password'), 'narrow-secret\n', { mode: 0o600 });
  await source.sql("CREATE USER 'narrow'@'localhost' IDENTIFIED BY 'narrow-secret'; GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR ON *.* TO 'narrow'@'localhost'");
  configPath = await writeConfig(taskQueue, {
    temporal: { taskQueue },
    clusters: [
      clusterEntry('vf', { verification: { checks: [userCheck] } }),
      clusterEntry('vf-flip'),
      clusterEntry('vf-checks', { verification: { checks: [userCheck, { name: 'a million orders', query: 'SELECT COUNT(*) FROM shop.orders', atLeast: 1_000_000 }] } }),
      clusterEntry('vf-after', { verification: { afterBackup: true } }),
      clusterEntry('vf-health', { binlogs: { archive: true, interval: '1m' } }),
      clusterEntry('vf-proof'),
      clusterEntry('vf-after-fails', { verification: { afterBackup: true, checks: [{ name: 'a million orders', query: 'SELECT COUNT(*) FROM shop.orders', atLeast: 1_000_000 }] } }),
      // The backup grants alone (no SELECT): information_schema hides every table from this user.
      clusterEntry('vf-narrow', { connection: { socket: source.socket, user: 'narrow', passwordFile: join(dir, 'narrow-password') } }),
    ],
  });
  worker = await startWorker(configPath);
  ({ client, close: closeClient } = await connectTestClient());
});

afterAll(async () => {
  await closeClient?.();
  await worker?.stop();
  await source?.stop();
});

/** A restart makes InnoDB write its dirty pages, so the next backup's LSN range holds the changes as delta pages. */
async function checkpoint(): Promise<void> {
  await source.stop();
  await source.start();
}

async function takeBackup(cluster: string, type: 'full' | 'incremental', extra: Record<string, unknown> = {}): Promise<BackupResult> {
  return client.workflow.execute(backupWorkflow, { taskQueue, workflowId: uniqueName(`backup-${cluster}`), args: [{ cluster, type, ...extra }] });
}


const status = (cluster: string, config = configPath) => runCli(['--config', config, 'status', cluster, '--json']);

describe('a healthy chain, verified by a real restore', () => {
  test('passes while the live server is read and written throughout, untouched; the outcome shows in list, show, status and the search attributes', async () => {
    await checkpoint();
    const full = await takeBackup('vf', 'full');
    await source.sql("UPDATE shop.customers SET email = 'after-full' WHERE id < 500");
    await checkpoint();
    await takeBackup('vf', 'incremental');
    await source.sql('UPDATE shop.orders SET total = total + 1 WHERE id < 800');
    await checkpoint();
    const tip = await takeBackup('vf', 'incremental');

    // The live server, queried and written to for as long as the verification runs.
    const before = await source.checksums(['shop']);
    const pid = await source.pid();
    const uptimes: number[] = [];
    let writes = 0;
    let verifying = true;
    const live = (async () => {
      while (verifying) {
        const [[uptime = '0'] = []] = await source.sql("SELECT variable_value FROM information_schema.global_status WHERE variable_name = 'UPTIME'");
        uptimes.push(Number(uptime));
        await source.sql('INSERT INTO shop.live_writes (at) VALUES (NOW(3))');
        writes++;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    })();
    const run = await cli('verify', 'vf', '--json').finally(() => (verifying = false));
    await live;
    expect(run.exitCode).toBe(0);
    const verified = JSON.parse(run.stdout) as RestoreResult;
    expect(verified).toMatchObject({ restored: tip.name, chain: [full.name, expect.any(String), tip.name], target: { kind: 'verify' } });
    expect(verified.verification).toMatchObject({ tables: 3, inventoryTables: 3, checks: [userCheck.name] });
    expect(BigInt(verified.verification?.serverLsn ?? '0')).toBeGreaterThanOrEqual(BigInt(tip.lastLsn));

    // Untouched: the same process, its uptime never went back, every write is there, the rest unchanged.
    expect(await source.pid()).toBe(pid);
    expect(writes).toBeGreaterThan(0);
    expect(uptimes).toEqual([...uptimes].sort((a, b) => a - b));
    expect(await source.sql('SELECT COUNT(*) FROM shop.live_writes')).toEqual([[String(writes)]]);
    const after = await source.checksums(['shop']);
    expect({ ...after, 'shop.live_writes': '' }).toEqual({ ...before, 'shop.live_writes': '' });

    // The outcome, stored beside the backup and shown where operators look.
    const [catalog] = JSON.parse((await cli('list', 'vf', '--json')).stdout) as ClusterCatalog[];
    const listed = catalog?.chains[0]?.increments.at(-1);
    expect(listed).toMatchObject({ name: tip.name, verification: { result: 'passed', problems: [] } });
    expect(catalog?.chains[0]?.base.verification).toBeUndefined();
    const tree = (await cli('list', 'vf')).stdout.split('\n');
    expect(tree.find((line) => line.includes(tip.name))).toMatch(/committed {2}verified \d+m ago$/);
    expect(tree.find((line) => line.includes(full.name))).toMatch(/committed {2}unverified$/);
    const shown = JSON.parse((await cli('show', 'vf', tip.name, '--json')).stdout) as Manifest & { verification: VerificationRecord };
    expect(shown.verification).toMatchObject({ result: 'passed', backup: tip.name, tables: 3, checks: [userCheck.name], workflowId: expect.stringMatching(/^verify-vf-newest-/) as unknown });
    expect((await cli('show', 'vf', tip.name)).stdout).toMatch(new RegExp(`verified: passed at \\S+ \\(3 tables, checks ${userCheck.name}, [\\d.]+ s\\) on \\S+ by verify-vf-newest-`));

    const health = await status('vf');
    expect(health.exitCode).toBe(0);
    const [report] = JSON.parse(health.stdout) as ClusterStatus[];
    expect(report).toMatchObject({ broken: [], health: { newestBackup: { name: tip.name }, newestVerified: { name: tip.name, verifiedAt: shown.verification.verifiedAt }, failedVerifications: [], running: [] } });
    expect((await cli('status', 'vf')).stdout).toMatch(new RegExp(`^vf {2}OK\\n {2}newest backup: {4}${tip.name} \\(incremental\\)`));

    const query = `BackupCluster = "vf" AND BackupType = "verify" AND VerificationResult = "passed" AND BackupName = "${tip.name}"`;
    const found = await eventually('the verification by its search attributes', async () => {
      const ids: string[] = [];
      for await (const execution of client.workflow.list({ query })) ids.push(execution.workflowId);
      return ids.length > 0 ? ids : undefined;
    });
    expect(found).toEqual([shown.verification.workflowId]);
    // A verification is not counted as a restore.
    for await (const execution of client.workflow.list({ query: `BackupCluster = "vf" AND BackupType = "restore"` })) throw new Error(`a verification counted as a restore: ${execution.workflowId}`);
  });
});

/** Runs a command in a folder and returns its output as bytes (a failure fails the test). */
const run = async (command: string, args: string[], cwd: string, options: { input?: Uint8Array } = {}): Promise<Buffer> => Buffer.from((await execa(command, args, { cwd, encoding: 'buffer', stripFinalNewline: false, ...options })).stdout);

async function filesUnder(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => relative(root, join(entry.parentPath, entry.name)));
}

/**
 * Damages one data page of a table inside a stored increment so that nothing but a server reading
 * the table can tell: the stream is decompressed and extracted, bytes in the middle of the first
 * page after the delta's header are inverted, the stream is packed and compressed again, and the
 * manifest's sha256, sizes and stream size are made to match.
 */
async function flipPageInIncrement(cluster: string, increment: BackupResult, table: string): Promise<void> {
  const folder = join((storage(cluster) as { path: string }).path, increment.path);
  const manifestPath = join(folder, 'manifest.json');
  const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as Manifest;
  const dataPath = join(folder, manifest.dataObject);
  const work = join(dir, `flip-${increment.name}`);
  await rm(work, { recursive: true, force: true });
  await mkdir(join(work, 'files'), { recursive: true });
  const stream = await run('zstd', ['-d', '-c', dataPath], work);
  await run('mbstream', ['-x'], join(work, 'files'), { input: stream });
  const delta = join(work, 'files', `${table}.ibd.delta`);
  const pages = await readFile(delta);
  // Page 0 of a delta lists the page numbers it holds ("XTRA" magic); page 1 is the first data page.
  expect(pages.subarray(0, 4).toString('latin1')).toBe('XTRA');
  expect(pages.length).toBeGreaterThanOrEqual(2 * 16384);
  for (let offset = 16384 + 8000; offset < 16384 + 8016; offset++) pages[offset] = (pages[offset] ?? 0) ^ 0xff;
  await writeFile(delta, pages);
  const packed = await run('mbstream', ['-c', ...(await filesUnder(join(work, 'files')))], join(work, 'files'));
  const compressed = await run('zstd', ['-c', '-q'], work, { input: packed });
  await writeFile(dataPath, compressed);
  const sha256 = createHash('sha256').update(compressed).digest('hex');
  const objects = manifest.objects.map((object) => (object.name === manifest.dataObject ? { ...object, size: compressed.length, sha256 } : object));
  await writeFile(manifestPath, JSON.stringify({ ...manifest, objects, sizeBytes: objects.reduce((sum, object) => sum + object.size, 0), streamBytes: packed.length }, null, 2));
  expect((await stat(dataPath)).size).toBe(compressed.length);
}

describe('damage only a real server can find', () => {
  test('a data page flipped inside a stored increment fails its verification naming the table; restores and the next increment then refuse the chain', async () => {
    await checkpoint();
    const full = await takeBackup('vf-flip', 'full');
    await source.sql("UPDATE shop.orders SET note = REPEAT('z', 200) WHERE id < 600");
    await checkpoint();
    const increment = await takeBackup('vf-flip', 'incremental');
    await flipPageInIncrement('vf-flip', increment, 'shop/orders');

    const verified = await cli('verify', 'vf-flip', increment.name);
    expect(verified.exitCode).toBe(1);
    expect(verified.stderr).toMatch(new RegExp(`VerificationFailed: verification of ${increment.name} failed: .*CHECK TABLE shop\\.orders: `));
    expect(verified.stderr).toContain('reading shop.orders end to end failed');
    // The sha256 of every object matched: only the server reading the table found the damage.
    expect(verified.stderr).not.toMatch(/ChecksumMismatch|sha256/);
    const [catalog] = JSON.parse((await cli('list', 'vf-flip', '--json')).stdout) as ClusterCatalog[];
    expect(catalog?.chains[0]?.increments[0]?.verification).toMatchObject({ result: 'failed', problems: [expect.stringContaining('CHECK TABLE shop.orders')] });
    expect((await cli('list', 'vf-flip')).stdout).toMatch(new RegExp(`${increment.name} .* VERIFICATION FAILED \\d+m ago: verification of ${increment.name} failed: `));
    const failedQuery = `BackupCluster = "vf-flip" AND BackupType = "verify" AND VerificationResult = "failed"`;
    await eventually('the failed verification by its search attributes', async () => {
      for await (const execution of client.workflow.list({ query: failedQuery })) return execution.workflowId;
      return undefined;
    });

    // A restore of the chain refuses without the override; the full backup alone still restores.
    const clone = join(dir, 'flip-clone');
    const refused = await typedFailureOf(
      client.workflow.execute(restoreWorkflow, { taskQueue, workflowId: uniqueName('restore-vf-flip'), args: [{ cluster: 'vf-flip', backupName: increment.name, target: { kind: 'new-datadir', path: clone } }] }),
    );
    expect(refused).toMatchObject({ type: 'FailedVerification', message: expect.stringContaining(`refusing to restore from a chain that failed verification: ${increment.name}`) });
    await expect(stat(clone)).rejects.toThrow();
    const restoreCli = await cli('restore', 'vf-flip', increment.name, '--to-datadir', clone);
    expect(restoreCli).toMatchObject({ exitCode: 2, stderr: expect.stringContaining('--accept-failed-verification') });
    const restored = await client.workflow.execute(restoreWorkflow, { taskQueue, workflowId: uniqueName('restore-vf-flip'), args: [{ cluster: 'vf-flip', backupName: full.name, target: { kind: 'new-datadir', path: clone } }] });
    expect(restored.chain).toEqual([full.name]);

    // The next increment refuses, saying to start a new chain; accepted explicitly, it goes on.
    const next = await typedFailureOf(takeBackup('vf-flip', 'incremental'));
    expect(next).toMatchObject({ type: 'FailedVerification', message: expect.stringContaining('Start a new chain (chainbackup backup vf-flip --type full)') });
    const health = await status('vf-flip');
    expect(health.exitCode).toBe(4);
    expect(health.stderr).toContain('unhealthy: vf-flip verification');
    expect((JSON.parse(health.stdout) as ClusterStatus[])[0]?.health.failedVerifications).toEqual([expect.objectContaining({ name: increment.name })]);
    const accepted = await takeBackup('vf-flip', 'incremental', { acceptFailedVerification: true });
    expect(accepted.parent).toBe(increment.name);
  });

  test('a user check that fails makes the verification fail, naming the check', async () => {
    const full = await takeBackup('vf-checks', 'full');
    const failure = await typedFailureOf(client.workflow.execute(restoreWorkflow, { taskQueue, workflowId: uniqueName('verify-vf-checks'), args: [{ cluster: 'vf-checks', target: { kind: 'verify' } }] }));
    expect(failure).toMatchObject({ type: 'VerificationFailed', message: `verification of ${full.name} failed: check "a million orders" returned 6000, expected >= 1000000` });
  });
});

describe('verification right after a backup', () => {
  test('a backup of a cluster configured so is verified before its workflow completes, and tagged with the outcome', async () => {
    const taken = await takeBackup('vf-after', 'full');
    expect(taken.verification).toMatchObject({ tables: 3, inventoryTables: 3 });
    const stored = JSON.parse(await readFile(join((storage('vf-after') as { path: string }).path, taken.path, 'verification.json'), 'utf8')) as VerificationRecord;
    expect(stored).toMatchObject({ result: 'passed', backup: taken.name, workflowId: `${taskQueue}-verify-vf-after-after-${taken.name}` });
    await eventually('the backup by its verification result', async () => {
      for await (const execution of client.workflow.list({ query: `BackupCluster = "vf-after" AND BackupType = "full" AND VerificationResult = "passed"` })) return execution.workflowId;
      return undefined;
    });
  });
});

describe('status, against the health rules', () => {
  test('exits 4 naming each broken threshold, and 0 when every rule holds', async () => {
    const rulesConfig = async (name: string, health: Record<string, unknown>) =>
      writeConfig(`${taskQueue}-${name}`, { temporal: { taskQueue }, clusters: [clusterEntry('vf-health', { binlogs: { archive: true, interval: '1m' }, health })] });
    // No backup yet, and no archiver running.
    const empty = await status('vf-health', await rulesConfig('rules-strict', { newestBackupWithin: '26h', newestVerifiedWithin: '8d', archiveLagWithin: '5m' }));
    expect(empty.exitCode).toBe(4);
    expect(empty.stderr).toContain('unhealthy: vf-health health.newestBackupWithin, vf-health health.newestVerifiedWithin, vf-health health.archiveLagWithin');
    const [emptyReport] = JSON.parse(empty.stdout) as ClusterStatus[];
    expect(emptyReport?.broken.map((rule) => rule.message)).toEqual(['no committed backup (limit 26h)', 'no backup has passed a verification (limit 8d)', 'the binlog archiver did not answer (limit 5m)']);

    const full = await takeBackup('vf-health', 'full');
    const verify = await cli('verify', 'vf-health');
    expect(verify.exitCode).toBe(0);
    const generous = await rulesConfig('rules-generous', { newestBackupWithin: '26h', newestVerifiedWithin: '8d', maxFailuresSinceBackup: 0 });
    expect(await status('vf-health', generous)).toMatchObject({ exitCode: 0 });

    // Ages: limits shorter than the backup's age break both age rules.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const stale = await status('vf-health', await rulesConfig('rules-stale', { newestBackupWithin: '1s', newestVerifiedWithin: '1s' }));
    expect(stale.exitCode).toBe(4);
    const [staleReport] = JSON.parse(stale.stdout) as ClusterStatus[];
    expect(staleReport?.broken).toEqual([
      { rule: 'health.newestBackupWithin', message: expect.stringMatching(new RegExp(`^the newest backup ${full.name} is \\d+m old \\(limit 1s\\)$`)) as unknown },
      { rule: 'health.newestVerifiedWithin', message: expect.stringMatching(new RegExp(`^the newest verified backup ${full.name} is \\d+m old \\(limit 1s\\)$`)) as unknown },
    ]);

    // A refused backup is not a failure (it completes with its refusal): the rule still holds.
    const refused = await typedFailureOf(takeBackup('vf-health', 'incremental', { baseBackupName: 'vf-health-2026-01-01T000000.000Z-full' }));
    expect(refused.type).toBe('InvalidBaseBackup');
    expect(await status('vf-health', generous)).toMatchObject({ exitCode: 0 });
    // A failed backup since the newest committed one: its store's folder replaced by a file, every step that reads it fails.
    const { path: storePath } = storage('vf-health') as { path: string };
    await rename(storePath, `${storePath}.aside`);
    try {
      await writeFile(storePath, 'not a folder\n');
      await expect(takeBackup('vf-health', 'full')).rejects.toThrow();
    } finally {
      await rm(storePath, { force: true });
      await rename(`${storePath}.aside`, storePath);
    }
    const failures = await eventually('the failed backup in status', async () => {
      const result = await status('vf-health', generous);
      return result.exitCode === 4 ? result : undefined;
    });
    expect(failures.stderr).toContain('unhealthy: vf-health health.maxFailuresSinceBackup');
    expect((JSON.parse(failures.stdout) as ClusterStatus[])[0]?.broken[0]?.message).toMatch(/^1 backups failed since the newest committed one \(limit 0\): /);
    // The text view names it too.
    expect((await runCli(['--config', generous, 'status', 'vf-health'])).stdout).toMatch(/^ {2}BROKEN health\.maxFailuresSinceBackup: 1 backups failed/m);

    // The same facts on a worker's Prometheus endpoint, checked against the worker's own rules.
    const port = await freePort();
    const metricsConfig = await writeConfig(`${taskQueue}-metrics`, {
      temporal: { taskQueue },
      clusters: [clusterEntry('vf-health', { binlogs: { archive: true, interval: '1m' }, health: { maxFailuresSinceBackup: 0 } })],
      worker: { metrics: { listen: `127.0.0.1:${port}` } },
    });
    const metricsWorker = await startWorker(metricsConfig, ['--no-orchestrator']);
    try {
      expect(metricsWorker.output()).toContain(`metrics at http://127.0.0.1:${port}/metrics`);
      const response = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
      const text = await response.text();
      expect(text).toContain(`chainbackup_last_backup_timestamp_seconds{cluster="vf-health"} ${Math.round(Date.parse(full.finishedAt) / 1000)}\n`);
      expect(text).toContain('chainbackup_status_up{cluster="vf-health"} 1\n');
      expect(text).toContain('chainbackup_backup_failures_since_last_backup{cluster="vf-health"} 1\n');
      expect(text).toContain('chainbackup_healthy{cluster="vf-health"} 0\n');
      expect(text).toMatch(/^chainbackup_last_verified_backup_timestamp_seconds\{cluster="vf-health"\} \d+$/m);
      expect((await fetch(`http://127.0.0.1:${port}/other`)).status).toBe(404);
    } finally {
      await metricsWorker.stop();
    }
  });
});

describe('a verification after a backup that fails', () => {
  test('says what failed and that the chain must start again, not that it did not complete', async () => {
    const failure = await typedFailureOf(takeBackup('vf-after-fails', 'full'));
    expect(failure.type).toBe('VerificationFailed');
    expect(failure.message).toMatch(/^vf-after-fails-\S+-full is committed, but failed its verification: verification of \S+ failed: check "a million orders" returned 6000, expected >= 1000000\. Restores and increments refuse it: start a new chain \(chainbackup backup vf-after-fails --type full\)$/);
  });
});

describe('an inventory the backup user cannot read', () => {
  test('is not recorded empty: the backup names the missing grant, and the verification says it compared none', async () => {
    const taken = await takeBackup('vf-narrow', 'full');
    expect(taken.warnings).toEqual([expect.stringContaining("lacks SELECT on *.*, so information_schema hides the tables: no inventory was recorded, and a verification cannot compare one (GRANT SELECT ON *.* TO 'narrow'@'localhost')")]);
    const manifest = JSON.parse(await readFile(join((storage('vf-narrow') as { path: string }).path, taken.path, 'manifest.json'), 'utf8')) as Manifest;
    expect(manifest.inventory).toBeUndefined();
    expect(manifest.inventoryProblem).toContain('lacks SELECT');
    const verified = await client.workflow.execute(restoreWorkflow, { taskQueue, workflowId: uniqueName('verify-vf-narrow'), args: [{ cluster: 'vf-narrow', target: { kind: 'verify' } }] });
    expect(verified.verification?.inventoryNotCompared).toContain('lacks SELECT');
    expect(verified.verification?.tables).toBeGreaterThanOrEqual(3);
    const record = JSON.parse(await readFile(join((storage('vf-narrow') as { path: string }).path, taken.path, 'verification.json'), 'utf8')) as VerificationRecord;
    expect(record.inventoryNotCompared).toContain('lacks SELECT');
    // The operator reads it at the command line too.
    expect((await cli('verify', 'vf-narrow')).stdout).toContain('no inventory compared: the backup user narrow@localhost lacks SELECT');
  });
});

describe('an in-place restore proves the data before it pauses the server', () => {
  test('a damaged backup that was never verified is refused before the pause, the server untouched; the failure is recorded', async () => {
    await checkpoint();
    await takeBackup('vf-proof', 'full');
    await source.sql("UPDATE shop.orders SET note = REPEAT('y', 200) WHERE id < 600");
    await checkpoint();
    const increment = await takeBackup('vf-proof', 'incremental');
    await flipPageInIncrement('vf-proof', increment, 'shop/orders');
    const before = await source.checksums(['shop']);
    const pid = await source.pid();

    const workflowId = uniqueName('restore-vf-proof');
    const refused = await typedFailureOf(client.workflow.execute(restoreWorkflow, { taskQueue, workflowId, args: [{ cluster: 'vf-proof', backupName: increment.name }] }));
    expect(refused.type).toBe('VerificationFailed');
    expect(refused.message).toMatch(new RegExp(`^restore of vf-proof refused before the pause, the server untouched: verification of ${increment.name} failed: .*CHECK TABLE shop\\.orders`));
    expect(await source.pid()).toBe(pid);
    expect(await source.checksums(['shop'])).toEqual(before);
    const steps = (await activityRuns(client, workflowId)).map((step) => step.type);
    expect(steps).toContain('verifyPreparedData');
    expect(steps).not.toContain('pauseCluster');
    const record = JSON.parse(await readFile(join((storage('vf-proof') as { path: string }).path, increment.path, 'verification.json'), 'utf8')) as VerificationRecord;
    expect(record).toMatchObject({ result: 'failed', problems: [expect.stringContaining('CHECK TABLE shop.orders')] });
  });

  test('a healthy backup is verified before the pause and recorded; the same objects are not verified twice; skipVerification is loud', async () => {
    const full = await takeBackup('vf-proof', 'full');
    const restoreInPlace = async (extra: Record<string, unknown> = {}) => {
      const workflowId = uniqueName('restore-vf-proof');
      const result = await client.workflow.execute(restoreWorkflow, { taskQueue, workflowId, args: [{ cluster: 'vf-proof', backupName: full.name, ...extra }] });
      return { result, steps: (await activityRuns(client, workflowId)).map((step) => step.type) };
    };
    const first = await restoreInPlace();
    expect(first.result.verifiedBeforePause).toEqual({ by: 'now', tables: expect.any(Number) as unknown });
    expect(first.steps.indexOf('verifyPreparedData')).toBeLessThan(first.steps.indexOf('pauseCluster'));
    const record = JSON.parse(await readFile(join((storage('vf-proof') as { path: string }).path, full.path, 'verification.json'), 'utf8')) as VerificationRecord;
    expect(record).toMatchObject({ result: 'passed', chainObjects: expect.arrayContaining([expect.stringMatching(new RegExp(`^${full.name}/backup\\.xbstream\\.zst:[0-9a-f]{64}$`))]) });

    const second = await restoreInPlace();
    expect(second.result.verifiedBeforePause).toEqual({ by: 'recorded', verifiedAt: record.verifiedAt });
    expect(second.steps).not.toContain('verifyPreparedData');

    const unverified = await takeBackup('vf-proof', 'full');
    const skipped = await client.workflow.execute(restoreWorkflow, { taskQueue, workflowId: uniqueName('restore-vf-proof'), args: [{ cluster: 'vf-proof', backupName: unverified.name, skipVerification: true }] });
    expect(skipped.verifiedBeforePause).toEqual({ by: 'skipped' });
    expect(worker.output()).toContain('restoring data that no server has read');
  });
});

describe('a namespace without the search attributes', () => {
  test('a worker refuses to start there, printing the commands that register them', async () => {
    const namespace = uniqueName('bare');
    await execa(toolPath('temporal'), ['operator', 'namespace', 'create', '--namespace', namespace, '--address', process.env.TEMPORAL_ADDRESS ?? '']);
    const started = await execa(process.execPath, [join(repoRoot, 'dist/worker/main.js'), '--config', configPath], { reject: false, timeout: 60_000, env: { ...process.env, TEMPORAL_NAMESPACE: namespace } });
    expect(started.exitCode).toBe(1);
    expect(started.stderr).toContain(`chainbackup worker: namespace ${namespace} lacks the search attributes ${SEARCH_ATTRIBUTES.map((attribute) => attribute.name).join(', ')}; register them first: temporal operator search-attribute create --namespace ${namespace} --name BackupCluster --type Keyword`);
    expect(started.stderr).toContain(`--name LedgerSeq --type Int`);
  });
});
