/**
 * Issue 19, encryption at rest: a chain of a real MariaDB (a full backup under key k2025, then a key
 * rotation, two increments and archived binlogs under k2026) in MinIO, every stored object that
 * carries data sealed; restored exactly, as a chain and to the newest point; a flipped byte in a
 * chunk, a cut object and a chunk moved from another backup (each with the manifest's sha256 and
 * size fixed, so that only the encryption can catch it) fail before the pause, naming the object;
 * a worker without k2025, and one with a wrong k2025, refuse naming the key, before the pause.
 * Records are signed with an integrity key of their own here; a forged record is refused first.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { Client } from '@temporalio/client';
import { MINIO_KMS_KEY_NAME } from '../../devtools/sandbox/minio.js';
import type { MariaDbSandbox } from '../../devtools/sandbox/mariadb.js';
import type { Manifest } from '../../domain/manifest.js';
import { binlogRecordSchema } from '../../domain/binlog-archive.js';
import { openBytes, type KeyRing } from '../../encryption/objects.js';
import { recordKeys, signRecord } from '../../encryption/records.js';
import { WorkflowId } from '../../domain/workflow-contract.js';
import { backup as backupWorkflow, binlogArchiver, restore as restoreWorkflow, type BackupResult } from '../../workflows/index.js';
import { connectTestClient, refusedRestore, createSandbox, s3Storage, startWorker, testRoot, TestBucket, uniqueName, writeConfig, type WorkerProcess } from '../support/environment.js';
import { stopArchiver, untilArchiveCaughtUp } from '../support/binlog-archive.js';

const name = uniqueName('enc');
const prefix = `${name}-store`;
const storage = s3Storage(prefix);
const bucket = new TestBucket();
const MAGIC = 'CBAEAD1\n';
const keyHex = { k2025: randomBytes(32).toString('hex'), k2026: randomBytes(32).toString('hex'), wrong: randomBytes(32).toString('hex'), records: randomBytes(32).toString('hex') };

let source: MariaDbSandbox;
let target: MariaDbSandbox;
let client: Client;
let closeClient: () => Promise<void>;
const workers: WorkerProcess[] = [];

/** A worker of its own queue with the given keys; `env` holds keys given as variables. */
async function workerWith(tag: string, encryption: unknown, env: Record<string, string> = {}): Promise<string> {
  const queue = `${name}-${tag}`;
  const clusters = [
    source.clusterConfig('enc', storage, { taskQueue: `${queue}-enc`, schedule: { enabled: false }, binlogs: { archive: true, interval: '1s' }, retry: { maximumAttempts: 2, initialInterval: '200ms' } }),
    // The store's own encryption, passed through to every write.
    source.clusterConfig('enc-sse-s3', { ...s3Storage(`${prefix}-sse-s3`), serverSideEncryption: 'AES256' }, { taskQueue: `${queue}-sse-s3`, schedule: { enabled: false } }),
    source.clusterConfig('enc-sse-kms', { ...s3Storage(`${prefix}-sse-kms`), serverSideEncryption: 'aws:kms', kmsKeyId: MINIO_KMS_KEY_NAME }, { taskQueue: `${queue}-sse-kms`, schedule: { enabled: false } }),
    target.clusterConfig('enc-copy', storage, { taskQueue: `${queue}-copy`, schedule: { enabled: false }, connection: { ...source.connection(), socket: target.socket }, retry: { maximumAttempts: 2, initialInterval: '200ms' } }),
  ];
  // Records are signed with an integrity key of their own, the same on every worker here: the sealed objects' key checks stay reachable.
  const integrity = { currentKey: 'records', keys: [{ id: 'records', file: keyFiles.records }] };
  workers.push(await startWorker(await writeConfig(queue, { temporal: { taskQueue: queue }, clusters, encryption, integrity }), [], env));
  return queue;
}

let keyFiles: Record<keyof typeof keyHex, string>;
let rotatedQueue: string;

beforeAll(async () => {
  source = await createSandbox(`${name}-source`);
  target = await createSandbox(`${name}-target`);
  await source.loadSampleData(4000);
  const dir = join(testRoot(), `${name}-keys`);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  keyFiles = { k2025: join(dir, 'k2025'), k2026: join(dir, 'k2026'), wrong: join(dir, 'wrong'), records: join(dir, 'records') };
  for (const [id, hex] of Object.entries(keyHex)) await writeFile(join(dir, id), `${hex}\n`, { mode: 0o600 });
  ({ client, close: closeClient } = await connectTestClient());
});

afterAll(async () => {
  await stopArchiver(client, WorkflowId.binlogArchiver(`${name}-main`, 'enc'));
  bucket.close();
  await closeClient?.();
  for (const worker of workers) await worker.stop();
  await Promise.all([source?.stop(), target?.stop()]);
});

const backup = (queue: string, type: 'full' | 'incremental') => client.workflow.execute(backupWorkflow, { taskQueue: queue, workflowId: uniqueName(`backup-enc-${type}`), args: [{ cluster: 'enc', type }] });
const manifestOf = async (root: string, result: BackupResult) => JSON.parse(await bucket.getText(`${root}/${result.path}manifest.json`)) as Manifest;

let chain: BackupResult[] = [];
let atLastIncrement: Record<string, string>;

const ringOf = (id: keyof typeof keyHex): KeyRing => {
  const key = { id, key: Buffer.from(keyHex[id], 'hex') };
  return { current: key, find: (wanted) => (wanted === id ? key : undefined), ids: [id] };
};

/**
 * A record as the workers' integrity key signs it for its place in the store: what only a tool holding the key
 * (a bug in one) can write. Records changed without it are refused before anything else is checked
 * (test/integration/tamper.test.ts); these cases reach the sealed objects' own checks behind them.
 */
const signedByTheKey = (place: string, record: object) => JSON.stringify(signRecord(recordKeys(ringOf('records')), place, record));

/** A copy of the whole store under a prefix of its own, with one object changed and its manifest made to agree with it (signed by the key). */
async function tamperedCopy(tag: string, backupResult: BackupResult, change: (bytes: Buffer) => Buffer | Promise<Buffer>): Promise<string> {
  const copy = `${prefix}-${tag}`;
  await bucket.copyPrefix(prefix, copy);
  const manifest = await manifestOf(copy, backupResult);
  const key = `${copy}/${backupResult.path}${manifest.dataObject}`;
  const changed = await change(await bucket.getBytes(key));
  await bucket.put(key, changed);
  const object = manifest.objects.find((entry) => entry.name === manifest.dataObject);
  if (!object) throw new Error('no data object');
  manifest.sizeBytes += changed.length - object.size;
  object.size = changed.length;
  object.sha256 = createHash('sha256').update(changed).digest('hex');
  await bucket.put(`${copy}/${backupResult.path}manifest.json`, signedByTheKey(`${backupResult.path}manifest.json`, manifest));
  return copy;
}

const headerLength = (sealed: Buffer) => 12 + sealed.readUInt32BE(8);
const SEALED_CHUNK = 64 * 1024 + 16;

/** A restore into enc-copy that must be refused or fail before the pause: its first typed failure, and whether it paused or restarted the target. */
const refused = (queue: string, request: Record<string, unknown>) => refusedRestore(client, target, { taskQueue: queue, workflowId: uniqueName('restore-enc-refused') }, { cluster: 'enc-copy', ...request });

describe('encryption at rest', () => {
  test('a chain across a key rotation is sealed object by object, and restores exactly, as a chain and to the newest transaction', async () => {
    const firstQueue = await workerWith('main', { currentKey: 'k2025', keys: [{ id: 'k2025', file: keyFiles.k2025 }] });
    const full = await backup(firstQueue, 'full');
    await workers.pop()?.stop();
    // The rotation, as an operator does it: the same worker restarted with k2026 sealing from now on, and
    // k2025 (now from a variable) still there to open the full backup.
    rotatedQueue = await workerWith('main', { currentKey: 'k2026', keys: [{ id: 'k2026', file: keyFiles.k2026 }, { id: 'k2025', env: 'ENC_TEST_K2025' }] }, { ENC_TEST_K2025: keyHex.k2025 });
    await client.workflow.start(binlogArchiver, { taskQueue: rotatedQueue, workflowId: WorkflowId.binlogArchiver(`${name}-main`, 'enc'), args: [{ cluster: 'enc' }] });
    await source.sql('USE shop; UPDATE orders SET total = total + 2 WHERE id % 5 = 0');
    const first = await backup(rotatedQueue, 'incremental');
    await source.sql('USE shop; INSERT INTO customers SELECT 200000 + seq, CONCAT(\'enc \', seq), NULL FROM seq_1_to_700');
    const second = await backup(rotatedQueue, 'incremental');
    chain = [full, first, second];
    atLastIncrement = await source.checksums(['shop']);

    for (const [result, keyId] of [[full, 'k2025'], [first, 'k2026'], [second, 'k2026']] as const) {
      const manifest = await manifestOf(prefix, result);
      expect(manifest).toMatchObject({ encryption: 'aes-256-gcm-chunked', encryptionKeyId: keyId });
      for (const object of manifest.objects) {
        const stored = await bucket.getBytes(`${prefix}/${result.path}${object.name}`);
        // Every object of the backup is sealed, and the manifest's checksum is of the sealed bytes.
        expect({ object: object.name, start: stored.subarray(0, 8).toString('latin1') }).toEqual({ object: object.name, start: MAGIC });
        expect(createHash('sha256').update(stored).digest('hex')).toBe(object.sha256);
        expect(stored.includes(Buffer.from('to_lsn'))).toBe(false);
      }
      expect(JSON.stringify(manifest)).not.toContain(keyHex.k2025);
    }

    // Written after the last backup: only the archived binlogs bring these back, and they are sealed too.
    await source.sql("USE shop; INSERT INTO customers SELECT 300000 + seq, 'after the chain', NULL FROM seq_1_to_300");
    await source.sql('FLUSH BINARY LOGS');
    await untilArchiveCaughtUp(client, WorkflowId.binlogArchiver(`${name}-main`, 'enc'), source);
    const archived = (await bucket.list(`${prefix}/binlogs/enc/history-0`)).filter((object) => object.key.endsWith('.json') && !object.key.startsWith('gap-'));
    expect(archived.length).toBeGreaterThan(0);
    for (const entry of archived) {
      const record = binlogRecordSchema.parse(JSON.parse(await bucket.getText(`${prefix}/binlogs/enc/history-0/${entry.key}`)));
      expect(record).toMatchObject({ encryption: 'aes-256-gcm-chunked', encryptionKeyId: 'k2026' });
      expect((await bucket.getBytes(`${prefix}/binlogs/enc/history-0/${record.object}`)).subarray(0, 8).toString('latin1')).toBe(MAGIC);
    }
    const now = await source.checksums(['shop']);
    const [[newestGtid = ''] = []] = await source.sql('SELECT @@gtid_binlog_pos');

    const restored = await client.workflow.execute(restoreWorkflow, { taskQueue: rotatedQueue, workflowId: uniqueName('restore-enc-chain'), args: [{ cluster: 'enc-copy', source: { storage, path: second.path } }] });
    expect(restored.chain).toEqual(chain.map((result) => result.name));
    expect(await target.checksums(['shop'])).toEqual(atLastIncrement);
    await client.workflow.execute(restoreWorkflow, { taskQueue: rotatedQueue, workflowId: uniqueName('restore-enc-point'), args: [{ cluster: 'enc-copy', source: { storage, cluster: 'enc' }, gtid: newestGtid }] });
    expect(await target.checksums(['shop'])).toEqual(now);

    // No key ever reached Temporal: not in any input, result or heartbeat of these workflows.
    for await (const execution of client.workflow.list({ query: `TaskQueue = "${rotatedQueue}"` })) {
      const history = JSON.stringify(await client.workflow.getHandle(execution.workflowId, execution.runId).fetchHistory());
      for (const hex of [keyHex.k2025, keyHex.k2026]) expect(history.includes(hex) || history.includes(Buffer.from(hex, 'hex').toString('base64'))).toBe(false);
    }
  });

  test('a flipped byte in a chunk (of a backup or an archived binlog), a cut object and a chunk from another backup fail before the pause, naming the object', async () => {
    const [full, first, second] = chain as [BackupResult, BackupResult, BackupResult];
    const flipped = await tamperedCopy('flipped', full, (bytes) => {
      const copy = Buffer.from(bytes);
      const at = headerLength(copy) + 2 * SEALED_CHUNK + 100;
      copy[at] = (copy[at] ?? 0) ^ 0x40;
      return copy;
    });
    const flip = await refused(rotatedQueue, { source: { storage: s3Storage(flipped), path: first.path } });
    expect(flip).toMatchObject({ type: 'ChecksumMismatch', paused: false, serverRestarted: false });
    expect(flip.message).toContain(`${full.name}/backup.xbstream.zst: chunk 2 fails authentication`);

    const cut = await tamperedCopy('cut', first, (bytes) => bytes.subarray(0, bytes.length - 40));
    const cutRun = await refused(rotatedQueue, { source: { storage: s3Storage(cut), path: first.path } });
    expect(cutRun).toMatchObject({ type: 'ChecksumMismatch', paused: false, serverRestarted: false });
    expect(cutRun.message).toMatch(new RegExp(`${first.name}/backup\\.xbstream\\.zst: (its last chunk \\(\\d+\\) fails authentication|ends before its last chunk)`));

    // The first increment's header, then the second increment's chunks (same key, another backup).
    const secondBytes = await bucket.getBytes(`${prefix}/${second.path}backup.xbstream.zst`);
    const spliced = await tamperedCopy('spliced', first, (bytes) => Buffer.concat([bytes.subarray(0, headerLength(bytes)), secondBytes.subarray(headerLength(secondBytes))]));
    const splice = await refused(rotatedQueue, { source: { storage: s3Storage(spliced), path: first.path } });
    expect(splice).toMatchObject({ type: 'ChecksumMismatch', paused: false, serverRestarted: false });
    expect(splice.message).toContain(`${first.name}/backup.xbstream.zst: `);
    expect(splice.message).toContain('fails authentication');

    // An archived binlog the replay needs, with one byte flipped and its record made to agree: a restore to a point stops before the pause.
    const binlogFile = (await manifestOf(prefix, second)).binlog?.file ?? '';
    const binlogCopy = `${prefix}-binlog`;
    await bucket.copyPrefix(prefix, binlogCopy);
    const recordKey = `${binlogCopy}/binlogs/enc/history-0/${binlogFile}.json`;
    const record = binlogRecordSchema.parse(JSON.parse(await bucket.getText(recordKey)));
    const sealedBinlog = Buffer.from(await bucket.getBytes(`${binlogCopy}/binlogs/enc/history-0/${record.object}`));
    const at = headerLength(sealedBinlog) + 5;
    sealedBinlog[at] = (sealedBinlog[at] ?? 0) ^ 0x01;
    await bucket.put(`${binlogCopy}/binlogs/enc/history-0/${record.object}`, sealedBinlog);
    const agreeing = { ...record, sha256: createHash('sha256').update(sealedBinlog).digest('hex'), size: sealedBinlog.length };
    const [[newest = ''] = []] = await source.sql('SELECT @@gtid_binlog_pos');
    // Its record changed by anyone without the key: refused as such, before the object is read.
    await bucket.put(recordKey, JSON.stringify(agreeing));
    const forged = await refused(rotatedQueue, { source: { storage: s3Storage(binlogCopy), cluster: 'enc' }, gtid: newest });
    expect(forged).toMatchObject({ type: 'Unauthenticated', paused: false, serverRestarted: false, message: expect.stringContaining(`binlogs/enc/history-0/${binlogFile}.json (in s3://backups/${binlogCopy} at `) as unknown });
    await bucket.put(recordKey, signedByTheKey(`binlogs/enc/history-0/${binlogFile}.json`, agreeing));
    const binlogRun = await refused(rotatedQueue, { source: { storage: s3Storage(binlogCopy), cluster: 'enc' }, gtid: newest });
    expect(binlogRun).toMatchObject({ type: 'ChecksumMismatch', paused: false, serverRestarted: false });
    expect(binlogRun.message).toMatch(new RegExp(`archived binlog binlogs/enc/history-0/${record.object.replace(/\./g, '\\.')}: (chunk 0|its last chunk \\(0\\)) fails authentication`));

    // The second increment's object whole, in the first one's place: its header names where it belongs.
    const swapped = await tamperedCopy('swapped', first, () => secondBytes);
    expect(await refused(rotatedQueue, { source: { storage: s3Storage(swapped), path: first.path } })).toMatchObject({
      type: 'ChecksumMismatch',
      paused: false,
      serverRestarted: false,
      message: expect.stringContaining(`${first.name}/backup.xbstream.zst holds the encrypted data of ${second.name}/backup.xbstream.zst: it was moved or swapped`) as unknown,
    });
  });

  test('a backup or an archived binlog stored in plaintext in place of a sealed one (a downgrade) is refused before the pause; plaintextBefore admits only what was stored before it', async () => {
    const [full, , second] = chain as [BackupResult, BackupResult, BackupResult];
    // The full backup opened and stored as plaintext, its manifest saying "none" and agreeing with it: what anyone who can write to the store can make.
    const fullManifest = await manifestOf(prefix, full);
    const plaintextBackup = await openBytes(ringOf('k2025'), `${full.name}/${fullManifest.dataObject}`, await bucket.getBytes(`${prefix}/${full.path}${fullManifest.dataObject}`));
    const downgraded = await tamperedCopy('downgraded', full, () => plaintextBackup);
    const downgradedManifest = await manifestOf(downgraded, full);
    const { encryptionKeyId: _sealedWith, ...unsealed } = downgradedManifest;
    await bucket.put(`${downgraded}/${full.path}manifest.json`, JSON.stringify({ ...unsealed, encryption: 'none' }));
    // Written by anyone without the key: its manifest is refused as such.
    expect(await refused(rotatedQueue, { source: { storage: s3Storage(downgraded), path: full.path } })).toMatchObject({ type: 'Unauthenticated', paused: false, serverRestarted: false, message: expect.stringContaining(`${full.name} is not committed (manifest fails authentication`) as unknown });
    // Signed by the key (a tool holding it), the plaintext is still refused.
    await bucket.put(`${downgraded}/${full.path}manifest.json`, signedByTheKey(`${full.path}manifest.json`, { ...unsealed, encryption: 'none' }));
    const backupRun = await refused(rotatedQueue, { source: { storage: s3Storage(downgraded), path: full.path } });
    expect(backupRun).toMatchObject({ type: 'ChecksumMismatch', paused: false, serverRestarted: false });
    expect(backupRun.message).toContain(`backup ${full.name} is stored in plaintext, but this worker encrypts what it stores`);

    // An archived binlog the replay needs, opened and stored as plaintext, its record saying nothing of encryption.
    const binlogFile = (await manifestOf(prefix, second)).binlog?.file ?? '';
    const binlogCopy = `${prefix}-binlog-plain`;
    await bucket.copyPrefix(prefix, binlogCopy);
    const recordKey = `${binlogCopy}/binlogs/enc/history-0/${binlogFile}.json`;
    const { encryption: _scheme, encryptionKeyId: _binlogKey, ...plainRecord } = binlogRecordSchema.parse(JSON.parse(await bucket.getText(recordKey)));
    const objectKey = `binlogs/enc/history-0/${plainRecord.object}`;
    const plaintextBinlog = await openBytes(ringOf('k2026'), objectKey, await bucket.getBytes(`${binlogCopy}/${objectKey}`));
    await bucket.put(`${binlogCopy}/${objectKey}`, plaintextBinlog);
    await bucket.put(recordKey, signedByTheKey(`binlogs/enc/history-0/${binlogFile}.json`, { ...plainRecord, sha256: createHash('sha256').update(plaintextBinlog).digest('hex'), size: plaintextBinlog.length }));
    const [[newest = ''] = []] = await source.sql('SELECT @@gtid_binlog_pos');
    const binlogRun = await refused(rotatedQueue, { source: { storage: s3Storage(binlogCopy), cluster: 'enc' }, gtid: newest });
    expect(binlogRun).toMatchObject({ type: 'ChecksumMismatch', paused: false, serverRestarted: false });
    expect(binlogRun.message).toContain(`archived binlog ${objectKey} (in s3://backups/${binlogCopy} at `);
    expect(binlogRun.message).toContain('is stored in plaintext, but this worker encrypts what it stores');

    // A worker told that encryption began after the backup was taken restores it as plaintext; told it began before, refuses it.
    const keys = [{ id: 'k2026', file: keyFiles.k2026 }, { id: 'k2025', file: keyFiles.k2025 }];
    const admitting = await workerWith('plaintext-after', { currentKey: 'k2026', keys, plaintextBefore: new Date(Date.parse(fullManifest.finishedAt) + 1000).toISOString() });
    const restored = await client.workflow.execute(restoreWorkflow, { taskQueue: admitting, workflowId: uniqueName('restore-enc-plaintext'), args: [{ cluster: 'enc-copy', source: { storage: s3Storage(downgraded), path: full.path } }] });
    expect(restored.chain).toEqual([full.name]);
    const strict = await workerWith('plaintext-before', { currentKey: 'k2026', keys, plaintextBefore: new Date(Date.parse(fullManifest.finishedAt) - 1000).toISOString() });
    expect(await refused(strict, { source: { storage: s3Storage(downgraded), path: full.path } })).toMatchObject({ type: 'ChecksumMismatch', paused: false, serverRestarted: false, message: expect.stringContaining(`(its record says ${fullManifest.finishedAt}), set encryption.plaintextBefore`) as unknown });
  });

  test('S3 server-side encryption (SSE-S3, SSE-KMS with a key id) is asked for on every object written', async () => {
    const s3 = new S3Client({ endpoint: process.env.CHAINBACKUP_TEST_S3_ENDPOINT, region: 'us-east-1', forcePathStyle: true });
    try {
      for (const [cluster, expected] of [
        ['enc-sse-s3', { ServerSideEncryption: 'AES256' }],
        ['enc-sse-kms', { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: expect.stringContaining(MINIO_KMS_KEY_NAME) as unknown }],
      ] as const) {
        const result = await client.workflow.execute(backupWorkflow, { taskQueue: rotatedQueue, workflowId: uniqueName(`backup-${cluster}`), args: [{ cluster, type: 'full' }] });
        const root = `${prefix}-${cluster.slice('enc-'.length)}`;
        const manifest = await manifestOf(root, result);
        for (const key of [...manifest.objects.map((object) => `${root}/${result.path}${object.name}`), `${root}/${result.path}manifest.json`]) {
          expect({ key, ...(await s3.send(new HeadObjectCommand({ Bucket: 'backups', Key: key }))) }).toMatchObject({ key, ...expected });
        }
        // Sealed by the product as well: the store's encryption is beside it, not instead.
        expect((await bucket.getBytes(`${root}/${result.path}${manifest.dataObject}`)).subarray(0, 8).toString('latin1')).toBe(MAGIC);
      }
    } finally {
      s3.destroy();
    }
  });

  test('a worker without the old key, or with a wrong one under its id, refuses naming the key, before the pause', async () => {
    const second = chain[2] as BackupResult;
    const withoutOld = await workerWith('no-k2025', { currentKey: 'k2026', keys: [{ id: 'k2026', file: keyFiles.k2026 }] });
    expect(await refused(withoutOld, { source: { storage, path: second.path } })).toMatchObject({
      type: 'KeyUnavailable',
      paused: false,
      serverRestarted: false,
      message: expect.stringContaining(`is encrypted with key "k2025", which this worker does not hold (it holds: k2026)`) as unknown,
    });
    const wrongOld = await workerWith('wrong-k2025', { currentKey: 'k2026', keys: [{ id: 'k2026', file: keyFiles.k2026 }, { id: 'k2025', file: keyFiles.wrong }] });
    expect(await refused(wrongOld, { source: { storage, path: second.path } })).toMatchObject({
      type: 'KeyUnavailable',
      paused: false,
      serverRestarted: false,
      message: expect.stringContaining(`${chain[0]?.name ?? ''}/backup.xbstream.zst: key "k2025" does not open it`) as unknown,
    });
    // The target still holds what the good restores left.
    expect(await target.checksums(['shop'])).not.toEqual({});
  });
});
