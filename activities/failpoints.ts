/**
 * Failpoints: named places in the activities where a fault test can hold a worker, so that it can
 * be killed at exactly that step (between moving the datadir aside and putting the prepared one in,
 * while a prepare runs, just after a server was started), and the end of every step
 * (`after-<activity type>`: its work done, its result not yet reported). Off unless the worker's
 * environment sets CHAINBACKUP_FAILPOINTS to a folder; then:
 * - a failpoint whose name is a file in that folder writes `<name>.reached` and waits (heartbeating)
 *   until the file is removed; a file that holds a workflow id arms it for that workflow's steps only;
 * - every failpoint passed appends `<workflow id> <name>` to `passed.log`, so that a test learns
 *   every place a kind of work can be killed from one run of it.
 * Nothing else changes.
 */
import { appendFile, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { Context } from '@temporalio/activity';
import type { ActivityExecuteInput, ActivityInboundCallsInterceptor, ActivityInterceptorsFactory, Next } from '@temporalio/worker';

export type FailpointName =
  | 'prepare-running'
  | 'swap-placed'
  | 'apply-running'
  | 'swap-moved-aside'
  | 'unpause-spawned'
  | 'clone-staged'
  | 'binlog-uploaded'
  | 'binlog-part-uploaded'
  | 'binlog-applying'
  | 'verify-server-running'
  | 'seed-server-running'
  | 'backup-streaming'
  | `after-${string}`;

export const PASSED_LOG = 'passed.log';

export async function failpoint(name: FailpointName, given?: Context): Promise<void> {
  const folder = process.env.CHAINBACKUP_FAILPOINTS;
  if (!folder) return;
  const context = given ?? Context.current();
  const workflowId = context.info.workflowExecution?.workflowId ?? '';
  await appendFile(join(folder, PASSED_LOG), `${workflowId} ${name}\n`);
  const armed = join(folder, name);
  const armedFor = await readFile(armed, 'utf8').then(
    (text) => text.trim(),
    () => undefined,
  );
  if (armedFor === undefined || (armedFor !== '' && armedFor !== workflowId)) return;
  await writeFile(`${armed}.reached`, `${process.pid}\n`);
  while (await readFile(armed).then(() => true, () => false)) {
    // Held on purpose: the step must not look dead to Temporal until the test kills its worker.
    context.heartbeat({ phase: `held at failpoint ${name}` });
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  await rm(`${armed}.reached`, { force: true });
}

/**
 * A pass-through stream that holds at `name` once `afterBytes` have gone through it (or at its end,
 * if shorter): a kill in the middle of a stream, with its upload open. Undefined when failpoints are off,
 * so that production streams gain no stage.
 */
export function failpointInStream(name: FailpointName, afterBytes: number): Transform | undefined {
  if (!process.env.CHAINBACKUP_FAILPOINTS) return undefined;
  const context = Context.current();
  let seen = 0;
  let held = false;
  const holdOnce = async () => {
    if (held) return;
    held = true;
    await failpoint(name, context);
  };
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length;
      if (seen < afterBytes) return done(null, chunk);
      holdOnce().then(() => done(null, chunk), done);
    },
    flush(done) {
      holdOnce().then(() => done(), done);
    },
  });
}

/** The failpoint at the end of every step, where its work is done and Temporal has not heard so. */
class StepEndFailpoints implements ActivityInboundCallsInterceptor {
  constructor(private readonly context: Context) {}

  async execute(input: ActivityExecuteInput, next: Next<ActivityInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    const result = await next(input);
    await failpoint(`after-${this.context.info.activityType}`, this.context);
    return result;
  }
}

/** For `Worker.create({ interceptors: { activity: [..., stepEndFailpoints] } })`; nothing happens unless failpoints are on. */
export const stepEndFailpoints: ActivityInterceptorsFactory = (context) => ({ inbound: new StepEndFailpoints(context) });
