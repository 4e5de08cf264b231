/**
 * The optional payload codec: every payload the worker and the CLI send to Temporal (workflow and
 * activity inputs and results, heartbeats, queries, memos, schedule actions, and failure messages
 * with `encodeCommonAttributes`) is sealed with AES-256-GCM before it leaves the process, so the
 * server, and whoever reads its database, sees key ids and ciphertext only. Search attributes stay
 * readable: the Web UI and list queries need them, and they hold names, never data or secrets.
 *
 * A sealed payload: metadata `encoding: binary/encrypted`, `encryption-key-id: <id>`,
 * `encryption-cipher: AES-256-GCM`; data = 12-byte random nonce | ciphertext | 16-byte tag of the
 * original payload serialized as a protobuf `proto.temporal.api.common.v1.Payload`, with the additional
 * data `chainbackup payload <id>`.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { DataConverter, Payload, PayloadCodec } from '@temporalio/common';
import proto from '@temporalio/proto';
import type { KeyRing } from './objects.js';

export const SEALED_ENCODING = 'binary/encrypted';
const KEY_ID = 'encryption-key-id';
const CIPHER = 'AES-256-GCM';

const utf8 = (text: string) => new TextEncoder().encode(text);
const text = (bytes: Uint8Array | null | undefined) => (bytes ? new TextDecoder().decode(bytes) : undefined);

export class PayloadKeyError extends Error {}

export class SealedPayloadCodec implements PayloadCodec {
  constructor(private readonly keys: KeyRing) {
    if (!keys.current) throw new PayloadKeyError('the payload codec needs a current key');
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- the codec interface is asynchronous
  async encode(payloads: Payload[]): Promise<Payload[]> {
    const key = this.keys.current;
    if (!key) throw new PayloadKeyError('the payload codec has no current key');
    return payloads.map((payload) => {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key.key, iv);
      cipher.setAAD(Buffer.from(`chainbackup payload ${key.id}`));
      const plain = proto.temporal.api.common.v1.Payload.encode(payload).finish();
      return {
        metadata: { encoding: utf8(SEALED_ENCODING), [KEY_ID]: utf8(key.id), 'encryption-cipher': utf8(CIPHER) },
        data: Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]),
      };
    });
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- the codec interface is asynchronous
  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      if (text(payload.metadata?.encoding) !== SEALED_ENCODING) return payload;
      const id = text(payload.metadata?.[KEY_ID]) ?? '';
      const key = this.keys.find(id);
      if (!key) throw new PayloadKeyError(`a payload is sealed with payload key "${id}", which this process does not hold (it holds: ${this.keys.ids.join(', ') || 'none'})`);
      const data = Buffer.from(payload.data ?? new Uint8Array());
      const decipher = createDecipheriv('aes-256-gcm', key.key, data.subarray(0, 12));
      decipher.setAAD(Buffer.from(`chainbackup payload ${id}`));
      decipher.setAuthTag(data.subarray(data.length - 16));
      let plain: Buffer;
      try {
        plain = Buffer.concat([decipher.update(data.subarray(12, data.length - 16)), decipher.final()]);
      } catch {
        throw new PayloadKeyError(`a payload sealed with payload key "${id}" does not open with this process's key of that id (a different key, or a damaged payload)`);
      }
      return proto.temporal.api.common.v1.Payload.decode(plain);
    });
  }
}

/** encryption/failure-converter.ts, as the SDK loads it: by path. */
export const SEALED_FAILURE_CONVERTER_PATH = fileURLToPath(new URL('./failure-converter.js', import.meta.url));

/** The data converter of the worker and the CLI: the codec when keys are configured, and failures' messages and stack traces encoded with it. */
export function sealedDataConverter(keys: KeyRing | undefined): DataConverter {
  if (!keys?.current) return {};
  return { payloadCodecs: [new SealedPayloadCodec(keys)], failureConverterPath: SEALED_FAILURE_CONVERTER_PATH };
}
