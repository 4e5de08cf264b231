/**
 * Authenticated records: the small JSON objects in storage that restores and retention trust
 * (manifests, binlog records and gaps, verification, pin and deletion markers, restore records).
 * Each carries an HMAC-SHA256 over its canonical form and its place in the store, under a key
 * derived from the worker's own keys, so that whoever can write to the store cannot change one,
 * move one to another place, or write one of their own (docs/security.md).
 */
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import type { KeyRing } from './objects.js';

/** The field a signed record carries its signature in. */
export const SIGNATURE_FIELD = 'signature';

export interface RecordSignature {
  /** The id of the key it was signed with (the key itself never leaves the worker). */
  keyId: string;
  /** HMAC-SHA256, hex. */
  mac: string;
}

interface RecordKey {
  id: string;
  key: Buffer;
}

/** The keys records are signed and checked with: one per configured key, derived so that a signing key is never a sealing key. */
export interface RecordKeys {
  current: RecordKey | undefined;
  find(id: string): RecordKey | undefined;
}

export function recordKeys(ring: KeyRing): RecordKeys | undefined {
  if (ring.ids.length === 0) return undefined;
  const derived = new Map<string, RecordKey>();
  for (const id of ring.ids) {
    const key = ring.find(id);
    if (key) derived.set(id, { id, key: Buffer.from(hkdfSync('sha256', key.key, Buffer.alloc(0), `chainbackup record signature v1 ${id}`, 32)) });
  }
  return { current: ring.current ? derived.get(ring.current.id) : undefined, find: (id) => derived.get(id) };
}

/** JSON with object keys sorted at every level and no spaces: one text for one value, whoever wrote it. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item ?? null)).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, item]) => item !== undefined);
    return `{${entries
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

function mac(key: RecordKey, place: string, body: unknown): string {
  return createHmac('sha256', key.key).update(`chainbackup record v1\n${place}\n${canonicalJson(body)}`).digest('hex');
}

/** The record as stored: with a signature under the current key, bound to its place (its key in the store), when keys are held. */
export function signRecord<T extends object>(keys: RecordKeys | undefined, place: string, record: T): T & { signature?: RecordSignature } {
  const body = withoutSignature(JSON.parse(JSON.stringify(record)) as Record<string, unknown>) as T;
  if (!keys?.current) return body;
  return { ...body, [SIGNATURE_FIELD]: { keyId: keys.current.id, mac: mac(keys.current, place, body) } };
}

/** Why a record is not accepted: not a JSON object, no signature, a signature by a key this worker lacks, or one that does not verify. */
export type RecordFault = 'invalid' | 'unsigned' | 'missing-key' | 'fails';

export type OpenedRecord = { ok: true; json: unknown; signedWith?: string } | { ok: false; problem: string; fault: RecordFault };

/**
 * A stored record's JSON, checked: with keys held, only one signed for this place by one of them;
 * without keys, whatever it says (signed or not: nothing can be checked). The signature is removed.
 */
export function openRecord(keys: RecordKeys | undefined, place: string, text: string): OpenedRecord {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, fault: 'invalid', problem: 'is not valid JSON' };
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return { ok: false, fault: 'invalid', problem: 'is not a JSON object' };
  const body = withoutSignature(json as Record<string, unknown>);
  if (!keys) return { ok: true, json: body };
  const signature = (json as Record<string, unknown>)[SIGNATURE_FIELD] as Partial<RecordSignature> | undefined;
  if (signature === undefined) {
    return { ok: false, fault: 'unsigned', problem: 'is not signed, and this worker accepts only records it can authenticate (it holds keys): anyone who can write to the store could have written it' };
  }
  if (typeof signature !== 'object' || typeof signature.keyId !== 'string' || typeof signature.mac !== 'string') return { ok: false, fault: 'fails', problem: 'has a malformed signature' };
  const key = keys.find(signature.keyId);
  if (!key) return { ok: false, fault: 'missing-key', problem: `is signed with key "${signature.keyId}", which this worker does not hold (add it to the configuration's keys)` };
  const expected = Buffer.from(mac(key, place, body), 'hex');
  const given = Buffer.from(signature.mac, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return {
      ok: false,
      fault: 'fails',
      problem: `fails authentication with key "${key.id}": it was changed after it was written, or written for another place than ${place} (or this worker's key "${key.id}" is not the one that signed it)`,
    };
  }
  return { ok: true, json: body, signedWith: key.id };
}

function withoutSignature(json: Record<string, unknown>): Record<string, unknown> {
  const { [SIGNATURE_FIELD]: _signature, ...body } = json;
  return body;
}
