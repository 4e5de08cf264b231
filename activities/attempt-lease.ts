/**
 * An attempt's hold on its step, between the checks Temporal can make. Temporal gives a step to a
 * new attempt once the running one has been silent for its heartbeat time-out. A worker that was
 * frozen or starved past that (a paused VM, a stalled host, SIGSTOP) cannot know that it has been
 * replaced: when it runs again, its next act (an upload completing, a folder cleared, a prepare or a
 * binlog replay resumed) would land on what the newer attempt made. So every act that changes
 * shared state first asks `assertAttemptHolds`: an attempt whose own liveness ticks, measured on
 * the monotonic clock (which runs on while a process is stopped), have had a gap long enough for
 * Temporal to have timed it out changes nothing more, for good. The check is local and costs
 * nothing; the fence at the start of a step (current-attempt.ts) covers tasks that waited in a
 * frozen worker before they began.
 */
import { ApplicationFailure } from '@temporalio/common';
import { Context } from '@temporalio/activity';
import { rm } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { performance } from 'node:perf_hooks';
import { SUPERSEDED_ATTEMPT } from './current-attempt.js';

/** The longest a host worker's SDK holds a heartbeat back (worker/workers.ts sets it). */
export const HOST_HEARTBEAT_THROTTLE_MS = 3_000;

/**
 * How much of the heartbeat time-out a gap may not take: after its last tick, a step's heartbeat may
 * wait out the throttle before it leaves, and the network adds a little. (The shared queue's steps
 * change nothing outside Temporal, and are throttled as the SDK chooses.)
 */
const SAFETY_MARGIN_MS = HOST_HEARTBEAT_THROTTLE_MS + 1_000;
const SMALLEST_HOLD_MS = 5_000;

interface Hold {
  lastTick: number;
  lapsed?: { gapMs: number; limitMs: number };
}

const holds = new WeakMap<Context, Hold>();

function limitFor(context: Context): number {
  const heartbeatTimeoutMs = context.info.heartbeatTimeoutMs ?? 0;
  return heartbeatTimeoutMs > 0 ? Math.max(SMALLEST_HOLD_MS, heartbeatTimeoutMs - SAFETY_MARGIN_MS) : Number.POSITIVE_INFINITY;
}

/** Marks the hold lapsed if the attempt has been silent too long; true while it holds. */
function holdsNow(context: Context, hold: Hold, now: number): boolean {
  if (hold.lapsed) return false;
  const gapMs = now - hold.lastTick;
  const limitMs = limitFor(context);
  if (gapMs > limitMs) hold.lapsed = { gapMs, limitMs };
  return hold.lapsed === undefined;
}

/** The liveness interceptor starts the hold when a step begins and ticks it with every liveness beat. */
export function startHold(context: Context): void {
  holds.set(context, { lastTick: performance.now() });
}

export function tickHold(context: Context): void {
  const hold = holds.get(context);
  if (!hold) return;
  const now = performance.now();
  // A tick that comes after a gap does not renew the hold: Temporal may have moved on meanwhile.
  if (holdsNow(context, hold, now)) hold.lastTick = now;
}

export function endHold(context: Context): void {
  holds.delete(context);
}

/** Whether the running step's attempt lost its hold (outside a step: never). */
export function attemptLapsed(context?: Context): boolean {
  const current = context ?? currentContext();
  const hold = current ? holds.get(current) : undefined;
  return hold !== undefined && current !== undefined && !holdsNow(current, hold, performance.now());
}

/**
 * Throws (retryably: Temporal ignores a superseded attempt's result, and retries one that was not)
 * when the running step's attempt may have been replaced. Outside a step it does nothing.
 */
export function assertAttemptHolds(act: string, context: Context | undefined = currentContext()): void {
  const hold = context ? holds.get(context) : undefined;
  if (!context || !hold || holdsNow(context, hold, performance.now())) return;
  const { activityType, attempt } = context.info;
  const lapsed = hold.lapsed ?? { gapMs: 0, limitMs: 0 };
  throw ApplicationFailure.create({
    type: SUPERSEDED_ATTEMPT,
    message: `attempt ${attempt} of ${activityType} did not ${act}: it went ${Math.round(lapsed.gapMs / 1000)} s without a liveness beat (its worker was frozen, stalled or cut off), past the ${Math.round(lapsed.limitMs / 1000)} s after which Temporal may have given the step to another attempt`,
  });
}

/** Clean-up of a shared folder: left to the newer attempt when this one may have been replaced. */
export async function removeUnlessReplaced(path: string): Promise<void> {
  if (!attemptLapsed()) await rm(path, { recursive: true, force: true });
}

/** A pass-through stream that fails as soon as its step's attempt loses its hold: for data written into shared state. */
export function holdingStream(act: string): Transform {
  const context = currentContext();
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      try {
        assertAttemptHolds(act, context);
        done(null, chunk);
      } catch (error) {
        done(error as Error);
      }
    },
  });
}

function currentContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}
