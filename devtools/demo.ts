#!/usr/bin/env node
/**
 * The end-to-end demo on embedded defaults: a local Temporal dev server with its Web UI, a MariaDB
 * sandbox with sample data, filesystem storage encrypted with a key of its own, a worker; a full backup and an increment, the chain
 * restored into a second sandbox, and the table checksums of both compared. Everything runs under .sandbox/demo.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Command } from 'commander';
import YAML from 'yaml';
import { describeFailure } from '../domain/failures.js';
import { Client, Connection } from '@temporalio/client';
import { backup as backupWorkflow, restore as restoreWorkflow } from '../workflows/index.js';
import { MariaDbSandbox } from './sandbox/mariadb.js';
import { repoRoot, startServer, stopRecordedServers } from './sandbox/processes.js';
import { startTemporalDevServer } from './sandbox/temporal.js';

const options = new Command()
  .name('demo')
  .description('Back up a MariaDB sandbox through Temporal and restore it into another one')
  .option('--keep-running', 'leave the servers running to look at the workflows in the Web UI')
  .option('--stop', 'stop the servers a previous --keep-running left behind, and exit')
  .parse()
  .opts<{ keepRunning?: boolean; stop?: boolean }>();

// CHAINBACKUP_DEMO_DIR: another folder for everything the demo starts (its own test runs it there).
const dir = process.env.CHAINBACKUP_DEMO_DIR ?? join(repoRoot, '.sandbox/demo');
const say = (line: string) => console.log(line);

async function main(): Promise<void> {
  const stopped = await stopRecordedServers(dir);
  if (options.stop) {
    say(`Stopped ${stopped} server(s) of the demo.`);
    return;
  }
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  try {
    say('Starting the Temporal dev server (with its Web UI) and two MariaDB sandboxes…');
    const [temporal, source, copy] = await Promise.all([
      startTemporalDevServer(join(dir, 'temporal'), { ui: true }),
      MariaDbSandbox.create(join(dir, 'mariadb-shop')),
      MariaDbSandbox.create(join(dir, 'mariadb-shop-copy')),
    ]);
    await source.loadSampleData(20_000);
    // A restart checkpoints InnoDB, as a server that has run for a while would have; otherwise the
    // freshly loaded tables would sit in the redo log that every increment copies.
    await source.stop();
    await source.start();

    const storage = { kind: 'filesystem' as const, path: join(dir, 'backups') };
    // Encryption at rest, as a store anyone else can write to deserves: every backup sealed and
    // authenticated, a plaintext object in place of a sealed one refused. The key lives beside the demo only.
    const keyFile = join(dir, 'demo-key');
    await writeFile(keyFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
    const configPath = join(dir, 'chainbackup.yaml');
    await writeFile(
      configPath,
      YAML.stringify({
        encryption: { currentKey: 'demo', keys: [{ id: 'demo', file: keyFile }] },
        clusters: [
          source.clusterConfig('shop', storage),
          // A physical restore brings the source's users, so the copy is reached with the source's backup user.
          copy.clusterConfig('shop-copy', storage, { connection: { ...source.connection(), socket: copy.socket } }),
        ],
      }),
    );
    const env = { TEMPORAL_ADDRESS: temporal.address };
    await startServer({
      name: 'worker',
      dir,
      command: process.execPath,
      args: [join(repoRoot, 'dist/worker/main.js'), '--config', configPath],
      env,
      ready: async () => (await readFile(join(dir, 'worker.log'), 'utf8')).includes('chainbackup worker ready'),
    });

    const connection = await Connection.connect({ address: temporal.address });
    const client = new Client({ connection });
    say('Taking a full backup of cluster "shop"…');
    const full = await client.workflow.execute(backupWorkflow, {
      taskQueue: 'chainbackup',
      workflowId: 'backup-shop-full-demo',
      args: [{ cluster: 'shop', type: 'full' }],
      staticSummary: 'Demo: full backup of shop',
    });
    say(`  ${full.name}: LSN ${full.fromLsn} to ${full.toLsn}, ${full.sizeBytes} bytes stored (${full.streamBytes} before ${full.compression} compression) in ${full.durationSeconds.toFixed(1)} s`);

    say('Changing 1 000 rows, then taking an incremental backup from the full backup\'s to_lsn…');
    await source.sql(`UPDATE shop.customers SET email = CONCAT('moved', id, '@example.org') WHERE id <= 1000`);
    const increment = await client.workflow.execute(backupWorkflow, {
      taskQueue: 'chainbackup',
      workflowId: 'backup-shop-incremental-demo',
      args: [{ cluster: 'shop', type: 'incremental' }],
      staticSummary: 'Demo: incremental backup of shop',
    });
    say(`  ${increment.name}: LSN ${increment.fromLsn} to ${increment.toLsn} (its redo log reaches ${increment.lastLsn}), ${increment.sizeBytes} bytes stored, parent ${increment.parent ?? ''}`);
    say(`  stored at ${increment.storage}/${increment.path}, sealed with key "demo" (${keyFile})`);
    const sourceChecksums = await source.checksums(['shop']);

    say('Restoring the chain (full, then the increment) into cluster "shop-copy" (a second sandbox)…');
    const restore = await client.workflow.execute(restoreWorkflow, {
      taskQueue: 'chainbackup',
      workflowId: 'restore-shop-copy-demo',
      args: [{ cluster: 'shop-copy', source: { storage, path: increment.path } }],
      staticSummary: 'Demo: restore shop into shop-copy',
    });
    say(`  restored ${restore.chain.join(' + ')}; the replaced datadir is kept at ${restore.previousDatadir ?? '(none)'}`);
    await connection.close();

    const copyChecksums = await copy.checksums(['shop']);
    say('CHECKSUM TABLE, source vs restored:');
    for (const [table, checksum] of Object.entries(sourceChecksums)) say(`  ${table.padEnd(16)} ${checksum.padStart(12)}  ${copyChecksums[table] ?? 'missing'}`);
    const same = JSON.stringify(sourceChecksums) === JSON.stringify(copyChecksums);
    say(same ? 'Data matches: the restore is exact.' : 'DATA DIFFERS: the restore is not exact.');
    say(`Temporal Web UI: ${temporal.uiUrl ?? ''}/namespaces/default/workflows`);
    if (!same) process.exitCode = 1;
    if (options.keepRunning) {
      say(`Servers left running (TEMPORAL_ADDRESS=${temporal.address}). Stop them with: npm run demo -- --stop`);
      return;
    }
  } catch (error) {
    process.exitCode = 1;
    // The cause, not only "Workflow execution failed"; the worker's own log says the rest.
    console.error(`demo failed: ${describeFailure(error)}`);
    console.error(`the worker's log: ${join(dir, 'worker.log')}`);
  }
  await stopRecordedServers(dir);
  say('Servers stopped.');
}

await main();
