/**
 * What a destructive command will do, shown before it does it: an in-place restore or the deletion
 * of a whole chain runs only with `--yes`, or after a "y" typed on a terminal; `--dry-run` prints the
 * plan and changes nothing.
 */
import { createInterface } from 'node:readline/promises';
import { CliError, ExitCode } from './cli-context.js';

export interface ConfirmOptions {
  yes?: boolean;
  dryRun?: boolean;
}

/** Whether to go on: false after a dry run (the plan is printed); refuses when no one confirmed. */
export async function confirmPlan(what: string, plan: string[], options: ConfirmOptions): Promise<boolean> {
  const text = [`${what}:`, ...plan.map((line) => `  ${line}`)].join('\n');
  if (options.dryRun) {
    console.log(`${text}\n(dry run: nothing was changed)`);
    return false;
  }
  if (options.yes) {
    console.error(text);
    return true;
  }
  if (!process.stdin.isTTY || !process.stderr.isTTY) {
    throw new CliError(`${text}\nrefused: this changes or removes data; run again with --yes to do it (or --dry-run to see the plan only)`, ExitCode.refused);
  }
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  // Ctrl-C at the question stops the command as Ctrl-C does anywhere else (exit 130), having changed nothing.
  const interrupted = new AbortController();
  prompt.once('SIGINT', () => interrupted.abort());
  try {
    const answer = await prompt.question(`${text}\nGo on? [y/N] `, { signal: interrupted.signal });
    if (/^y(es)?$/i.test(answer.trim())) return true;
  } catch (error) {
    if (interrupted.signal.aborted) {
      process.stderr.write('\n');
      throw new CliError('stopped at the question (Ctrl-C): nothing was changed', ExitCode.interrupted);
    }
    throw error;
  } finally {
    prompt.close();
  }
  throw new CliError('not confirmed: nothing was changed', ExitCode.refused);
}
