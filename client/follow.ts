/**
 * Follows a running workflow for a person: a live line with the phase (the workflow's `progress`
 * query), the bytes the running activity has heartbeated, the rate and the elapsed time.
 */
import type { Workflow, WorkflowHandle, WorkflowResultType } from '@temporalio/client';
import { progressQuery } from '../domain/workflow-contract.js';

interface Heartbeat {
  phase?: string;
  bytesDone?: number;
}

function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

export { formatBytes };

function formatElapsed(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  return `${String(Math.floor(seconds / 60)).padStart(2, '0')}:${String(seconds % 60).padStart(2, '0')}`;
}

async function snapshot(handle: WorkflowHandle<Workflow>): Promise<{ phase: string; bytes?: number }> {
  const [progress, description] = await Promise.all([handle.query(progressQuery).catch(() => undefined), handle.describe()]);
  let bytes: number | undefined;
  for (const activity of description.raw.pendingActivities ?? []) {
    const data = activity.heartbeatDetails?.payloads?.[0]?.data;
    if (!data) continue;
    const details = JSON.parse(Buffer.from(data).toString()) as Heartbeat;
    if (typeof details.bytesDone === 'number') bytes = (bytes ?? 0) + details.bytesDone;
  }
  return { phase: progress?.phase ?? 'starting', ...(bytes !== undefined ? { bytes } : {}) };
}

/** Waits for the result while showing progress on stderr: a redrawn line on a terminal, phase changes otherwise. */
export async function follow<W extends Workflow>(handle: WorkflowHandle<W>, quiet: boolean): Promise<WorkflowResultType<W>> {
  const started = Date.now();
  const result = handle.result();
  if (quiet) return result;
  const tty = process.stderr.isTTY;
  let settled = false;
  void result.finally(() => (settled = true)).catch(() => undefined);
  let lastPhase = '';
  let last = { at: started, bytes: 0 };
  // The first look is immediate: a person sees what the work is doing at once, not after a second.
  for (let first = true; !settled; first = false) {
    if (!first) await Promise.race([result.catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 1000))]);
    if (settled) break;
    const now = Date.now();
    const state = await snapshot(handle).catch(() => undefined);
    if (!state) continue;
    const rate = state.bytes !== undefined && now > last.at ? ((state.bytes - last.bytes) * 1000) / (now - last.at) : undefined;
    if (state.bytes !== undefined) last = { at: now, bytes: state.bytes };
    const figures = state.bytes !== undefined ? `  ${formatBytes(state.bytes)}${rate !== undefined && rate > 0 ? ` at ${formatBytes(rate)}/s` : ''}` : '';
    const line = `[${formatElapsed(now - started)}] ${state.phase}${figures}`;
    if (tty) process.stderr.write(`\r\x1b[2K${line.slice(0, (process.stderr.columns || 120) - 1)}`);
    else if (state.phase !== lastPhase) process.stderr.write(`${line}\n`);
    lastPhase = state.phase;
  }
  if (tty) process.stderr.write('\r\x1b[2K');
  else if (lastPhase === '') {
    // Work that finished before the first look still says how it ended (a closed workflow answers queries too).
    const state = await snapshot(handle).catch(() => undefined);
    if (state) process.stderr.write(`[${formatElapsed(Date.now() - started)}] ${state.phase}\n`);
  }
  return result;
}
