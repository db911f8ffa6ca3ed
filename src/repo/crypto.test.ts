import assert from 'node:assert/strict';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { ArcaError } from '../errors.js';
import {
  isValidKey,
  keyFromKdf,
  type MasterKey,
  newRandomKey,
  open,
  seal,
  sealOverhead,
  verifies,
} from './crypto.js';

const hex = (s: string): Buffer => Buffer.from(s, 'hex');

/** An AES-256 key for tests that only exercise the MAC: any non-zero key will do. */
const someEncryptKey = hex('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');

/**
 * Poly1305-AES test vectors from D. J. Bernstein, "The Poly1305-AES message-authentication
 * code" (poly1305-20050329.pdf, appendix B), as restic's `internal/crypto/crypto_int_test.go`
 * uses them: `r` is given as bytes in the order restic stores `MACKey.R` (little-endian
 * number), `k` is the AES-128 key, the nonce is restic's IV, and the MAC covers `msg`.
 */
const poly1305Vectors = [
  {
    msg: 'f3f6',
    r: '851fc40c3467ac0be05cc20404f3f700',
    k: 'ec074c835580741701425b623235add6',
    nonce: 'fb447350c4e868c52ac3275cf9d4327e',
    mac: 'f4c633c3044fc145f84f335cb81953de',
  },
  {
    msg: '',
    r: 'a0f3080000f46400d0c7e9076c834403',
    k: '75deaa25c09f208e1dc4ce6b5cad3fbf',
    nonce: '61ee09218d29b0aaed7e154a2c5509cc',
    mac: 'dd3fab2251f11ac759f0887129cc2ee7',
  },
  {
    msg: '663cea190ffb83d89593f3f476b6bc24d7e679107ea26adb8caf6652d0656136',
    r: '48443d0bb0d21109c89a100b5ce2c208',
    k: '6acb5f61a7176dd320c5c1eb2edcdc74',
    nonce: 'ae212a55399729595dea458bc621ff0e',
    mac: '0ee1c16bb73f0f4fd19881753c01cdbe',
  },
  {
    msg:
      'ab0812724a7f1e342742cbed374d94d136c6b8795d45b3819830f2c04491faf0' +
      '990c62e48b8018b2c3e4a0fa3134cb67fa83e158c994d961c4cb21095c1bf9',
    r: '12976a08c4426d0ce8a82407c4f48207',
    k: 'e1a5668a4d5b66a5f68cc5424ed5982d',
    nonce: '9ae831e743978d3a23527c7128149e3a',
    mac: '5154ad0d2cb26e01274fc51148491f1b',
  },
];

/**
 * restic's full-construction vector (`testValues` in the same file): a message sealed by
 * restic as `IV ‖ AES-256-CTR ciphertext ‖ MAC`. Its `R` is *not* clamped (byte 3 is 0x94),
 * so it also shows that the MAC is computed with a clamped copy of `r`.
 */
const resticSealed = {
  encrypt: '303e8687b1d7db18421bdc6bb8588ccadac4d59ee87b8ff70c44e635790cafef',
  macK: 'ef4d8824cb80b2bcc5fbff8a9b12a42c',
  macR: 'cc8d4b948ee0ebfe1d415de921d10353',
  sealed:
    '69fb41c62d12def4593bd71757138606338f621aeaeb39da0fe4f99233f8037a54ea63338a813bcf3f75d8c3cc75dddf8750',
  plaintext: 'Dies ist ein Test!',
};

function littleEndian(b: Uint8Array): bigint {
  let n = 0n;
  for (let i = b.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(b[i]!);
  return n;
}

function aes128(key: Buffer, block: Uint8Array): Buffer {
  const e = createCipheriv('aes-128-ecb', key, null);
  e.setAutoPadding(false);
  return e.update(block);
}

/** Poly1305-AES straight from the paper's definition, with BigInt arithmetic: the oracle for libsodium. */
function referencePoly1305Aes(r: Buffer, k: Buffer, nonce: Uint8Array, msg: Uint8Array): Buffer {
  const p = (1n << 130n) - 5n;
  const rr = littleEndian(r) & 0x0ffffffc0ffffffc0ffffffc0fffffffn;
  let h = 0n;
  for (let i = 0; i < msg.length; i += 16) {
    const block = msg.subarray(i, i + 16);
    h = ((h + littleEndian(block) + (1n << BigInt(8 * block.length))) * rr) % p;
  }
  h = (h + littleEndian(aes128(k, nonce))) & ((1n << 128n) - 1n);
  const out = Buffer.alloc(16);
  for (let i = 0; i < 16; i++) out[i] = Number((h >> BigInt(8 * i)) & 0xffn);
  return out;
}

/** AES-256-CTR keystream with the whole 16-byte IV as a 128-bit big-endian counter (Go's `cipher.NewCTR`). */
function referenceKeystream(key: Buffer, iv: Buffer, length: number): Buffer {
  const blocks = Math.ceil(length / 16);
  const counters = Buffer.alloc(blocks * 16);
  let ctr = BigInt(`0x${iv.toString('hex')}`);
  for (let i = 0; i < blocks; i++) {
    counters.write(ctr.toString(16).padStart(32, '0'), i * 16, 'hex');
    ctr = (ctr + 1n) & ((1n << 128n) - 1n);
  }
  const e = createCipheriv('aes-256-ecb', key, null);
  e.setAutoPadding(false);
  return e.update(counters).subarray(0, length);
}

function clamped(r: Buffer): Buffer {
  const c = Buffer.from(r);
  for (const i of [3, 7, 11, 15]) c[i]! &= 0x0f;
  for (const i of [4, 8, 12]) c[i]! &= 0xfc;
  return c;
}

/** Deterministic bytes of any length, so failures reproduce. */
function patternBytes(length: number, seed = 'arca'): Buffer {
  const key = createHash('sha256').update(seed).digest();
  return createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(length));
}

function assertCorrupt(fn: () => unknown, what?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ArcaError, `expected an ArcaError, got ${String(err)}`);
    assert.equal(err.code, 'corrupt');
    if (what) assert.match(err.message, what);
    return true;
  });
}

describe('Poly1305-AES (Bernstein 2005, appendix B, as in restic crypto_int_test.go)', () => {
  for (const [i, v] of poly1305Vectors.entries()) {
    test(`vector ${i + 1} (${v.msg.length / 2}-byte message)`, () => {
      const key: MasterKey = { encrypt: someEncryptKey, macK: hex(v.k), macR: hex(v.r) };
      const sealed = Buffer.concat([hex(v.nonce), hex(v.msg), hex(v.mac)]);
      assert.equal(verifies(key, sealed), true, 'the published MAC must verify');
      assert.equal(open(key, sealed).length, v.msg.length / 2);
      for (let bit = 0; bit < 128; bit += 9) {
        const wrong = Buffer.from(sealed);
        wrong[sealed.length - 16 + (bit >> 3)]! ^= 1 << (bit & 7);
        assert.equal(verifies(key, wrong), false, `MAC with bit ${bit} flipped must not verify`);
      }
    });
  }

  test('the BigInt reference reproduces every published MAC (so it can serve as an oracle)', () => {
    for (const v of poly1305Vectors) {
      assert.equal(referencePoly1305Aes(hex(v.r), hex(v.k), hex(v.nonce), hex(v.msg)).toString('hex'), v.mac);
    }
  });

  test("restic's sealed test value opens to its plaintext", () => {
    const key: MasterKey = {
      encrypt: hex(resticSealed.encrypt),
      macK: hex(resticSealed.macK),
      macR: hex(resticSealed.macR),
    };
    assert.equal(open(key, hex(resticSealed.sealed)).toString('utf8'), resticSealed.plaintext);
    const mac = referencePoly1305Aes(
      key.macR,
      key.macK,
      hex(resticSealed.sealed).subarray(0, 16),
      hex(resticSealed.sealed).subarray(16, 34),
    );
    assert.equal(mac.toString('hex'), resticSealed.sealed.slice(-32));
  });
});

describe('seal and open', () => {
  const key = newRandomKey();

  for (const size of [0, 1, 15, 16, 17, 1024 * 1024, 1024 * 1024 + 3]) {
    test(`round trip of ${size} bytes`, () => {
      const plain = patternBytes(size, `size-${size}`);
      const sealed = seal(key, plain);
      assert.equal(sealed.length, size + sealOverhead);
      assert.notDeepEqual(sealed.subarray(0, 16), Buffer.alloc(16), 'the IV is never all zeros');
      assert.deepEqual(open(key, sealed), plain);
      assert.equal(verifies(key, sealed), true);
    });
  }

  test('the output is IV ‖ AES-256-CTR(plaintext) ‖ Poly1305-AES(ciphertext), checked by independent code', () => {
    for (const size of [0, 5, 16, 33, 1000]) {
      const plain = patternBytes(size, `layout-${size}`);
      const sealed = seal(key, plain);
      const iv = sealed.subarray(0, 16);
      const ct = sealed.subarray(16, 16 + size);
      assert.deepEqual(ct, xor(plain, referenceKeystream(key.encrypt, iv, size)));
      assert.deepEqual(sealed.subarray(16 + size), referencePoly1305Aes(key.macR, key.macK, iv, ct));
    }
  });

  test('the CTR counter carries across all 128 bits of the IV (Go cipher.NewCTR), also beyond one 256 KiB slice', () => {
    const plain = patternBytes(300 * 1024 + 7, 'carry');
    // Low 64 bits all ones: the second block's counter carries into the high half.
    for (const ivHex of ['0123456789abcdefffffffffffffffff', 'fffffffffffffffffffffffffffffff0']) {
      const iv = hex(ivHex);
      const ct = xor(plain, referenceKeystream(key.encrypt, iv, plain.length));
      const sealed = Buffer.concat([iv, ct, referencePoly1305Aes(key.macR, key.macK, iv, ct)]);
      assert.deepEqual(open(key, sealed), plain);
    }
  });

  test('two seals of the same plaintext differ (random IV)', () => {
    const plain = Buffer.from('the same message twice');
    const a = seal(key, plain);
    const b = seal(key, plain);
    assert.notDeepEqual(a.subarray(0, 16), b.subarray(0, 16));
    assert.notDeepEqual(a, b);
    assert.deepEqual(open(key, a), open(key, b));
  });

  test('changing any byte of IV, ciphertext or MAC is detected as corrupt', () => {
    for (const size of [0, 17]) {
      const sealed = seal(key, patternBytes(size, 'tamper'));
      for (let i = 0; i < sealed.length; i++) {
        for (const flip of [0x01, 0x80]) {
          const bad = Buffer.from(sealed);
          bad[i]! ^= flip;
          assertCorrupt(() => open(key, bad, 'blob 1234abcd'), /^blob 1234abcd: MAC verification failed/);
          assert.equal(verifies(key, bad), false);
        }
      }
    }
  });

  test('input shorter than IV + MAC is corrupt', () => {
    for (let n = 0; n < sealOverhead; n++) {
      assertCorrupt(() => open(key, randomBytes(n), 'index 0011aabb'), /^index 0011aabb is too short/);
      assert.equal(verifies(key, randomBytes(n)), false);
    }
  });

  test('a message sealed under another key is corrupt', () => {
    assertCorrupt(() => open(newRandomKey(), seal(key, Buffer.from('secret'))));
  });

  test('open does not modify its input', () => {
    const sealed = seal(key, patternBytes(100));
    const copy = Buffer.from(sealed);
    open(key, sealed);
    assert.deepEqual(sealed, copy);
  });
});

describe('keys', () => {
  test('a fresh key is valid, has the right sizes and a clamped r', () => {
    for (let i = 0; i < 50; i++) {
      const k = newRandomKey();
      assert.equal(isValidKey(k), true);
      assert.equal(k.encrypt.length, 32);
      assert.equal(k.macK.length, 16);
      assert.equal(k.macR.length, 16);
      for (const j of [3, 7, 11, 15]) assert.ok(k.macR[j]! <= 0x0f, `r[${j}] = ${k.macR[j]} must be ≤ 0x0f`);
      for (const j of [4, 8, 12]) assert.equal(k.macR[j]! % 4, 0, `r[${j}] must be a multiple of 4`);
    }
    const a = newRandomKey();
    const b = newRandomKey();
    assert.notDeepEqual(a.encrypt, b.encrypt);
    assert.notDeepEqual(a.macK, b.macK);
  });

  test('all-zero or wrongly sized keys are invalid', () => {
    const k = newRandomKey();
    assert.equal(isValidKey({ ...k, encrypt: Buffer.alloc(32) }), false);
    assert.equal(isValidKey({ ...k, macK: Buffer.alloc(16) }), false);
    assert.equal(isValidKey({ ...k, macR: Buffer.alloc(16) }), false);
    assert.equal(
      isValidKey({ encrypt: Buffer.alloc(32), macK: Buffer.alloc(16), macR: Buffer.alloc(16) }),
      false,
    );
    assert.equal(isValidKey({ ...k, encrypt: k.encrypt.subarray(0, 16) }), false);
    assert.equal(isValidKey({ ...k, macK: Buffer.concat([k.macK, Buffer.from([1])]) }), false);
    assert.equal(isValidKey({ ...k, macR: k.macR.subarray(1) }), false);
  });

  test('an unclamped r authenticates exactly like its clamped form (clamping is idempotent)', () => {
    for (let i = 0; i < 20; i++) {
      const base = newRandomKey();
      const unclampedR = randomBytes(16);
      // Make sure every bit that clamping clears is set, so the two forms really differ.
      for (const j of [3, 7, 11, 15]) unclampedR[j]! |= 0xf0;
      for (const j of [4, 8, 12]) unclampedR[j]! |= 0x03;
      const loose: MasterKey = { ...base, macR: unclampedR };
      const tight: MasterKey = { ...base, macR: clamped(unclampedR) };
      const plain = patternBytes(37 + i, `clamp-${i}`);
      assert.deepEqual(
        open(tight, seal(loose, plain)),
        plain,
        'sealed with unclamped r, opened with clamped r',
      );
      assert.deepEqual(
        open(loose, seal(tight, plain)),
        plain,
        'sealed with clamped r, opened with unclamped r',
      );
      const sealed = seal(loose, plain);
      const iv = sealed.subarray(0, 16);
      const mac = referencePoly1305Aes(tight.macR, tight.macK, iv, sealed.subarray(16, sealed.length - 16));
      assert.deepEqual(sealed.subarray(sealed.length - 16), mac);
    }
  });

  test('keyFromKdf splits 64 bytes into encrypt ‖ mac.k ‖ mac.r', () => {
    const buf = patternBytes(64, 'kdf');
    const k = keyFromKdf(buf);
    assert.deepEqual(k.encrypt, buf.subarray(0, 32));
    assert.deepEqual(k.macK, buf.subarray(32, 48));
    assert.deepEqual(k.macR, buf.subarray(48, 64));
    assert.throws(() => keyFromKdf(Buffer.alloc(63)), /64 bytes/);
  });
});

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}
