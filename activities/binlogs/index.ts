/**
 * The binlog activities, one module a concept: archiving (archive.ts), what the archive holds
 * (summary.ts), planning a restore to a point (plan.ts), reading archived binlogs back (download.ts),
 * replaying them (replay.ts) and the archive's retention (retention.ts); what they share is in shared.ts.
 */
import type { ActivityDeps } from '../deps.js';
import { binlogArchiveActivities } from './archive.js';
import { binlogDownloadActivities } from './download.js';
import { pointInTimePlanActivities } from './plan.js';
import { binlogReplayActivities } from './replay.js';
import { binlogRetentionActivities } from './retention.js';
import { binlogSummaryActivities } from './summary.js';

export function binlogActivities(deps: ActivityDeps) {
  return { ...binlogSummaryActivities(deps), ...pointInTimePlanActivities(deps), ...binlogDownloadActivities(deps), ...binlogReplayActivities(deps), ...binlogRetentionActivities(deps), ...binlogArchiveActivities(deps) };
}
