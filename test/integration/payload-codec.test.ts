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
import { request as httpRequest } from 'node:http';
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

    // A refusal: the CLI still prints the reason; the run completed with it, and the server holds it encrypted.
    const refused = await cli('delete', 'sealed', 'sealed-2020-01-01T000000.000Z-full', '--yes');
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toMatch(/BackupNotFound: .*sealed-2020-01-01T000000\.000Z-full/);
    const deleteId = /\(workflow (\S+)\)/.exec(refused.stderr)?.[1] ?? '';
    const events = (await client.workflow.getHandle(deleteId).fetchHistory()).events ?? [];
    const [refusal] = events.find((event) => event.workflowExecutionCompletedEventAttributes)?.workflowExecutionCompletedEventAttributes?.result?.payloads ?? [];
    expect(encoding(refusal)).toBe('binary/encrypted');
    expect(Buffer.from(refusal?.data ?? new Uint8Array()).includes(Buffer.from('2020-01-01T000000'))).toBe(false);

    // The codec server decodes what the Web UI would send it, to a caller with its token only.
    const port = await freePort();
    const token = randomBytes(24).toString('base64url');
    const tokenFile = join(testRoot(), `${taskQueue}-codec-token`);
    await writeFile(tokenFile, `${token}\n`, { mode: 0o600 });
    const server: ChildProcess = spawn(process.execPath, [join(repoRoot, 'dist/client/cli.js'), '--config', configPath, 'codec-server', '--listen', `127.0.0.1:${port}`, '--origin', 'http://127.0.0.1:8233', '--token-file', tokenFile], { stdio: 'ignore' });
    try {
      const url = `http://127.0.0.1:${port}/${token}`;
      const json = { 'Content-Type': 'application/json' };
      await waitFor('the codec server', async () => (await fetch(`${url}/decode`, { method: 'OPTIONS' }).catch(() => undefined))?.ok === true, 20_000, () => server.exitCode === null);
      const preflight = await fetch(`${url}/decode`, { method: 'OPTIONS' });
      expect(preflight.headers.get('access-control-allow-origin')).toBe('http://127.0.0.1:8233');
      const input = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads ?? [];
      const asJson = (payload: RawPayload) => ({
        metadata: Object.fromEntries(Object.entries(payload.metadata ?? {}).map(([key, value]) => [key, Buffer.from(value).toString('base64')])),
        data: Buffer.from(payload.data ?? new Uint8Array()).toString('base64'),
      });
      const request = JSON.stringify({ payloads: input.map(asJson) });
      const response = await fetch(`${url}/decode`, { method: 'POST', headers: { ...json, 'X-Namespace': 'default' }, body: request });
      expect(response.status).toBe(200);
      const decoded = (await response.json()) as { payloads: { metadata: Record<string, string>; data: string }[] };
      expect(Buffer.from(decoded.payloads[0]?.metadata.encoding ?? '', 'base64').toString()).toBe('json/plain');
      expect(JSON.parse(Buffer.from(decoded.payloads[0]?.data ?? '', 'base64').toString())).toEqual({ cluster: 'sealed', type: 'full' });
      // And a payload it encodes opens again; the token as a bearer header (the temporal CLI's --codec-auth) does as well as in the path.
      const encoded = (await (await fetch(`http://127.0.0.1:${port}/encode`, { method: 'POST', headers: { ...json, Authorization: `Bearer ${token}` }, body: JSON.stringify(decoded) })).json()) as { payloads: { metadata: Record<string, string>; data: string }[] };
      expect(Buffer.from(encoded.payloads[0]?.metadata.encoding ?? '', 'base64').toString()).toBe('binary/encrypted');
      const again = (await (await fetch(`${url}/decode`, { method: 'POST', headers: json, body: JSON.stringify(encoded) })).json()) as { payloads: { data: string }[] };
      expect(again.payloads[0]?.data).toBe(decoded.payloads[0]?.data);

      // Refused, decoding nothing: no token or a wrong one, a name that is not this server's (a DNS-rebinding page),
      // another origin, a body that is not JSON (a form a page may post without asking).
      const refusals: [string, Record<string, string>, number][] = [
        ['/decode', json, 401],
        [`/${token.slice(1)}x/decode`, json, 401],
        ['/decode', { ...json, Authorization: 'Bearer not-the-token' }, 401],
        [`/${token}/decode`, { ...json, Host: `rebound.example:${port}` }, 421],
        [`/${token}/decode`, { ...json, Origin: 'http://evil.example' }, 403],
        [`/${token}/decode`, { 'Content-Type': 'text/plain' }, 415],
      ];
      for (const [path, headers, status] of refusals) {
        const answer = await rawPost(port, path, headers, request);
        expect({ path, headers, status: answer.status, decoded: answer.body.includes('json/plain') || answer.body.includes(Buffer.from('json/plain').toString('base64')) }).toEqual({ path, headers, status, decoded: false });
      }
    } finally {
      server.kill('SIGTERM');
    }
  });
});

/** A POST with headers fetch would not send (Host, Origin), as a hostile page or local account could: its status and body. */
function rawPost(port: number, path: string, headers: Record<string, string>, body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const sent = httpRequest({ host: '127.0.0.1', port, path, method: 'POST', headers: { Host: `127.0.0.1:${port}`, ...headers, 'Content-Length': Buffer.byteLength(body) } }, (answer) => {
      let text = '';
      answer.on('data', (chunk: Buffer) => (text += chunk.toString()));
      answer.on('end', () => resolve({ status: answer.statusCode ?? 0, body: text }));
    });
    sent.on('error', reject);
    sent.end(body);
  });
}
