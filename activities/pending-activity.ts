/**
 * What `describe()` says about a workflow's pending steps, read as the worker wrote it. Heartbeat
 * details and failures arrive encoded by the worker's data converter (sealed, with payload
 * encryption on): they are decoded with the client's own converter and codec, never parsed raw.
 */
import type { LoadedDataConverter } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import { decodeFromPayloadsAtIndex, decodeOptionalFailureToOptionalError } from '@temporalio/common/lib/internal-non-workflow/index.js';

export type PendingActivity = temporal.api.workflow.v1.IPendingActivityInfo;

/** A client (or a workflow handle's client): what holds the data converter the worker's payloads need. */
export interface Decoding {
  options: { loadedDataConverter: LoadedDataConverter };
}

/** PENDING_ACTIVITY_STATE_SCHEDULED: no worker of its queue has taken the step (yet, or since its last attempt). */
const SCHEDULED = 1;

/** The details of a pending activity's last heartbeat; undefined when there are none or they cannot be decoded. */
export async function heartbeatDetails(client: Decoding, activity: PendingActivity): Promise<unknown> {
  const payloads = activity.heartbeatDetails?.payloads;
  if (!payloads || payloads.length === 0) return undefined;
  return decodeFromPayloadsAtIndex(client.options.loadedDataConverter, 0, payloads).catch(() => undefined);
}

/** The last failure of a step being retried, as one line: its innermost cause's message, decoded. */
export async function lastFailureMessage(client: Decoding, activity: PendingActivity): Promise<string | undefined> {
  if (!activity.lastFailure) return undefined;
  const error = await decodeOptionalFailureToOptionalError(client.options.loadedDataConverter, activity.lastFailure).catch(() => undefined);
  let innermost: unknown = error;
  while (innermost instanceof Error && innermost.cause instanceof Error) innermost = innermost.cause;
  return innermost instanceof Error ? innermost.message : (activity.lastFailure.message ?? undefined);
}

/** A first attempt that no worker has taken: its queue has no worker (a retry waiting for its turn is not that). */
export function untakenFirstAttempt(activity: PendingActivity): boolean {
  return Number(activity.state) === SCHEDULED && (activity.attempt ?? 1) <= 1 && !activity.lastFailure;
}
