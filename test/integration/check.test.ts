/**
 * Issue 36: `chainbackup check` against a healthy set-up (the README's grants, S3 in MinIO, an
 * encryption key, the binlog archive on), and against each mistake it names: a missing grant, a
 * wrong storage endpoint, search attributes not registered, a key file others can read, no worker.
 * Each mistake fails its own line with what to do, exits 4, and changes nothing.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { MariaDbSandbox } from '../../devtools/sandbox/mariadb.js';
import { freePort, toolPath } from '../../devtools/sandbox/processes.js';
import { execa } from 'execa';
import { SEARCH_ATTRIBUTES } from '../../domain/search-attributes.js';
import { createSandbox, runCli, s3Storage, startWorker, TestBucket, testRoot, uniqueName, writeConfig, type WorkerProcess } from '../support/environment.js';

const name = uniqueName('check');
let source: MariaDbSandbox;
let worker: WorkerProcess;
let configPath: string;
let keyFile: string;

const check = (args: string[] = [], env: Record<string, string> = {}) => runCli(['--config', configPath, 'check', ...args], env);

/** The lines of one cluster (or of the set-up: "-"), by check name. */
function lines(stdout: string, cluster: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const match = /^(ok {2}|WARN|FAIL) {2}(\S+) {2}([^:]+): (.*)$/.exec(line);
    if (match?.[2] === cluster) found.set(match[3] ?? '', `${(match[1] ?? '').trim()} ${match[4] ?? ''}`);
  }
  return found;
}

/** Every object under the cluster's prefix, to show a check leaves nothing behind. */
const storedKeys = async () => (await new TestBucket().list(name)).map((object) => object.key);

beforeAll(async () => {
  source = await createSandbox(`${name}-source`);
  keyFile = join(testRoot(), `${name}-key`);
  await writeFile(keyFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  const closedPort = await freePort();
  configPath = await writeConfig(name, {
    temporal: { taskQueue: name },
    encryption: { currentKey: 'k1', keys: [{ id: 'k1', file: keyFile }] },
    clusters: [
      source.clusterConfig('check-shop', s3Storage(name), { schedule: { enabled: false }, binlogs: { archive: true, rpo: '5s' } }),
      // Storage at an address nothing listens on.
      source.clusterConfig('check-wrong-endpoint', { ...s3Storage(`${name}-wrong`), endpoint: `http://127.0.0.1:${closedPort}` }, { schedule: { enabled: false }, retry: { maximumAttempts: 1 } }),
      // A cluster whose host worker is not running.
      source.clusterConfig('check-no-worker', s3Storage(`${name}-lonely`), { schedule: { enabled: false } }),
    ],
  });
  worker = await startWorker(configPath, ['--clusters', 'check-shop,check-wrong-endpoint']);
});

afterAll(async () => {
  await worker?.stop();
  await source?.stop();
});

describe('chainbackup check', () => {
  test('a healthy set-up: every check of the cluster and of the set-up passes, and storage is left as it was', async () => {
    const before = await storedKeys();
    const run = await check(['check-shop']);
    expect(run.exitCode).toBe(0);
    const setUp = lines(run.stdout, '-');
    for (const item of ['configuration', 'temporal', 'search attributes', 'workflow worker']) expect(setUp.get(item)).toMatch(/^ok /);
    const shop = lines(run.stdout, 'check-shop');
    for (const item of ['host worker', 'database login', 'grants', 'binlog', 'backup tool', 'datadir', 'restore space', 'storage', 'encryption keys']) expect([item, shop.get(item)]).toEqual([item, expect.stringMatching(/^ok /)]);
    expect(shop.get('grants')).toContain('holds every grant the configuration needs');
    expect(shop.get('storage')).toContain('written, read, listed and removed');
    expect(await storedKeys()).toEqual(before);
  });

  test('a missing grant is named with what it is for and the statement that gives it', async () => {
    await source.sql(`REVOKE BINLOG MONITOR, REPLICATION SLAVE ON *.* FROM '${source.backupUser}'@'localhost'`);
    try {
      const run = await check(['check-shop']);
      expect(run.exitCode).toBe(4);
      expect(lines(run.stdout, 'check-shop').get('grants')).toBe(
        `FAIL ${source.backupUser}@localhost lacks BINLOG MONITOR (for backups and the binlog archive), REPLICATION SLAVE (for a streamed binlog archive (binlogs.rpo) and a server that encrypts its binlog); GRANT BINLOG MONITOR, REPLICATION SLAVE ON *.* TO '${source.backupUser}'@'localhost'`,
      );
      expect(run.stderr).toContain('check(s) failed: check-shop grants');
    } finally {
      await source.sql(`GRANT BINLOG MONITOR, REPLICATION SLAVE ON *.* TO '${source.backupUser}'@'localhost'`);
    }
  });

  test('a wrong storage endpoint fails the storage line, naming the store', async () => {
    const run = await check(['check-wrong-endpoint']);
    expect(run.exitCode).toBe(4);
    expect(lines(run.stdout, 'check-wrong-endpoint').get('storage')).toMatch(new RegExp(`^FAIL cannot write to s3://backups/${name}-wrong.*(ECONNREFUSED|connect)`));
    expect(lines(run.stdout, 'check-wrong-endpoint').get('database login')).toMatch(/^ok /);
  });

  test('a key file others can read fails its line with the chmod that fixes it', async () => {
    await chmod(keyFile, 0o644);
    try {
      const run = await check(['check-shop']);
      expect(run.exitCode).toBe(4);
      expect(lines(run.stdout, 'check-shop').get('encryption keys')).toBe(`FAIL encryption key "k1": cannot read the file ${keyFile}: ${keyFile} is mode 0644: every account on this host may use it; chmod 600 ${keyFile} (or 640, to share it with its group)`);
    } finally {
      await chmod(keyFile, 0o600);
    }
  });

  test('a cluster with no worker on its host fails its host-worker line, and its host is not checked', async () => {
    const run = await check(['check-no-worker']);
    expect(run.exitCode).toBe(4);
    const lonely = lines(run.stdout, 'check-no-worker');
    expect(lonely.get('host worker')).toBe(`FAIL no worker serves ${name}-host-check-no-worker: start one on check-no-worker's database host (chainbackup-worker --config … --clusters check-no-worker); its host is not checked`);
    expect([...lonely.keys()]).toEqual(['host worker']);
  });

  test('a namespace without the search attributes: the commands that register them, and no workflow worker', async () => {
    const namespace = uniqueName('bare');
    await execa(toolPath('temporal'), ['operator', 'namespace', 'create', '--namespace', namespace, '--address', process.env.TEMPORAL_ADDRESS ?? '']);
    const run = await check(['check-shop'], { TEMPORAL_NAMESPACE: namespace });
    expect(run.exitCode).toBe(4);
    const setUp = lines(run.stdout, '-');
    expect(setUp.get('search attributes')).toContain(`FAIL ${SEARCH_ATTRIBUTES.map((attribute) => attribute.name).join(', ')} missing (workers refuse to start): temporal operator search-attribute create --namespace ${namespace} --name`);
    expect(setUp.get('workflow worker')).toBe(`FAIL no worker serves the shared queue ${name}: start one (chainbackup-worker --config ${configPath})`);
  });
});
