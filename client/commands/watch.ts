/** `watch` and `cancel`: any running piece of work, by its workflow id (printed first by every command that waits). */
import type { Command } from 'commander';
import { CancelledFailure, WorkflowFailedError, WorkflowNotFoundError, type WorkflowHandle } from '@temporalio/client';
import { CliError, ExitCode, print, refusedResult, workflowFailure, type CliContext } from '../cli-context.js';
import { follow } from '../follow.js';

async function runningHandle(cli: CliContext, workflowId: string): Promise<{ handle: WorkflowHandle; status: string }> {
  const handle = (await cli.client()).workflow.getHandle(workflowId);
  try {
    return { handle, status: (await handle.describe()).status.name };
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) throw new CliError(`no workflow "${workflowId}" in this namespace`, ExitCode.refused);
    throw error;
  }
}

export function registerWatchCommands(program: Command, cli: CliContext): void {
  program
    .command('watch <workflow-id>')
    .description('follow a piece of work until it ends (Ctrl-C stops following, not the work); prints its result')
    .option('--json', 'print the result as JSON, no progress')
    .action(async (workflowId: string, options: { json?: boolean }) => {
      const { handle } = await runningHandle(cli, workflowId);
      try {
        const result: unknown = await follow(handle, options.json === true);
        const refused = refusedResult(result, workflowId);
        if (refused) throw refused;
        print(options.json, result, () => `${workflowId} completed:\n${JSON.stringify(result, null, 2)}`);
      } catch (error) {
        throw workflowFailure(error, workflowId) ?? error;
      }
    });

  program
    .command('cancel <workflow-id>')
    .description('cancel a running piece of work and wait until it has cleaned up (an uncommitted backup is discarded, a restore puts the old datadir back)')
    .action(async (workflowId: string) => {
      const { handle, status } = await runningHandle(cli, workflowId);
      if (status !== 'RUNNING') throw new CliError(`workflow ${workflowId} is not running (${status.toLowerCase()}): nothing to cancel`, ExitCode.refused);
      await handle.cancel();
      console.error(`cancellation requested for ${workflowId}; waiting for its clean-up`);
      try {
        const refused = refusedResult(await handle.result(), workflowId);
        if (refused) throw refused;
        console.log(`${workflowId} finished before the cancellation took effect: its work is done`);
      } catch (error) {
        if (error instanceof WorkflowFailedError && error.cause instanceof CancelledFailure) {
          console.log(`cancelled ${workflowId}; its clean-up has finished`);
          return;
        }
        throw workflowFailure(error, workflowId) ?? error;
      }
    });
}
