/**
 * `chainbackup check`, on the cluster's host: the set-up mistakes that would fail the first backup,
 * restore or archive round, found before any of them runs. Each check is one line with what was
 * found, and what to do when it fails. Nothing is changed but a probe object, written, read, listed
 * and removed in the storage.
 */
import { randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import { access, statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { ClusterConfig } from '../domain/config.js';
import { missingGrants } from '../domain/grants.js';
import { CHECK_PROBE_FOLDER } from '../domain/layout.js';
import { releaseSeries } from '../domain/tool-version.js';
import { formatBytes } from '../domain/units.js';
import { loadKeyRing } from '../encryption/keys.js';
import { readTargetServer } from './database/server-layout.js';
import { describeEndpoint } from './database/defaults-file.js';
import { runSql, serverFacts } from './database/sql.js';
import { installedToolVersion } from './tools/installed-version.js';
import { backupToolFor } from './tools/backup-tool.js';
import type { ActivityDeps } from './deps.js';

export interface CheckLine {
  check: string;
  /** ok; warn: works, but not as it should; fail: the work it names will fail. */
  result: 'ok' | 'warn' | 'fail';
  detail: string;
}

const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** Runs one check: its function says what it found; a throw is the failure, in its own words. */
async function checked(check: string, run: () => Promise<string | Omit<CheckLine, 'check'>>): Promise<CheckLine> {
  try {
    const found = await run();
    return typeof found === 'string' ? { check, result: 'ok', detail: found } : { check, ...found };
  } catch (error) {
    return { check, result: 'fail', detail: message(error) };
  }
}

async function checkDatabase(cluster: ClusterConfig): Promise<CheckLine[]> {
  const where = `${cluster.connection.user} at ${describeEndpoint(cluster.connection)}`;
  let version = '';
  const login = await checked('database login', async () => {
    version = (await serverFacts(cluster.flavour, cluster.connection)).version;
    return `${where}: ${cluster.flavour === 'mariadb' ? 'MariaDB' : 'MySQL'} ${version}`;
  });
  if (login.result === 'fail') return [login, { check: 'grants, binlog, backup tool', result: 'fail', detail: 'not checked: the login failed' }];
  const [row] = await runSql(cluster.flavour, cluster.connection, 'SELECT @@log_bin, @@binlog_format, IFNULL(@@encrypt_binlog, 0), CURRENT_USER()').catch(() => [[]]);
  const [logBin = '0', binlogFormat = '', encryptBinlog = '0', account = ''] = row ?? [];
  const lines = [login];
  lines.push(
    await checked('grants', async () => {
      if (cluster.flavour !== 'mariadb') return { result: 'warn', detail: `not checked for ${cluster.flavour}: see the README's grants for MySQL with Percona XtraBackup` };
      const [user = '', host = ''] = account.split('@');
      const held = await runSql(cluster.flavour, cluster.connection, `SELECT PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = CONCAT("'", ${sqlText(user)}, "'@'", ${sqlText(host)}, "'")`);
      const streamedBinlog = cluster.binlogs.archive && (cluster.binlogs.rpo !== undefined || encryptBinlog === '1');
      const missing = missingGrants(held.map(([privilege = '']) => privilege), { streamedBinlog });
      if (missing.length === 0) return `${account} holds every grant the configuration needs`;
      const lacking = missing.map((grant) => `${grant.privilege} (for ${grant.for})`).join(', ');
      return { result: 'fail', detail: `${account} lacks ${lacking}; GRANT ${missing.map((grant) => grant.privilege).join(', ')} ON *.* TO '${user}'@'${host}'` };
    }),
  );
  if (cluster.binlogs.archive) {
    lines.push(
      await checked('binlog', () =>
        Promise.resolve(
          logBin === '1'
            ? `log_bin on, binlog_format ${binlogFormat}${encryptBinlog === '1' ? ', encrypted (read through the server)' : ''}: the archive can follow it`
            : { result: 'fail' as const, detail: 'binlogs.archive is on, but the server runs without log_bin: set log_bin (and server_id) in its option file and restart it' },
        ),
      ),
    );
  }
  lines.push(
    await checked('backup tool', async () => {
      const binary = cluster.backup.toolPath ?? backupToolFor(cluster.flavour).binary;
      const tool = await installedToolVersion(binary);
      const [toolSeries, serverSeries] = [releaseSeries(tool), releaseSeries(version)];
      if (toolSeries && serverSeries && toolSeries !== serverSeries) {
        return { result: 'fail', detail: `${binary} is ${tool}, the server is ${version}: a backup tool must be of the server's release series (${serverSeries}); install the server's own ${binary}` };
      }
      return `${binary}: ${tool}`;
    }),
  );
  return lines;
}

/** A string as an SQL literal. */
function sqlText(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

async function checkFiles(cluster: ClusterConfig): Promise<CheckLine[]> {
  return Promise.all([
    checked('datadir', async () => {
      await access(cluster.datadir, constants.R_OK | constants.X_OK).catch((error: NodeJS.ErrnoException) => {
        throw new Error(`the worker (uid ${process.getuid?.() ?? '?'}) cannot read ${cluster.datadir} (${error.code ?? error.message}): run it as the database's account, or give it read access`);
      });
      const target = await readTargetServer(cluster);
      if (target.layout.datadir.replace(/\/+$/, '') !== cluster.datadir.replace(/\/+$/, '')) {
        return { result: 'fail', detail: `the server's datadir is ${target.layout.datadir}, the configuration says ${cluster.datadir}: set datadir to the server's` };
      }
      return `${cluster.datadir} readable; the server's options read (${target.storageOptionsFrom?.kind === 'option-files' ? (target.storageOptionsFrom.defaultsFile ?? "the host's option files") : 'its own'})`;
    }),
    checked('restore space', async () => {
      const workDir = cluster.restore.workDir ?? dirname(cluster.datadir);
      const disk = await statfs(workDir);
      const free = disk.bavail * disk.bsize;
      const [[size = '0'] = []] = await runSql(cluster.flavour, cluster.connection, 'SELECT IFNULL(SUM(DATA_LENGTH + INDEX_LENGTH), 0) FROM information_schema.TABLES').catch(() => [['0']]);
      const needed = Number(size);
      const found = `${formatBytes(free)} free in ${workDir}, the data is about ${formatBytes(needed)}`;
      // A restore prepares a whole copy of the data beside the datadir before it swaps.
      return free >= needed ? found : { result: 'warn', detail: `${found}: a restore prepares a whole copy there first; free space, or set restore.workDir` };
    }),
  ]);
}

async function checkStorage(deps: ActivityDeps, cluster: ClusterConfig): Promise<CheckLine[]> {
  const store = deps.store(cluster);
  const probe = `${CHECK_PROBE_FOLDER}/${randomUUID()}`;
  const text = `chainbackup check ${new Date().toISOString()}`;
  const lines = [
    await checked('storage', async () => {
      await store.putText(probe, text).catch((error: unknown) => Promise.reject(new Error(`cannot write to ${store.label}: ${message(error)}`)));
      try {
        if ((await store.getText(probe)) !== text) throw new Error(`${store.label}: a probe object read back differs from what was written`);
        if (!(await store.list(`${CHECK_PROBE_FOLDER}/`)).some((object) => object.key === probe)) throw new Error(`${store.label}: a probe object written is not listed`);
      } finally {
        await store.delete([probe]).catch((error: unknown) => Promise.reject(new Error(`${store.label}: a probe object could not be removed: ${message(error)}`)));
      }
      return `${store.label}: written, read, listed and removed`;
    }),
  ];
  if (store.objectLockProblem) {
    lines.push(
      await checked('object lock', async () => {
        const problem = await store.objectLockProblem?.();
        if (problem) return { result: 'fail', detail: problem };
        return cluster.storage.kind === 's3' && cluster.storage.objectLock ? `${cluster.storage.objectLock.mode} for ${cluster.storage.objectLock.days} days` : 'not configured';
      }),
    );
  }
  return lines;
}

async function checkKeys(deps: ActivityDeps): Promise<CheckLine[]> {
  const { encryption, integrity, temporal } = deps.config;
  const rings = [
    ['encryption keys', encryption, 'encryption key'],
    ['integrity keys', integrity, 'integrity key'],
    ['payload keys', temporal.payloadEncryption, 'payload key'],
  ] as const;
  return Promise.all(
    rings
      .filter(([, settings]) => settings !== undefined)
      .map(([check, settings, what]) =>
        checked(check, async () => {
          const ring = await loadKeyRing(settings, process.env, what);
          return `${ring.ids.join(', ')} readable (only by the worker's account and group), current ${settings?.currentKey ?? '?'}`;
        }),
      ),
  );
}

export function checkActivities(deps: ActivityDeps) {
  return {
    /** Every check of the cluster this host can make, one line each (`chainbackup check`). */
    async checkHost(input: { cluster: string }): Promise<CheckLine[]> {
      const cluster = deps.cluster(input.cluster);
      const [database, files, storage, keys] = await Promise.all([checkDatabase(cluster), checkFiles(cluster), checkStorage(deps, cluster), checkKeys(deps)]);
      return [...database, ...files, ...storage, ...keys];
    },
  };
}
