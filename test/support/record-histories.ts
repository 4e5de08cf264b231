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
  events?: { workflowExecutionStartedEventAttributes?: { input?: { payloads?: { data?: string }[] } } }[];
}

interface Kind {
  file: string;
  query: string;
  /** Keeps only the runs whose started input matches, when the query cannot tell them apart. */
  input?: (request: Record<string, unknown>) => boolean;
}

const targetKind = (request: Record<string, unknown>): string => ((request.target as { kind?: string } | undefined)?.kind ?? 'in-place');

export const KINDS: Kind[] = [
  { file: 'backup-full', query: `WorkflowType = "backup" AND ExecutionStatus = "Completed" AND BackupType = "full"` },
  { file: 'backup-incremental', query: `WorkflowType = "backup" AND ExecutionStatus = "Completed" AND BackupType = "incremental"` },
  { file: 'backup-failed', query: `WorkflowType = "backup" AND ExecutionStatus = "Failed"` },
  { file: 'backup-cancelled', query: `WorkflowType = "backup" AND ExecutionStatus = "Canceled"` },
  { file: 'restore-in-place', query: `WorkflowType = "restore" AND ExecutionStatus = "Completed"`, input: (request) => targetKind(request) === 'in-place' },
  { file: 'restore-clone', query: `WorkflowType = "restore" AND ExecutionStatus = "Completed"`, input: (request) => targetKind(request) === 'new-datadir' },
  { file: 'restore-verify', query: `WorkflowType = "restore" AND ExecutionStatus = "Completed"`, input: (request) => targetKind(request) === 'verify' },
  { file: 'restore-rolled-back', query: `WorkflowType = "restore" AND ExecutionStatus = "Failed"`, input: (request) => targetKind(request) === 'in-place' },
  { file: 'delete-backup', query: `WorkflowType = "deleteBackup" AND ExecutionStatus = "Completed"` },
  { file: 'retention', query: `WorkflowType = "retention" AND ExecutionStatus = "Completed"` },
  { file: 'catalog', query: `WorkflowType = "catalog" AND ExecutionStatus = "Completed"` },
  { file: 'cluster-lock-continued', query: `WorkflowType = "clusterLock" AND ExecutionStatus = "ContinuedAsNew"` },
  { file: 'cluster-lock', query: `WorkflowType = "clusterLock" AND ExecutionStatus = "Completed"` },
];

function startedInput(history: History): Record<string, unknown> {
  const payload = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
  if (!payload?.data) return {};
  try {
    return JSON.parse(Buffer.from(payload.data, 'base64').toString('utf8')) as Record<string, unknown>;
  } catch {
    return {};
  }
}

export async function recordHistories(directory: string): Promise<string[]> {
  const address = process.env.TEMPORAL_ADDRESS;
  if (!address) throw new Error('TEMPORAL_ADDRESS is not set: nothing to record from');
  const connection = await Connection.connect({ address });
  const namespace = process.env.TEMPORAL_NAMESPACE ?? 'default';
  const client = new Client({ connection, namespace });
  const written: string[] = [];
  try {
    await mkdir(directory, { recursive: true });
    for (const kind of KINDS) {
      let best: { workflowId: string; history: History } | undefined;
      for await (const execution of client.workflow.list({ query: kind.query })) {
        const shown = await execa(toolPath('temporal'), ['workflow', 'show', '--address', address, '--namespace', namespace, '--workflow-id', execution.workflowId, '--run-id', execution.runId, '--output', 'json']);
        const history = JSON.parse(shown.stdout) as History;
        if (kind.input && !kind.input(startedInput(history))) continue;
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
