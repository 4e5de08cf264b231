/**
 * `codec-server`: Temporal's codec server protocol (POST /encode and /decode, payloads as protobuf
 * JSON) with the configuration's payload keys, so that the Web UI (its "Configure Codec Server"
 * setting, or the UI server's codec endpoint) shows sealed inputs, results and failures decoded to
 * operators whose browser can reach it. It listens on loopback by default; the keys stay in this process.
 * Anyone who could call it could read and forge sealed payloads, so every call presents a token, names
 * this server in its Host (a DNS-rebinding page names its own) and comes from the Web UI's origin.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Command } from 'commander';
import type { Payload } from '@temporalio/common';
import { loadKeyRing } from '../../encryption/keys.js';
import { readSecretFile, secretFileProblem } from '../../encryption/secret-files.js';
import { SealedPayloadCodec } from '../../encryption/payload-codec.js';
import { CliError, ExitCode, type CliContext } from '../cli-context.js';

/** Where the token comes from when no --token-file is given. */
const TOKEN_VARIABLE = 'CHAINBACKUP_CODEC_TOKEN';

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

/** Compares a presented token with the server's in constant time (their sha256, so lengths do not show either). */
function sameToken(presented: string, token: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(presented), digest(token));
}

/** Where a request is allowed from: its Host must name this server (no DNS rebinding), its Origin, when sent, the Web UI's. */
function allowedHosts(host: string, port: string, publicNames: string[]): Set<string> {
  const names = [`${host}:${port}`, ...publicNames];
  if (['127.0.0.1', 'localhost', '::1', '[::1]'].includes(host)) names.push(`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`);
  return new Set(names.map((name) => name.toLowerCase()));
}

export function registerCodecServerCommand(program: Command, cli: CliContext): void {
  program
    .command('codec-server')
    .description("serve Temporal's codec protocol (POST /encode, /decode) with temporal.payloadEncryption's keys, for the Web UI")
    .option('--listen <host:port>', 'where to listen', '127.0.0.1:8888')
    .option('--origin <url>', "the Web UI's origin, allowed by CORS (the browser calls this server); a request from any other origin is refused", 'http://localhost:8233')
    .option('--token-file <path>', `a file (mode 0600 or 0640) holding the token every caller must present, as "Authorization: Bearer <token>" or as the path's first part (http://host:port/<token>); default: the variable ${TOKEN_VARIABLE}, or a new token printed at start`)
    .option('--public-name <host[:port]>', 'another name callers reach this server by (a reverse proxy in front of it); repeat for more', (name: string, names: string[]) => [...names, name], [] as string[])
    .action(async (options: { listen: string; origin: string; tokenFile?: string; publicName: string[] }) => {
      const match = /^([^\s:]+|\[[0-9a-fA-F:]+\]):(\d{1,5})$/.exec(options.listen);
      if (!match) throw new CliError(`--listen "${options.listen}": must be host:port, such as 127.0.0.1:8888`, ExitCode.refused);
      const [, host = '', port = ''] = match;
      const encryption = (await cli.config()).temporal.payloadEncryption;
      if (!encryption) throw new CliError(`${cli.configPath} has no temporal.payloadEncryption: there is nothing to decode`, ExitCode.refused);
      const codec = new SealedPayloadCodec(
        await loadKeyRing(encryption).catch((error: unknown) => {
          throw new CliError(`temporal.payloadEncryption: ${(error as Error).message}`, ExitCode.refused);
        }),
      );
      // Whoever can reach the server and present the token may read and forge sealed payloads: never without one.
      let token: string;
      let tokenShown: string;
      if (options.tokenFile !== undefined) {
        token = (
          await readSecretFile(options.tokenFile).catch((error: unknown) => {
            throw new CliError(`--token-file ${options.tokenFile}: ${secretFileProblem(error)}`, ExitCode.refused);
          })
        ).trim();
        tokenShown = `<the token in ${options.tokenFile}>`;
      } else if (process.env[TOKEN_VARIABLE]) {
        token = (process.env[TOKEN_VARIABLE] ?? '').trim();
        tokenShown = `<the token in ${TOKEN_VARIABLE}>`;
      } else {
        token = randomBytes(32).toString('base64url');
        tokenShown = token;
      }
      if (!/^[A-Za-z0-9._~-]{16,}$/.test(token)) throw new CliError(`the codec server's token must be at least 16 letters, digits, ".", "_", "~" or "-" (it goes into a URL path)`, ExitCode.refused);
      const hosts = allowedHosts(host, port, options.publicName);
      const reply = (response: ServerResponse, status: number, payload: unknown) => {
        response.writeHead(status, {
          'Content-Type': 'application/json',
          'Access-Control-Allow-Origin': options.origin,
          'Access-Control-Allow-Methods': 'POST, OPTIONS',
          'Access-Control-Allow-Headers': 'Content-Type, X-Namespace, Authorization, Authorization-Extras',
          'Access-Control-Allow-Credentials': 'true',
          Vary: 'Origin',
        });
        response.end(JSON.stringify(payload));
      };
      const server = createServer((request, response) => {
        if (!hosts.has((request.headers.host ?? '').toLowerCase())) return reply(response, 421, { error: `this codec server answers to ${[...hosts].join(', ')} only (add --public-name for another name)` });
        const origin = request.headers.origin;
        if (origin !== undefined && origin !== options.origin) return reply(response, 403, { error: `requests from ${origin} are refused: only ${options.origin} (--origin) may call this server` });
        if (request.method === 'OPTIONS') return reply(response, 200, {});
        // The token as a bearer header (the Temporal CLI's --codec-auth), or as the path's first part (a Web UI endpoint URL).
        const path = (request.url ?? '').split('?')[0] ?? '';
        const bearer = /^Bearer (\S+)$/.exec(request.headers.authorization ?? '')?.[1];
        const prefixed = /^\/([^/]+)(\/(?:encode|decode))$/.exec(path);
        const route = prefixed && sameToken(prefixed[1] ?? '', token) ? prefixed[2] : bearer !== undefined && sameToken(bearer, token) ? path : undefined;
        if (route === undefined) return reply(response, 401, { error: 'a token is required: "Authorization: Bearer <token>", or the endpoint http://host:port/<token>' });
        if (request.method !== 'POST' || (route !== '/encode' && route !== '/decode')) return reply(response, 404, { error: 'POST /encode or /decode' });
        if (!(request.headers['content-type'] ?? '').startsWith('application/json')) return reply(response, 415, { error: 'the body must be application/json' });
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
        server.listen(Number(port), host.replace(/^\[|\]$/g, ''), () => resolve());
      });
      console.log(`codec server at http://${options.listen}/${tokenShown} (the Web UI's codec endpoint; CORS origin ${options.origin}); Ctrl-C stops it`);
      await new Promise<void>((resolve) => {
        const stop = () => server.close(() => resolve());
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}
