/**
 * Reading archived binlogs back from storage, each checked against its record's sha256 and size:
 * downloaded into a folder for a replay, or read through before a restore stops its server.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Context } from '@temporalio/activity';
import { execa } from 'execa';
import { BinlogScanner, type BinlogFacts, type Gtid } from '../../domain/binlog.js';
import { binlogFolder, type BinlogHistory } from '../../domain/binlog-archive.js';
import type { StorageEncryptionConfig } from '../../domain/config.js';
import { businessFailure, FailureType } from '../../domain/failures.js';
import type { ReplayPlan } from '../../domain/point-in-time.js';
import { childProcessOptions } from '../child-env.js';
import type { ActivityDeps } from '../deps.js';
import { assertAttemptHolds, holdingStream } from '../attempt-lease.js';
import type { ObjectStore } from '../storage/index.js';
import { DecryptStream, type KeyRing } from '../../encryption/objects.js';
import { binlogObjectIdentity, encryptionFailure, plaintextAdmitted } from '../sealed-store.js';
import { Progress, StreamMeter } from '../streams.js';
import { archiveSource, currentHistory, ScanningMeter, type ArchiveSource } from './shared.js';

/**
 * Downloads archived files into `folder` (as `nameOf(index)`), each decompressed and checked
 * against the sha256 and size of its record, and scanned on the way: their facts, in order.
 */
export async function downloadArchivedBinlogs(
  store: ObjectStore,
  where: BinlogHistory,
  files: ReplayPlan['files'],
  folder: string,
  nameOf: (index: number) => string,
  { progress, signal, keys, encryption, stop = {} }: { progress: Progress; signal: AbortSignal; keys: KeyRing; encryption: StorageEncryptionConfig | undefined; stop?: { stopAfter?: number; stopAfterGtid?: Gtid } },
): Promise<BinlogFacts[]> {
  // A replaced attempt (attempt-lease.ts) neither clears nor writes the files a newer one replays.
  assertAttemptHolds(`clear ${folder}`);
  await rm(folder, { recursive: true, force: true });
  await mkdir(folder, { recursive: true });
  const facts: BinlogFacts[] = [];
  let bytes = 0;
  for (const [index, file] of files.entries()) {
    const scanner = new BinlogScanner(stop);
    // A file the server still writes is its streamed parts, end to end; a closed one is one object.
    for (const [partIndex, part] of (file.parts ?? [file]).entries()) {
      const key = `${binlogFolder(where)}${part.object}`;
      const meter = new StreamMeter((done) => progress.update(bytes + done));
      const zstd = execa('zstd', ['-q', '-d', '-c'], { buffer: false, cancelSignal: signal, ...childProcessOptions() });
      // A sealed one is opened chunk by chunk, each checked first; one in plaintext only as its record and the configuration admit.
      const storedAs = { encryption: part.encryption, storedAt: part.archivedAt };
      const opener = new DecryptStream(keys, binlogObjectIdentity(where.cluster, where.history, part.object), plaintextAdmitted(encryption, storedAs));
      const output = createWriteStream(join(folder, nameOf(index)), { flags: partIndex === 0 ? 'w' : 'a' });
      await Promise.all([pipeline(await store.download(key), meter, opener, zstd.stdin, { signal }), pipeline(zstd.stdout, new ScanningMeter(scanner), holdingStream(`write ${nameOf(index)} into ${folder}`), output, { signal }), zstd]).catch((error: unknown) => {
        throw encryptionFailure(error, store, 'archived binlog ', { ...storedAs, object: key });
      });
      const sha256 = meter.digest();
      if (sha256 !== part.sha256 || meter.bytes !== part.size) throw businessFailure(FailureType.ChecksumMismatch, `archived binlog ${store.label}/${key} is corrupt: sha256 ${sha256} (${meter.bytes} bytes) does not match ${part.sha256} (${part.size} bytes) in its record`);
      bytes += meter.bytes;
    }
    facts.push(scanner.finish());
  }
  return facts;
}

export function binlogDownloadActivities(deps: ActivityDeps) {
  return {
    /**
     * Reads every archived binlog a replay needs, end to end, before the server is stopped: each
     * must have its record's sha256 and size and, when sealed, open chunk by chunk with a key this
     * worker holds. A damaged, cut or swapped file, or a missing key, fails here, naming the file,
     * and the restore stops before its pause. Nothing is written to disk.
     */
    async checkArchivedBinlogs(input: ArchiveSource & { replay: ReplayPlan }): Promise<{ files: number; bytes: number }> {
      const { store, archived } = await archiveSource(deps, input);
      const signal = Context.current().cancellationSignal;
      const progress = new Progress('checking archived binlogs');
      const keys = await deps.keys();
      const work = async () => {
        const { where: current } = await currentHistory(store, archived);
        const where = input.replay.history === undefined ? current : { ...current, history: input.replay.history };
        let bytes = 0;
        for (const file of input.replay.files) {
          for (const part of file.parts ?? [file]) {
            const key = `${binlogFolder(where)}${part.object}`;
            progress.phase(`checking ${file.file}`, { object: key });
            const meter = new StreamMeter((done) => progress.update(bytes + done));
            const storedAs = { encryption: part.encryption, storedAt: part.archivedAt };
            const opener = new DecryptStream(keys, binlogObjectIdentity(where.cluster, where.history, part.object), plaintextAdmitted(deps.config.encryption, storedAs));
            await pipeline(await store.download(key), meter, opener, new Writable({ write: (_chunk, _encoding, done) => done() }), { signal }).catch((error: unknown) => {
              throw encryptionFailure(error, store, 'archived binlog ', { ...storedAs, object: key });
            });
            if (meter.digest() !== part.sha256 || meter.bytes !== part.size) throw businessFailure(FailureType.ChecksumMismatch, `archived binlog ${store.label}/${key} is corrupt: sha256 ${meter.digest()} (${meter.bytes} bytes) does not match ${part.sha256} (${part.size} bytes) in its record`);
            bytes += meter.bytes;
          }
        }
        return { files: input.replay.files.length, bytes };
      };
      return progress.during(work());
    },
  };
}
