import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { KeyUnwrapError } from './key-provider';

/** Format byte of every AES-256-GCM blob we write: [format][nonce 12][ciphertext][tag 16]. */
const FORMAT = 0x01;
const NONCE = 12;
const TAG = 16;

/**
 * AES-256-GCM with a fresh random 96-bit nonce per call. There is deliberately no
 * way to pass a nonce in (DESIGN.md invariant 4).
 */
export function seal(key: Buffer, plaintext: Buffer, aad: Buffer): Buffer {
  if (key.length !== 32) throw new Error('AES-256 key must be 32 bytes');
  const nonce = randomBytes(NONCE);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(aad);
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([Buffer.of(FORMAT), nonce, ct, cipher.getAuthTag()]);
}

/** Opens a `seal` blob. Any failure (format, length, tag, AAD) is the same generic error. */
export function open(key: Buffer, blob: Buffer, aad: Buffer): Buffer {
  if (key.length !== 32 || blob.length < 1 + NONCE + TAG || blob[0] !== FORMAT) throw new KeyUnwrapError();
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, blob.subarray(1, 1 + NONCE));
    decipher.setAAD(aad);
    decipher.setAuthTag(blob.subarray(blob.length - TAG));
    // GCM only releases plaintext after final() has checked the tag, so nothing partial escapes.
    const body = decipher.update(blob.subarray(1 + NONCE, blob.length - TAG));
    const fin = decipher.final();
    // GCM's final() returns no bytes: no second copy of the plaintext (left unzeroed) when there is nothing to add.
    return fin.length === 0 ? body : Buffer.concat([body, fin]);
  } catch {
    throw new KeyUnwrapError();
  }
}

/** Returns the nonce of a sealed blob (for tests of nonce uniqueness). */
export function nonceOf(blob: Buffer): Buffer {
  return blob.subarray(1, 1 + NONCE);
}

/**
 * Canonical, unambiguous encoding of an encryption context (used as AAD): each part
 * length-prefixed, so ("ab","c") and ("a","bc") never collide.
 */
export function context(...parts: Array<string | number>): Buffer {
  return contextOf(parts);
}

/** `context` of an array of parts: the same bytes, written into one buffer (it runs for every field opened). */
export function contextOf(parts: ReadonlyArray<string | number>): Buffer {
  let size = 0;
  for (const p of parts) size += 4 + Buffer.byteLength(String(p), 'utf8');
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const p of parts) {
    // Every byte is written: a 4-byte length, then exactly that many bytes of the part.
    const n = out.write(String(p), at + 4, 'utf8');
    out.writeUInt32BE(n, at);
    at += 4 + n;
  }
  return out;
}
