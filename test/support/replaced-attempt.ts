/**
 * Runs code as an attempt of a step whose worker stalled past the step's heartbeat time-out, as a
 * frozen or cut-off worker's does, so that Temporal may have given the step to a newer attempt: the
 * thread really stops (no tick, no heartbeat) for longer than the attempt may stay silent.
 */
import { Context } from '@temporalio/activity';
import { MockActivityEnvironment } from '@temporalio/testing';
import { startHold } from '../../activities/attempt-lease.js';

/** The shortest hold there is (attempt-lease.ts): a 5 s heartbeat time-out. */
const HEARTBEAT_TIMEOUT_MS = 5_000;

export async function asAttempt<T>(work: () => Promise<T>, { stalled }: { stalled: boolean }): Promise<T> {
  const environment = new MockActivityEnvironment({ attempt: 2, heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS });
  return environment.run(async () => {
    // What the worker's liveness interceptor does when a step starts.
    startHold(Context.current());
    if (stalled) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, HEARTBEAT_TIMEOUT_MS + 1_000);
    return work();
  });
}

/** Each act's outcome, so that one stall serves many: 'done' or the failure's message. */
export async function outcomes(acts: Record<string, () => Promise<unknown>>): Promise<Record<string, string>> {
  const results: Record<string, string> = {};
  for (const [name, act] of Object.entries(acts)) {
    results[name] = await act().then(
      () => 'done',
      (error: unknown) => (error instanceof Error ? error.message : String(error)),
    );
  }
  return results;
}
