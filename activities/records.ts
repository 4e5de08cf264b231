/** Records in storage, signed on write and checked on read with the store's record keys (encryption/records.ts). */
import type { ApplicationFailure } from '@temporalio/common';
import { businessFailure, FailureType } from '../domain/failures.js';
import { openRecord, signRecord, type OpenedRecord } from '../encryption/records.js';
import type { ObjectStore } from './storage/index.js';

/** Writes a record, signed for its key in the store when the worker holds keys. */
export async function writeRecord(store: ObjectStore, key: string, record: object, options: { pretty?: boolean } = {}): Promise<void> {
  const signed = signRecord(await store.recordKeys(), key, record);
  await store.putText(key, `${JSON.stringify(signed, null, options.pretty ? 2 : undefined)}\n`);
}

/** A stored record's JSON, or why it cannot be trusted; undefined when it does not exist. */
export async function readRecord(store: ObjectStore, key: string): Promise<OpenedRecord | undefined> {
  const text = await store.getText(key);
  if (text === undefined) return undefined;
  return withAuthenticCopy(store, key, openRecord(await store.recordKeys(), key, text));
}

/**
 * A record that fails its check, in a versioned bucket (one with Object Lock always is): its problem
 * names the newest earlier version that passes, so that an operator knows where the authentic copy
 * is. A record signed with a key this worker lacks is left as it is: no version would pass either.
 */
export async function withAuthenticCopy(store: ObjectStore, key: string, opened: OpenedRecord): Promise<OpenedRecord> {
  if (opened.ok || opened.fault === 'missing-key' || !store.olderVersions) return opened;
  const keys = await store.recordKeys();
  if (keys === undefined) return opened;
  const versions = await store.olderVersions(key).catch(() => []);
  for (const version of versions) {
    const text = await version.text().catch(() => undefined);
    if (text !== undefined && openRecord(keys, key, text).ok) {
      return { ...opened, problem: `${opened.problem}; an authentic copy is its earlier version ${version.versionId}${version.lastModified ? ` of ${version.lastModified}` : ''}` };
    }
  }
  return versions.length > 0 ? { ...opened, problem: `${opened.problem}; none of its ${versions.length} earlier versions is authentic either` } : opened;
}

/** The refusal of work that needs a record that cannot be trusted: nothing was changed. */
export function unauthenticRecord(store: ObjectStore, key: string, problem: string): ApplicationFailure {
  return businessFailure(FailureType.Unauthenticated, `${key} (in ${store.label}) ${problem}; nothing was changed`);
}

/** A record work cannot go on without, parsed: refused when it cannot be trusted; undefined when it does not exist. */
export async function readTrustedRecord<T>(store: ObjectStore, key: string, parse: (json: unknown) => T): Promise<T | undefined> {
  const opened = await readRecord(store, key);
  if (opened === undefined) return undefined;
  if (!opened.ok) throw unauthenticRecord(store, key, opened.problem);
  return parse(opened.json);
}
