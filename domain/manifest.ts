/** The manifest: written last into a backup folder, it is the commit of that backup. */
import { z } from 'zod';
import { isLsn } from './checkpoints.js';
import { TOOL_FILE_GENERATION_NAMES, type ToolFileGeneration } from './layout.js';

const lsn = z.string().refine(isLsn, 'must be a decimal LSN');

export const FLAVOURS = ['mariadb', 'mysql'] as const;
export type Flavour = (typeof FLAVOURS)[number];

export const storedObjectSchema = z.object({
  name: z.string().min(1),
  size: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});
export type ManifestObject = z.infer<typeof storedObjectSchema>;

export const manifestSchema = z.object({
  formatVersion: z.literal(1),
  name: z.string().min(1),
  cluster: z.string().min(1),
  type: z.enum(['full', 'incremental']),
  /** The full backup that starts this backup's chain (its own name for a full backup). */
  base: z.string().min(1),
  /** The backup this increment was taken from; null for a full backup. */
  parent: z.string().min(1).nullable(),
  fromLsn: lsn,
  toLsn: lsn,
  lastLsn: lsn,
  flavour: z.enum(FLAVOURS),
  tool: z.object({ name: z.string(), version: z.string().optional() }),
  /** Which names the tool gave its checkpoints and info files (domain/layout.ts); absent: the xtrabackup_* names of every tool before mariadb-backup 11. */
  toolFiles: z.enum(TOOL_FILE_GENERATION_NAMES as [ToolFileGeneration, ...ToolFileGeneration[]]).optional(),
  serverVersion: z.string().optional(),
  binlog: z.object({ file: z.string(), position: z.string(), gtid: z.string().optional() }).nullable(),
  startedAt: z.iso.datetime(),
  finishedAt: z.iso.datetime(),
  /** Bytes of all objects of this backup, as stored. */
  sizeBytes: z.number().int().nonnegative(),
  /** Bytes of the tool's stream before compression: what a restore extracts onto disk. */
  streamBytes: z.number().int().nonnegative(),
  objects: z.array(storedObjectSchema).min(1),
  dataObject: z.string().min(1),
  compression: z.enum(['none', 'zstd']),
  /** How every stored object but the manifest is sealed: "none", or chunked AES-256-GCM (docs/encryption.md). */
  encryption: z.enum(['none', 'aes-256-gcm-chunked']),
  /** The key-encryption key the objects name (never the key itself); only when encrypted. */
  encryptionKeyId: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/).optional(),
  parallel: z.number().int().positive(),
  takenBy: z.object({ workflowId: z.string(), runId: z.string() }).optional(),
  /** Where the source server kept its files when the backup was taken (see domain/server-layout.ts). */
  layout: z
    .object({
      datadir: z.string(),
      dataHomeDir: z.string(),
      dataFiles: z.array(z.string()),
      dataFilePath: z.string(),
      undoTablespaces: z.number().int().nonnegative(),
      logGroupHomeDir: z.string(),
      undoDirectory: z.string(),
      binlogBasename: z.string().nullable(),
      binlogIndex: z.string().nullable(),
      relayLogBasename: z.string().nullable(),
      relayLogIndex: z.string().nullable(),
      ariaLogDir: z.string(),
    })
    .optional(),
  /**
   * The source's tables and their engines while the backup ran (those that were there, with the
   * same engine, both before and after the tool): what a verification expects to find.
   */
  inventory: z.array(z.object({ schema: z.string(), table: z.string(), engine: z.string() })).optional(),
  /** Why no inventory was recorded (the backup user lacked SELECT): a verification says it compared none. */
  inventoryProblem: z.string().optional(),
  /** Tables whose tablespace lived outside the datadir (CREATE TABLE … DATA DIRECTORY), with the source's path. */
  remoteTablespaces: z.array(z.object({ name: z.string(), path: z.string() })).optional(),
});
export type Manifest = z.infer<typeof manifestSchema>;

export class ManifestError extends Error {}

export function parseManifest(text: string, where: string): Manifest {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ManifestError(`${where}: manifest is not valid JSON`);
  }
  return manifestFromJson(json, where);
}

/** A manifest from its parsed (and, with keys, authenticated) JSON. */
export function manifestFromJson(json: unknown, where: string): Manifest {
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ManifestError(`${where}: manifest field ${issue?.path.join('.') || '(root)'} ${issue?.message ?? 'is invalid'}`);
  }
  return parsed.data;
}

export type TableInventory = NonNullable<Manifest['inventory']>;

/** The tables two readings agree on (same schema, name and engine): a table made, dropped or altered between them is left out. */
export function stableInventory(before: TableInventory, after: TableInventory): TableInventory {
  const seen = new Set(before.map((table) => `${table.schema}\u0000${table.table}\u0000${table.engine}`));
  return after.filter((table) => seen.has(`${table.schema}\u0000${table.table}\u0000${table.engine}`)).sort((a, b) => a.schema.localeCompare(b.schema) || a.table.localeCompare(b.table));
}

/** What is wrong with the tables a server reports, against the inventory the backup recorded. */
export function inventoryProblems(expected: TableInventory, found: TableInventory): string[] {
  const byName = new Map(found.map((table) => [`${table.schema}.${table.table}`, table.engine]));
  return expected.flatMap((table) => {
    const engine = byName.get(`${table.schema}.${table.table}`);
    if (engine === undefined) return [`table ${table.schema}.${table.table} (${table.engine}) is missing`];
    return engine === table.engine ? [] : [`table ${table.schema}.${table.table} is ${engine}, the backup recorded ${table.engine}`];
  });
}

/** The outcome of the newest verification of a backup by a throw-away server, stored beside it. */
export const verificationRecordSchema = z.object({
  formatVersion: z.literal(1),
  backup: z.string(),
  result: z.enum(['passed', 'failed']),
  /** Every problem found (empty when it passed). */
  problems: z.array(z.string()),
  tables: z.number().optional(),
  inventoryTables: z.number().optional(),
  /** Why the inventory was not compared (the backup recorded none). */
  inventoryNotCompared: z.string().optional(),
  /** The user checks of the configuration that ran, by name. */
  checks: z.array(z.string()).optional(),
  /** The log sequence number the started server reported. */
  serverLsn: z.string().optional(),
  /** Every object of the chain it verified (domain/verification.ts chainObjects): a restore of these same objects needs no second check. */
  chainObjects: z.array(z.string()).optional(),
  durationSeconds: z.number().optional(),
  verifiedAt: z.string(),
  /** The worker host and the workflow that verified it. */
  worker: z.string(),
  workflowId: z.string(),
});
export type VerificationRecord = z.infer<typeof verificationRecordSchema>;

/** A stored verification record, or why it cannot be used (a backup with an unreadable record counts as unverified). */
export function parseVerificationRecord(text: string): { ok: true; record: VerificationRecord } | { ok: false; reason: string } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'verification.json is not valid JSON' };
  }
  return verificationRecordFromJson(json);
}

/** A verification record from its parsed (and, with keys, authenticated) JSON. */
export function verificationRecordFromJson(json: unknown): { ok: true; record: VerificationRecord } | { ok: false; reason: string } {
  const parsed = verificationRecordSchema.safeParse(json);
  if (parsed.success) return { ok: true, record: parsed.data };
  const issue = parsed.error.issues[0];
  return { ok: false, reason: `verification.json field ${issue?.path.join('.') || '(root)'} ${issue?.message ?? 'is invalid'}` };
}
