import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { heartbeat } from './liveness.js';
import { isDump } from '../domain/tool-failures.js';

/**
 * Counts the bytes that flow through, reporting progress as it goes, and computes their sha256 when
 * asked (hashing costs CPU on the database host: only what is stored gets hashed).
 */
export class StreamMeter extends Transform {
  private readonly hash;
  bytes = 0;

  constructor(
    private readonly onProgress?: (bytes: number) => void,
    options: { hash: boolean } = { hash: true },
  ) {
    super({ highWaterMark: 1 << 20 });
    this.hash = options.hash ? createHash('sha256') : undefined;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash?.update(chunk);
    this.bytes += chunk.length;
    this.onProgress?.(this.bytes);
    callback(null, chunk);
  }

  digest(): string {
    if (!this.hash) throw new Error('this meter was created without hashing');
    return this.hash.digest('hex');
  }
}

import type { StreamReport } from '../domain/binlog-archive.js';

export interface ProgressDetails {
  phase: string;
  bytesDone: number;
  bytesTotal?: number;
  /** Where the bytes done (stored, compressed) are not what the total counts: the bytes read of the total (a backup's datadir). */
  readBytes?: number;
  object?: string;
  /** The binlog stream's own report (binlogs.rpo). */
  archive?: StreamReport;
}

/**
 * Heartbeats an activity's progress. Temporal throttles heartbeats itself; this only avoids building
 * a details object for every chunk.
 */
export class Progress {
  private lastBeat = 0;
  private details: ProgressDetails;

  constructor(phase: string, extra: Omit<ProgressDetails, 'phase' | 'bytesDone'> = {}) {
    this.details = { phase, bytesDone: 0, ...extra };
    this.beat();
  }

  update(bytesDone: number): void {
    this.details.bytesDone = bytesDone;
    const now = Date.now();
    if (now - this.lastBeat >= 1000) this.beat();
  }

  /** The bytes read of `bytesTotal`, where those are not the bytes done. */
  read(readBytes: number): void {
    this.details.readBytes = readBytes;
  }

  phase(phase: string, extra: Omit<ProgressDetails, 'phase' | 'bytesDone'> = {}): void {
    this.details = { ...this.details, ...extra, phase };
    this.beat();
  }

  beat(): void {
    this.lastBeat = Date.now();
    heartbeat(this.details);
  }

  /** Keeps heartbeating while `work` runs, for steps with no byte stream to count (prepare, start). */
  async during<T>(work: Promise<T>): Promise<T> {
    const timer = setInterval(() => this.beat(), 2000);
    try {
      return await work;
    } finally {
      clearInterval(timer);
    }
  }
}

/** Calls `onLine` with each whole line a stream writes. */
export function eachLine(stream: NodeJS.ReadableStream | null | undefined, onLine: (line: string) => void): void {
  let partial = '';
  stream?.on('data', (chunk: Buffer | string) => {
    const parts = (partial + chunk.toString()).split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) onLine(line);
  });
}

/**
 * Keeps the last lines a child process wrote, for error messages: dumps of bytes (a corrupted page
 * printed as hex) are left out, and no line is kept longer than a person reads.
 */
export function tailLines(stream: NodeJS.ReadableStream | null | undefined, keep = 20): () => string {
  const lines: string[] = [];
  let partial = '';
  stream?.setEncoding('utf8');
  stream?.on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    // A line without an end yet is kept whole only while short: a page dump can be 32 000 characters.
    partial = (parts.pop() ?? '').slice(0, 64 * 1024);
    lines.push(...parts.filter((line) => line.trim() !== '' && !isDump(line)).map((line) => line.slice(0, 1000)));
    if (lines.length > keep) lines.splice(0, lines.length - keep);
  });
  return () => [...lines, partial.slice(0, 1000)].filter((line) => line.trim() !== '' && !isDump(line)).slice(-keep).join('\n');
}
