/**
 * Records real workflow histories from an integration run, for the replay suite
 * (test/unit/replay.test.ts). Run `CHAINBACKUP_RECORD_HISTORIES=test/replay/v<version> npm test`
 * when a release is cut: the global teardown calls this before it stops the Temporal dev server.
 * For each kind of run it keeps the longest history the suite produced, so the recording covers as
 * many commands as the suite exercised.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { Client, Connection } from '@temporalio/client';
import { toolPath } from '../../devtools/sandbox/processes.js';

/** A history as `temporal workflow show --output json` writes it, the form every SDK's replayer reads. */
interface History {
  events?: { workflowExecutionStartedEventAttributes?: { input?: { payloads?: { data?: string }[] }; parentWorkflowExecution?: { workflowId?: string } } }[];
}

interface Kind {
  file: string;
  query: string;
  /** Keeps only the runs whose started input (and parent, for a child) match, when the query cannot tell them apart. */
  input?: (request: Record<string, unknown>, started: Started) => boolean;
}

interface Started {
  /** The run was started by another workflow (a backup's verification after it). */
  child: boolean;
}

const targetKind = (request: Record<string, unknown>): string => ((request.target as { kind?: string } | undefined)?.kind ?? 'in-place');
/** A restore to a point in time or to a GTID, carried out (not a plan). */
const toPoint = (request: Record<string, unknown>): boolean => (request.pointInTime !== undefined || request.gtid !== undefined) && request.dryRun !== true;
/** A restore of a backup as it was taken: no point, no plan. */
const ofBackup = (request: Record<string, unknown>): boolean => request.pointInTime === undefined && request.gtid === undefined && request.dryRun !== true;

export const KINDS: Kind[] = [
  { file: 'backup-full', query: `WorkflowType = "backup" AND ExecutionStatus = "Completed" AND BackupType = "full"` },
  { file: 'backup-incremental', query: `WorkflowType = "backup" AND ExecutionStatus = "Completed" AND BackupType = "incremental"` },
  { file: 'backup-failed', query: `WorkflowType = "backup" AND ExecutionStatus = "Failed"` },
  { file: 'backup-cancelled', query: `WorkflowType = "backup" AND ExecutionStatus = "Canceled"` },
  { file: 'restore-in-place', query: `WorkflowType = "restore" AND ExecutionStatus = "Completed"`, input: (request) => targetKind(request) === 'in-place' && ofBackup(request) },
  // The target kind the request schema names (domain/requests.ts): a clone into a new datadir.
  { file: 'restore-clone', query: `WorkflowType = "restore" AND ExecutionStatus = "Completed"`, input: (request) => targetKind(request) === 'new-datadir' && ofBackup(request) },
  { file: 'restore-point-in-time', query: `WorkflowType = "restore" AND ExecutionStatus = "Completed"`, input: (request) => targetKind(request) === 'in-place' && toPoint(request) },
  { file: 'restore-clone-point-in-time', query: `WorkflowType = "restore" AND ExecutionStatus = "Completed"`, input: (request) => targetKind(request) === 'new-datadir' && toPoint(request) },
  { file: 'restore-verify', query: `WorkflowType = "restore" AND ExecutionStatus = "Completed"`, input: (request, started) => targetKind(request) === 'verify' && !started.child },
  // The child `verify-<cluster>-after-<backup>` (`WorkflowId.verifyAfter`) a backup starts with `verification.afterBackup`.
  { file: 'verify-after-backup', query: `WorkflowType = "restore" AND ExecutionStatus = "Completed"`, input: (request, started) => targetKind(request) === 'verify' && started.child },
  { file: 'restore-rolled-back', query: `WorkflowType = "restore" AND ExecutionStatus = "Failed"`, input: (request) => targetKind(request) === 'in-place' },
  { file: 'delete-backup', query: `WorkflowType = "deleteBackup" AND ExecutionStatus = "Completed"` },
  { file: 'retention', query: `WorkflowType = "retention" AND ExecutionStatus = "Completed"` },
  { file: 'catalog', query: `WorkflowType = "catalog" AND ExecutionStatus = "Completed"` },
  { file: 'cluster-lock-continued', query: `WorkflowType = "clusterLock" AND ExecutionStatus = "ContinuedAsNew"` },
  // An archiver in rounds (binlogs.interval) continues as new when the suite's server suggests it, after 150 events.
  { file: 'binlog-archiver-continued', query: `WorkflowType = "binlogArchiver" AND ExecutionStatus = "ContinuedAsNew"` },
  { file: 'cluster-lock', query: `WorkflowType = "clusterLock" AND ExecutionStatus = "Completed"` },
];

/** The run's first argument; undefined when it is not plain JSON (a run of a worker with `temporal.payloadEncryption`). */
function startedInput(history: History): Record<string, unknown> | undefined {
  const payload = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
  if (!payload?.data) return {};
  try {
    return JSON.parse(Buffer.from(payload.data, 'base64').toString('utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

export async function recordHistories(directory: string): Promise<string[]> {
  const address = process.env.TEMPORAL_ADDRESS;
  if (!address) throw new Error('TEMPORAL_ADDRESS is not set: nothing to record from');
  const connection = await Connection.connect({ address });
  const namespace = process.env.TEMPORAL_NAMESPACE ?? 'default';
  const client = new Client({ connection, namespace });
  const written: string[] = [];
  // Several kinds look at the same runs (every completed restore): each history is read once.
  const shown = new Map<string, History>();
  const historyOf = async (workflowId: string, runId: string): Promise<History> => {
    const known = shown.get(runId);
    if (known) return known;
    const { stdout } = await execa(toolPath('temporal'), ['workflow', 'show', '--address', address, '--namespace', namespace, '--workflow-id', workflowId, '--run-id', runId, '--output', 'json']);
    const history = JSON.parse(stdout) as History;
    shown.set(runId, history);
    return history;
  };
  try {
    await mkdir(directory, { recursive: true });
    for (const kind of KINDS) {
      let best: { workflowId: string; history: History } | undefined;
      for await (const execution of client.workflow.list({ query: kind.query })) {
        const history = await historyOf(execution.workflowId, execution.runId);
        // A sealed run's payloads are ciphertext: the replayer, which has no key, could not replay it.
        const input = startedInput(history);
        if (input === undefined) continue;
        const started = { child: history.events?.[0]?.workflowExecutionStartedEventAttributes?.parentWorkflowExecution?.workflowId !== undefined };
        if (kind.input && !kind.input(input, started)) continue;
        if (!best || (history.events?.length ?? 0) > (best.history.events?.length ?? 0)) best = { workflowId: execution.workflowId, history };
      }
      if (!best) continue;
      const path = join(directory, `${kind.file}.json`);
      await writeFile(path, `${JSON.stringify({ workflowId: best.workflowId, history: best.history }, null, 1)}\n`);
      written.push(path);
    }
  } finally {
    await connection.close();
  }
  return written;
}
