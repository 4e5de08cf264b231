/**
 * A worker inside the test process for the workflow tests: the product's workflows (and the test
 * ones in test/workflows/harness-workflows.ts) against the suite's real Temporal dev server, with
 * activities the test supplies, so a workflow's paths can be driven without databases or storage.
 */
import { fileURLToPath } from 'node:url';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { Client } from '@temporalio/client';
import { connectTestClient } from './environment.js';
import { workflowInterceptorModules } from '../../worker/workers.js';

const workflowsPath = fileURLToPath(new URL('../workflows/harness-workflows.js', import.meta.url));

export interface HarnessWorker {
  client: Client;
  stop(): Promise<void>;
}

export async function startHarnessWorker(taskQueue: string, activities: object): Promise<HarnessWorker> {
  const address = process.env.TEMPORAL_ADDRESS;
  if (!address) throw new Error('TEMPORAL_ADDRESS is not set: run the tests through `npm test`');
  const connection = await NativeConnection.connect({ address });
  const worker = await Worker.create({
    connection,
    namespace: 'default',
    taskQueue,
    workflowsPath,
    interceptors: { workflowModules: workflowInterceptorModules },
    activities,
  });
  const running = worker.run();
  const { client, close } = await connectTestClient();
  return {
    client,
    async stop() {
      worker.shutdown();
      await running;
      await close();
      await connection.close();
    },
  };
}

/** Polls `probe` until it returns a value; fails, naming `what`, when nothing came within the deadline. */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined>, deadlineMs = 60_000): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${deadlineMs / 1000} s${last ? ` (last error: ${last instanceof Error ? last.message : JSON.stringify(last)})` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
