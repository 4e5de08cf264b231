/**
 * What every CLI command shares: the exit codes, the configuration named by `--config`, the
 * Temporal client (opened once, closed when the command ends), and one way to start a workflow and
 * follow it to its result.
 */
import { ApplicationFailure, WorkflowFailedError, type Client, type Workflow, type WorkflowResultType, type WorkflowStartOptions } from '@temporalio/client';
import type { Command } from 'commander';
import { ConfigError, loadConfig } from '../config/file.js';
import { loadKeyRing } from '../encryption/keys.js';
import { sealedDataConverter } from '../encryption/payload-codec.js';
import { connectClient, temporalConnectConfig } from '../config/temporal-connection.js';
import type { Config } from '../domain/config.js';
import { isRefusal, refusalIn } from '../domain/failures.js';
import { follow } from './follow.js';
import { lastFailureMessage, untakenFirstAttempt } from '../activities/pending-activity.js';

/** 130 is the shell's code for a command stopped by Ctrl-C (128 + SIGINT): the CLI stopped, not the work. */
export const ExitCode = { ok: 0, failed: 1, refused: 2, unreachable: 3, unhealthy: 4, interrupted: 130 } as const;

/** An error the CLI reports in one line, with the exit code scripts can rely on. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

export interface RunOptions {
  wait: boolean;
  json?: boolean;
}

/** Adds `--no-wait` and `--json` to a command that starts work. */
export const waitOptions = (command: Command) => command.option('--no-wait', 'print the workflow id and return at once').option('--json', 'print the result as JSON');

export function print(json: boolean | undefined, value: unknown, human: () => string): void {
  console.log(json ? JSON.stringify(value, null, 2) : human());
}

/** The innermost application failure of a failed workflow, as one line and an exit code. */
export function workflowFailure(error: unknown, workflowId: string): CliError | undefined {
  if (!(error instanceof WorkflowFailedError)) return undefined;
  let cause: unknown = error.cause;
  let application: ApplicationFailure | undefined;
  const messages: string[] = [];
  while (cause instanceof Error) {
    if (cause instanceof ApplicationFailure) application ??= cause;
    messages.push(cause.message);
    cause = cause.cause;
  }
  const refused = isRefusal(application?.type);
  const message = application ? `${application.type ?? 'failed'}: ${application.message}` : messages.join(': ') || error.message;
  return new CliError(`${refused ? 'refused' : 'failed'} (workflow ${workflowId}): ${message}`, refused ? ExitCode.refused : ExitCode.failed);
}

/** A run that completed with a refusal (workflows/interceptors.ts): the same line and exit code as a refusal that failed it. */
export function refusedResult(result: unknown, workflowId: string): CliError | undefined {
  const refusal = refusalIn(result);
  return refusal ? new CliError(`refused (workflow ${workflowId}): ${refusal.type}: ${refusal.message}`, ExitCode.refused) : undefined;
}

/** The result of a run, or the refusal it completed with thrown as the CLI reports it. */
function unlessRefused<T>(result: T, workflowId: string): T {
  const refused = refusedResult(result, workflowId);
  if (refused) throw refused;
  return result;
}

export class CliContext {
  private loaded: Promise<Config> | undefined;
  private openClient: Client | undefined;

  constructor(private readonly program: Command) {}

  get configPath(): string {
    return this.program.opts<{ config: string }>().config;
  }

  async config(): Promise<Config> {
    this.loaded ??= loadConfig(this.configPath);
    return this.loaded;
  }

  /** The name, if the configuration lists the cluster; a refusal naming the known ones otherwise. */
  async knownCluster(name: string): Promise<string> {
    const config = await this.config();
    if (!config.clusters.some((cluster) => cluster.name === name)) {
      throw new CliError(`unknown cluster "${name}": ${this.configPath} lists ${config.clusters.map((cluster) => cluster.name).join(', ')}`, ExitCode.refused);
    }
    return name;
  }

  async client(): Promise<Client> {
    if (!this.openClient) {
      // Payload encryption is the configuration's; `watch` and `cancel` may run without a configuration file.
      const payloadEncryption = await this.config().then(
        (config) => config.temporal.payloadEncryption,
        (error: unknown) => {
          if (error instanceof ConfigError && error.missing) return undefined;
          throw error;
        },
      );
      const keys = await loadKeyRing(payloadEncryption).catch((error: unknown) => {
        throw new CliError(`temporal.payloadEncryption: ${(error as Error).message}`, ExitCode.refused);
      });
      try {
        this.openClient = await connectClient(sealedDataConverter(keys));
      } catch (error) {
        const address = temporalConnectConfig().connectionOptions.address;
        throw new CliError(`cannot reach Temporal at ${address} (${(error as Error).message}); set TEMPORAL_ADDRESS or a profile`, ExitCode.unreachable);
      }
    }
    return this.openClient;
  }

  /** A positive number of seconds from a global option, in milliseconds. */
  private secondsOption(flag: 'workerTimeout' | 'readTimeout', name: string): number {
    const given = this.program.opts<Record<typeof flag, string>>()[flag];
    const seconds = Number(given);
    if (!Number.isFinite(seconds) || seconds <= 0) throw new CliError(`${name}: must be a number of seconds above 0, not "${given}"`, ExitCode.refused);
    return seconds * 1000;
  }

  /**
   * Runs a read-only workflow (a listing, a health check) and returns its result, failing within
   * --worker-timeout with exit 3 when no worker takes it up (no workflow worker on the shared queue,
   * or no host worker for the step it waits on) instead of waiting for ever; once a worker has taken
   * it, waiting at most --read-timeout in all (a step lost with its worker is retried within a
   * heartbeat time-out, so longer means storage or the server is failing: the step and its last
   * failure are named). The workflow is then terminated, so nothing is left behind.
   */
  async readOnly<W extends Workflow>(workflow: W, start: { workflowId: string; args: Parameters<W>; summary: string }): Promise<WorkflowResultType<W>> {
    const { temporal } = await this.config();
    const patienceMs = this.secondsOption('workerTimeout', '--worker-timeout');
    const limitMs = Math.max(this.secondsOption('readTimeout', '--read-timeout'), patienceMs);
    const startOptions = { taskQueue: temporal.taskQueue, workflowId: start.workflowId, args: start.args, staticSummary: start.summary } as unknown as WorkflowStartOptions<W>;
    const handle = await (await this.client()).workflow.start(workflow, startOptions);
    const result = handle.result();
    const timers: NodeJS.Timeout[] = [];
    const after = (ms: number) => new Promise<'stalled'>((resolve) => timers.push(setTimeout(() => resolve('stalled'), ms)));
    try {
      const first = await Promise.race([result, after(patienceMs)]);
      if (first !== 'stalled') return unlessRefused(first, start.workflowId);
      const description = await handle.describe();
      const events = (await handle.fetchHistory()).events ?? [];
      // A first attempt no worker has taken: its queue has no worker (a retry waiting for its turn is not that).
      const waiting = (description.raw.pendingActivities ?? []).some(untakenFirstAttempt);
      const noWorkflowWorker = !events.some((event) => event.workflowTaskStartedEventAttributes);
      if (noWorkflowWorker || waiting) {
        const queue = noWorkflowWorker ? `the shared queue ${temporal.taskQueue}` : "the cluster's host queue (a worker on its database host)";
        await handle.terminate('no worker answered the chainbackup CLI').catch(() => undefined);
        throw new CliError(`no worker answered within ${Math.round(patienceMs / 1000)} s (workflow ${start.workflowId} waited on ${queue}): is a chainbackup worker running with this configuration?`, ExitCode.unreachable);
      }
      const second = await Promise.race([result, after(limitMs - patienceMs)]);
      if (second !== 'stalled') return unlessRefused(second, start.workflowId);
      const steps = await Promise.all(
        ((await handle.describe()).raw.pendingActivities ?? []).map(async (activity) => {
          const lastFailure = await lastFailureMessage(handle.client, activity);
          return `step ${activity.activityType?.name ?? '?'} (attempt ${activity.attempt ?? 1}${lastFailure ? `, last failure: ${lastFailure}` : ''})`;
        }),
      );
      await handle.terminate('the chainbackup CLI stopped waiting').catch(() => undefined);
      throw new CliError(`workflow ${start.workflowId} did not finish within ${Math.round(limitMs / 1000)} s (--read-timeout), waiting on ${steps.join('; ') || 'no step'}; see the worker's log`, ExitCode.unreachable);
    } catch (error) {
      throw workflowFailure(error, start.workflowId) ?? error;
    } finally {
      for (const timer of timers) clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    await this.openClient?.connection.close();
  }

  /** Starts a workflow on the shared queue (typed by the workflow function itself) and follows it unless --no-wait. */
  async run<W extends Workflow>(
    workflow: W,
    start: { workflowId: string; args: Parameters<W>; summary: string },
    options: RunOptions,
    describe: (result: WorkflowResultType<W>) => string,
  ): Promise<void> {
    const { temporal } = await this.config();
    // The SDK's args type is conditional on W and cannot be built for a generic W; callers are checked against Parameters<W>.
    const startOptions = { taskQueue: temporal.taskQueue, workflowId: start.workflowId, args: start.args, staticSummary: start.summary } as unknown as WorkflowStartOptions<W>;
    const handle = await (await this.client()).workflow.start(workflow, startOptions);
    if (!options.wait) {
      print(options.json, { workflowId: start.workflowId, runId: handle.firstExecutionRunId }, () => start.workflowId);
      return;
    }
    try {
      const result = unlessRefused(await follow(handle, options.json === true), start.workflowId);
      print(options.json, result, () => describe(result));
    } catch (error) {
      throw workflowFailure(error, start.workflowId) ?? error;
    }
  }
}
