/**
 * Issue 34: the records a restore or retention trusts are signed for their place and checked on
 * read. Pure signing and checking first, then the catalog and the trusted readers on a real
 * filesystem store holding records written by a worker with keys, and changed by someone without.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCatalog } from '../../activities/catalog.js';
import { readRecord, readTrustedRecord, writeRecord } from '../../activities/records.js';
import { FilesystemStore } from '../../activities/storage/filesystem.js';
import { businessFailureIn } from '../../domain/failures.js';
import { DELETING_OBJECT, MANIFEST_OBJECT, PIN_OBJECT, VERIFICATION_OBJECT } from '../../domain/layout.js';
import type { EncryptionKey, KeyRing } from '../../encryption/objects.js';
import { canonicalJson, openRecord, recordKeys, signRecord, type RecordKeys } from '../../encryption/records.js';
import { stored } from '../support/stored-backups.js';

const ring = (...keys: EncryptionKey[]): KeyRing => ({ current: keys[0], find: (id) => keys.find((entry) => entry.id === id), ids: keys.map((entry) => entry.id) });
const k2026: EncryptionKey = { id: 'k2026', key: randomBytes(32) };
const k2025: EncryptionKey = { id: 'k2025', key: randomBytes(32) };
const keys = recordKeys(ring(k2026)) as RecordKeys;
const PLACE = 'shop-2026-04-01T000000.000Z-full/manifest.json';

describe('signed records', () => {
  test('the canonical form sorts keys at every level and has no spaces, whatever order they were written in', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { z: true, y: null }], c: 'x' } })).toBe('{"a":{"c":"x","d":[2,{"y":null,"z":true}]},"b":1}');
    expect(canonicalJson({ a: 1, b: 2 })).toBe(canonicalJson({ b: 2, a: 1 }));
  });

  test('a signed record opens for its place, as written, with the key that signed it named', () => {
    const record = { name: 'shop', position: '1212', nested: { gtid: '0-1-7' } };
    const text = JSON.stringify(signRecord(keys, PLACE, record), null, 2);
    expect(openRecord(keys, PLACE, text)).toEqual({ ok: true, json: record, signedWith: 'k2026' });
    // Reformatted or reordered, it is the same record.
    const reordered = JSON.stringify({ nested: { gtid: '0-1-7' }, ...JSON.parse(text) });
    expect(openRecord(keys, PLACE, reordered).ok).toBe(true);
  });

  test('a changed value, an added or removed field, another place, another key and no signature are each refused', () => {
    const signed = signRecord(keys, PLACE, { name: 'shop', position: '1212' });
    const problem = (text: string, place = PLACE, withKeys: RecordKeys = keys) => {
      const opened = openRecord(withKeys, place, text);
      return opened.ok ? 'opened' : opened.problem;
    };
    expect(problem(JSON.stringify({ ...signed, position: '1427' }))).toContain('fails authentication');
    expect(problem(JSON.stringify({ ...signed, extra: 1 }))).toContain('fails authentication');
    const { position: _dropped, ...withoutPosition } = signed;
    expect(problem(JSON.stringify(withoutPosition))).toContain('fails authentication');
    expect(problem(JSON.stringify(signed), 'shop-2026-04-02T000000.000Z-full/manifest.json')).toContain('written for another place');
    expect(problem(JSON.stringify(signed), PLACE, recordKeys(ring(k2025)))).toContain('signed with key "k2026", which this worker does not hold');
    expect(problem(JSON.stringify({ name: 'shop', position: '1212' }))).toContain('is not signed');
    expect(problem(JSON.stringify({ ...signed, signature: { keyId: 'k2026', mac: 'zz' } }))).toContain('fails authentication');
    expect(problem(JSON.stringify({ ...signed, signature: 'forged' }))).toContain('malformed signature');
    expect(problem('{ not json')).toContain('not valid JSON');
  });

  test('a record signed with an older key opens while that key is held; new ones are signed with the current key', () => {
    const old = signRecord(recordKeys(ring(k2025)), PLACE, { name: 'shop' });
    const both = recordKeys(ring(k2026, k2025));
    expect(openRecord(both, PLACE, JSON.stringify(old))).toMatchObject({ ok: true, signedWith: 'k2025' });
    expect(signRecord(both, PLACE, { name: 'shop' }).signature?.keyId).toBe('k2026');
  });

  test('the signing key is derived: a MAC made with the encryption key itself does not verify', async () => {
    const { createHmac } = await import('node:crypto');
    const body = { name: 'shop' };
    const mac = createHmac('sha256', k2026.key).update(`chainbackup record v1\n${PLACE}\n${canonicalJson(body)}`).digest('hex');
    expect(openRecord(keys, PLACE, JSON.stringify({ ...body, signature: { keyId: 'k2026', mac } })).ok).toBe(false);
  });

  test('without keys nothing is signed, and any record reads as it is (its signature removed)', () => {
    expect(signRecord(undefined, PLACE, { name: 'shop' })).toEqual({ name: 'shop' });
    const signed = signRecord(keys, PLACE, { name: 'shop' });
    expect(openRecord(undefined, PLACE, JSON.stringify({ ...signed, name: 'other' }))).toEqual({ ok: true, json: { name: 'other' } });
  });
});

describe('records in a store whose worker holds keys', () => {
  const SHOP = 'shop-2026-04-01T000000.000Z-full';
  let root: string;
  let store: FilesystemStore;
  const withoutKeys = () => new FilesystemStore(root);

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'chainbackup-records-'));
    store = new FilesystemStore(root, () => Promise.resolve(keys));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  async function writeBackup(): Promise<void> {
    const backup = stored(SHOP, SHOP, {});
    await store.putText(`${SHOP}/backup.xbstream`, 'data');
    await writeRecord(store, `${SHOP}/${MANIFEST_OBJECT}`, backup.manifest ?? {}, { pretty: true });
  }

  test('a manifest the worker wrote commits its backup; changed by anyone else, the backup is not committed and the catalog says why', async () => {
    await writeBackup();
    const [backup] = await readCatalog(store);
    expect(backup?.manifest?.name).toBe(SHOP);
    const path = join(root, SHOP, MANIFEST_OBJECT);
    const manifest = JSON.parse(await readFile(path, 'utf8')) as { binlog: unknown };
    await writeFile(path, JSON.stringify({ ...manifest, binlog: { file: 'mysql-bin.000002', position: '1427' } }));
    const [changed] = await readCatalog(store);
    expect(changed?.manifest).toBeNull();
    expect(changed?.manifestProblem).toContain('manifest fails authentication');
    expect(changed?.recordProblems).toEqual([changed?.manifestProblem]);
    // A worker without keys cannot tell.
    expect((await readCatalog(withoutKeys()))[0]?.manifest).not.toBeNull();
  });

  test('an unsigned verification counts as unverified, an unsigned pin still keeps, an unsigned deletion marker hides nothing', async () => {
    await writeBackup();
    await store.putText(`${SHOP}/${VERIFICATION_OBJECT}`, JSON.stringify({ formatVersion: 1, backup: SHOP, result: 'passed', problems: [], verifiedAt: '2026-04-02T00:00:00Z', worker: 'w', workflowId: 'forged' }));
    await store.putText(`${SHOP}/${PIN_OBJECT}`, JSON.stringify({ pinnedAt: '2026-04-02T00:00:00Z' }));
    await store.putText(`${SHOP}/${DELETING_OBJECT}`, JSON.stringify({ deletingChain: SHOP, by: 'forged', since: '2026-04-02T00:00:00Z' }));
    const [backup] = await readCatalog(store);
    expect(backup?.manifest?.name).toBe(SHOP);
    expect(backup?.deleting).toBeUndefined();
    expect(backup?.verification).toBeUndefined();
    expect(backup?.verificationProblem).toContain('verification.json is not signed');
    // It still pins; what it says is not trusted (the time is the object's own).
    expect(backup?.pinned?.pinnedAt).not.toBe('2026-04-02T00:00:00Z');
    expect(backup?.recordProblems).toHaveLength(3);
    // The same markers signed by the worker count.
    await writeRecord(store, `${SHOP}/${DELETING_OBJECT}`, { deletingChain: SHOP, by: 'deletion', since: '2026-04-02T00:00:00Z' });
    const [deleting] = await readCatalog(store);
    expect(deleting?.deleting).toBe(true);
    expect(deleting?.manifest).toBeNull();
    await store.delete([`${SHOP}/${VERIFICATION_OBJECT}`, `${SHOP}/${PIN_OBJECT}`, `${SHOP}/${DELETING_OBJECT}`]);
  });

  test('a record that work needs is refused as Unauthenticated when it fails its check, naming it and the store', async () => {
    const key = 'binlogs/shop/history-0/mysql-bin.000002.json';
    await writeRecord(store, key, { file: 'mysql-bin.000002', sha256: 'a'.repeat(64) });
    await expect(readTrustedRecord(store, key, (json) => json)).resolves.toEqual({ file: 'mysql-bin.000002', sha256: 'a'.repeat(64) });
    await store.putText(key, JSON.stringify({ file: 'mysql-bin.000002', sha256: 'b'.repeat(64) }));
    const error = await readTrustedRecord(store, key, (json) => json).catch((caught: unknown) => caught);
    const failure = businessFailureIn(error);
    expect(failure?.type).toBe('Unauthenticated');
    expect(failure?.message).toContain(`${key} (in file://${root}) is not signed`);
    await expect(readTrustedRecord(store, 'binlogs/shop/history-0/absent.json', (json) => json)).resolves.toBeUndefined();
  });

  test('in a versioned store, a record that fails names the newest earlier version that passes, or says none does', async () => {
    const key = 'binlogs/shop/history-0/mysql-bin.000003.json';
    const authentic = JSON.stringify(signRecord(keys, key, { file: 'mysql-bin.000003', sha256: 'a'.repeat(64) }));
    const forged = JSON.stringify({ ...(JSON.parse(authentic) as object), sha256: 'b'.repeat(64) });
    // Earlier versions, newest first, as S3 lists them: a forgery on top of the authentic one.
    let history = [
      { versionId: 'v2', lastModified: '2026-04-02T00:00:00.000Z', text: () => Promise.resolve<string | undefined>(forged) },
      { versionId: 'v1', lastModified: '2026-04-01T00:00:00.000Z', text: () => Promise.resolve<string | undefined>(authentic) },
    ];
    const versioned = Object.assign(new FilesystemStore(root, () => Promise.resolve(keys)), { olderVersions: () => Promise.resolve(history) });
    await versioned.putText(key, forged);
    const opened = await readRecord(versioned, key);
    expect(opened).toMatchObject({ ok: false, problem: expect.stringMatching(/fails authentication .*; an authentic copy is its earlier version v1 of 2026-04-01T00:00:00.000Z$/) as unknown });
    history = history.slice(0, 1);
    expect(await readRecord(versioned, key)).toMatchObject({ ok: false, problem: expect.stringContaining('; none of its 1 earlier versions is authentic either') as unknown });
    // A record signed with a key this worker lacks: no version could pass, so none is read.
    let read = 0;
    const lacking = Object.assign(new FilesystemStore(root, () => Promise.resolve(recordKeys(ring(k2025)))), { olderVersions: () => ((read += 1), Promise.resolve(history)) });
    await lacking.putText(key, authentic);
    expect(await readRecord(lacking, key)).toMatchObject({ ok: false, fault: 'missing-key' });
    expect(read).toBe(0);
  });
});
