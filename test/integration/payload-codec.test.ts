/**
 * Issue 19, payload encryption: a worker and the CLI with `temporal.payloadEncryption` on. Workflow
 * inputs, results, activity inputs and failure messages in the server's history are ciphertext and
 * key ids, unreadable without the key; the CLI still takes a backup, lists it, and reports a
 * refusal's reason; `chainbackup codec-server` decodes the history's payloads for the Web UI.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import type { MariaDbSandbox } from '../../devtools/sandbox/mariadb.js';
import { freePort, repoRoot, waitFor } from '../../devtools/sandbox/processes.js';
import type { BackupResult } from '../../workflows/index.js';
import { connectTestClient, createSandbox, filesystemStorage, runCli, startWorker, testRoot, uniqueName, writeConfig, type WorkerProcess } from '../support/environment.js';

const taskQueue = uniqueName('codec');
let source: MariaDbSandbox;
let worker: WorkerProcess;
let client: Client;
let closeClient: () => Promise<void>;
let configPath: string;
const cli = (...args: string[]) => runCli(['--config', configPath, ...args]);

beforeAll(async () => {
  source = await createSandbox(`${taskQueue}-source`);
  await source.loadSampleData(500);
  const keyFile = join(testRoot(), `${taskQueue}-payload-key`);
  await writeFile(keyFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  configPath = await writeConfig(taskQueue, {
    temporal: { taskQueue, payloadEncryption: { currentKey: 'p1', keys: [{ id: 'p1', file: keyFile }] } },
    clusters: [source.clusterConfig('sealed', filesystemStorage(taskQueue), { taskQueue: `${taskQueue}-host`, schedule: { enabled: false } })],
  });
  worker = await startWorker(configPath);
  // This client has no codec: it sees what the server stores.
  ({ client, close: closeClient } = await connectTestClient());
});

afterAll(async () => {
  await closeClient?.();
  await worker?.stop();
  await source?.stop();
});

interface RawPayload {
  metadata?: Record<string, Uint8Array> | null;
  data?: Uint8Array | null;
}

const encoding = (payload: RawPayload | undefined) => new TextDecoder().decode(payload?.metadata?.encoding ?? new Uint8Array());

describe('payload encryption', () => {
  test('the history holds ciphertext and key ids only; the CLI and the worker work; a refusal still says why', async () => {
    const run = await cli('backup', 'sealed', '--type', 'full', '--json');
    expect(run.exitCode).toBe(0);
    const result = JSON.parse(run.stdout) as BackupResult;
    expect(result.name).toMatch(/^sealed-.*-full$/);
    const listed = await cli('list', 'sealed', '--json');
    expect(listed.exitCode).toBe(0);
    expect(listed.stdout).toContain(result.name);

    const workflowId = /^workflow (\S+)/m.exec(run.stderr)?.[1] ?? '';
    const history = await client.workflow.getHandle(workflowId).fetchHistory();
    const payloads: RawPayload[] = [];
    for (const event of history.events ?? []) {
      payloads.push(...(event.workflowExecutionStartedEventAttributes?.input?.payloads ?? []));
      payloads.push(...(event.workflowExecutionCompletedEventAttributes?.result?.payloads ?? []));
      payloads.push(...(event.activityTaskScheduledEventAttributes?.input?.payloads ?? []));
      payloads.push(...(event.activityTaskCompletedEventAttributes?.result?.payloads ?? []));
    }
    expect(payloads.length).toBeGreaterThan(5);
    for (const payload of payloads) {
      expect(encoding(payload)).toBe('binary/encrypted');
      expect(new TextDecoder().decode(payload.metadata?.['encryption-key-id'] ?? new Uint8Array())).toBe('p1');
      const data = Buffer.from(payload.data ?? new Uint8Array());
      for (const visible of ['sealed', result.name, 'backup', source.datadir]) expect(data.includes(Buffer.from(visible))).toBe(false);
    }
    // Without the key, the result cannot be read.
    await expect(client.workflow.getHandle(workflowId).result()).rejects.toThrow(/binary\/encrypted|Unknown encoding/);

    // A refusal: the CLI still prints the reason; the server holds only "Encoded failure".
    const refused = await cli('delete', 'sealed', 'sealed-2020-01-01T000000.000Z-full', '--yes');
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toMatch(/BackupNotFound: .*sealed-2020-01-01T000000\.000Z-full/);
    const deleteId = /\(workflow (\S+)\)/.exec(refused.stderr)?.[1] ?? '';
    const failed = (await client.workflow.getHandle(deleteId).fetchHistory()).events?.find((event) => event.workflowExecutionFailedEventAttributes)?.workflowExecutionFailedEventAttributes?.failure;
    expect(failed?.message).toBe('Encoded failure');
    expect(encoding(failed?.encodedAttributes ?? undefined)).toBe('binary/encrypted');
    expect(JSON.stringify(failed)).not.toContain('2020-01-01T000000');

    // The codec server decodes what the Web UI would send it.
    const port = await freePort();
    const server: ChildProcess = spawn(process.execPath, [join(repoRoot, 'dist/client/cli.js'), '--config', configPath, 'codec-server', '--listen', `127.0.0.1:${port}`, '--origin', 'http://127.0.0.1:8233'], { stdio: 'ignore' });
    try {
      const url = `http://127.0.0.1:${port}`;
      await waitFor('the codec server', async () => (await fetch(`${url}/decode`, { method: 'OPTIONS' }).catch(() => undefined))?.ok === true, 20_000, () => server.exitCode === null);
      const preflight = await fetch(`${url}/decode`, { method: 'OPTIONS' });
      expect(preflight.headers.get('access-control-allow-origin')).toBe('http://127.0.0.1:8233');
      const input = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads ?? [];
      const asJson = (payload: RawPayload) => ({
        metadata: Object.fromEntries(Object.entries(payload.metadata ?? {}).map(([key, value]) => [key, Buffer.from(value).toString('base64')])),
        data: Buffer.from(payload.data ?? new Uint8Array()).toString('base64'),
      });
      const response = await fetch(`${url}/decode`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Namespace': 'default' }, body: JSON.stringify({ payloads: input.map(asJson) }) });
      expect(response.status).toBe(200);
      const decoded = (await response.json()) as { payloads: { metadata: Record<string, string>; data: string }[] };
      expect(Buffer.from(decoded.payloads[0]?.metadata.encoding ?? '', 'base64').toString()).toBe('json/plain');
      expect(JSON.parse(Buffer.from(decoded.payloads[0]?.data ?? '', 'base64').toString())).toEqual({ cluster: 'sealed', type: 'full' });
      // And a payload it encodes opens again.
      const encoded = (await (await fetch(`${url}/encode`, { method: 'POST', body: JSON.stringify(decoded) })).json()) as { payloads: { metadata: Record<string, string>; data: string }[] };
      expect(Buffer.from(encoded.payloads[0]?.metadata.encoding ?? '', 'base64').toString()).toBe('binary/encrypted');
      const again = (await (await fetch(`${url}/decode`, { method: 'POST', body: JSON.stringify(encoded) })).json()) as { payloads: { data: string }[] };
      expect(again.payloads[0]?.data).toBe(decoded.payloads[0]?.data);
    } finally {
      server.kill('SIGTERM');
    }
  });
});
