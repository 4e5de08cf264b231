/** Stored objects that may be sealed (activities/encryption.ts): written under the current key, read with whichever key they name. */
import { Readable } from 'node:stream';
import { DecryptStream, EncryptionError, EncryptStream, isSealed, openBytes, sealBytes, type EncryptionKey, type KeyRing } from '../encryption/objects.js';
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
export function encryptionFailure(error: unknown, store?: ObjectStore, what = ''): unknown {
  if (!(error instanceof EncryptionError)) return error;
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

/** Reads a small object, opening it when it is sealed; undefined when it does not exist. */
export async function getSmallObject(store: ObjectStore, key: string, identity: string, keys: KeyRing): Promise<string | undefined> {
  const bytes = await store.getBytes(key);
  if (bytes === undefined) return undefined;
  if (!isSealed(bytes)) return bytes.toString('utf8');
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
