/** Business failures: non-retryable, typed, and worded for the person who has to act on them. */
import { ApplicationFailure } from '@temporalio/common';

/**
 * Every business failure type, once, with what it means to the caller: a `refusal` is a request
 * the product would not carry out (nothing was changed; the CLI exits 2), a `failure` is work that
 * was attempted and failed (the CLI exits 1).
 */
export const FAILURE_TABLE = {
  InvalidRequest: 'refusal',
  UnknownCluster: 'refusal',
  NoFullBackup: 'refusal',
  InvalidBaseBackup: 'refusal',
  BackupNotFound: 'refusal',
  ForeignBackup: 'refusal',
  BrokenChain: 'refusal',
  LsnMismatch: 'failure',
  CorruptCheckpoints: 'refusal',
  ChecksumMismatch: 'failure',
  BackupToolFailed: 'failure',
  InsufficientSpace: 'refusal',
  RestoreFailed: 'failure',
  PrepareInterrupted: 'failure',
  ChainInUse: 'refusal',
  RestoredSinceParent: 'refusal',
  ConfigInvalid: 'refusal',
  StorageRefused: 'refusal',
  UnsupportedLayout: 'refusal',
  RollbackFailed: 'failure',
  BinlogUnavailable: 'refusal',
  VerificationFailed: 'failure',
  FailedVerification: 'refusal',
  Pinned: 'refusal',
  KeyUnavailable: 'refusal',
  ToolVersionMismatch: 'refusal',
  HostWorkerMissing: 'failure',
  Unauthenticated: 'refusal',
  Locked: 'refusal',
  /** A point in time the binlog archive does not wholly cover yet: later, or with --wait-for-archive, it will be. */
  NotYetArchived: 'refusal',
} as const satisfies Record<string, 'refusal' | 'failure'>;

export type FailureTypeName = keyof typeof FAILURE_TABLE;

export const FailureType = Object.fromEntries(Object.keys(FAILURE_TABLE).map((name) => [name, name])) as { readonly [K in FailureTypeName]: K };

/** Whether a failure type means the request was refused before anything changed. */
export function isRefusal(type: string | null | undefined): boolean {
  return type !== null && type !== undefined && (FAILURE_TABLE as Record<string, string>)[type] === 'refusal';
}

/**
 * What a refused request completes with when a person or a schedule started it (a run without a
 * parent): the refusal's type and message. Nothing was changed; the run reads as completed, not
 * failed, in the Web UI, and the CLI exits 2 on it. Refusals inside a run (a child's) still fail it.
 */
export interface Refusal {
  refused: { type: string; message: string };
}

/** The refusal a workflow's result holds, if it is one. */
export function refusalIn(result: unknown): Refusal['refused'] | undefined {
  if (typeof result !== 'object' || result === null || !('refused' in result)) return undefined;
  const { refused } = result as { refused?: { type?: unknown; message?: unknown } };
  return typeof refused?.type === 'string' && typeof refused.message === 'string' ? { type: refused.type, message: refused.message } : undefined;
}

export function businessFailure(type: FailureTypeName, message: string, options: { details?: unknown[]; cause?: Error } = {}): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable: true, ...options });
}

/**
 * The business failure behind an error, however deep: an activity's (ActivityFailure → ApplicationFailure)
 * or a child workflow's (ChildWorkflowFailure → ActivityFailure → ApplicationFailure). `type` keeps only one of that type.
 */
export function businessFailureIn(error: unknown, type?: FailureTypeName): ApplicationFailure | undefined {
  let current: unknown = error;
  while (current instanceof Error) {
    if (current instanceof ApplicationFailure && (type === undefined || current.type === type)) return current;
    current = current.cause;
  }
  return undefined;
}

/** The innermost message of a failure and its causes: what went wrong, without "Activity task failed". */
export function rootMessage(error: unknown): string {
  let current: unknown = error;
  let message = String(error);
  while (current instanceof Error) {
    message = current.message;
    current = current.cause;
  }
  return message;
}

/**
 * A failure as a person needs it: the innermost typed failure ("BackupToolFailed: …") or, without
 * one, the innermost message, after the outer message ("Workflow execution failed") when they differ.
 */
export function describeFailure(error: unknown): string {
  let current: unknown = error;
  let typed: { type: string; message: string } | undefined;
  let innermost = String(error);
  while (current instanceof Error) {
    const type = (current as Error & { type?: unknown }).type;
    if (current instanceof ApplicationFailure && typeof type === 'string') typed ??= { type, message: current.message };
    innermost = current.message;
    current = current.cause;
  }
  const cause = typed ? `${typed.type}: ${typed.message}` : innermost;
  const outer = error instanceof Error ? error.message : String(error);
  return outer === cause || outer === '' ? cause : `${outer}: ${cause}`;
}
