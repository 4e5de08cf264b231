/** Stored objects that may be sealed (activities/encryption.ts): written under the current key, read with whichever key they name. */
import { Readable } from 'node:stream';
import { DecryptStream, EncryptionError, EncryptStream, isSealed, openBytes, sealBytes, type EncryptionKey, type KeyRing } from '../encryption/objects.js';
import type { ApplicationFailure } from '@temporalio/common';
import type { StorageEncryptionConfig } from '../domain/config.js';
import { businessFailure, FailureType } from '../domain/failures.js';
import type { ObjectStore } from './storage/index.js';

/** What a sealed object's header names it by: stable across prefixes, storage URLs and copies of a store. */
export function backupObjectIdentity(backup: string, object: string): string {
  return `${backup}/${object}`;
}

export function binlogObjectIdentity(cluster: string, history: number, object: string): string {
  return `binlogs/${cluster}/history-${history}/${object}`;
}

/**
 * A failure to open a stored object as a business failure, naming the store it was read from
 * (`what` goes first, such as "archived binlog "): a missing or wrong key is a refusal, damage a
 * checksum failure. Any other error is returned as it is.
 */
export function encryptionFailure(error: unknown, store?: ObjectStore, what = '', storedAs?: StoredAs & { object: string }): unknown {
  if (!(error instanceof EncryptionError)) return error;
  // A plaintext object where a sealed one was required: said as the downgrade it may be.
  if (error.reason === 'not-encrypted' && storedAs) return plaintextRefused(`${what}${storedAs.object}${store ? ` (in ${store.label})` : ''}`, storedAs);
  const message = `${what}${error.message}${store ? ` (in ${store.label})` : ''}`;
  return businessFailure(error.reason === 'missing-key' || error.reason === 'wrong-key' ? FailureType.KeyUnavailable : FailureType.ChecksumMismatch, message);
}

/** Writes a small object, sealed when a key is given. */
export async function putSmallObject(store: ObjectStore, key: string, identity: string, text: string, seal: EncryptionKey | undefined): Promise<{ size: number; bytes: Buffer }> {
  const bytes = seal ? await sealBytes(seal, identity, Buffer.from(text)) : Buffer.from(text);
  if (seal) await store.upload(key, Readable.from([bytes]));
  else await store.putText(key, text);
  return { size: bytes.length, bytes };
}

/** What a record (a manifest, a binlog record) says of its object: sealed or not, and when it was stored. */
export interface StoredAs {
  encryption?: string | undefined;
  storedAt?: string | undefined;
}

/**
 * Whether this worker may take its object in plaintext. Not when its record says sealed; when the
 * worker encrypts what it stores (`encryption` configured), only if it was stored before
 * `encryption.plaintextBefore`: a plaintext object in place of a sealed one is a downgrade by
 * someone who can write to the store (a forged binlog or backup, accepted unsealed, was applied).
 */
export function plaintextAdmitted(encryption: StorageEncryptionConfig | undefined, record: StoredAs): boolean {
  if (record.encryption !== undefined && record.encryption !== 'none') return false;
  if (!encryption) return true;
  if (encryption.plaintextBefore === undefined || record.storedAt === undefined) return false;
  return Date.parse(record.storedAt) < Date.parse(encryption.plaintextBefore);
}

/** The refusal of a plaintext object a worker that encrypts did not admit, saying what would admit it. */
export function plaintextRefused(what: string, record: StoredAs): ApplicationFailure {
  return businessFailure(
    FailureType.ChecksumMismatch,
    `${what} is stored in plaintext, but this worker encrypts what it stores: a plaintext object where a sealed one belongs is refused (whoever can write to the store could have put it there). If it was stored before encryption was switched on${record.storedAt ? ` (its record says ${record.storedAt})` : ''}, set encryption.plaintextBefore to the time encryption began`,
  );
}

/** Reads a small object, opening it when it is sealed; undefined when it does not exist. One in plaintext only if `plaintext` admits it. */
export async function getSmallObject(store: ObjectStore, key: string, identity: string, keys: KeyRing, plaintext: { admitted: boolean; what: string; record: StoredAs }): Promise<string | undefined> {
  const bytes = await store.getBytes(key);
  if (bytes === undefined) return undefined;
  if (!isSealed(bytes)) {
    if (!plaintext.admitted) throw plaintextRefused(plaintext.what, plaintext.record);
    return bytes.toString('utf8');
  }
  try {
    return (await openBytes(keys, identity, bytes)).toString('utf8');
  } catch (error) {
    throw encryptionFailure(error, store);
  }
}

/** A sealing stage for a stream being stored, or none. */
export function sealing(seal: EncryptionKey | undefined, identity: string): EncryptStream | undefined {
  return seal ? new EncryptStream(seal, identity) : undefined;
}

/** An opening stage for a stored stream the manifest or record says is sealed, or none. */
export function opening(encrypted: boolean, keys: KeyRing, identity: string): DecryptStream | undefined {
  return encrypted ? new DecryptStream(keys, identity) : undefined;
}
