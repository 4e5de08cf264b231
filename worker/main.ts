#!/usr/bin/env node
/**
 * The worker process. On a database host it serves that host's queue (the backup tool, the datadir,
 * the server); any worker with the configuration can also serve the shared queue that runs workflows.
 */
import { DefaultLogger, NativeConnection, Runtime, type LogLevel, type LogMetadata, type Worker } from '@temporalio/worker';
import { loadConfig } from '../config/file.js';
import { loadKeyRing } from '../encryption/keys.js';
import { sealedDataConverter } from '../encryption/payload-codec.js';
import { removeOwnPrivateFolder, secretsFolderRoot, sweepSecretsFolder } from '../activities/database/defaults-file.js';
import { runningSteps } from '../activities/liveness.js';
import { temporalConnectConfig } from '../config/temporal-connection.js';
import { productVersion } from '../config/release.js';
import { SEARCH_ATTRIBUTES } from '../domain/search-attributes.js';
import { startMetricsEndpoint } from './metrics.js';
import { createWorkers } from './workers.js';
import { buildWorkerProgram, type WorkerOptions } from './options.js';
import { openStore } from '../activities/storage/index.js';

// On Node 20 the AWS SDK warns in every process that its releases after the first week of January
// 2027 will need Node 22. The version package-lock.json pins supports Node 20; docs/development.md says
// when this product's support for Node 20 ends. Nothing for an operator to act on here, so no warning.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/** What the SDK warns of a worker that serves only activities: a host queue's worker does that by design. */
const HOST_QUEUE_NOTICE = 'No workflows registered, not polling for workflow tasks';

/** The SDK's logger, but a host queue's worker serving only activities is not reported as a problem. */
class WorkerLogger extends DefaultLogger {
  override log(level: LogLevel, message: string, meta?: LogMetadata): void {
    super.log(message === HOST_QUEUE_NOTICE ? 'DEBUG' : level, message, meta);
  }
}

const options = buildWorkerProgram().parse().opts<WorkerOptions>();

async function main(): Promise<void> {
  const config = await loadConfig(options.config);
  if (!options.orchestrator && !options.host) throw new Error('--no-orchestrator and --no-host together leave nothing to serve');
  const clusters = !options.host ? [] : options.clusters ? options.clusters.split(',').map((name) => name.trim()) : config.clusters.map((cluster) => cluster.name);
  const unknown = clusters.filter((name) => !config.clusters.some((cluster) => cluster.name === name));
  if (unknown.length > 0) throw new Error(`--clusters names clusters not in ${options.config}: ${unknown.join(', ')}`);
  // Every encryption key is read now: a missing or malformed one stops the worker before it takes work, naming the key.
  const keys = await loadKeyRing(config.encryption);
  if (keys.current) console.log(`encryption on: new backups and archived binlogs are sealed with key "${keys.current.id}" (holding ${keys.ids.join(', ')})`);
  const integrityKeys = config.integrity ? await loadKeyRing(config.integrity, process.env, 'integrity key') : keys;
  console.log(
    integrityKeys.current
      ? `records signed and checked with key "${integrityKeys.current.id}"${config.integrity ? ' (integrity)' : ' (derived from the encryption key)'}: an unsigned or changed manifest, binlog record or marker is refused`
      : 'records are not signed: whoever can write to the store is trusted (configure integrity or encryption keys; docs/security.md)',
  );
  // A bucket that cannot keep the configured Object Lock would take every backup unlocked: refused before any work.
  for (const cluster of config.clusters.filter((candidate) => clusters.includes(candidate.name))) {
    const problem = await openStore(cluster.storage).objectLockProblem?.();
    if (problem) throw new Error(`cluster ${cluster.name}: storage.objectLock: ${problem}`);
    if (cluster.storage.kind === 's3' && cluster.storage.objectLock) console.log(`cluster ${cluster.name}: backups and archived binlogs are locked (${cluster.storage.objectLock.mode}) for ${cluster.storage.objectLock.days} days`);
  }
  const payloadKeys = await loadKeyRing(config.temporal.payloadEncryption);
  const dataConverter = sealedDataConverter(payloadKeys);
  if (payloadKeys.current) console.log(`payload encryption on: what this worker sends to Temporal is sealed with payload key "${payloadKeys.current.id}"`);
  // Credential files of workers that were killed (and so could not remove them) go before any work starts.
  const swept = await sweepSecretsFolder();
  if (swept.length > 0) console.log(`removed the credential files and scratch folders of ${swept.length} stopped process(es) from ${secretsFolderRoot()}`);
  Runtime.install({ logger: new WorkerLogger('INFO') });
  const { connectionOptions, namespace } = temporalConnectConfig();
  const connection = await NativeConnection.connect(connectionOptions).catch((error: unknown) => {
    throw new Error(`cannot reach Temporal at ${connectionOptions.address ?? 'localhost:7233'} (${error instanceof Error ? error.message : String(error)}); set TEMPORAL_ADDRESS or a profile`);
  });
  try {
    await checkSearchAttributes(connection, namespace);
    // The metrics address first: a worker that cannot serve it stops before it holds any task queue.
    const metrics = await startMetricsEndpoint(connection, namespace, config, clusters, dataConverter);
    const workers = await createWorkers(connection, namespace, config, { orchestrator: options.orchestrator, clusters }, dataConverter).catch((error: unknown) => {
      metrics?.close();
      throw error;
    });
    console.log(`chainbackup worker ready: release ${productVersion} on Node ${process.versions.node}, namespace ${namespace}, queues ${workers.map((worker) => worker.options.taskQueue).join(', ')}${metrics ? `, metrics at http://${config.worker.metrics?.listen}/metrics` : ''}`);
    // SIGINT and SIGTERM shut the workers down gracefully (the SDK's default shutdown signals; see stopGracefullyOnSignals).
    stopGracefullyOnSignals(config.worker.shutdownGraceTime, workers);
    try {
      await Promise.all(workers.map((worker) => worker.run()));
    } finally {
      metrics?.close();
      // The steps have ended (or the process is going down on a worker's fatal error): nothing in the private folder is in use.
      await removeOwnPrivateFolder();
    }
  } finally {
    await connection.close();
  }
}

/**
 * SIGINT and SIGTERM stop the worker gracefully, however often they come. The SDK's own listener
 * removes itself at the first signal, and while a step runs a tool, execa's exit hook (signal-exit)
 * then finds itself the only listener and raises the signal again to kill the process: a single
 * SIGTERM killed the worker mid-step, with no clean-up. This listener stays, so that never happens,
 * and says what the stop waits for: every 15 s until the workers have stopped, the steps still
 * running and what each worker still has in flight.
 */
function stopGracefullyOnSignals(graceTime: string, workers: Worker[]): void {
  let timer: NodeJS.Timeout | undefined;
  const report = () => {
    const waiting = workers.filter((worker) => worker.getState() !== 'STOPPED');
    if (waiting.length === 0) return;
    const now = Date.now();
    const steps = runningSteps().map((step) => `${step.activityType} of workflow ${step.workflowId} (attempt ${step.attempt}, running ${Math.round((now - step.startedAt) / 1000)} s)`);
    const inFlight = waiting.map((worker) => {
      const status = worker.getStatus();
      return `${worker.options.taskQueue} ${worker.getState()} (${status.numInFlightActivities} activities, ${status.numInFlightWorkflowActivations} workflow activations in flight)`;
    });
    console.log(`chainbackup worker stopping: ${steps.length > 0 ? `waiting for ${steps.join('; ')}, cancelled once worker.shutdownGraceTime (${graceTime}) has passed; ` : ''}${inFlight.join('; ')}`);
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (timer) {
        console.log(`chainbackup worker: ${signal} again; already stopping (SIGKILL stops it at once, as a kill: the next worker takes its steps over)`);
        return;
      }
      console.log(`chainbackup worker stopping (${signal}): no new steps are taken`);
      setImmediate(report);
      timer = setInterval(report, 15_000);
      timer.unref();
    });
  }
}

/**
 * A workflow that sets a search attribute the namespace does not have stalls on its first task, so a
 * worker refuses to start without them, naming the commands that register them. A server that does
 * not answer the question (a hosted service without the operator API) is only warned about.
 */
async function checkSearchAttributes(connection: NativeConnection, namespace: string): Promise<void> {
  let registered: Record<string, unknown>;
  try {
    registered = (await connection.operatorService.listSearchAttributes({ namespace })).customAttributes ?? {};
  } catch (error) {
    console.warn(`chainbackup worker: could not list the search attributes of namespace ${namespace} (${error instanceof Error ? error.message : String(error)}); make sure ${SEARCH_ATTRIBUTES.map((attribute) => attribute.name).join(', ')} exist`);
    return;
  }
  const missing = SEARCH_ATTRIBUTES.filter((attribute) => !(attribute.name in registered));
  if (missing.length === 0) return;
  throw new Error(
    `namespace ${namespace} lacks the search attributes ${missing.map((attribute) => attribute.name).join(', ')}; register them first: ${missing.map((attribute) => `temporal operator search-attribute create --namespace ${namespace} --name ${attribute.name} --type ${attribute.type}`).join(' && ')}`,
  );
}

main().then(
  () => {
    console.log('chainbackup worker stopped');
    // Every step has ended and the connection is closed: anything still holding the process open
    // (a socket or timer a library left behind) must not turn a graceful stop into a kill.
    setTimeout(() => {
      console.warn(`chainbackup worker: still held open 5 s after stopping (by ${process.getActiveResourcesInfo().join(', ')}); exiting`);
      process.exit(0);
    }, 5_000).unref();
  },
  (error: unknown) => {
    console.error(`chainbackup worker: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
