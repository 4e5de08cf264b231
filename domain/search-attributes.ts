/** Typed search attributes that make the Web UI and `temporal workflow list` filter by cluster and backup. */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const BackupClusterKey = defineSearchAttributeKey('BackupCluster', SearchAttributeType.KEYWORD);
export const BackupTypeKey = defineSearchAttributeKey('BackupType', SearchAttributeType.KEYWORD);
export const BackupNameKey = defineSearchAttributeKey('BackupName', SearchAttributeType.KEYWORD);
export const BackupChainBaseKey = defineSearchAttributeKey('BackupChainBase', SearchAttributeType.KEYWORD);
/** On a verification (BackupType "verify") and on a backup verified right after it was taken: "passed" or "failed". */
export const VerificationResultKey = defineSearchAttributeKey('VerificationResult', SearchAttributeType.KEYWORD);
/** On a cluster's binlog archiver: how many gaps its archive has (0 when every transaction since the first archived file is there). */
export const BinlogGapsKey = defineSearchAttributeKey('BinlogGaps', SearchAttributeType.INT);

/** Names and types, for registering them with a Temporal server (`--search-attribute NAME=Keyword`). */
export const SEARCH_ATTRIBUTES = [
  ...[BackupClusterKey, BackupTypeKey, BackupNameKey, BackupChainBaseKey, VerificationResultKey].map((key) => ({ name: key.name, type: 'Keyword' as const })),
  { name: BinlogGapsKey.name, type: 'Int' as const },
];
