import { Client, Connection } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { loadClientConnectConfig, type ClientConnectConfig } from '@temporalio/envconfig';

/**
 * Temporal connection settings, by Temporal's own conventions: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
 * TEMPORAL_API_KEY, TLS settings and profiles of the `temporal` CLI's config file.
 */
export function temporalConnectConfig(): ClientConnectConfig & { namespace: string } {
  const loaded = loadClientConnectConfig();
  return {
    connectionOptions: { ...loaded.connectionOptions, address: loaded.connectionOptions.address ?? '127.0.0.1:7233' },
    namespace: loaded.namespace ?? 'default',
  };
}

/** A client of the configured Temporal; `dataConverter` seals payloads when payload encryption is on. */
export async function connectClient(dataConverter: DataConverter = {}): Promise<Client> {
  const { connectionOptions, namespace } = temporalConnectConfig();
  const connection = await Connection.connect(connectionOptions);
  return new Client({ connection, namespace, dataConverter });
}
