/**
 * The worker's Prometheus endpoint: `GET /metrics` answers the health of the clusters this worker
 * hosts (domain/health.ts › prometheusText), read from their storage and from Temporal as
 * `chainbackup status` reads it. Readings are cached for `worker.metrics.cacheFor`, since each one
 * lists storage.
 */
import { createServer, type Server } from 'node:http';
import { Client } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import type { DataConverter } from '@temporalio/common';
import { ActivityDeps } from '../activities/deps.js';
import { clusterStatus } from '../activities/health.js';
import { durationMs, type Config } from '../domain/config.js';
import { prometheusText, type ClusterStatus } from '../domain/health.js';

export async function startMetricsEndpoint(connection: NativeConnection, namespace: string, config: Config, clusters: string[], dataConverter: DataConverter): Promise<Server | undefined> {
  const settings = config.worker.metrics;
  if (!settings) return undefined;
  const client = new Client({ connection, namespace, dataConverter });
  const deps = new ActivityDeps(config);
  let cached: { at: number; text: Promise<string> } | undefined;
  const read = async (): Promise<string> => {
    const statuses: ClusterStatus[] = [];
    const unreadable: string[] = [];
    for (const cluster of clusters) {
      try {
        statuses.push(await clusterStatus(deps, client, cluster, AbortSignal.timeout(60_000)));
      } catch (error) {
        unreadable.push(cluster);
        console.error(`chainbackup worker: metrics: the health of ${cluster} could not be read: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    return prometheusText(statuses, unreadable);
  };
  const server = createServer((request, response) => {
    if (request.method !== 'GET' || request.url?.split('?')[0] !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('only GET /metrics is served here\n');
      return;
    }
    if (!cached || Date.now() - cached.at > durationMs(settings.cacheFor)) cached = { at: Date.now(), text: read() };
    cached.text.then(
      (text) => response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(text),
      (error: unknown) => response.writeHead(500, { 'content-type': 'text/plain' }).end(`${error instanceof Error ? error.message : String(error)}\n`),
    );
  });
  const separator = settings.listen.lastIndexOf(':');
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(settings.listen.slice(separator + 1)), settings.listen.slice(0, separator), () => resolve());
  });
  return server;
}
