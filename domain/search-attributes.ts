/** Typed search attributes that make the Web UI and `temporal workflow list` filter by cluster and backup. */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const BackupClusterKey = defineSearchAttributeKey('BackupCluster', SearchAttributeType.KEYWORD);
export const BackupTypeKey = defineSearchAttributeKey('BackupType', SearchAttributeType.KEYWORD);
export const BackupNameKey = defineSearchAttributeKey('BackupName', SearchAttributeType.KEYWORD);
export const BackupChainBaseKey = defineSearchAttributeKey('BackupChainBase', SearchAttributeType.KEYWORD);
/** On a verification (BackupType "verify") and on a backup verified right after it was taken: "passed" or "failed". */
export const VerificationResultKey = defineSearchAttributeKey('VerificationResult', SearchAttributeType.KEYWORD);
/**
 * On a request that was refused (bad input, a rule that says no; workflows/interceptors.ts): the
 * refusal's type. The run completes, so that the Web UI's failures are real ones; this tells it apart.
 */
export const BackupRefusalKey = defineSearchAttributeKey('BackupRefusal', SearchAttributeType.KEYWORD);
/** On a cluster's binlog archiver: how many gaps its archive has (0 when every transaction since the first archived file is there). */
export const BinlogGapsKey = defineSearchAttributeKey('BinlogGaps', SearchAttributeType.INT);
/**
 * On work that changed a cluster's ledger (a backup committed, a backup removed): the ledger's
 * number it wrote. Outside the store, so that a store put back to an older state is seen (domain/ledger.ts).
 */
export const LedgerSeqKey = defineSearchAttributeKey('LedgerSeq', SearchAttributeType.INT);

/** Names and types, for registering them with a Temporal server (`--search-attribute NAME=Keyword`). */
export const SEARCH_ATTRIBUTES = [
  ...[BackupClusterKey, BackupTypeKey, BackupNameKey, BackupChainBaseKey, VerificationResultKey, BackupRefusalKey].map((key) => ({ name: key.name, type: 'Keyword' as const })),
  ...[BinlogGapsKey, LedgerSeqKey].map((key) => ({ name: key.name, type: 'Int' as const })),
];

/** A string as a value in a visibility query (`BackupCluster = "shop"`). */
export const queryValue = (value: string) => `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

/** `BackupType` of work that changes or proves a cluster's backups or data. */
export const WORK_BACKUP_TYPES = ['full', 'incremental', 'restore', 'verify', 'delete', 'retention', 'pin', 'unpin', 'remove-kept', 'adopt'] as const;
/** `BackupType` of the short read-only runs of `list`, `show`, `status`, `check`, `kept list` and a deletion's plan: left out of the views below. */
export const READ_ONLY_BACKUP_TYPES = ['catalog', 'status', 'check', 'kept-datadirs', 'deletion-plan'] as const;

const keywordList = (values: readonly string[]) => values.map((value) => `"${value}"`).join(', ');

/** The Web UI's saved views docs/guide/operations.md recommends (and `devtools/web-ui-screenshots.ts` saves): a name and its visibility query. */
export const SAVED_VIEWS = [
  { name: 'Backup work', query: `BackupType IN (${keywordList(WORK_BACKUP_TYPES)})` },
  { name: 'Running backups', query: 'ExecutionStatus = "Running" AND BackupType IN ("full", "incremental")' },
  { name: 'Failed backup work', query: `ExecutionStatus IN ("Failed", "TimedOut", "Terminated") AND BackupType IN (${keywordList(WORK_BACKUP_TYPES)})` },
  { name: 'Refused requests', query: 'BackupRefusal IS NOT NULL' },
  { name: 'Unverified backups', query: 'ExecutionStatus = "Completed" AND BackupType IN ("full", "incremental") AND VerificationResult IS NULL AND BackupRefusal IS NULL' },
  { name: 'Failed verifications', query: 'VerificationResult = "failed"' },
] as const;
