/**
 * The README's quick start, followed literally: its blocks, in order, typed into one bash as an
 * operator pastes them, in an operator's layout apart from the checkout. The package is built from a
 * copy of the checkout and installed into an npm prefix of its own; the configuration lives in a
 * folder of its own; the worker and the CLI are used only through the commands the README prints
 * (`chainbackup-worker …`, `chainbackup …`).
 *
 * What the test substitutes, each listed in SUBSTITUTIONS below or said where it happens:
 * - the operator's servers: the run's Temporal dev server (in a namespace of its own, created here
 *   as an operator's Temporal has one), the run's MinIO (a bucket named as in the README, created
 *   here as the operator's exists), and a MariaDB sandbox (its socket and datadir for Debian's);
 * - the SQL block is run as root in the sandbox, as an operator pastes it into `mariadb`;
 * - `systemctl stop|start mariadb`, which the README's controller runs: a stand-in `systemctl` on the
 *   PATH stops and starts the sandbox server;
 * - `npm install -g` installs into the test's prefix (NPM_CONFIG_PREFIX), and npm uses its cache
 *   first and skips the audit (NPM_CONFIG_PREFER_OFFLINE, NPM_CONFIG_AUDIT);
 * - the worker runs in the background of the same shell, its output in a file, instead of in a
 *   terminal of its own;
 * - `<backup>` is the name `chainbackup list shop` printed, and the in-place restore gets `--yes`
 *   (there is no terminal to type "y" on).
 * The shell stops at the first command that fails (`set -e`), so every command must succeed.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { chmod, copyFile, lstat, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { BACKUP_GRANTS, type MariaDbSandbox } from '../../devtools/sandbox/mariadb.js';
import { isRunning, repoRoot, stopPid, toolPath } from '../../devtools/sandbox/processes.js';
import { createSandbox, testRoot, TestBucket, uniqueName } from '../support/environment.js';
import { withServerOnFolder } from '../support/server-on-folder.js';
import { ShellSession } from '../support/shell-session.js';

interface QuickStartBlock {
  /** The fence's language: sh or sql. */
  language: string;
  /** The words after "quick-start", e.g. ["worker"]. */
  tags: string[];
  text: string;
}

/** The README's blocks whose fence reads "```<language> quick-start …", in order. */
function quickStartBlocks(markdown: string): QuickStartBlock[] {
  return [...markdown.matchAll(/^```(\w+) quick-start([^\n]*)\n([\s\S]*?)^```$/gm)].map((match) => ({
    language: match[1] ?? '',
    tags: (match[2] ?? '').trim().split(/\s+/).filter(Boolean),
    text: match[3] ?? '',
  }));
}

const name = uniqueName('quick-start');
const dir = join(testRoot(), name);
/** Where the operator's files go: /etc/chainbackup and /srv/chainbackup of the README. */
const etc = join(dir, 'etc');
const srv = join(dir, 'srv');
const checkout = join(dir, 'checkout');
const prefix = join(dir, 'npm-prefix');
const stubs = join(dir, 'stubs');
const workerLog = join(dir, 'worker.log');
const workerPid = join(dir, 'worker.pid');
let source: MariaDbSandbox;
let session: ShellSession | undefined;
const namespace = name;

/** The README's text, with what the test substitutes: [what the README says, what the test uses, why]. */
function substitutions(backupName: string): [string, string, string][] {
  const endpoint = process.env.CHAINBACKUP_TEST_S3_ENDPOINT ?? '';
  return [
    ['temporal.internal:7233', process.env.TEMPORAL_ADDRESS ?? '', "the run's Temporal dev server"],
    ['TEMPORAL_NAMESPACE=default', `TEMPORAL_NAMESPACE=${namespace}`, 'a namespace of its own on that server'],
    ['http://minio.internal:9000', endpoint, "the run's MinIO"],
    ["'<access key>'", `'${process.env.AWS_ACCESS_KEY_ID ?? ''}'`, "the run's MinIO credentials"],
    ["'<secret key>'", `'${process.env.AWS_SECRET_ACCESS_KEY ?? ''}'`, "the run's MinIO credentials"],
    ['/etc/chainbackup', etc, 'the configuration folder'],
    ['/srv/chainbackup', srv, 'the folder restores into a new folder go to'],
    ['/run/mysqld/mysqld.sock', source.socket, "the sandbox server's socket"],
    ['/var/lib/mysql', source.datadir, "the sandbox server's datadir"],
    ['chainbackup restore shop <backup>\n', 'chainbackup restore shop <backup> --yes\n', 'no terminal to type "y" on'],
    ['<backup>', backupName, 'the name `chainbackup list shop` printed'],
  ];
}

/** A block's text as the test runs it; records which substitutions it used. */
function substituted(text: string, backupName: string, used: Set<string>): string {
  let result = text;
  for (const [from, to] of substitutions(backupName)) {
    if (!result.includes(from)) continue;
    used.add(from);
    result = result.replaceAll(from, to);
  }
  return result;
}

/** The checkout as git sees it (tracked and new files, not what .gitignore leaves out), copied as a fresh clone would have it. */
async function copyCheckout(): Promise<void> {
  const { stdout } = await execa('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: repoRoot });
  for (const file of stdout.split('\0').filter(Boolean)) {
    const stat = await lstat(join(repoRoot, file)).catch(() => undefined);
    // A deleted file is gone; a developer's node_modules or .tools link is not part of a checkout.
    if (!stat?.isFile()) continue;
    await mkdir(dirname(join(checkout, file)), { recursive: true });
    await copyFile(join(repoRoot, file), join(checkout, file));
    await chmod(join(checkout, file), stat.mode & 0o777);
  }
}

beforeAll(async () => {
  await mkdir(stubs, { recursive: true });
  source = await createSandbox(`${name}-server`);
  await source.loadSampleData();
  // The operator's Temporal namespace and bucket exist before the quick start begins.
  await execa(toolPath('temporal'), ['operator', 'namespace', 'create', '--namespace', namespace], { env: { ...process.env } });
  const s3 = new S3Client({ endpoint: process.env.CHAINBACKUP_TEST_S3_ENDPOINT, region: 'us-east-1', forcePathStyle: true });
  await s3.send(new CreateBucketCommand({ Bucket: 'chainbackup' }));
  s3.destroy();
  // The stand-in for the operator's service manager.
  await writeFile(
    join(stubs, 'systemctl'),
    [
      '#!/bin/sh',
      '# The test\'s stand-in for systemctl: "stop mariadb" and "start mariadb" stop and start the sandbox server.',
      'case "$1 $2" in',
      `  "stop mariadb") pid=$(cat '${source.pidFile}' 2>/dev/null) || exit 0; kill "$pid" 2>/dev/null || exit 0; while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done ;;`,
      `  "start mariadb") setsid mariadbd --defaults-file='${source.serverDefaultsFile}' </dev/null >/dev/null 2>&1 & ;;`,
      '  *) echo "systemctl stand-in: unexpected arguments: $*" >&2; exit 1 ;;',
      'esac',
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
  await copyCheckout();
});

afterAll(async () => {
  const pid = Number((await readFile(workerPid, 'utf8').catch(() => '')).trim());
  // SIGTERM, as Ctrl-C in its terminal would stop it; SIGKILL after a minute.
  if (pid > 0) await stopPid(pid, 60_000);
  await session?.close();
  await source?.stop();
  // The copy's node_modules and the installed package are large; nothing else needs them.
  await rm(checkout, { recursive: true, force: true });
  await rm(prefix, { recursive: true, force: true });
});

describe("the README's quick start", () => {
  test('its grants are the sandbox user’s, one line a purpose', async () => {
    const readme = await readFile(join(repoRoot, 'README.md'), 'utf8');
    const sql = quickStartBlocks(readme).filter((block) => block.language === 'sql');
    expect(sql).toHaveLength(1);
    const granted = [...(sql[0]?.text ?? '').matchAll(/^GRANT (.+) ON \*\.\* TO 'chainbackup'@'localhost';$/gm)].flatMap((match) => (match[1] ?? '').split(', '));
    expect([...granted].sort()).toEqual(BACKUP_GRANTS.split(', ').sort());
  });

  test('followed as written: install, user, Temporal, configuration, worker, backups, schedule, restores, monitoring', async () => {
    const started = Date.now();
    const readme = await readFile(join(repoRoot, 'README.md'), 'utf8');
    const blocks = quickStartBlocks(readme);
    const { version } = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    expect(readme).toContain(`chainbackup-${version}.tgz`);
    const used = new Set<string>();
    const env: Record<string, string> = {
      // The installed commands first, then the stand-in systemctl, the temporal CLI and the Node the suite runs on.
      PATH: [join(prefix, 'bin'), stubs, dirname(toolPath('temporal')), dirname(process.execPath), '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'].join(':'),
      HOME: process.env.HOME ?? '/root',
      LANG: 'C.UTF-8',
      NPM_CONFIG_PREFIX: prefix,
      NPM_CONFIG_PREFER_OFFLINE: 'true',
      NPM_CONFIG_AUDIT: 'false',
      NPM_CONFIG_FUND: 'false',
      NPM_CONFIG_UPDATE_NOTIFIER: 'false',
    };
    session = new ShellSession(env, checkout);
    await session.run('set -eo pipefail');
    const checksumsBefore = await source.checksums(['shop']);
    let backupName = '<backup>';
    const steps: string[] = [];
    for (const block of blocks) {
      const text = substituted(block.text, backupName, used);
      const stepStart = Date.now();
      if (block.language === 'sql') {
        // Pasted into `mariadb` as root: the sandbox's root session.
        await source.sql(text);
      } else if (block.tags.includes('worker')) {
        // Its own terminal in the README: here, in the background of the same shell, its output in a file.
        expect(text.trim().split('\n')).toHaveLength(1);
        await session.run(`${text.trim()} > '${workerLog}' 2>&1 &\necho $! > '${workerPid}'`);
        const deadline = Date.now() + 120_000;
        for (;;) {
          const log = await readFile(workerLog, 'utf8').catch(() => '');
          if (log.includes('chainbackup worker ready')) break;
          const pid = Number((await readFile(workerPid, 'utf8').catch(() => '')).trim());
          if ((pid > 0 && !isRunning(pid)) || Date.now() > deadline) throw new Error(`the worker did not start:\n${log}`);
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
        expect(await readFile(workerLog, 'utf8')).toMatch(new RegExp(`^chainbackup worker ready: release ${version.replaceAll('.', '\\.')} on Node [\\d.]+, namespace ${namespace}, queues chainbackup, chainbackup-host-shop, metrics at http://127\\.0\\.0\\.1:9464/metrics$`, 'm'));
      } else {
        await session.run(text).catch(async (error: unknown) => {
          const log = await readFile(workerLog, 'utf8').catch(() => '(no worker yet)');
          throw new Error(`${(error as Error).message}\nthe worker's log, last lines:\n${log.split('\n').slice(-30).join('\n')}`);
        });
      }
      steps.push(`${(text.split('\n')[0] ?? '').slice(0, 60)}: ${((Date.now() - stepStart) / 1000).toFixed(1)} s`);
      const output = session.output().stdout;
      if (text.includes('chainbackup --version')) expect(output).toContain(`${version}\n`);
      if (text.includes('chainbackup list shop')) {
        // The operator copies the newest backup's name from the tree: the increment of the chain.
        const names = [...output.matchAll(/\b(shop-\d{4}-\d{2}-\d{2}T\d{6}\.\d{3}Z-(?:full|incr))\b/g)].map((match) => match[1] ?? '');
        backupName = names.filter((found) => found.endsWith('-incr')).at(-1) ?? backupName;
        expect(backupName).toMatch(/-incr$/);
        // The quick start's own writes after its backups: the in-place restore must undo them.
        await source.sql("UPDATE shop.customers SET email = 'after the backups' WHERE id <= 100; DELETE FROM shop.orders WHERE id <= 50");
        expect(await source.checksums(['shop'])).not.toEqual(checksumsBefore);
      }
    }
    console.log(`the quick start's steps:\n${steps.join('\n')}\nin all ${((Date.now() - started) / 1000).toFixed(1)} s`);

    // Every substitution the test declares was needed, so none hides a change to the README.
    expect(substitutions(backupName).map(([from]) => from).filter((from) => !used.has(from))).toEqual([]);
    const output = session.output().stdout;
    // The backups are in the operator's bucket: the full backup and its increment, each committed by its manifest.
    const stored = (await new TestBucket('chainbackup').list('shop')).map((object) => object.key);
    const full = backupName.replace(/-incr$/, '');
    expect(stored).toEqual(expect.arrayContaining([expect.stringMatching(/^shop-\S+-full\/manifest\.json$/), expect.stringMatching(new RegExp(`^\\S+-full\\.incr/${backupName}/manifest\\.json$`))]));
    expect(full).toBeDefined();
    expect(output).toMatch(new RegExp(`^verified ${backupName}: 2 backups downloaded`, 'm'));
    // The set-up check passed every line: no mistake in the quick start's set-up (the shell would have stopped at exit 4).
    expect(output).toMatch(/^ok {4}shop {2}grants: \S+ holds every grant the configuration needs$/m);
    expect(output).toMatch(/^ok {4}shop {2}storage: s3:\/\/chainbackup\/shop.* written, read, listed and removed$/m);
    expect(output).not.toMatch(/^FAIL /m);
    expect(output).toContain('chainbackup-schedule-shop-full');
    // The restore into a new folder holds the data as it was backed up.
    const clone = join(srv, 'clones', 'shop-test');
    const { value: cloned } = await withServerOnFolder(clone, [`datadir=${clone}`], join(dir, 'clone-reader'), async (sql) => sql('CHECKSUM TABLE shop.customers, shop.orders EXTENDED'));
    expect(Object.fromEntries(cloned.split('\n').map((line) => line.split('\t')))).toEqual(checksumsBefore);
    // The restore in place undid the writes after the backups, and kept the datadir it replaced.
    expect(await source.checksums(['shop'])).toEqual(checksumsBefore);
    expect((await readdir(dirname(source.datadir))).filter((entry) => entry.startsWith('data.before-restore-'))).toHaveLength(1);
    // Monitoring: status exited 0 (the shell would have stopped), and the metrics say healthy.
    expect(output).toMatch(/^chainbackup_healthy\{[^}]*cluster="shop"[^}]*\} 1$/m);
  }, 20 * 60_000);
});
