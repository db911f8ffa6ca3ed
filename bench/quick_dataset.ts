import { createCipheriv } from 'node:crypto';
import { existsSync } from 'node:fs';
import { lutimes, mkdir, readFile, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** Bumped whenever the generator's output changes, so a cached copy is rebuilt. */
const generatorVersion = 'quick-v1';
const fixedTime = new Date('2024-01-01T00:00:00Z');
const MiB = 1 << 20;

/** mulberry32: a small seeded PRNG, so the text part is the same on every machine. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An incompressible but fixed byte stream: AES-256-CTR keystream under a fixed key. */
function keystream(bytes: number, keyByte: number): Buffer {
  const key = Buffer.alloc(32, keyByte);
  const c = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  return Buffer.concat([c.update(Buffer.alloc(bytes)), c.final()]);
}

const words = (
  'static int struct return unsigned long void const char if else for while switch case break ' +
  'goto err out lock unlock mutex spin page buffer inode dentry file block queue device driver ' +
  'kernel module init exit alloc free size offset count flags mask bit read write sync flush ' +
  'cache index entry list head next prev node tree root key value hash table map state'
).split(' ');

function textFile(rnd: () => number, bytes: number): Buffer {
  const parts: string[] = [];
  let n = 0;
  while (n < bytes) {
    const indent = '\t'.repeat(Math.floor(rnd() * 3));
    const len = 3 + Math.floor(rnd() * 9);
    const line: string[] = [];
    for (let i = 0; i < len; i++) line.push(words[Math.floor(rnd() * words.length)]!);
    const s = `${indent}${line.join(' ')}${rnd() < 0.3 ? ';' : ''}\n`;
    parts.push(s);
    n += s.length;
  }
  return Buffer.from(parts.join('').slice(0, bytes));
}

/**
 * Builds the `quick` data set (~50 MB, ~2,100 files) under `dir` unless a complete copy of
 * this generator version is there: compressible text in nested directories, incompressible
 * files of 4 KiB to 4 MiB, a 12 MiB file of text/random/zero blocks, and a few symlinks.
 * All contents and mtimes are fixed, so two builds are byte-identical.
 */
export async function ensureQuickDataset(dir: string): Promise<void> {
  const marker = path.join(dir, '.complete');
  if (existsSync(marker) && (await readFile(marker, 'utf8')) === generatorVersion) return;
  await rm(dir, { recursive: true, force: true });
  const rnd = prng(20240101);
  const written: string[] = [];
  const put = async (rel: string, data: Buffer): Promise<void> => {
    const p = path.join(dir, rel);
    await mkdir(path.dirname(p), { recursive: true });
    await writeFile(p, data);
    written.push(p);
  };
  // text/: 2,000 files in 20 x 10 directories, 1–20 KiB each (~21 MB)
  for (let i = 0; i < 2000; i++) {
    const size = 1024 + Math.floor(rnd() * 19 * 1024);
    await put(
      `text/d${String(i % 20).padStart(2, '0')}/s${i % 10}/f${String(i).padStart(4, '0')}.c`,
      textFile(rnd, size),
    );
  }
  // random/: 4 x 4 MiB, 8 x 512 KiB, 64 x 4–36 KiB (~21 MB)
  const pool = keystream(22 * MiB, 7);
  let pos = 0;
  const carve = (n: number): Buffer => {
    const b = pool.subarray(pos, pos + n);
    pos += n;
    return b;
  };
  for (let i = 0; i < 4; i++) await put(`random/big-${i}.bin`, carve(4 * MiB));
  for (let i = 0; i < 8; i++) await put(`random/mid-${i}.bin`, carve(512 * 1024));
  for (let i = 0; i < 64; i++)
    await put(`random/small/r${i}.dat`, carve(4096 + Math.floor(rnd() * 32 * 1024)));
  // large.img: 12 x 1 MiB blocks, pattern text text random zero
  const rand = keystream(3 * MiB, 9);
  const blocks: Buffer[] = [];
  for (let b = 0; b < 12; b++) {
    const k = b % 4;
    if (k < 2) blocks.push(textFile(rnd, MiB));
    else if (k === 2) blocks.push(rand.subarray(((b - 2) / 4) * MiB, ((b + 2) / 4) * MiB));
    else blocks.push(Buffer.alloc(MiB));
  }
  await put('large.img', Buffer.concat(blocks));
  await mkdir(path.join(dir, 'links'), { recursive: true });
  const links: [string, string][] = [
    ['../text/d00/s0/f0000.c', 'first.c'],
    ['../random/big-0.bin', 'big'],
    ['nowhere', 'dangling'],
  ];
  for (const [target, name] of links) {
    const p = path.join(dir, 'links', name);
    await symlink(target, p);
    await lutimes(p, fixedTime, fixedTime);
  }
  await writeFile(marker, generatorVersion);
  for (const p of [...written, marker]) await utimes(p, fixedTime, fixedTime);
  // Directories last, deepest first, since writing into one changes its mtime.
  const dirs = new Set<string>();
  for (const p of written) {
    for (let d = path.dirname(p); d.length >= dir.length; d = path.dirname(d)) dirs.add(d);
  }
  dirs.add(path.join(dir, 'links'));
  for (const d of [...dirs].sort((a, b) => b.length - a.length)) await utimes(d, fixedTime, fixedTime);
}
