import { createCipheriv, randomBytes, timingSafeEqual } from 'node:crypto';
import { createRequire } from 'node:module';
import type sodium from 'sodium-native';
import { ArcaError } from '../errors.js';
import { aesCtrInto, poly1305Aes } from '../fs/native.js';

/**
 * restic's authenticated encryption: AES-256-CTR, then Poly1305-AES over the ciphertext.
 * A sealed message is `IV(16) ‖ ciphertext ‖ MAC(16)`; the Poly1305 key is
 * `r ‖ AES-128(k, IV)`. See FORMAT-NOTES §3.
 */

/** Bytes a sealed message adds to its plaintext. */
export const sealOverhead = 32;
const ivSize = 16;
const macSize = 16;
// AES-CTR through OpenSSL is fastest fed in slices of this size (DEPS.md §B).
const ctrSlice = 256 * 1024;

/** The keys that encrypt and authenticate everything in a repository. */
export interface MasterKey {
  /** AES-256 key. */
  encrypt: Buffer;
  /** AES-128 key that turns the IV into the Poly1305 nonce part. */
  macK: Buffer;
  /** Poly1305 `r`. */
  macR: Buffer;
}

/** Returns a fresh random key, with `r` stored clamped as restic ≤ 0.16 does (readable by every version). */
export function newRandomKey(): MasterKey {
  const macR = randomBytes(16);
  clampR(macR);
  return { encrypt: randomBytes(32), macK: randomBytes(16), macR };
}

/** Builds a key from 64 bytes of KDF output: encrypt ‖ mac.k ‖ mac.r. */
export function keyFromKdf(buf: Buffer): MasterKey {
  if (buf.length !== 64) throw new Error(`KDF output must be 64 bytes, got ${buf.length}`);
  return { encrypt: buf.subarray(0, 32), macK: buf.subarray(32, 48), macR: buf.subarray(48, 64) };
}

/** True when the key is usable (restic rejects all-zero keys). */
export function isValidKey(k: MasterKey): boolean {
  return (
    k.encrypt.length === 32 &&
    k.macK.length === 16 &&
    k.macR.length === 16 &&
    !isZero(k.encrypt) &&
    !isZero(k.macK) &&
    !isZero(k.macR)
  );
}

/** Encrypts and authenticates `plaintext`; returns `IV ‖ ciphertext ‖ MAC`. */
export function seal(key: MasterKey, plaintext: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(plaintext.length + sealOverhead);
  sealInto(key, plaintext, out);
  return out;
}

/** {@link seal} into `out`, which must be exactly `plaintext.length + sealOverhead` bytes and must not overlap it. */
export function sealInto(key: MasterKey, plaintext: Uint8Array, out: Buffer): void {
  if (out.length !== plaintext.length + sealOverhead) {
    throw new RangeError(`sealInto: ${out.length} bytes of room for ${plaintext.length} bytes of plaintext`);
  }
  let iv: Buffer;
  do iv = randomBytes(ivSize);
  while (isZero(iv));
  iv.copy(out, 0);
  ctrInto(key.encrypt, iv, plaintext, out, ivSize);
  const ct = out.subarray(ivSize, ivSize + plaintext.length);
  poly1305Into(key, iv, ct, out.subarray(ivSize + plaintext.length));
}

/**
 * Verifies the MAC of `IV ‖ ciphertext ‖ MAC` and returns the plaintext (in `into` when given
 * and large enough, else in a new buffer).
 * Throws `ArcaError('corrupt')` naming `what` when the data is not authentic.
 */
export function open(key: MasterKey, sealed: Uint8Array, what = 'data', into?: Buffer): Buffer {
  if (sealed.length < sealOverhead) {
    throw new ArcaError('corrupt', `${what} is too short to be encrypted data (${sealed.length} bytes)`);
  }
  const iv = sealed.subarray(0, ivSize);
  const ct = sealed.subarray(ivSize, sealed.length - macSize);
  const mac = sealed.subarray(sealed.length - macSize);
  const want = Buffer.allocUnsafe(macSize);
  poly1305Into(key, iv, ct, want);
  if (!timingSafeEqual(want, mac)) {
    throw new ArcaError(
      'corrupt',
      `${what}: MAC verification failed (the data is damaged or was tampered with)`,
    );
  }
  const out = into && into.length >= ct.length ? into.subarray(0, ct.length) : Buffer.allocUnsafe(ct.length);
  ctrInto(key.encrypt, iv, ct, out, 0);
  return out;
}

/** True when `sealed` authenticates under `key`, without decrypting it. */
export function verifies(key: MasterKey, sealed: Uint8Array): boolean {
  if (sealed.length < sealOverhead) return false;
  const want = Buffer.allocUnsafe(macSize);
  poly1305Into(key, sealed.subarray(0, ivSize), sealed.subarray(ivSize, sealed.length - macSize), want);
  return timingSafeEqual(want, sealed.subarray(sealed.length - macSize));
}

// The addon's AES (native/cipher.c) skips Node's per-call cipher object and the copy out of it:
// for a repository of small blobs that overhead cost more than the encryption. Without the addon
// (not built), Node's own ciphers do the same work.
let _native: boolean | undefined;
function useNative(): boolean {
  // One trial call: the addon may be missing (not built), or its OpenSSL may lack Poly1305
  // (a FIPS-only provider), and then Node's AES and libsodium do the work.
  if (_native === undefined) {
    try {
      const block = Buffer.alloc(16, 1);
      aesCtrInto(Buffer.alloc(32, 1), block, block, Buffer.alloc(16), 0);
      poly1305Aes(block, block, block, block, Buffer.alloc(16));
      _native = true;
    } catch {
      _native = false;
    }
  }
  return _native;
}

function ctrInto(aesKey: Buffer, iv: Uint8Array, input: Uint8Array, out: Buffer, at: number): void {
  if (useNative()) {
    aesCtrInto(aesKey, iv, input, out, at);
    return;
  }
  const c = createCipheriv('aes-256-ctr', aesKey, iv);
  for (let i = 0; i < input.length; i += ctrSlice) {
    const part = c.update(input.subarray(i, Math.min(i + ctrSlice, input.length)));
    part.copy(out, at + i);
  }
  c.final();
}

function poly1305Into(key: MasterKey, iv: Uint8Array, msg: Uint8Array, out: Buffer): void {
  // Poly1305 clamps r itself (OpenSSL and libsodium alike), so keys written unclamped by
  // restic ≥ 0.17 work too.
  if (useNative()) {
    poly1305Aes(key.macK, key.macR, iv, msg, out);
    return;
  }
  const pk = Buffer.allocUnsafe(32);
  key.macR.copy(pk, 0);
  const e = createCipheriv('aes-128-ecb', key.macK, null);
  e.setAutoPadding(false);
  e.update(iv).copy(pk, 16);
  _sodium().crypto_onetimeauth(out, msg, pk);
}

// Without the addon, libsodium (sodium-native) computes Poly1305; loaded only then, since
// loading it took ~50 ms in every thread.
let _sodiumLoaded: typeof sodium | undefined;
function _sodium(): typeof sodium {
  _sodiumLoaded ??= createRequire(import.meta.url)('sodium-native') as typeof sodium;
  return _sodiumLoaded;
}

function clampR(r: Buffer): void {
  for (const i of [3, 7, 11, 15]) r[i]! &= 0x0f;
  for (const i of [4, 8, 12]) r[i]! &= 0xfc;
}

function isZero(b: Uint8Array): boolean {
  for (const x of b) if (x !== 0) return false;
  return true;
}
