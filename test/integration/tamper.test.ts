/**
 * Issue 34, tamper evidence: with an integrity key (and no encryption), a real MariaDB's chain and
 * archived binlogs in MinIO carry signed records. Whoever can write to the store, without the key,
 * changes a manifest's binlog position or GTID, forges an archived binlog and its record, moves a
 * record onto another file's name, or removes a signature: each restore is refused before the
 * pause, the target server untouched. Forged markers (a passed verification, a deletion) count for
 * nothing and `status` reports them. Records from before the key are refused until an operator
 * adopts them (`chainbackup adopt`). Untouched, a restore to the newest transaction is exact.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import type { MariaDbSandbox } from '../../devtools/sandbox/mariadb.js';
import { binlogRecordSchema } from '../../domain/binlog-archive.js';
import type { Manifest } from '../../domain/manifest.js';
import { binlogArchiveQuery, WorkflowId } from '../../domain/workflow-contract.js';
import { backup as backupWorkflow, binlogArchiver, restore as restoreWorkflow, type BackupResult } from '../../workflows/index.js';
import { stopArchiver, untilArchiveCaughtUp } from '../support/binlog-archive.js';
import { eventually } from '../support/workflow-worker.js';
import { connectTestClient, refusedRestore, createSandbox, runCli, typedFailureOf, s3Storage, startWorker, testRoot, TestBucket, uniqueName, writeConfig, type WorkerProcess } from '../support/environment.js';

const name = uniqueName('tamper');
const prefix = `${name}-store`;
const storage = s3Storage(prefix);
const bucket = new TestBucket();
const archiveFolder = (root: string) => `${root}/binlogs/tamper/history-0`;

let source: MariaDbSandbox;
let target: MariaDbSandbox;
let client: Client;
let closeClient: () => Promise<void>;
let worker: WorkerProcess | undefined;
let keylessConfig: string;
let keyedConfig: string;
let queue: string;

/**
 * The worker's configuration: the cluster and its copy on another server, with or without an
 * integrity key. The same queues either way: the worker is restarted with a key, as an operator does.
 */
async function configWith(tag: string, integrity: unknown): Promise<string> {
  const clusters = [
    source.clusterConfig('tamper', storage, { taskQueue: `${name}-host`, schedule: { enabled: false }, binlogs: { archive: true, interval: '1s' }, retry: { maximumAttempts: 2, initialInterval: '200ms' } }),
    target.clusterConfig('tamper-copy', storage, { taskQueue: `${name}-copy`, schedule: { enabled: false }, connection: { ...source.connection(), socket: target.socket }, retry: { maximumAttempts: 2, initialInterval: '200ms' } }),
  ];
  return writeConfig(`${name}-${tag}`, { temporal: { taskQueue: name }, clusters, ...(integrity ? { integrity } : {}) });
}

async function serve(configPath: string): Promise<string> {
  await worker?.stop();
  worker = await startWorker(configPath);
  return name;
}

const backup = (type: 'full' | 'incremental') => client.workflow.execute(backupWorkflow, { taskQueue: queue, workflowId: uniqueName(`backup-tamper-${type}`), args: [{ cluster: 'tamper', type }] });
const manifestOf = async (root: string, result: BackupResult) => JSON.parse(await bucket.getText(`${root}/${result.path}manifest.json`)) as Manifest & { signature?: unknown };

/** A restore into tamper-copy that must be refused before the pause: its first typed failure, and whether it paused or restarted the target. */
const refused = (request: Record<string, unknown>) => refusedRestore(client, target, { taskQueue: queue, workflowId: uniqueName('restore-tamper-refused') }, { cluster: 'tamper-copy', ...request });

/** A copy of the whole store under a prefix of its own, for one attack. */
async function copyOfStore(tag: string): Promise<string> {
  const copy = `${prefix}-${tag}`;
  await bucket.copyPrefix(prefix, copy);
  return copy;
}

let full: BackupResult;
let increment: BackupResult;
let newestGtid: string;
let atNewest: Record<string, string>;

beforeAll(async () => {
  source = await createSandbox(`${name}-source`);
  target = await createSandbox(`${name}-target`);
  await source.loadSampleData(2000);
  const dir = join(testRoot(), `${name}-keys`);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFile(join(dir, 'records-1'), `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  keylessConfig = await configWith('keyless', undefined);
  keyedConfig = await configWith('keyed', { currentKey: 'records-1', keys: [{ id: 'records-1', file: join(dir, 'records-1') }] });
  ({ client, close: closeClient } = await connectTestClient());
});

afterAll(async () => {
  await stopArchiver(client, WorkflowId.binlogArchiver('tamper'));
  bucket.close();
  await closeClient?.();
  await worker?.stop();
  await Promise.all([source?.stop(), target?.stop()]);
});

describe('tamper evidence', () => {
  test('a store from before the key is trusted by no one until an operator adopts it; status says when nothing is signed', async () => {
    queue = await serve(keylessConfig);
    full = await backup('full');
    expect(await manifestOf(prefix, full)).not.toHaveProperty('signature');
    const keylessStatus = await runCli(['--config', keylessConfig, 'status', 'tamper']);
    expect(keylessStatus.stdout).toContain(`integrity:        none: records are not signed, so whoever can write to s3://backups/${prefix}`);

    queue = await serve(keyedConfig);
    expect(worker?.output()).toContain('records signed and checked with key "records-1" (integrity)');
    const unadopted = await refused({ source: { storage, path: full.path } });
    expect(unadopted).toMatchObject({ type: 'Unauthenticated', paused: false, serverRestarted: false });
    expect(unadopted.message).toContain(`${full.name} is not committed (manifest is not signed`);
    const keyedStatus = await runCli(['--config', keyedConfig, 'status', 'tamper']);
    expect(keyedStatus.exitCode).toBe(4);
    expect(keyedStatus.stdout).toContain(`BROKEN integrity: ${full.name}: manifest is not signed`);

    const dryRun = await runCli(['--config', keyedConfig, 'adopt', 'tamper', '--dry-run']);
    expect(dryRun).toMatchObject({ exitCode: 0, stdout: expect.stringContaining(`would sign 1 record: ${full.path}manifest.json`) as unknown });
    expect(await manifestOf(prefix, full)).not.toHaveProperty('signature');
    const adopted = await runCli(['--config', keyedConfig, 'adopt', 'tamper']);
    expect(adopted).toMatchObject({ exitCode: 0, stdout: expect.stringContaining(`signed 1 record: ${full.path}manifest.json`) as unknown });
    expect(await manifestOf(prefix, full)).toHaveProperty('signature.keyId', 'records-1');
    const again = await runCli(['--config', keyedConfig, 'adopt', 'tamper']);
    expect(again.stdout).toContain('signed 0 records\nalready signed: 1');
    const signedStatus = await runCli(['--config', keyedConfig, 'status', 'tamper']);
    expect(signedStatus.stdout).toContain('integrity:        records signed and checked, all authentic');
  });

  test('untouched, a signed chain and its signed archive restore exactly to the newest transaction', async () => {
    await client.workflow.start(binlogArchiver, { taskQueue: queue, workflowId: WorkflowId.binlogArchiver('tamper'), args: [{ cluster: 'tamper' }] });
    await source.sql('USE shop; UPDATE orders SET total = total + 3 WHERE id % 7 = 0');
    increment = await backup('incremental');
    await source.sql("USE shop; INSERT INTO customers SELECT 400000 + seq, 'after the chain', NULL FROM seq_1_to_300");
    await source.sql('FLUSH BINARY LOGS');
    await untilArchiveCaughtUp(client, WorkflowId.binlogArchiver('tamper'), source);
    for (const entry of (await bucket.list(archiveFolder(prefix))).filter((object) => object.key.endsWith('.json'))) {
      expect({ entry: entry.key, record: JSON.parse(await bucket.getText(`${archiveFolder(prefix)}/${entry.key}`)) as unknown }).toMatchObject({ entry: entry.key, record: { signature: { keyId: 'records-1' } } });
    }
    atNewest = await source.checksums(['shop']);
    [[newestGtid = ''] = []] = await source.sql('SELECT @@gtid_binlog_pos');
    await client.workflow.execute(restoreWorkflow, { taskQueue: queue, workflowId: uniqueName('restore-tamper-point'), args: [{ cluster: 'tamper-copy', source: { storage, cluster: 'tamper' }, gtid: newestGtid }] });
    expect(await target.checksums(['shop'])).toEqual(atNewest);
  });

  test("a manifest's binlog position or GTID changed without the key is refused before the pause; a restore to a point goes around it, exactly", async () => {
    const manifest = await manifestOf(prefix, increment);
    expect(manifest.binlog).not.toBeNull();
    const moved = await copyOfStore('position');
    await bucket.put(`${moved}/${increment.path}manifest.json`, JSON.stringify({ ...manifest, binlog: { ...manifest.binlog, position: String(Number(manifest.binlog?.position) + 215) } }));
    const position = await refused({ source: { storage: s3Storage(moved), path: increment.path } });
    expect(position).toMatchObject({ type: 'Unauthenticated', paused: false, serverRestarted: false });
    expect(position.message).toContain(`${increment.name} is not committed (manifest fails authentication with key "records-1"`);
    // A restore to a point passes the changed increment over: it replays from the authentic full backup, exactly.
    const point = await client.workflow.execute(restoreWorkflow, { taskQueue: queue, workflowId: uniqueName('restore-tamper-around'), args: [{ cluster: 'tamper-copy', source: { storage: s3Storage(moved), cluster: 'tamper' }, gtid: newestGtid }] });
    expect(point.chain).toEqual([full.name]);
    expect(await target.checksums(['shop'])).toEqual(atNewest);

    const seeded = await copyOfStore('gtid');
    await bucket.put(`${seeded}/${increment.path}manifest.json`, JSON.stringify({ ...manifest, binlog: { ...manifest.binlog, gtid: '0-1-999999' } }));
    expect(await refused({ source: { storage: s3Storage(seeded), path: increment.path } })).toMatchObject({ type: 'Unauthenticated', paused: false, serverRestarted: false, message: expect.stringContaining('manifest fails authentication') as unknown });
  });

  test('a forged archived binlog, a record moved onto another file, and a record stripped of its signature are refused before the pause', async () => {
    const needed = (await manifestOf(prefix, increment)).binlog?.file ?? '';
    const records = (await bucket.list(archiveFolder(prefix))).map((object) => object.key).filter((key) => key.endsWith('.json') && !key.startsWith('gap-'));
    const other = records.find((key) => key !== `${needed}.json`) ?? '';
    expect(records).toContain(`${needed}.json`);
    expect(other).not.toBe('');

    // Another file's bytes in place of the one the replay needs, its record rewritten to agree.
    const forged = await copyOfStore('forged-binlog');
    const record = binlogRecordSchema.parse(JSON.parse(await bucket.getText(`${archiveFolder(forged)}/${needed}.json`)));
    const otherRecord = binlogRecordSchema.parse(JSON.parse(await bucket.getText(`${archiveFolder(forged)}/${other}`)));
    const bytes = await bucket.getBytes(`${archiveFolder(forged)}/${otherRecord.object}`);
    await bucket.put(`${archiveFolder(forged)}/${record.object}`, bytes);
    await bucket.put(`${archiveFolder(forged)}/${needed}.json`, JSON.stringify({ ...record, sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length }));
    const forgedRun = await refused({ source: { storage: s3Storage(forged), cluster: 'tamper' }, gtid: newestGtid });
    expect(forgedRun).toMatchObject({ type: 'Unauthenticated', paused: false, serverRestarted: false });
    expect(forgedRun.message).toContain(`binlogs/tamper/history-0/${needed}.json (in s3://backups/${forged}`);
    expect(forgedRun.message).toContain('is not signed');

    // A genuine record, signed for another file, put in place of the needed one.
    const moved = await copyOfStore('moved-record');
    await bucket.put(`${archiveFolder(moved)}/${needed}.json`, await bucket.getText(`${archiveFolder(moved)}/${other}`));
    const movedRun = await refused({ source: { storage: s3Storage(moved), cluster: 'tamper' }, gtid: newestGtid });
    expect(movedRun).toMatchObject({ type: 'Unauthenticated', paused: false, serverRestarted: false, message: expect.stringContaining(`written for another place than binlogs/tamper/history-0/${needed}.json`) as unknown });

    // The genuine record with its signature removed: no worker with the key takes it.
    const stripped = await copyOfStore('stripped');
    const { signature: _removed, ...unsigned } = JSON.parse(await bucket.getText(`${archiveFolder(stripped)}/${needed}.json`)) as Record<string, unknown>;
    await bucket.put(`${archiveFolder(stripped)}/${needed}.json`, JSON.stringify(unsigned));
    expect(await refused({ source: { storage: s3Storage(stripped), cluster: 'tamper' }, gtid: newestGtid })).toMatchObject({ type: 'Unauthenticated', paused: false, serverRestarted: false, message: expect.stringContaining('is not signed') as unknown });
  });

  test('a forged passed verification and a forged deletion marker count for nothing, and status reports both', async () => {
    const verification = `${prefix}/${increment.path}verification.json`;
    const marker = `${prefix}/${full.path}deleting.json`;
    await bucket.put(verification, JSON.stringify({ formatVersion: 1, backup: increment.name, result: 'passed', problems: [], verifiedAt: new Date().toISOString(), worker: 'nobody', workflowId: 'forged' }));
    await bucket.put(marker, JSON.stringify({ deletingChain: full.name, by: 'forged', since: new Date().toISOString() }));
    try {
      const listed = await runCli(['--config', keyedConfig, 'list', 'tamper', '--json']);
      const [catalog] = JSON.parse(listed.stdout) as { chains: { base: { name: string; problem?: string }; increments: { name: string; verification?: unknown; verificationProblem?: string }[] }[] }[];
      const chain = catalog?.chains.find((entry) => entry.base.name === full.name);
      // The chain is still listed (the marker is ignored), and the increment counts as unverified.
      expect(chain?.base.problem).toContain("its chain's deletion marker is not signed");
      expect(chain?.increments[0]).toMatchObject({ name: increment.name, verificationProblem: expect.stringContaining('verification.json is not signed') as unknown });
      expect(chain?.increments[0]?.verification).toBeUndefined();
      const status = await runCli(['--config', keyedConfig, 'status', 'tamper']);
      expect(status.exitCode).toBe(4);
      expect(status.stdout).toContain('integrity:        records signed and checked; 2 fail the check');
      expect(status.stdout).toContain(`BROKEN integrity: ${increment.name}: verification.json is not signed`);
      const metrics = await runCli(['--config', keyedConfig, 'status', 'tamper', '--prometheus']);
      expect(metrics.stdout).toContain('chainbackup_integrity_problems{cluster="tamper"} 2');
    } finally {
      await bucket.delete(verification);
      await bucket.delete(marker);
    }
  });

  test('archived binlogs removed from the store stop the archiver, which says so instead of archiving on, and status reports it', async () => {
    const caughtUp = await untilArchiveCaughtUp(client, WorkflowId.binlogArchiver('tamper'), source);
    const newest = caughtUp.newest?.file ?? '';
    const recordKey = `${archiveFolder(prefix)}/${newest}.json`;
    const record = binlogRecordSchema.parse(JSON.parse(await bucket.getText(recordKey)));
    const saved = [
      { key: recordKey, bytes: await bucket.getBytes(recordKey) },
      { key: `${archiveFolder(prefix)}/${record.object}`, bytes: await bucket.getBytes(`${archiveFolder(prefix)}/${record.object}`) },
    ];
    for (const object of saved) await bucket.delete(object.key);
    await source.sql("USE shop; INSERT INTO customers SELECT 500000 + seq, 'after the loss', NULL FROM seq_1_to_10");
    await source.sql('FLUSH BINARY LOGS');
    const refused = await eventually('the archiver refuses to go on', async () => {
      const state = await client.workflow.getHandle(WorkflowId.binlogArchiver('tamper')).query(binlogArchiveQuery);
      return state.lastError?.includes('archived binlogs vanished') ? state : undefined;
    }, 60_000);
    expect(refused.lastError).toContain(`this archiver archived up to ${newest}`);
    const status = await runCli(['--config', keyedConfig, 'status', 'tamper']);
    expect(status.exitCode).toBe(4);
    expect(status.stdout).toContain(`BROKEN integrity: binlog archive: archived binlogs vanished from s3://backups/${prefix}`);
    // Put back, the archive goes on from where it was.
    for (const object of saved) await bucket.put(object.key, object.bytes);
    await untilArchiveCaughtUp(client, WorkflowId.binlogArchiver('tamper'), source);
  });

  test('a committed backup removed from the store, and the store put back to an older state, are reported; an increment and "the newest" are refused until an operator accepts the store', async () => {
    await stopArchiver(client, WorkflowId.binlogArchiver('tamper'));
    const snapshot = await copyOfStore('snapshot');
    const second = await backup('incremental');

    // The newest increment removed whole, by whoever can write to the store.
    const objects = (await bucket.list(prefix)).filter((object) => object.key.startsWith(second.path));
    const saved = await Promise.all(objects.map(async (object) => ({ key: object.key, bytes: await bucket.getBytes(`${prefix}/${object.key}`) })));
    for (const object of objects) await bucket.delete(`${prefix}/${object.key}`);
    const status = await runCli(['--config', keyedConfig, 'status', 'tamper']);
    expect(status.exitCode).toBe(4);
    expect(status.stdout).toMatch(new RegExp(`BROKEN integrity: ${second.name}: committed \\(ledger seq \\d+ lists it\\) but nothing of it is left`));
    expect(await typedFailureOf(backup('incremental'))).toMatchObject({ type: 'BrokenChain', message: expect.stringContaining(`the chain of ${full.name} lost ${second.name}`) as unknown });
    const verifyNewest = await typedFailureOf(client.workflow.execute(restoreWorkflow, { taskQueue: queue, workflowId: uniqueName('verify-tamper-newest'), args: [{ cluster: 'tamper', target: { kind: 'verify' } }] }));
    expect(verifyNewest).toMatchObject({ type: 'BrokenChain', message: expect.stringContaining(`removed from s3://backups/${prefix}`) as unknown });
    for (const object of saved) await bucket.put(`${prefix}/${object.key}`, object.bytes);

    // The whole store put back to the copy taken before that backup: every record in it is genuine.
    for (const object of await bucket.list(prefix)) await bucket.delete(`${prefix}/${object.key}`);
    await bucket.copyPrefix(snapshot, prefix);
    const rolledBack = await runCli(['--config', keyedConfig, 'status', 'tamper']);
    expect(rolledBack.exitCode).toBe(4);
    expect(rolledBack.stdout).toContain('BROKEN integrity: the store was put back to an older state, or its ledger removed or replaced');
    const metrics = await runCli(['--config', keyedConfig, 'status', 'tamper', '--prometheus']);
    expect(metrics.stdout).toContain('chainbackup_integrity_problems{cluster="tamper"} 1');

    // An operator who has looked accepts the store as it is: its ledger starts again above what Temporal saw.
    const adopted = await runCli(['--config', keyedConfig, 'adopt', 'tamper']);
    expect(adopted.stdout).toMatch(/ledger: started again at seq \d+, listing the 2 committed backups the store holds/);
    const accepted = await runCli(['--config', keyedConfig, 'status', 'tamper']);
    expect(accepted.stdout).toContain('integrity:        records signed and checked, all authentic');
  });
});
