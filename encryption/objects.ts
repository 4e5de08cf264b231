/**
 * Client-side encryption of stored objects: chunked AES-256-GCM (docs/encryption.md has the format
 * byte by byte, for a restore without the product).
 *
 *   "CBAEAD1\n"  8 bytes    magic: format version 1
 *   length       4 bytes    of the header, big-endian
 *   header       JSON       {cipher, chunkBytes, keyId, wrappedKey, noncePrefix, object}
 *   chunks                  each AES-256-GCM(data key, nonce, aad = magic|length|header): ciphertext then a 16-byte tag
 *
 * Each object gets a random 32-byte data key, wrapped by the key-encryption key `keyId` names
 * (AES-256-GCM, a random 12-byte nonce, aad "chainbackup key <keyId>"; stored as nonce|ciphertext|tag).
 * A chunk's nonce is the object's random 7-byte prefix, its index (4 bytes, big-endian) and a last
 * flag (1 byte, 1 on the last chunk only); every chunk but the last holds exactly `chunkBytes` bytes.
 * So a changed byte, a reordered, dropped or added chunk, a chunk from another object, a cut at a
 * chunk boundary and a changed header each fail authentication; a chunk's bytes are released only
 * once its tag checked. The header names the object it was sealed for, and readers check it.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

export const ENCRYPTION_SCHEME = 'aes-256-gcm-chunked';
export const MAGIC = Buffer.from('CBAEAD1\n', 'latin1');
export const CHUNK_BYTES = 64 * 1024;
const TAG_BYTES = 16;
const MAX_HEADER_BYTES = 4096;

/** A key-encryption key, by the id stored objects name it by. */
export interface EncryptionKey {
  id: string;
  key: Buffer;
}

/** The keys a process holds: the current one seals new objects; any of them opens what it sealed. */
export interface KeyRing {
  current: EncryptionKey | undefined;
  find(id: string): EncryptionKey | undefined;
  /** The ids held, for messages. */
  ids: string[];
}

/** Why an object cannot be opened: its message names the object (and the key id where that is the reason). */
export class EncryptionError extends Error {
  constructor(
    message: string,
    readonly reason: 'missing-key' | 'wrong-key' | 'damaged' | 'not-encrypted' | 'other-object',
  ) {
    super(message);
  }
}

interface Header {
  cipher: 'aes-256-gcm';
  chunkBytes: number;
  keyId: string;
  wrappedKey: string;
  noncePrefix: string;
  object: string;
}

function wrapKey(kek: EncryptionKey, dataKey: Buffer): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', kek.key, iv);
  cipher.setAAD(Buffer.from(`chainbackup key ${kek.id}`));
  return Buffer.concat([iv, cipher.update(dataKey), cipher.final(), cipher.getAuthTag()]).toString('base64');
}

function unwrapKey(kek: EncryptionKey, wrapped: string, object: string): Buffer {
  const bytes = Buffer.from(wrapped, 'base64');
  if (bytes.length !== 12 + 32 + TAG_BYTES) throw new EncryptionError(`${object}: its header's wrapped key is damaged`, 'damaged');
  const decipher = createDecipheriv('aes-256-gcm', kek.key, bytes.subarray(0, 12));
  decipher.setAAD(Buffer.from(`chainbackup key ${kek.id}`));
  decipher.setAuthTag(bytes.subarray(12 + 32));
  try {
    return Buffer.concat([decipher.update(bytes.subarray(12, 12 + 32)), decipher.final()]);
  } catch {
    throw new EncryptionError(`${object}: key "${kek.id}" does not open it (a different key under the same id, or a damaged header)`, 'wrong-key');
  }
}

function chunkNonce(prefix: Buffer, index: number, last: boolean): Buffer {
  const nonce = Buffer.alloc(12);
  prefix.copy(nonce, 0);
  nonce.writeUInt32BE(index, 7);
  nonce[11] = last ? 1 : 0;
  return nonce;
}

/**
 * Cuts a byte stream into pieces of exactly `size` bytes but the last, copying only what straddles
 * an input chunk's edge: a piece goes out only once a byte after it has arrived, so the last piece
 * (which may be shorter, or empty) is known to be the last. Encryption and decryption both use it:
 * the extra copies and allocations were most of their cost beside AES-GCM itself.
 */
class Pieces {
  private readonly staged: Buffer;
  private stagedBytes = 0;

  constructor(private readonly size: number) {
    this.staged = Buffer.allocUnsafe(size);
  }

  /** Hands every whole piece that more bytes follow to `take` (which must not keep the buffer it is given). */
  add(chunk: Buffer, take: (piece: Buffer) => void): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.stagedBytes === this.size) {
        take(this.staged);
        this.stagedBytes = 0;
      }
      // Whole pieces inside the chunk, with more bytes after them, go out without a copy.
      if (this.stagedBytes === 0 && chunk.length - offset > this.size) {
        take(chunk.subarray(offset, offset + this.size));
        offset += this.size;
        continue;
      }
      const taken = Math.min(this.size - this.stagedBytes, chunk.length - offset);
      chunk.copy(this.staged, this.stagedBytes, offset, offset + taken);
      this.stagedBytes += taken;
      offset += taken;
    }
  }

  /** The last piece: what is staged. */
  last(): Buffer {
    return this.staged.subarray(0, this.stagedBytes);
  }
}

/** Seals a stream for `object` under the ring's current key. */
export class EncryptStream extends Transform {
  private readonly dataKey = randomBytes(32);
  private readonly prefix = randomBytes(7);
  private readonly aad: Buffer;
  private readonly pieces = new Pieces(CHUNK_BYTES);
  private index = 0;
  /** Bytes of plaintext taken in. */
  plainBytes = 0;

  constructor(key: EncryptionKey, object: string) {
    super();
    const header: Header = { cipher: 'aes-256-gcm', chunkBytes: CHUNK_BYTES, keyId: key.id, wrappedKey: wrapKey(key, this.dataKey), noncePrefix: this.prefix.toString('base64'), object };
    const headerBytes = Buffer.from(JSON.stringify(header));
    const length = Buffer.alloc(4);
    length.writeUInt32BE(headerBytes.length);
    this.aad = Buffer.concat([MAGIC, length, headerBytes]);
    this.push(this.aad);
  }

  private seal(plain: Buffer, last: boolean): void {
    if (this.index > 0xffffffff) throw new Error('an object of more than 2^32 chunks cannot be sealed');
    const cipher = createCipheriv('aes-256-gcm', this.dataKey, chunkNonce(this.prefix, this.index++, last));
    cipher.setAAD(this.aad);
    // The ciphertext is a new buffer (the plaintext's may be reused); GCM's final() adds no bytes.
    this.push(cipher.update(plain));
    cipher.final();
    this.push(cipher.getAuthTag());
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.plainBytes += chunk.length;
    // A chunk goes out only when more bytes follow it: the last one must carry the last flag.
    this.pieces.add(chunk, (plain) => this.seal(plain, false));
    done();
  }

  override _flush(done: TransformCallback): void {
    this.seal(this.pieces.last(), true);
    done();
  }
}

/** Whether stored bytes start like a sealed object. */
export function isSealed(start: Buffer): boolean {
  return start.length >= MAGIC.length && start.subarray(0, MAGIC.length).equals(MAGIC);
}

/** Opens a sealed stream of `object`, checking every chunk before it releases it. */
export class DecryptStream extends Transform {
  /** Bytes before the header is read whole. */
  private buffered: Buffer = Buffer.alloc(0);
  private readonly sealedPieces = new Pieces(CHUNK_BYTES + TAG_BYTES);
  private header: Header | undefined;
  private aad: Buffer | undefined;
  private dataKey: Buffer | undefined;
  private prefix: Buffer | undefined;
  private index = 0;
  /** The key id the object's header names, once read. */
  keyId: string | undefined;
  /** Set when the object turned out not to be sealed and `plainAllowed` let it through unchanged. */
  private plain = false;

  constructor(
    private readonly keys: KeyRing,
    private object: string,
    /** Objects stored before encryption was on (archived binlogs, which have no manifest saying so) pass through as they are. */
    private readonly plainAllowed = false,
    /** Open whatever object the header names (a decrypt by hand without --object); messages then use that name. */
    private readonly anyObject = false,
  ) {
    super();
  }

  private readHeader(): boolean {
    if (this.buffered.length < MAGIC.length + 4) return false;
    if (!isSealed(this.buffered) && this.plainAllowed) {
      this.plain = true;
      return true;
    }
    if (!isSealed(this.buffered)) throw new EncryptionError(`${this.object} is not encrypted by chainbackup (no CBAEAD1 header)`, 'not-encrypted');
    const length = this.buffered.readUInt32BE(MAGIC.length);
    if (length > MAX_HEADER_BYTES) throw new EncryptionError(`${this.object}: its encryption header is damaged (${length} bytes long)`, 'damaged');
    if (this.buffered.length < MAGIC.length + 4 + length) return false;
    this.aad = this.buffered.subarray(0, MAGIC.length + 4 + length);
    let header: Header;
    try {
      header = JSON.parse(this.aad.subarray(MAGIC.length + 4).toString('utf8')) as Header;
    } catch {
      throw new EncryptionError(`${this.object}: its encryption header is damaged (not JSON)`, 'damaged');
    }
    const fields = header as unknown as Record<string, unknown> | null;
    const strings = ['keyId', 'wrappedKey', 'noncePrefix', 'object'].every((field) => typeof fields?.[field] === 'string');
    if (!strings || fields?.cipher !== 'aes-256-gcm' || fields.chunkBytes !== CHUNK_BYTES) {
      throw new EncryptionError(`${this.object}: its encryption header is damaged or of an unknown kind`, 'damaged');
    }
    this.keyId = header.keyId;
    const key = this.keys.find(header.keyId);
    if (!key) throw new EncryptionError(`${this.object} is encrypted with key "${header.keyId}", which this process does not hold (it holds: ${this.keys.ids.join(', ') || 'no key'}); add it to encryption.keys`, 'missing-key');
    if (this.anyObject) this.object = String(header.object);
    // A header copied from another object would open with the key, but it names that object.
    if (header.object !== this.object) throw new EncryptionError(`${this.object} holds the encrypted data of ${header.object}: it was moved or swapped`, 'other-object');
    this.dataKey = unwrapKey(key, header.wrappedKey, this.object);
    this.prefix = Buffer.from(header.noncePrefix, 'base64');
    if (this.prefix.length !== 7) throw new EncryptionError(`${this.object}: its encryption header is damaged (nonce prefix)`, 'damaged');
    this.header = header;
    this.buffered = this.buffered.subarray(this.aad.length);
    return true;
  }

  /** A chunk's plaintext (a new buffer: `sealed`'s may be reused), released only once its tag checked. */
  private open(sealed: Buffer, last: boolean): Buffer {
    const decipher = createDecipheriv('aes-256-gcm', this.dataKey as Buffer, chunkNonce(this.prefix as Buffer, this.index, last));
    decipher.setAAD(this.aad as Buffer);
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    try {
      const plain = decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES));
      decipher.final();
      this.index++;
      return plain;
    } catch {
      throw new EncryptionError(
        last
          ? `${this.object}: its last chunk (${this.index}) fails authentication: the object is damaged or cut short`
          : `${this.object}: chunk ${this.index} fails authentication: the object is damaged, reordered or spliced from another one`,
        'damaged',
      );
    }
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    try {
      if (this.plain) return done(null, chunk);
      if (!this.header) {
        // The header is read whole first (it is small); what follows it goes to the chunks.
        this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
        if (!this.readHeader()) return done();
        const rest = this.buffered;
        this.buffered = Buffer.alloc(0);
        if (this.plain) return done(null, rest);
        chunk = rest;
      }
      // A chunk is opened as not-last only when more bytes follow it.
      this.sealedPieces.add(chunk, (sealed) => this.push(this.open(sealed, false)));
      done();
    } catch (error) {
      done(error as Error);
    }
  }

  override _flush(done: TransformCallback): void {
    try {
      if (this.plain) return done();
      // Shorter than a header: plain bytes when those are allowed.
      if (!this.header && this.plainAllowed && !isSealed(this.buffered)) return done(null, this.buffered);
      if (!this.header) throw new EncryptionError(`${this.object}: ends inside its encryption header (cut short)`, 'damaged');
      const last = this.sealedPieces.last();
      if (last.length < TAG_BYTES) throw new EncryptionError(`${this.object}: ends before its last chunk: the object is cut short`, 'damaged');
      this.push(this.open(last, true));
      done();
    } catch (error) {
      done(error as Error);
    }
  }
}

/** Seals a small object whole (checkpoint copies). */
export function sealBytes(key: EncryptionKey, object: string, plain: Buffer): Promise<Buffer> {
  return collect(new EncryptStream(key, object), plain);
}

/** Opens a small sealed object whole. */
export function openBytes(keys: KeyRing, object: string, sealed: Buffer): Promise<Buffer> {
  return collect(new DecryptStream(keys, object), sealed);
}

function collect(transform: Transform, input: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    transform.on('data', (part: Buffer) => parts.push(part));
    transform.once('error', reject);
    transform.once('end', () => resolve(Buffer.concat(parts)));
    transform.end(input);
  });
}

/** A key file's or variable's text as 32 key bytes: 64 hex digits, or base64 of 32 bytes. */
export function parseKeyMaterial(text: string): Buffer | undefined {
  const trimmed = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(trimmed)) return Buffer.from(trimmed, 'hex');
  if (/^[A-Za-z0-9+/]{43}=$/.test(trimmed)) {
    const bytes = Buffer.from(trimmed, 'base64');
    return bytes.length === 32 ? bytes : undefined;
  }
  return undefined;
}
