/** Rules of a verification by a real server that need no server: what a user check's answer means, the LSN rule, and when a recorded verification proves a chain. */
import { compareLsn } from './checkpoints.js';
import type { UserCheck } from './config.js';
import type { Manifest, VerificationRecord } from './manifest.js';

/** Every object a chain restores from, as `<backup>/<object>:<sha256>`: what a verification record binds itself to. */
export function chainObjects(chain: { name: string; manifest: Pick<Manifest, 'objects'> }[]): string[] {
  return chain.flatMap((backup) => backup.manifest.objects.map((object) => `${backup.name}/${object.name}:${object.sha256}`)).sort();
}

/**
 * The recorded verification that proves a chain already: its newest backup's record passed, and was
 * made on exactly these objects (a record from before records named their objects proves nothing).
 */
export function recordedProof(chain: { name: string; manifest: Pick<Manifest, 'objects'>; verification?: VerificationRecord }[]): VerificationRecord | undefined {
  const record = chain.at(-1)?.verification;
  if (record?.result !== 'passed' || record.chainObjects === undefined) return undefined;
  const objects = chainObjects(chain);
  return record.chainObjects.length === objects.length && record.chainObjects.every((object, index) => object === objects[index]) ? record : undefined;
}

/** What is wrong with a user check's answer (its rows as the client prints them), or undefined when it holds. */
export function userCheckProblem(check: UserCheck, rows: string[][]): string | undefined {
  const value = rows[0]?.[0];
  if (value === undefined) return `check "${check.name}" returned no row`;
  const expected = [
    check.equals !== undefined ? `= ${check.equals}` : undefined,
    check.atLeast !== undefined ? `>= ${check.atLeast}` : undefined,
    check.atMost !== undefined ? `<= ${check.atMost}` : undefined,
  ].filter((part) => part !== undefined);
  const failed = `check "${check.name}" returned ${value}, expected ${expected.join(' and ')}`;
  if (check.equals !== undefined && (typeof check.equals === 'number' ? Number(value) !== check.equals || value.trim() === '' : value !== check.equals)) return failed;
  if (check.atLeast === undefined && check.atMost === undefined) return undefined;
  const number = Number(value);
  if (value.trim() === '' || Number.isNaN(number)) return `check "${check.name}" returned ${value}, not a number (expected ${expected.join(' and ')})`;
  if ((check.atLeast !== undefined && number < check.atLeast) || (check.atMost !== undefined && number > check.atMost)) return failed;
  return undefined;
}

/** The redo log's current LSN in `SHOW ENGINE INNODB STATUS` output, or undefined. */
export function statusLsn(status: string): string | undefined {
  return /Log sequence number\s+(\d+)/.exec(status)?.[1];
}

/** A server started on a prepared chain must be at least at the last LSN the chain's newest backup carries. */
export function lsnProblem(reported: string | undefined, lastLsn: string): string | undefined {
  if (reported === undefined) return 'the server on the prepared data did not report its log sequence number';
  return compareLsn(reported, lastLsn) < 0 ? `the server on the prepared data is at LSN ${reported}, before the ${lastLsn} its backups carry: the prepare did not apply the whole chain` : undefined;
}
