/** Business failures: non-retryable, typed, and worded for the person who has to act on them. */
import { ApplicationFailure } from '@temporalio/common';

export const FailureType = {
  InvalidRequest: 'InvalidRequest',
  UnknownCluster: 'UnknownCluster',
  NoFullBackup: 'NoFullBackup',
  InvalidBaseBackup: 'InvalidBaseBackup',
  BackupNotFound: 'BackupNotFound',
  BrokenChain: 'BrokenChain',
  LsnMismatch: 'LsnMismatch',
  CorruptCheckpoints: 'CorruptCheckpoints',
  ChecksumMismatch: 'ChecksumMismatch',
  BackupToolFailed: 'BackupToolFailed',
  InsufficientSpace: 'InsufficientSpace',
  RestoreFailed: 'RestoreFailed',
  ChainInUse: 'ChainInUse',
  RestoredSinceParent: 'RestoredSinceParent',
  ConfigInvalid: 'ConfigInvalid',
} as const;
export type FailureTypeName = (typeof FailureType)[keyof typeof FailureType];

export function businessFailure(type: FailureTypeName, message: string, details?: unknown[]): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable: true, ...(details ? { details } : {}) });
}
