/**
 * Release series of the backup tools. mariadb-backup prepares only backups that a tool of its own
 * release series took (10.11 cannot prepare 11.8's, nor the other way round), and an increment can
 * only continue a chain that the same series began; XtraBackup's rule is the same.
 */
import type { Decision } from './chain.js';
import type { Manifest } from './manifest.js';

/** "10.11.19-MariaDB-0+deb12u1" → "10.11"; "mariadb-backup based on MariaDB server 10.11.19-MariaDB …" → "10.11"; "8.0.35-30" → "8.0". */
export function releaseSeries(version: string | undefined): string | undefined {
  const match = /(?:^|[^\d.])(\d{1,3})\.(\d{1,3})\.\d{1,4}/.exec(version ?? '');
  return match ? `${match[1]}.${match[2]}` : undefined;
}

/** The series a backup's tool belongs to: its own version, else the server's it ran against (the tool ships with its server). */
export function backupSeries(manifest: Pick<Manifest, 'tool' | 'serverVersion'>): string | undefined {
  return releaseSeries(manifest.tool.version) ?? releaseSeries(manifest.serverVersion);
}

/**
 * Whether a worker whose tool is `workerTool` (its `--version` line) can prepare every backup of a
 * chain. Refused before anything is downloaded, naming both versions and what to do.
 */
export function checkPreparableBy(chain: { name: string; manifest: Pick<Manifest, 'tool' | 'serverVersion'> }[], workerTool: { binary: string; version: string }): Decision<null> {
  const workerSeries = releaseSeries(workerTool.version);
  if (workerSeries === undefined) return { ok: true, value: null };
  for (const backup of chain) {
    const series = backupSeries(backup.manifest);
    if (series === undefined || series === workerSeries) continue;
    return {
      ok: false,
      code: 'ToolVersionMismatch',
      reason:
        `${backup.name} was taken by ${backup.manifest.tool.name} ${backup.manifest.tool.version ?? `for server ${backup.manifest.serverVersion ?? '?'}`} (series ${series}), ` +
        `but this worker's ${workerTool.binary} is ${workerSeries} (${workerTool.version.trim()}): a backup is prepared only by the tool of the series that took it. ` +
        `Restore on a worker with ${workerTool.binary} ${series}, or on this host install it beside ${workerSeries} and set the cluster's backup.toolPath`,
    };
  }
  return { ok: true, value: null };
}

/**
 * Whether an increment taken now, of a server of `serverVersion` (whose tool is of the same series),
 * may continue the chain whose newest backup is `parent`: a server upgraded to another series since
 * starts a new chain.
 */
export function checkContinuableBy(parent: { name: string; manifest: Pick<Manifest, 'tool' | 'serverVersion'> }, now: { serverVersion: string; cluster: string }): Decision<null> {
  const chainSeries = backupSeries(parent.manifest);
  const nowSeries = releaseSeries(now.serverVersion);
  if (chainSeries === undefined || nowSeries === undefined || chainSeries === nowSeries) return { ok: true, value: null };
  return {
    ok: false,
    code: 'ToolVersionMismatch',
    reason:
      `the chain of ${parent.name} was taken on MariaDB/MySQL ${chainSeries}, and the server now runs ${now.serverVersion} (series ${nowSeries}): ` +
      `an increment cannot continue a chain across release series. Take a full backup to start a new chain (chainbackup backup ${now.cluster} --type full); scheduled backups start one by themselves`,
  };
}
