import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { freePort, startServer, toolPath, type ServerProcess } from './processes.js';

export interface MinioServer extends ServerProcess {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** MinIO's own single-key KMS (name:base64 key), so that server-side encryption (SSE-S3, SSE-KMS) can be tried; the KMS key's name is "chainbackup-sandbox". */
  kmsSecretKey: string;
  /** `objectLock`: created with S3 Object Lock (versioned; it can only be switched on at creation). */
  createBucket(name: string, options?: { objectLock?: boolean }): Promise<void>;
}

/** The name of the sandbox KMS's one key (what SSE-KMS requests name as their key id). */
export const MINIO_KMS_KEY_NAME = 'chainbackup-sandbox';

/** MinIO on loopback with a throw-away data folder and random credentials. */
export async function startMinio(dir: string, again?: Pick<MinioServer, 'endpoint' | 'accessKeyId' | 'secretAccessKey' | 'kmsSecretKey'>): Promise<MinioServer> {
  // `again` restarts a stopped server on its port, data and credentials (fault tests).
  const port = again ? Number(new URL(again.endpoint).port) : await freePort();
  const consolePort = await freePort();
  const accessKeyId = again?.accessKeyId ?? `chainbackup${randomBytes(4).toString('hex')}`;
  const secretAccessKey = again?.secretAccessKey ?? randomBytes(18).toString('hex');
  const kmsSecretKey = again?.kmsSecretKey ?? `${MINIO_KMS_KEY_NAME}:${randomBytes(32).toString('base64')}`;
  const endpoint = `http://127.0.0.1:${port}`;
  const server = await startServer({
    name: 'minio',
    dir,
    command: toolPath('minio'),
    args: ['server', join(dir, 'data'), '--address', `127.0.0.1:${port}`, '--console-address', `127.0.0.1:${consolePort}`, '--quiet'],
    env: { MINIO_ROOT_USER: accessKeyId, MINIO_ROOT_PASSWORD: secretAccessKey, MINIO_BROWSER: 'off', MINIO_UPDATE: 'off', MINIO_KMS_SECRET_KEY: kmsSecretKey },
    ready: async () => (await fetch(`${endpoint}/minio/health/live`)).ok,
  });
  const createBucket = async (name: string, options: { objectLock?: boolean } = {}) => {
    const client = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId, secretAccessKey } });
    await client.send(new CreateBucketCommand({ Bucket: name, ...(options.objectLock ? { ObjectLockEnabledForBucket: true } : {}) }));
    client.destroy();
  };
  return { ...server, endpoint, accessKeyId, secretAccessKey, kmsSecretKey, createBucket };
}
