import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  ftruncateSync,
  lstatSync,
  mkdtempSync,
  openSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  aesCtrInto,
  lgetxattr,
  llistxattr,
  lremovexattr,
  lsetxattr,
  mknod,
  poly1305Aes,
  seekData,
  seekHole,
  setTimes,
} from './native.js';

const dir = mkdtempSync(join(tmpdir(), 'arca-native-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let counter = 0;
function freshPath(name: string): string {
  counter++;
  return join(dir, `${counter}-${name}`);
}

function freshFile(name: string): string {
  const p = freshPath(name);
  writeFileSync(p, 'content');
  return p;
}

const notRoot = process.getuid?.() !== 0 ? 'needs root' : false;

describe('setTimes', () => {
  test('sets file times to the nanosecond', () => {
    const p = freshFile('file');
    setTimes(p, 1_700_000_000_123_456_789n, 1_234_567_890_987_654_321n);
    const st = lstatSync(p, { bigint: true });
    assert.equal(st.atimeNs, 1_700_000_000_123_456_789n);
    assert.equal(st.mtimeNs, 1_234_567_890_987_654_321n);
  });

  test('sets times before 1970', () => {
    const p = freshFile('old');
    setTimes(p, -1n, -86_400_000_000_001n);
    const st = lstatSync(p, { bigint: true });
    assert.equal(st.atimeNs, -1n);
    assert.equal(st.mtimeNs, -86_400_000_000_001n);
  });

  test('noFollow sets the times of the symlink, not its target', () => {
    const target = freshFile('target');
    const link = freshPath('link');
    symlinkSync(target, link);
    const before = statSync(target, { bigint: true });

    setTimes(link, 1_500_000_000_000_000_001n, 1_500_000_000_999_999_999n, { noFollow: true });

    const linkStat = lstatSync(link, { bigint: true });
    assert.equal(linkStat.atimeNs, 1_500_000_000_000_000_001n);
    assert.equal(linkStat.mtimeNs, 1_500_000_000_999_999_999n);
    const targetStat = statSync(target, { bigint: true });
    assert.equal(targetStat.atimeNs, before.atimeNs);
    assert.equal(targetStat.mtimeNs, before.mtimeNs);
  });

  test('without noFollow the target gets the times', () => {
    const target = freshFile('target');
    const link = freshPath('link');
    symlinkSync(target, link);

    setTimes(link, 1_400_000_000_000_000_007n, 1_400_000_000_000_000_008n);

    assert.equal(statSync(target, { bigint: true }).mtimeNs, 1_400_000_000_000_000_008n);
    assert.notEqual(lstatSync(link, { bigint: true }).mtimeNs, 1_400_000_000_000_000_008n);
  });
});

describe('mknod', () => {
  test('creates a FIFO', () => {
    const p = freshPath('fifo');
    mknod(p, constants.S_IFIFO | 0o600);
    const st = lstatSync(p);
    assert.ok(st.isFIFO());
    assert.equal(st.mode & 0o777, 0o600);
  });

  test('creates the character device 1,3 (/dev/null)', { skip: notRoot }, () => {
    const p = freshPath('null');
    // glibc's makedev(1, 3): major in bits 8..19, minor in bits 0..7 for numbers this small.
    const dev = (1n << 8n) | 3n;
    mknod(p, constants.S_IFCHR | 0o666, dev);
    const st = lstatSync(p, { bigint: true });
    assert.ok(st.isCharacterDevice());
    assert.equal(st.rdev, dev);
  });

  test('throws EEXIST for an existing name', () => {
    const p = freshFile('exists');
    assert.throws(() => mknod(p, constants.S_IFIFO | 0o600), { code: 'EEXIST', syscall: 'mknod' });
  });
});

describe('extended attributes', () => {
  test('set, get, list and remove on a file', () => {
    const p = freshFile('xattr');
    const big = Buffer.alloc(1000, 0xab);
    lsetxattr(p, 'user.arca.one', Buffer.from('hello'));
    lsetxattr(p, 'user.arca.empty', Buffer.alloc(0));
    lsetxattr(p, 'user.arca.big', big);

    assert.deepEqual(lgetxattr(p, 'user.arca.one'), Buffer.from('hello'));
    assert.deepEqual(lgetxattr(p, 'user.arca.empty'), Buffer.alloc(0));
    assert.deepEqual(lgetxattr(p, 'user.arca.big'), big);
    assert.deepEqual(llistxattr(p).sort(), ['user.arca.big', 'user.arca.empty', 'user.arca.one']);

    lremovexattr(p, 'user.arca.one');
    assert.deepEqual(llistxattr(p).sort(), ['user.arca.big', 'user.arca.empty']);
    assert.throws(() => lgetxattr(p, 'user.arca.one'), { code: 'ENODATA', syscall: 'lgetxattr' });
  });

  test('a file without attributes lists none', () => {
    assert.deepEqual(llistxattr(freshFile('bare')), []);
  });

  test('Linux refuses user.* attributes on a symlink', () => {
    const link = freshPath('link');
    symlinkSync(freshFile('target'), link);
    assert.throws(() => lsetxattr(link, 'user.arca', Buffer.from('x')), {
      code: 'EPERM',
      syscall: 'lsetxattr',
    });
  });

  test('trusted.* attributes sit on the symlink itself, not its target', { skip: notRoot }, () => {
    const target = freshFile('target');
    const link = freshPath('link');
    symlinkSync(target, link);

    lsetxattr(link, 'trusted.arca', Buffer.from('on the link'));

    assert.deepEqual(lgetxattr(link, 'trusted.arca'), Buffer.from('on the link'));
    assert.ok(llistxattr(link).includes('trusted.arca'));
    assert.ok(!llistxattr(target).includes('trusted.arca'));
    lremovexattr(link, 'trusted.arca');
    assert.ok(!llistxattr(link).includes('trusted.arca'));
  });
});

describe('Buffer paths', () => {
  const notUtf8 = (): Buffer => Buffer.concat([Buffer.from(`${dir}/`), Buffer.from([0x66, 0xff, 0x66])]);

  test('reach a name that is not valid UTF-8', () => {
    const p = notUtf8();
    writeFileSync(p, 'content');
    setTimes(p, 1_600_000_000_000_000_001n, 1_600_000_000_000_000_002n);
    assert.equal(lstatSync(p, { bigint: true }).mtimeNs, 1_600_000_000_000_000_002n);
    lsetxattr(p, 'user.arca', Buffer.from('bytes'));
    assert.deepEqual(lgetxattr(p, 'user.arca'), Buffer.from('bytes'));
    assert.deepEqual(llistxattr(p), ['user.arca']);
    lremovexattr(p, 'user.arca');
    rmSync(p);

    mknod(p, constants.S_IFIFO | 0o600);
    assert.ok(lstatSync(p).isFIFO());
    rmSync(p);
  });

  test('with an embedded NUL are rejected', () => {
    const withNul = { code: 'ERR_INVALID_ARG_VALUE', name: 'TypeError' };
    assert.throws(() => setTimes(Buffer.from([0x61, 0x00, 0x62]), 0n, 0n), withNul);
    assert.throws(() => setTimes(`${dir}/a\0b`, 0n, 0n), withNul);
    assert.throws(() => lgetxattr(freshFile('nul'), 'user.a\0b'), withNul);
  });
});

describe('errors', () => {
  test('look like Node fs errors', () => {
    const missing = join(dir, 'missing');
    assert.throws(() => lsetxattr(missing, 'user.arca', Buffer.from('x')), {
      name: 'Error',
      message: `ENOENT: no such file or directory, lsetxattr '${missing}'`,
      code: 'ENOENT',
      errno: -2,
      syscall: 'lsetxattr',
      path: missing,
    });
  });

  test('name the syscall of each function', () => {
    const missing = join(dir, 'missing');
    assert.throws(() => setTimes(missing, 0n, 0n), { code: 'ENOENT', syscall: 'utimensat' });
    assert.throws(() => llistxattr(missing), { code: 'ENOENT', syscall: 'llistxattr' });
    assert.throws(() => lremovexattr(missing, 'user.x'), { code: 'ENOENT', syscall: 'lremovexattr' });
    assert.throws(() => seekData(1_000_000, 0), { code: 'EBADF', syscall: 'lseek' });
  });

  test('reject bad arguments before any syscall', () => {
    assert.throws(() => mknod(freshPath('x'), 1.5), { code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => seekHole(-1, 0), { code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => setTimes(freshFile('far'), 1n << 100n, 0n), { code: 'ERR_OUT_OF_RANGE' });
  });
});

describe('seekData and seekHole', () => {
  test('find the data and holes of a sparse file', () => {
    const MiB = 1024 * 1024;
    const p = freshPath('sparse');
    const fd = openSync(p, 'w+');
    try {
      ftruncateSync(fd, 2 * MiB);
      writeSync(fd, Buffer.alloc(4096, 1), 0, 4096, MiB);

      assert.equal(seekHole(fd, 0), 0);
      assert.equal(seekData(fd, 0), MiB);
      assert.equal(seekData(fd, MiB + 100), MiB + 100);
      assert.equal(seekHole(fd, MiB), MiB + 4096);
      assert.equal(seekData(fd, MiB + 4096), -1);
      assert.equal(seekHole(fd, MiB + 4096), MiB + 4096);
      assert.equal(seekData(fd, 3 * MiB), -1);
      assert.equal(seekHole(fd, 3 * MiB), -1);
    } finally {
      closeSync(fd);
    }
  });
});

describe('AES', () => {
  test('aesCtrInto equals Node’s aes-256-ctr, into an offset and in place, across a counter wrap', () => {
    const key = randomBytes(32);
    for (const [iv, length] of [
      [randomBytes(16), 0],
      [randomBytes(16), 1],
      [randomBytes(16), 100_003],
      [Buffer.alloc(16, 0xff), 70],
      [Buffer.concat([randomBytes(8), Buffer.alloc(8, 0xff)]), 4096],
    ] as const) {
      const input = randomBytes(length);
      const c = createCipheriv('aes-256-ctr', key, iv);
      const want = Buffer.concat([c.update(input), c.final()]);
      const out = Buffer.alloc(length + 7);
      aesCtrInto(key, iv, input, out, 7);
      assert.deepEqual(out.subarray(7), want, `${length} bytes`);
      const same = Buffer.from(input);
      aesCtrInto(key, iv, same, same, 0);
      assert.deepEqual(same, want);
    }
    assert.throws(() => aesCtrInto(key, randomBytes(16), Buffer.alloc(10), Buffer.alloc(10), 1), RangeError);
    assert.throws(() => aesCtrInto(key.subarray(1), randomBytes(16), Buffer.alloc(1), Buffer.alloc(1), 0));
  });

  test('poly1305Aes equals libsodium’s Poly1305 with the key r ‖ AES-128(k, nonce)', () => {
    const sodium = createRequire(import.meta.url)('sodium-native') as {
      crypto_onetimeauth(out: Buffer, msg: Uint8Array, key: Buffer): void;
    };
    for (const length of [0, 1, 15, 16, 17, 1000, 70_001]) {
      const [k, r, nonce, msg] = [randomBytes(16), randomBytes(16), randomBytes(16), randomBytes(length)];
      const e = createCipheriv('aes-128-ecb', k, null);
      e.setAutoPadding(false);
      const want = Buffer.alloc(16);
      sodium.crypto_onetimeauth(want, msg, Buffer.concat([r, e.update(nonce)]));
      const got = Buffer.alloc(16);
      poly1305Aes(k, r, nonce, msg, got);
      assert.deepEqual(got, want, `${length} bytes`);
    }
    assert.throws(() =>
      poly1305Aes(randomBytes(15), randomBytes(16), randomBytes(16), Buffer.alloc(1), Buffer.alloc(16)),
    );
  });
});
