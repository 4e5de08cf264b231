/**
 * Verification by a real server: a throw-away private server (see database/private-server.ts) on
 * the prepared data of a backup, in the restore's scratch folder, never the live server. It checks
 * that every table of the backup's inventory is there with its engine, runs `CHECK TABLE …
 * EXTENDED` on every table, and reads every table end to end (`CHECKSUM TABLE … EXTENDED`, so every
 * page is read and its checksum checked), that the server's log sequence number reaches the chain's
 * last LSN, and runs the operator's checks of the configuration; then stops.
 */
import { Context } from '@temporalio/activity';
import { businessFailure, FailureType } from '../domain/failures.js';
import { readdir, rename } from 'node:fs/promises';
import { availableParallelism, hostname } from 'node:os';
import pMap from 'p-map';
import { join } from 'node:path';
import { PIN_OBJECT, VERIFICATION_OBJECT } from '../domain/layout.js';
import type { PinRecord } from '../domain/chain.js';
import { inventoryProblems, type TableInventory, type VerificationRecord } from '../domain/manifest.js';
import { lsnProblem, statusLsn, userCheckProblem } from '../domain/verification.js';
import { startPrivateSession, type PrivateSession } from './database/private-server.js';
import { cloneServer } from './database/server-layout.js';
import { remoteTablespaces } from './placement.js';
import type { ActivityDeps } from './deps.js';
import { Progress } from './streams.js';
import { failpoint } from './failpoints.js';
import { assertAttemptHolds } from './attempt-lease.js';
import { writeRecord } from './records.js';

export interface VerificationReport {
  /** Tables checked and read end to end. */
  tables: number;
  /** The user checks of the configuration that held, by name. */
  checks?: string[];
  /** The log sequence number the started server reported (at least the chain's last LSN). */
  serverLsn?: string;
  /** Tables of the inventory recorded at backup time that were found with their engine (0 when the manifest has none). */
  inventoryTables: number;
  /** Why no inventory was compared: the backup recorded none (it says why), or is from before inventories. */
  inventoryNotCompared?: string;
  durationSeconds: number;
}

const SYSTEM_SCHEMAS = "('mysql', 'information_schema', 'performance_schema', 'sys')";

/** A remote tablespace's link (`<db>/<table>.isl`), renamed while a throw-away server runs on prepared data. */
const HIDDEN_LINK = '.chainbackup-hidden';

async function hideLinks(folder: string): Promise<void> {
  assertAttemptHolds(`hide the tablespace links of ${folder}`);
  for (const { link } of await remoteTablespaces(folder)) await rename(join(folder, link), join(folder, `${link}${HIDDEN_LINK}`));
}

/** Puts hidden links back (also those of an attempt whose worker died): the restore places each tablespace where its link says. */
async function showHiddenLinks(folder: string): Promise<void> {
  assertAttemptHolds(`restore the tablespace links of ${folder}`);
  for (const database of await readdir(folder, { withFileTypes: true }).catch(() => [])) {
    if (!database.isDirectory()) continue;
    for (const name of await readdir(join(folder, database.name)).catch(() => [] as string[])) {
      if (name.endsWith(`.isl${HIDDEN_LINK}`)) await rename(join(folder, database.name, name), join(folder, database.name, name.slice(0, -HIDDEN_LINK.length)));
    }
  }
}

const quoted = (schema: string, table: string) => `\`${schema.replace(/`/g, '``')}\`.\`${table.replace(/`/g, '``')}\``;


/** Tables checked at once, at most (the host's cores bound it too). */
const MAX_TABLES_AT_ONCE = 4;

/**
 * What is wrong with one table of the throw-away server: CHECK TABLE … EXTENDED must say OK with no
 * error, and CHECKSUM TABLE … EXTENDED must read it to the end (a table the server cannot read has a
 * NULL checksum rather than an error).
 */
async function checkTable(server: PrivateSession, table: { schema: string; table: string }): Promise<string[]> {
  const name = quoted(table.schema, table.table);
  const results = await server.sqlQueries([`CHECK TABLE ${name} EXTENDED`, `CHECKSUM TABLE ${name} EXTENDED`], { timeoutMs: 6 * 3_600_000 }).catch((error: unknown) => (error as Error).message);
  if (typeof results === 'string') return [`checking and reading ${table.schema}.${table.table} failed: ${results}`];
  const [checked = [], read = []] = results;
  const problems: string[] = [];
  // Rows: table, op, Msg_type, Msg_text; the last says OK, and none is an error.
  const bad = checked.filter(([, , type = '', text = '']) => type === 'error' || (type === 'status' && text !== 'OK'));
  if (bad.length > 0 || checked.length === 0) problems.push(`CHECK TABLE ${table.schema}.${table.table}: ${bad.map((row) => row[3]).join('; ') || 'no status'}`);
  if (read[0]?.[1] === undefined || read[0][1] === 'NULL') problems.push(`reading ${table.schema}.${table.table} end to end failed: the server could not read it (no checksum)`);
  return problems;
}

export function verificationActivities(deps: ActivityDeps) {
  return {
    /** Stores the outcome of a verification beside the backup (`verification.json`, replacing an older one). */
    async recordVerification(input: { cluster: string; folder: string; record: Omit<VerificationRecord, 'worker'> }): Promise<void> {
      const store = deps.store(deps.cluster(input.cluster));
      const record: VerificationRecord = { ...input.record, worker: hostname() };
      await writeRecord(store, `${input.folder}${VERIFICATION_OBJECT}`, record, { pretty: true });
    },

    /** Writes (or, with null, removes) a backup's pin. */
    async setPin(input: { cluster: string; folder: string; pin: PinRecord | null }): Promise<void> {
      const store = deps.store(deps.cluster(input.cluster));
      if (input.pin) await writeRecord(store, `${input.folder}${PIN_OBJECT}`, input.pin, { pretty: true });
      else await store.delete([`${input.folder}${PIN_OBJECT}`]);
    },

    /** Starts a throw-away server on prepared data and checks every table; fails naming every problem found. */
    async verifyPreparedData(input: { cluster: string; backup: string; preparedDir: string; inventory?: TableInventory; inventoryProblem?: string; lastLsn?: string }): Promise<VerificationReport> {
      const cluster = deps.cluster(input.cluster);
      const signal = Context.current().cancellationSignal;
      const progress = new Progress('starting a throw-away server on the prepared data');
      const started = Date.now();
      const work = async (): Promise<VerificationReport> => {
        // A remote tablespace's link names the source's file, maybe the live server's: the throw-away server reads the copy in the data instead.
        await showHiddenLinks(input.preparedDir);
        await hideLinks(input.preparedDir);
        const server = await startPrivateSession(await cloneServer(input.preparedDir), {
          initStatements: [],
          // Beside the prepared data in the workspace: the next attempt, and the workspace's removal, stop a server a dead worker left.
          stateDir: `${input.preparedDir}.server`,
          flavour: cluster.flavour,
          serverId: 1,
          logBin: false,
          bufferPool: cluster.verification.bufferPool,
          ...(cluster.controller.kind === 'process' ? { serverBinary: cluster.controller.serverBinary } : {}),
        });
        try {
          await failpoint('verify-server-running');
          const rows = await server.sql(`SELECT table_schema, table_name, engine FROM information_schema.tables WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ${SYSTEM_SCHEMAS}`);
          const found = rows.map(([schema = '', table = '', engine = '']) => ({ schema, table, engine }));
          const problems = inventoryProblems(input.inventory ?? [], found);
          // Each table is checked and read in one client process, as many tables at once as the host has cores: one
          // statement runs on one core of the server. Problems are reported in the tables' order.
          let checkedTables = 0;
          const tableProblems = await pMap(
            found,
            async (table) => {
              if (signal.aborted) throw signal.reason;
              const problem = await checkTable(server, table);
              progress.phase(`checking tables (${++checkedTables} of ${found.length} done)`);
              return problem;
            },
            { concurrency: Math.min(availableParallelism(), MAX_TABLES_AT_ONCE), signal },
          );
          problems.push(...tableProblems.flat());
          let serverLsn: string | undefined;
          if (input.lastLsn !== undefined) {
            serverLsn = statusLsn((await server.sql('SHOW ENGINE INNODB STATUS')).map((row) => row.join('\t')).join('\n'));
            const wrong = lsnProblem(serverLsn, input.lastLsn);
            if (wrong) problems.push(wrong);
          }
          const checks: string[] = [];
          for (const check of cluster.verification.checks) {
            if (signal.aborted) throw signal.reason;
            progress.phase(`running the check "${check.name}"`);
            const problem = await server
              .sql(check.query, { timeoutMs: 3_600_000 })
              .then((rows) => userCheckProblem(check, rows))
              .catch((error: unknown) => `check "${check.name}" failed to run: ${(error as Error).message}`);
            if (problem) problems.push(problem);
            else checks.push(check.name);
          }
          const logged = await server.errors();
          if (logged.length > 0) problems.push(`the server logged errors: ${logged.join(' | ')}`);
          await server.dropAccount();
          if (problems.length > 0) throw businessFailure(FailureType.VerificationFailed, `verification of ${input.backup} failed: ${problems.join('; ')}`);
          return {
            tables: found.length,
            inventoryTables: (input.inventory ?? []).length,
            ...(input.inventory === undefined ? { inventoryNotCompared: input.inventoryProblem ?? 'the backup recorded no inventory (taken before inventories were recorded)' } : {}),
            ...(cluster.verification.checks.length > 0 ? { checks } : {}),
            ...(serverLsn !== undefined ? { serverLsn } : {}),
            durationSeconds: Math.round((Date.now() - started) / 100) / 10,
          };
        } finally {
          await server.stop();
          await showHiddenLinks(input.preparedDir);
        }
      };
      return progress.during(work());
    },
  };
}
