/**
 * Issue 34, tamper evidence: with an integrity key, a real MariaDB's chain and archived binlogs
 * carry signed records. Whoever can write to the store, without the key, changes a manifest's binlog
 * position or GTID, forges an archived binlog and its record, moves a record onto another file's
 * name, or removes a signature: each restore is refused before the pause, the target server
 * untouched. Forged markers (a passed verification, a deletion) count for nothing and `status`
 * reports them. Records from before the key are refused until an operator adopts them (`chainbackup
 * adopt`). Untouched, a restore to the newest transaction is exact. Two configurations, each run
 * whole: `plain` (S3, nothing else encrypted) and `sealed` (the filesystem store, a server that
 * encrypts its data at rest, encryption at rest with a cut-over time for the backup taken before
 * the key, and payload encryption).
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import type { MariaDbSandbox } from '../../devtools/sandbox/mariadb.js';
import type { EncryptionConfig, StorageConfig } from '../../domain/config.js';
import { binlogRecordSchema } from '../../domain/binlog-archive.js';
import type { Manifest } from '../../domain/manifest.js';
import { binlogArchiveQuery, WorkflowId } from '../../domain/workflow-contract.js';
import { loadKeyRing } from '../../encryption/keys.js';
import { sealedDataConverter } from '../../encryption/payload-codec.js';
import { backup as backupWorkflow, binlogArchiver, restore as restoreWorkflow, type BackupResult } from '../../workflows/index.js';
import { stopArchiver, untilArchiveCaughtUp } from '../support/binlog-archive.js';
import { inspectStore, type StoreInspector } from '../support/store-inspector.js';
import { eventually } from '../support/workflow-worker.js';
import { connectTestClient, refusedRestore, createSandbox, filesystemStorage, runCli, typedFailureOf, s3Storage, startWorker, testRoot, TestBucket, uniqueName, writeConfig, type WorkerProcess } from '../support/environment.js';

const CONFIGURATIONS = [
  { name: 'plain', what: 'S3, an integrity key, nothing encrypted' },
  { name: 'sealed', what: 'the filesystem store, data at rest encrypted by the server, encryption at rest and payload encryption' },
] as const;

for (const configuration of CONFIGURATIONS) describe(`tamper evidence (${configuration.what})`, () => tamperEvidence(configuration.name));

function tamperEvidence(configurationName: (typeof CONFIGURATIONS)[number]['name']): void {
  const sealed = configurationName === 'sealed';
  const cluster = sealed ? 'tamper-sealed' : 'tamper';
  const copyCluster = `${cluster}-copy`;
  const name = uniqueName(cluster);
  const archiverId = WorkflowId.binlogArchiver(name, cluster);
  const bucket = new TestBucket();
  /** The store, or a copy of it for one attack, with what a test reads and writes of it past the product. */
  const storeNamed = (tag?: string): { storage: StorageConfig; stored: StoreInspector } => {
    const storage = sealed ? filesystemStorage(tag ? `${name}-${tag}` : name) : s3Storage(tag ? `${name}-${tag}` : name);
    return { storage, stored: inspectStore(storage, bucket) };
  };
  const { storage, stored } = storeNamed();
  const archiveFolder = `binlogs/${cluster}/history-0`;

  let source: MariaDbSandbox;
  let target: MariaDbSandbox;
  let client: Client;
  let closeClient: () => Promise<void>;
  let worker: WorkerProcess | undefined;
  let keylessConfig: string;
  let keyedConfig: string;
  let queue: string;
  let keyDir: string;
  let payloadEncryption: EncryptionConfig | undefined;

  /** A key of its own in a 0600 file, as the configuration's key settings take it. */
  async function newKey(id: string): Promise<EncryptionConfig> {
    const file = join(keyDir, id);
    await writeFile(file, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
    return { currentKey: id, keys: [{ id, file }] };
  }

  /**
   * The worker's configuration: the cluster and its copy on another server, with or without keys.
   * The same queues either way: the worker is restarted with a key, as an operator does.
   */
  async function configWith(tag: string, keys: Record<string, unknown>): Promise<string> {
    const retry = { maximumAttempts: 2, initialInterval: '200ms' };
    const clusters = [
      source.clusterConfig(cluster, storage, { taskQueue: `${name}-host`, schedule: { enabled: false }, binlogs: { archive: true, interval: '1s' }, retry }),
      target.clusterConfig(copyCluster, storage, { taskQueue: `${name}-copy`, schedule: { enabled: false }, connection: { ...source.connection(), socket: target.socket }, retry }),
    ];
    // Copies of a filesystem store are restored from beside it.
    const worker = sealed ? { worker: { restoreSourceRoots: [join(testRoot(), 'stores')] } } : {};
    return writeConfig(`${name}-${tag}`, { temporal: { taskQueue: name, ...(payloadEncryption ? { payloadEncryption } : {}) }, ...worker, clusters, ...keys });
  }

  async function serve(configPath: string): Promise<string> {
    await worker?.stop();
    worker = await startWorker(configPath);
    return name;
  }

  const backup = (type: 'full' | 'incremental') => client.workflow.execute(backupWorkflow, { taskQueue: queue, workflowId: uniqueName(`backup-${cluster}-${type}`), args: [{ cluster, type }] });
  const manifestOf = async (store: StoreInspector, result: BackupResult) => JSON.parse(await store.getText(`${result.path}manifest.json`)) as Manifest & { signature?: unknown };

  /** A restore into the copy's server that must be refused before the pause: its first typed failure, and whether it paused or restarted the target. */
  const refused = (request: Record<string, unknown>) => refusedRestore(client, target, { taskQueue: queue, workflowId: uniqueName(`restore-${cluster}-refused`) }, { cluster: copyCluster, ...request });

  /** A copy of the whole store, for one attack. */
  async function copyOfStore(tag: string): Promise<{ storage: StorageConfig; stored: StoreInspector }> {
    const copy = storeNamed(tag);
    await stored.copyInto(copy.stored);
    return copy;
  }

  let full: BackupResult;
  let increment: BackupResult;
  let newestGtid: string;
  let atNewest: Record<string, string>;
  let integrity: EncryptionConfig;

  beforeAll(async () => {
    source = await createSandbox(`${name}-source`, [], sealed ? { dataAtRestEncryption: true } : {});
    target = await createSandbox(`${name}-target`, [], sealed ? { dataAtRestEncryption: { keysOf: source } } : {});
    await source.loadSampleData(2000);
    keyDir = join(testRoot(), `${name}-keys`);
    await mkdir(keyDir, { recursive: true, mode: 0o700 });
    integrity = await newKey('records-1');
    payloadEncryption = sealed ? await newKey('payload-1') : undefined;
    keylessConfig = await configWith('keyless', {});
    ({ client, close: closeClient } = await connectTestClient(sealedDataConverter(await loadKeyRing(payloadEncryption))));
  });

  afterAll(async () => {
    await stopArchiver(client, archiverId);
    bucket.close();
    await closeClient?.();
    await worker?.stop();
    await Promise.all([source?.stop(), target?.stop()]);
  });

  test('a store from before the key is trusted by no one until an operator adopts it; status says when nothing is signed', async () => {
    queue = await serve(keylessConfig);
    full = await backup('full');
    expect(await manifestOf(stored, full)).not.toHaveProperty('signature');
    const keylessStatus = await runCli(['--config', keylessConfig, 'status', cluster]);
    expect(keylessStatus.stdout).toContain(`integrity:        none: records are not signed, so whoever can write to ${stored.label}`);

    // Sealed: the keys also seal from now on, and the backup stored in plaintext before them is admitted by the cut-over time.
    const sealing = sealed ? { encryption: { ...(await newKey('store-1')), plaintextBefore: new Date(Date.parse((await manifestOf(stored, full)).finishedAt) + 1000).toISOString() } } : {};
    keyedConfig = await configWith('keyed', { integrity, ...sealing });
    queue = await serve(keyedConfig);
    expect(worker?.output()).toContain('records signed and checked with key "records-1" (integrity)');
    const unadopted = await refused({ source: { storage, path: full.path } });
    expect(unadopted).toMatchObject({ type: 'Unauthenticated', paused: false, serverRestarted: false });
    expect(unadopted.message).toContain(`${full.name} is not committed (manifest is not signed`);
    const keyedStatus = await runCli(['--config', keyedConfig, 'status', cluster]);
    expect(keyedStatus.exitCode).toBe(4);
    expect(keyedStatus.stdout).toContain(`BROKEN integrity: ${full.name}: manifest is not signed`);

    const dryRun = await runCli(['--config', keyedConfig, 'adopt', cluster, '--dry-run']);
    expect(dryRun).toMatchObject({ exitCode: 0, stdout: expect.stringContaining(`would sign 1 record: ${full.path}manifest.json`) as unknown });
    expect(await manifestOf(stored, full)).not.toHaveProperty('signature');
    const adopted = await runCli(['--config', keyedConfig, 'adopt', cluster]);
    expect(adopted).toMatchObject({ exitCode: 0, stdout: expect.stringContaining(`signed 1 record: ${full.path}manifest.json`) as unknown });
    expect(await manifestOf(stored, full)).toHaveProperty('signature.keyId', 'records-1');
    const again = await runCli(['--config', keyedConfig, 'adopt', cluster]);
    expect(again.stdout).toContain('signed 0 records\nalready signed: 1');
    const signedStatus = await runCli(['--config', keyedConfig, 'status', cluster]);
    expect(signedStatus.stdout).toContain('integrity:        records signed and checked, all authentic');
  });

  test('untouched, a signed chain and its signed archive restore exactly to the newest transaction', async () => {
    await client.workflow.start(binlogArchiver, { taskQueue: queue, workflowId: archiverId, args: [{ cluster }] });
    await source.sql('USE shop; UPDATE orders SET total = total + 3 WHERE id % 7 = 0');
    increment = await backup('incremental');
    if (sealed) expect(await manifestOf(stored, increment)).toMatchObject({ encryption: 'aes-256-gcm-chunked' });
    await source.sql("USE shop; INSERT INTO customers SELECT 400000 + seq, 'after the chain', NULL FROM seq_1_to_300");
    await source.sql('FLUSH BINARY LOGS');
    await untilArchiveCaughtUp(client, archiverId, source);
    for (const entry of (await stored.list(archiveFolder)).filter((object) => object.key.endsWith('.json'))) {
      expect({ entry: entry.key, record: JSON.parse(await stored.getText(entry.key)) as unknown }).toMatchObject({ entry: entry.key, record: { signature: { keyId: 'records-1' } } });
    }
    atNewest = await source.checksums(['shop']);
    [[newestGtid = ''] = []] = await source.sql('SELECT @@gtid_binlog_pos');
    await client.workflow.execute(restoreWorkflow, { taskQueue: queue, workflowId: uniqueName(`restore-${cluster}-point`), args: [{ cluster: copyCluster, source: { storage, cluster }, gtid: newestGtid }] });
    expect(await target.checksums(['shop'])).toEqual(atNewest);
  });

  test("a manifest's binlog position or GTID changed without the key is refused before the pause; a restore to a point goes around it, exactly", async () => {
    const manifest = await manifestOf(stored, increment);
    expect(manifest.binlog).not.toBeNull();
    const moved = await copyOfStore('position');
    await moved.stored.put(`${increment.path}manifest.json`, JSON.stringify({ ...manifest, binlog: { ...manifest.binlog, position: String(Number(manifest.binlog?.position) + 215) } }));
    const position = await refused({ source: { storage: moved.storage, path: increment.path } });
    expect(position).toMatchObject({ type: 'Unauthenticated', paused: false, serverRestarted: false });
    expect(position.message).toContain(`${increment.name} is not committed (manifest fails authentication with key "records-1"`);
    // A restore to a point passes the changed increment over: it replays from the authentic full backup, exactly.
    const point = await client.workflow.execute(restoreWorkflow, { taskQueue: queue, workflowId: uniqueName(`restore-${cluster}-around`), args: [{ cluster: copyCluster, source: { storage: moved.storage, cluster }, gtid: newestGtid }] });
    expect(point.chain).toEqual([full.name]);
    expect(await target.checksums(['shop'])).toEqual(atNewest);

    const seeded = await copyOfStore('gtid');
    await seeded.stored.put(`${increment.path}manifest.json`, JSON.stringify({ ...manifest, binlog: { ...manifest.binlog, gtid: '0-1-999999' } }));
    expect(await refused({ source: { storage: seeded.storage, path: increment.path } })).toMatchObject({ type: 'Unauthenticated', paused: false, serverRestarted: false, message: expect.stringContaining('manifest fails authentication') as unknown });
  });

  test('a forged archived binlog, a record moved onto another file, and a record stripped of its signature are refused before the pause', async () => {
    const needed = (await manifestOf(stored, increment)).binlog?.file ?? '';
    const records = (await stored.list(archiveFolder)).map((object) => object.key.slice(archiveFolder.length + 1)).filter((key) => key.endsWith('.json') && !key.startsWith('gap-'));
    const other = records.find((key) => key !== `${needed}.json`) ?? '';
    expect(records).toContain(`${needed}.json`);
    expect(other).not.toBe('');

    // Another file's bytes in place of the one the replay needs, its record rewritten to agree.
    const forged = await copyOfStore('forged-binlog');
    const record = binlogRecordSchema.parse(JSON.parse(await forged.stored.getText(`${archiveFolder}/${needed}.json`)));
    const otherRecord = binlogRecordSchema.parse(JSON.parse(await forged.stored.getText(`${archiveFolder}/${other}`)));
    const bytes = await forged.stored.getBytes(`${archiveFolder}/${otherRecord.object}`);
    await forged.stored.put(`${archiveFolder}/${record.object}`, bytes);
    await forged.stored.put(`${archiveFolder}/${needed}.json`, JSON.stringify({ ...record, sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length }));
    const forgedRun = await refused({ source: { storage: forged.storage, cluster }, gtid: newestGtid });
    expect(forgedRun).toMatchObject({ type: 'Unauthenticated', paused: false, serverRestarted: false });
    expect(forgedRun.message).toContain(`${archiveFolder}/${needed}.json (in ${forged.stored.label}`);
    expect(forgedRun.message).toContain('is not signed');

    // A genuine record, signed for another file, put in place of the needed one.
    const moved = await copyOfStore('moved-record');
    await moved.stored.put(`${archiveFolder}/${needed}.json`, await moved.stored.getText(`${archiveFolder}/${other}`));
    const movedRun = await refused({ source: { storage: moved.storage, cluster }, gtid: newestGtid });
    expect(movedRun).toMatchObject({ type: 'Unauthenticated', paused: false, serverRestarted: false, message: expect.stringContaining(`written for another place than ${archiveFolder}/${needed}.json`) as unknown });

    // The genuine record with its signature removed: no worker with the key takes it.
    const stripped = await copyOfStore('stripped');
    const { signature: _removed, ...unsigned } = JSON.parse(await stripped.stored.getText(`${archiveFolder}/${needed}.json`)) as Record<string, unknown>;
    await stripped.stored.put(`${archiveFolder}/${needed}.json`, JSON.stringify(unsigned));
    expect(await refused({ source: { storage: stripped.storage, cluster }, gtid: newestGtid })).toMatchObject({ type: 'Unauthenticated', paused: false, serverRestarted: false, message: expect.stringContaining('is not signed') as unknown });
  });

  test('a forged passed verification and a forged deletion marker count for nothing, and status reports both', async () => {
    const verification = `${increment.path}verification.json`;
    const marker = `${full.path}deleting.json`;
    await stored.put(verification, JSON.stringify({ formatVersion: 1, backup: increment.name, result: 'passed', problems: [], verifiedAt: new Date().toISOString(), worker: 'nobody', workflowId: 'forged' }));
    await stored.put(marker, JSON.stringify({ deletingChain: full.name, by: 'forged', since: new Date().toISOString() }));
    try {
      const listed = await runCli(['--config', keyedConfig, 'list', cluster, '--json']);
      const [catalog] = JSON.parse(listed.stdout) as { chains: { base: { name: string; problem?: string }; increments: { name: string; verification?: unknown; verificationProblem?: string }[] }[] }[];
      const chain = catalog?.chains.find((entry) => entry.base.name === full.name);
      // The chain is still listed (the marker is ignored), and the increment counts as unverified.
      expect(chain?.base.problem).toContain("its chain's deletion marker is not signed");
      expect(chain?.increments[0]).toMatchObject({ name: increment.name, verificationProblem: expect.stringContaining('verification.json is not signed') as unknown });
      expect(chain?.increments[0]?.verification).toBeUndefined();
      const status = await runCli(['--config', keyedConfig, 'status', cluster]);
      expect(status.exitCode).toBe(4);
      expect(status.stdout).toContain('integrity:        records signed and checked; 2 fail the check');
      expect(status.stdout).toContain(`BROKEN integrity: ${increment.name}: verification.json is not signed`);
      const metrics = await runCli(['--config', keyedConfig, 'status', cluster, '--prometheus']);
      expect(metrics.stdout).toContain(`chainbackup_integrity_problems{cluster="${cluster}"} 2`);
    } finally {
      await stored.delete(verification);
      await stored.delete(marker);
    }
  });

  test('archived binlogs removed from the store stop the archiver, which says so instead of archiving on, and status reports it', async () => {
    const caughtUp = await untilArchiveCaughtUp(client, archiverId, source);
    const newest = caughtUp.newest?.file ?? '';
    const recordKey = `${archiveFolder}/${newest}.json`;
    const record = binlogRecordSchema.parse(JSON.parse(await stored.getText(recordKey)));
    const saved = [
      { key: recordKey, bytes: await stored.getBytes(recordKey) },
      { key: `${archiveFolder}/${record.object}`, bytes: await stored.getBytes(`${archiveFolder}/${record.object}`) },
    ];
    for (const object of saved) await stored.delete(object.key);
    await source.sql("USE shop; INSERT INTO customers SELECT 500000 + seq, 'after the loss', NULL FROM seq_1_to_10");
    await source.sql('FLUSH BINARY LOGS');
    const stopped = await eventually('the archiver refuses to go on', async () => {
      const state = await client.workflow.getHandle(archiverId).query(binlogArchiveQuery);
      return state.lastError?.includes('archived binlogs vanished') ? state : undefined;
    }, 60_000);
    expect(stopped.lastError).toContain(`this archiver archived up to ${newest}`);
    const status = await runCli(['--config', keyedConfig, 'status', cluster]);
    expect(status.exitCode).toBe(4);
    expect(status.stdout).toContain(`BROKEN integrity: binlog archive: archived binlogs vanished from ${stored.label}`);
    // Put back, the archive goes on from where it was.
    for (const object of saved) await stored.put(object.key, object.bytes);
    await untilArchiveCaughtUp(client, archiverId, source);
  });

  test('a committed backup removed from the store, and the store put back to an older state, are reported; an increment and "the newest" are refused until an operator accepts the store', async () => {
    await stopArchiver(client, archiverId);
    const snapshot = await copyOfStore('snapshot');
    const second = await backup('incremental');

    // The newest increment removed whole, by whoever can write to the store.
    const objects = (await stored.list()).filter((object) => object.key.startsWith(second.path));
    const saved = await Promise.all(objects.map(async (object) => ({ key: object.key, bytes: await stored.getBytes(object.key) })));
    for (const object of objects) await stored.delete(object.key);
    const status = await runCli(['--config', keyedConfig, 'status', cluster]);
    expect(status.exitCode).toBe(4);
    expect(status.stdout).toMatch(new RegExp(`BROKEN integrity: ${second.name}: committed \\(ledger seq \\d+ lists it\\) but nothing of it is left`));
    expect(await typedFailureOf(backup('incremental'))).toMatchObject({ type: 'BrokenChain', message: expect.stringContaining(`the chain of ${full.name} lost ${second.name}`) as unknown });
    const verifyNewest = await typedFailureOf(client.workflow.execute(restoreWorkflow, { taskQueue: queue, workflowId: uniqueName(`verify-${cluster}-newest`), args: [{ cluster, target: { kind: 'verify' } }] }));
    expect(verifyNewest).toMatchObject({ type: 'BrokenChain', message: expect.stringContaining(`removed from ${stored.label}`) as unknown });
    for (const object of saved) await stored.put(object.key, object.bytes);

    // The whole store put back to the copy taken before that backup: every record in it is genuine.
    for (const object of await stored.list()) await stored.delete(object.key);
    await snapshot.stored.copyInto(stored);
    const rolledBack = await runCli(['--config', keyedConfig, 'status', cluster]);
    expect(rolledBack.exitCode).toBe(4);
    expect(rolledBack.stdout).toContain('BROKEN integrity: the store was put back to an older state, or its ledger removed or replaced');
    const metrics = await runCli(['--config', keyedConfig, 'status', cluster, '--prometheus']);
    expect(metrics.stdout).toContain(`chainbackup_integrity_problems{cluster="${cluster}"} 1`);

    // An operator who has looked accepts the store as it is: its ledger starts again above what Temporal saw.
    const adopted = await runCli(['--config', keyedConfig, 'adopt', cluster]);
    expect(adopted.stdout).toMatch(/ledger: started again at seq \d+, listing the 2 committed backups the store holds/);
    const accepted = await runCli(['--config', keyedConfig, 'status', cluster]);
    expect(accepted.stdout).toContain('integrity:        records signed and checked, all authentic');
  });
}
