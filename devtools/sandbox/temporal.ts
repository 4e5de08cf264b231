import { connect } from 'node:net';
import { join } from 'node:path';
import { SEARCH_ATTRIBUTES } from '../../domain/search-attributes.js';
import { freePort, startServer, toolPath, type ServerProcess } from './processes.js';

export interface TemporalDevServer extends ServerProcess {
  address: string;
  uiUrl?: string;
}

export function tcpOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolveOpen) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolveOpen(true);
    });
    socket.once('error', () => resolveOpen(false));
  });
}

/**
 * The `temporal` CLI's dev server on loopback, with this product's search attributes registered.
 * `dynamicConfig` sets server limits, e.g. a low `limit.historyCount.suggestContinueAsNew` so that
 * tests see long-lived workflows continue as new.
 */
export async function startTemporalDevServer(dir: string, options: { ui: boolean; port?: number; dynamicConfig?: Record<string, number> }): Promise<TemporalDevServer> {
  // A given port restarts a stopped server on its database file (fault tests).
  const port = options.port ?? (await freePort());
  const uiPort = options.ui ? await freePort() : undefined;
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--db-filename', join(dir, 'temporal.sqlite'), '--log-level', 'error'];
  args.push(...(uiPort ? ['--ui-ip', '127.0.0.1', '--ui-port', String(uiPort)] : ['--headless']));
  for (const attribute of SEARCH_ATTRIBUTES) args.push('--search-attribute', `${attribute.name}=${attribute.type}`);
  for (const [key, value] of Object.entries(options.dynamicConfig ?? {})) args.push('--dynamic-config-value', `${key}=${value}`);
  const server = await startServer({ name: 'temporal', dir, command: toolPath('temporal'), args, ready: () => tcpOpen('127.0.0.1', port), timeoutMs: 120_000 });
  return { ...server, address: `127.0.0.1:${port}`, ...(uiPort ? { uiUrl: `http://127.0.0.1:${uiPort}` } : {}) };
}
