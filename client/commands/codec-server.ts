/**
 * `codec-server`: Temporal's codec server protocol (POST /encode and /decode, payloads as protobuf
 * JSON) with the configuration's payload keys, so that the Web UI (its "Configure Codec Server"
 * setting, or the UI server's codec endpoint) shows sealed inputs, results and failures decoded to
 * operators whose browser can reach it. It listens on loopback by default; the keys stay in this process.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Command } from 'commander';
import type { Payload } from '@temporalio/common';
import { loadKeyRing } from '../../encryption/keys.js';
import { SealedPayloadCodec } from '../../encryption/payload-codec.js';
import { CliError, ExitCode, type CliContext } from '../cli-context.js';

interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

const fromJson = (payload: JsonPayload): Payload => ({
  metadata: Object.fromEntries(Object.entries(payload.metadata ?? {}).map(([key, value]) => [key, Buffer.from(value, 'base64')])),
  data: Buffer.from(payload.data ?? '', 'base64'),
});
const toJson = (payload: Payload): JsonPayload => ({
  metadata: Object.fromEntries(Object.entries(payload.metadata ?? {}).map(([key, value]) => [key, Buffer.from(value ?? new Uint8Array()).toString('base64')])),
  data: Buffer.from(payload.data ?? new Uint8Array()).toString('base64'),
});

async function body(request: IncomingMessage): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const part of request) {
    size += (part as Buffer).length;
    if (size > 16 * 1024 * 1024) throw new Error('request body over 16 MiB');
    parts.push(part as Buffer);
  }
  return Buffer.concat(parts).toString('utf8');
}

export function registerCodecServerCommand(program: Command, cli: CliContext): void {
  program
    .command('codec-server')
    .description("serve Temporal's codec protocol (POST /encode, /decode) with temporal.payloadEncryption's keys, for the Web UI")
    .option('--listen <host:port>', 'where to listen', '127.0.0.1:8888')
    .option('--origin <url>', "the Web UI's origin, allowed by CORS (the browser calls this server)", 'http://localhost:8233')
    .action(async (options: { listen: string; origin: string }) => {
      const match = /^([^\s:]+):(\d{1,5})$/.exec(options.listen);
      if (!match) throw new CliError(`--listen "${options.listen}": must be host:port, such as 127.0.0.1:8888`, ExitCode.refused);
      const encryption = (await cli.config()).temporal.payloadEncryption;
      if (!encryption) throw new CliError(`${cli.configPath} has no temporal.payloadEncryption: there is nothing to decode`, ExitCode.refused);
      const codec = new SealedPayloadCodec(
        await loadKeyRing(encryption).catch((error: unknown) => {
          throw new CliError(`temporal.payloadEncryption: ${(error as Error).message}`, ExitCode.refused);
        }),
      );
      const reply = (response: ServerResponse, status: number, payload: unknown) => {
        response.writeHead(status, {
          'Content-Type': 'application/json',
          'Access-Control-Allow-Origin': options.origin,
          'Access-Control-Allow-Methods': 'POST, OPTIONS',
          'Access-Control-Allow-Headers': 'Content-Type, X-Namespace, Authorization',
          'Access-Control-Allow-Credentials': 'true',
        });
        response.end(JSON.stringify(payload));
      };
      const server = createServer((request, response) => {
        if (request.method === 'OPTIONS') return reply(response, 200, {});
        const route = request.url?.split('?')[0];
        if (request.method !== 'POST' || (route !== '/encode' && route !== '/decode')) return reply(response, 404, { error: 'POST /encode or /decode' });
        void body(request)
          .then(async (text) => {
            const payloads = ((JSON.parse(text) as { payloads?: JsonPayload[] }).payloads ?? []).map(fromJson);
            const done = route === '/encode' ? await codec.encode(payloads) : await codec.decode(payloads);
            reply(response, 200, { payloads: done.map(toJson) });
          })
          .catch((error: unknown) => reply(response, 400, { error: (error as Error).message }));
      });
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(Number(match[2]), match[1], () => resolve());
      });
      console.log(`codec server at http://${options.listen} (CORS origin ${options.origin}); Ctrl-C stops it`);
      await new Promise<void>((resolve) => {
        const stop = () => server.close(() => resolve());
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}
