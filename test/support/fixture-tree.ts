/**
 * A deterministic directory tree holding every kind of entry and metadata restic records,
 * for the interoperability tests: back it up with restic, restore it with arca (and with
 * restic), and compare. Contents come from a keyed AES-CTR keystream and every time, mode
 * and owner is set explicitly, so two trees built by this module compare equal.
 *
 * Entries whose final name is not UTF-8 cannot be handed to touch, setfattr or mknod on a
 * command line, so each is built under an ASCII staging name and renamed at the end; a
 * rename keeps the inode's times, mode, owner and attributes. Directory modes and times
 * are applied last, because creating or renaming an entry changes its parent's mtime.
 *
 * Times are set with GNU touch, which takes nanoseconds; a touch run per distinct time is
 * what building the tree mostly costs, so entries cycle through a few dozen instants.
 */
import { createCipheriv, createHash } from 'node:crypto';
import {
  chmod,
  lchown,
  link,
  mkdir,
  mkdtemp,
  open,
  rename,
  rmdir,
  symlink,
  writeFile,
} from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { isErrno } from '../../src/errors.js';
import { joinPath, pathKey } from './buffer-path.js';
import { runOk } from './run.js';
import { setTimes, type TimesNs } from './set-times.js';
import { hasTool, isRoot } from './tools.js';
import { setXattr } from './xattr.js';

/** The situations the fixture covers; {@link FixtureInfo.cases} lists the entries of each. */
export type FixtureCase =
  | 'unicodeName'
  | 'nonUtf8Name'
  | 'specialCharName'
  | 'longName'
  | 'deepTree'
  | 'manySmallFiles'
  | 'emptyFile'
  | 'sizeBoundary'
  | 'mixedContent'
  | 'sparseFile'
  | 'hardLink'
  | 'symlink'
  | 'nonUtf8SymlinkTarget'
  | 'xattr'
  | 'symlinkXattr'
  | 'mode'
  | 'specialBits'
  | 'readOnlyDir'
  | 'extremeTimes'
  | 'fifo'
  | 'socket'
  | 'charDevice'
  | 'blockDevice'
  | 'foreignOwner';

/** What {@link makeFixtureTree} built. All paths are bytes, relative to `root`. */
export interface FixtureInfo {
  root: string;
  /** Every entry below the root, in creation order. */
  entries: Buffer[];
  /** The entries exercising each case; empty for a skipped case. */
  cases: Record<FixtureCase, Buffer[]>;
  /** Names that share one inode, one array per group. */
  hardLinkGroups: Buffer[][];
  /** Cases that could not be built here, and why (not root, no user xattrs on this filesystem…). */
  skipped: Partial<Record<FixtureCase, string>>;
}

/** Options for {@link makeFixtureTree}. */
export interface FixtureOptions {
  /** Make the mixed-content file 20 MiB instead of 3 MiB. */
  large?: boolean;
}

/** Builds the fixture tree in `root` (created if missing, expected empty) and says what it holds. */
export async function makeFixtureTree(root: string, opts: FixtureOptions = {}): Promise<FixtureInfo> {
  await mkdir(root, { recursive: true });
  const b = new Builder(path.resolve(root));
  await addNames(b);
  await addDeepTree(b);
  await addManySmallFiles(b);
  await addSizes(b, opts.large === true);
  await addSparseFiles(b);
  await addHardLinks(b);
  await addSymlinks(b);
  await addXattrs(b);
  await addModes(b);
  await addTimes(b);
  await addSpecialFiles(b);
  await addOwners(b);
  await b.finish();
  return b.info;
}

const MiB = 1024 * 1024;
const KiB = 1024;

type Kind = 'dir' | 'file' | 'symlink' | 'hardlink' | 'special';

interface Entry {
  rel: Buffer;
  /** Where the entry is until the final rename, relative to the root; all ASCII or UTF-8. */
  staging: string;
  name: Buffer;
  kind: Kind;
  depth: number;
  /** The entry has a staging name. */
  staged: boolean;
  /** The entry or one of its ancestors has a staging name. */
  belowStaged: boolean;
  /** Absent for symlinks and hard links (which share their target's). */
  mode?: number;
  owner?: { uid: number; gid: number };
  times?: TimesNs;
}

interface EntryOptions {
  mode?: number;
  times?: TimesNs;
  cases?: readonly FixtureCase[];
}

const allCases: readonly FixtureCase[] = [
  'unicodeName',
  'nonUtf8Name',
  'specialCharName',
  'longName',
  'deepTree',
  'manySmallFiles',
  'emptyFile',
  'sizeBoundary',
  'mixedContent',
  'sparseFile',
  'hardLink',
  'symlink',
  'nonUtf8SymlinkTarget',
  'xattr',
  'symlinkXattr',
  'mode',
  'specialBits',
  'readOnlyDir',
  'extremeTimes',
  'fifo',
  'socket',
  'charDevice',
  'blockDevice',
  'foreignOwner',
];

const keystreamKey = createHash('sha256').update('arca fixture tree').digest();

/** `length` pseudo-random bytes, the same for the same label on every run and machine. */
function keystream(label: string, length: number): Buffer {
  const iv = createHash('sha256').update(label).digest().subarray(0, 16);
  return createCipheriv('aes-256-ctr', keystreamKey, iv).update(Buffer.alloc(length));
}

const secondNs = 1_000_000_000n;

/** How many instants entries cycle through: each costs two touch runs; neighbouring entries still differ. */
const timeSlots = 24;

/**
 * The times of the n-th entry: one of {@link timeSlots} instants from 2001 on, 11.6 days
 * apart, with nanoseconds that are never a whole microsecond, and an atime 3 days later.
 */
function timesFor(n: number): TimesNs {
  const slot = BigInt(n % timeSlots);
  const seconds = 978_307_200n + slot * 1_000_003n;
  const ns = (slot * 123_457_913n + 456_789_123n) % secondNs;
  const mtimeNs = seconds * secondNs + (ns % 1000n === 0n ? ns + 1n : ns);
  return { mtimeNs, atimeNs: mtimeNs + 86_400n * 3n * secondNs + 111_111_111n };
}

function isUtf8(name: Buffer): boolean {
  return Buffer.from(name.toString('utf8'), 'utf8').equals(name);
}

class Builder {
  readonly info: FixtureInfo;
  private readonly entries: Entry[] = [];
  private readonly byKey = new Map<string, Entry>();
  private readonly xattrs: { entry: Entry; name: string; value: Buffer; fixtureCase: FixtureCase }[] = [];
  private stagingCount = 0;

  constructor(readonly root: string) {
    const cases = Object.fromEntries(allCases.map((c) => [c, [] as Buffer[]])) as Record<
      FixtureCase,
      Buffer[]
    >;
    this.info = { root, entries: [], cases, hardLinkGroups: [], skipped: {} };
    const rootEntry: Entry = {
      rel: Buffer.alloc(0),
      staging: '',
      name: Buffer.alloc(0),
      kind: 'dir',
      depth: 0,
      staged: false,
      belowStaged: false,
      mode: 0o755,
      times: timesFor(0),
    };
    this.byKey.set(pathKey(rootEntry.rel), rootEntry);
  }

  /** The absolute path an entry has until the final rename. */
  abs(entry: Entry): string {
    return entry.staging === '' ? this.root : path.join(this.root, entry.staging);
  }

  entry(rel: string | Buffer): Entry {
    const found = this.byKey.get(pathKey(Buffer.from(rel)));
    if (found === undefined) throw new Error(`fixture has no entry ${rel.toString()}`);
    return found;
  }

  skip(fixtureCase: FixtureCase, reason: string): void {
    this.info.skipped[fixtureCase] = reason;
  }

  private add(relIn: string | Buffer, kind: Kind, opts: EntryOptions, defaultMode?: number): Entry {
    const rel = Buffer.from(relIn);
    const slash = rel.lastIndexOf(0x2f);
    const parent = this.entry(slash < 0 ? Buffer.alloc(0) : rel.subarray(0, slash));
    const name = rel.subarray(slash + 1);
    const staged = !isUtf8(name);
    const stagingName = staged ? `.arca-staging-${this.stagingCount++}` : name.toString('utf8');
    const entry: Entry = {
      rel,
      staging: parent.staging === '' ? stagingName : `${parent.staging}/${stagingName}`,
      name,
      kind,
      depth: parent.depth + 1,
      staged,
      belowStaged: staged || parent.belowStaged,
      mode: opts.mode ?? defaultMode,
      times: kind === 'hardlink' ? undefined : (opts.times ?? timesFor(this.entries.length + 1)),
    };
    if (this.byKey.has(pathKey(rel))) throw new Error(`fixture entry ${rel.toString()} added twice`);
    this.entries.push(entry);
    this.byKey.set(pathKey(rel), entry);
    this.info.entries.push(rel);
    for (const c of opts.cases ?? []) this.info.cases[c].push(rel);
    return entry;
  }

  async dir(rel: string | Buffer, opts: EntryOptions = {}): Promise<Entry> {
    const entry = this.add(rel, 'dir', opts, 0o755);
    await mkdir(this.abs(entry));
    return entry;
  }

  async file(rel: string | Buffer, content: Buffer, opts: EntryOptions = {}): Promise<Entry> {
    const entry = this.add(rel, 'file', opts, 0o644);
    await writeFile(this.abs(entry), content);
    return entry;
  }

  /** A file written in pieces: `pieces` are [offset, bytes]; `size` truncates or extends (holes). */
  async pieces(
    rel: string | Buffer,
    size: number,
    pieces: [number, Buffer][],
    opts: EntryOptions,
  ): Promise<Entry> {
    const entry = this.add(rel, 'file', opts, 0o644);
    const handle = await open(this.abs(entry), 'wx');
    try {
      for (const [offset, bytes] of pieces) await handle.write(bytes, 0, bytes.length, offset);
      await handle.truncate(size);
    } finally {
      await handle.close();
    }
    return entry;
  }

  async symlink(rel: string | Buffer, target: string | Buffer, opts: EntryOptions = {}): Promise<Entry> {
    const entry = this.add(rel, 'symlink', opts);
    await symlink(Buffer.from(target), this.abs(entry));
    return entry;
  }

  async hardLinkGroup(rels: (string | Buffer)[], content: Buffer, opts: EntryOptions): Promise<void> {
    const [first, ...rest] = rels;
    if (first === undefined) return;
    const primary = await this.file(first, content, opts);
    for (const rel of rest) {
      const entry = this.add(rel, 'hardlink', { cases: opts.cases });
      await link(this.abs(primary), this.abs(entry));
    }
    this.info.hardLinkGroups.push(rels.map((rel) => Buffer.from(rel)));
  }

  /** A FIFO, socket or device node, made by `make(absolutePath)`. */
  async special(rel: string, make: (abs: string) => Promise<void>, opts: EntryOptions): Promise<Entry> {
    const entry = this.add(rel, 'special', opts, 0o644);
    await make(this.abs(entry));
    return entry;
  }

  xattr(entry: Entry, name: string, value: Buffer, fixtureCase: FixtureCase = 'xattr'): void {
    this.xattrs.push({ entry, name, value, fixtureCase });
  }

  owner(entry: Entry, uid: number, gid: number): void {
    entry.owner = { uid, gid };
  }

  /** Applies attributes, owners, modes and times, and gives staged entries their final names. */
  async finish(): Promise<void> {
    await this.applyXattrs();
    for (const entry of this.entries) {
      if (entry.owner !== undefined) await lchown(this.abs(entry), entry.owner.uid, entry.owner.gid);
    }
    const others = this.entries.filter((e) => e.kind !== 'dir');
    for (const entry of others) {
      // After lchown, which clears setuid and setgid bits.
      if (entry.mode !== undefined) await chmod(this.abs(entry), entry.mode);
    }
    await this.applyTimes(others);
    for (const entry of others) await this.rename(entry);
    // A directory is finished once nothing more is created in it or renamed into it.
    // Directories at or below a staged name are finished one by one, deepest first, each
    // before its rename (which changes only its parent's times); the rest all together.
    const dirs = [this.entry(''), ...this.entries.filter((e) => e.kind === 'dir')];
    const early = dirs.filter((d) => d.belowStaged).sort((x, y) => y.depth - x.depth);
    for (const dir of early) {
      await chmod(this.abs(dir), dir.mode!);
      await this.applyTimes([dir]);
      await this.rename(dir);
    }
    const rest = dirs.filter((d) => !d.belowStaged);
    for (const dir of rest) await chmod(this.abs(dir), dir.mode!);
    await this.applyTimes(rest);
  }

  private async applyXattrs(): Promise<void> {
    const failed = new Set<FixtureCase>();
    for (const { entry, name, value, fixtureCase } of this.xattrs) {
      if (failed.has(fixtureCase)) continue;
      try {
        await setXattr(this.abs(entry), name, value);
        if (!this.info.cases[fixtureCase].includes(entry.rel)) this.info.cases[fixtureCase].push(entry.rel);
      } catch (err) {
        // Typically a filesystem without user xattrs (tmpfs before Linux 6.6, some overlays).
        failed.add(fixtureCase);
        this.skip(fixtureCase, `setfattr failed: ${(err as Error).message}`);
      }
    }
    for (const c of failed) this.info.cases[c] = [];
  }

  /** Sets times in as few touch runs as possible: one pair per distinct (atime, mtime). */
  private async applyTimes(entries: Entry[]): Promise<void> {
    const groups = new Map<string, { times: TimesNs; paths: string[] }>();
    for (const entry of entries) {
      if (entry.times === undefined) continue;
      const key = `${entry.times.atimeNs}/${entry.times.mtimeNs}`;
      const group = groups.get(key) ?? { times: entry.times, paths: [] };
      group.paths.push(this.abs(entry));
      groups.set(key, group);
    }
    for (const { times, paths } of groups.values()) await setTimes(paths, times);
  }

  private async rename(entry: Entry): Promise<void> {
    if (!entry.staged) return;
    const staged = this.abs(entry);
    await rename(staged, joinPath(Buffer.from(path.dirname(staged)), entry.name));
  }
}

function text(label: string): Buffer {
  return Buffer.from(`arca fixture: ${label}\n`);
}

async function addNames(b: Builder): Promise<void> {
  await b.dir('names');
  const unicode = [
    'caf\u00e9.txt', // NFC
    'cafe\u0301.txt', // NFD: looks the same, different bytes
    '漢字ファイル名.txt',
    '📦 emoji 🔒.bin',
    'עברית-rtl.txt',
  ];
  for (const name of unicode) await b.file(`names/${name}`, text(name), { cases: ['unicodeName'] });
  await b.dir('names/ünïcödé-dïr', { cases: ['unicodeName'] });
  await b.file('names/ünïcödé-dïr/inner.txt', text('unicode dir'), { cases: ['unicodeName'] });

  const bytes = (...parts: (string | number[])[]) =>
    Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));
  const names = b.entry('names').rel;
  const nonUtf8Files = [
    bytes('bad', [0xff], '.txt'),
    bytes('latin1-caf', [0xe9]),
    bytes('cesu-surrogate-', [0xed, 0xa0, 0x80]),
    bytes('overlong-slash-', [0xc0, 0xaf]),
  ];
  for (const name of nonUtf8Files) {
    await b.file(joinPath(names, name), text(name.toString('hex')), { cases: ['nonUtf8Name'] });
  }
  const badDir = joinPath(names, bytes('dir-', [0xfe, 0xfd]));
  await b.dir(badDir, { cases: ['nonUtf8Name'] });
  await b.file(joinPath(badDir, bytes('inner-', [0xff])), text('inside a non-UTF-8 directory'), {
    cases: ['nonUtf8Name'],
  });
  await b.symlink(joinPath(names, bytes('link-', [0xff])), bytes('bad', [0xff], '.txt'), {
    cases: ['nonUtf8Name', 'symlink', 'nonUtf8SymlinkTarget'],
  });

  const special = [
    ' leading space',
    'trailing space ',
    'double"quote',
    "single'quote",
    'back\\slash',
    'new\nline',
    'ctrl\x01char',
    'tab\tchar',
    'carriage\rreturn',
    '-starts-with-dash',
    '*?[glob]{x}',
    '.hidden',
    '..two-dots',
    'ends-with-dot.',
    '$HOME and `cmd`',
    'colon:semi;pipe|amp&',
    '%s%n%x',
  ];
  for (const name of special) await b.file(`names/${name}`, text(name), { cases: ['specialCharName'] });
  await b.file(`names/${'n'.repeat(251)}.txt`, text('255-byte name'), { cases: ['longName'] });
  await b.file(`names/${'ä'.repeat(127)}x`, text('255-byte name, two-byte characters'), {
    cases: ['longName'],
  });
}

async function addDeepTree(b: Builder): Promise<void> {
  let dir = 'deep';
  await b.dir(dir, { cases: ['deepTree'] });
  for (let level = 0; level < 45; level++) {
    dir += `/level-${String(level).padStart(2, '0')}-of-a-deep-tree`;
    await b.dir(dir, { cases: ['deepTree'] });
  }
  await b.file(`${dir}/bottom.txt`, text('bottom of the deep tree'), { cases: ['deepTree'] });
}

async function addManySmallFiles(b: Builder): Promise<void> {
  await b.dir('many');
  const shared = keystream('many/shared', 1000);
  for (let i = 0; i < 320; i++) {
    const name = `many/f${String(i).padStart(4, '0')}`;
    // Every tenth file repeats one content, so the repository deduplicates it.
    const content = i % 10 === 9 ? shared : keystream(name, (i * 37) % 4096);
    await b.file(name, content, { cases: ['manySmallFiles'] });
  }
}

async function addSizes(b: Builder, large: boolean): Promise<void> {
  await b.dir('sizes');
  await b.file('sizes/empty', Buffer.alloc(0), { cases: ['emptyFile'] });
  await b.file('sizes/one-byte', Buffer.from('x'), { cases: ['sizeBoundary'] });
  for (const [name, size] of [
    ['512KiB-minus-1', 512 * KiB - 1],
    ['512KiB', 512 * KiB],
    ['512KiB-plus-1', 512 * KiB + 1],
  ] as const) {
    await b.file(`sizes/${name}`, keystream(`sizes/${name}`, size), { cases: ['sizeBoundary'] });
  }
  // Random blocks, a block repeated in runs (deduplicated by the chunker) and zeros.
  const pattern = large ? 'RRRRAAAAAARZZZRAAARR' : 'RAA';
  const repeated = keystream('mixed/A', MiB);
  const pieces: [number, Buffer][] = [...pattern].map((kind, i) => {
    const block = kind === 'A' ? repeated : kind === 'Z' ? Buffer.alloc(MiB) : keystream(`mixed/R${i}`, MiB);
    return [i * MiB, block];
  });
  const size = pattern.length * MiB + 777;
  pieces.push([pattern.length * MiB, keystream('mixed/tail', 777)]);
  await b.pieces('sizes/mixed.bin', size, pieces, { cases: ['mixedContent'] });
}

async function addSparseFiles(b: Builder): Promise<void> {
  await b.dir('sparse');
  const size = 12 * MiB;
  await b.pieces(
    'sparse/holes-12MiB',
    size,
    [
      [0, keystream('sparse/a', 4 * KiB)],
      [5 * MiB + 123, keystream('sparse/b', 64 * KiB)],
      [size - 100, keystream('sparse/c', 100)],
    ],
    { cases: ['sparseFile'] },
  );
  await b.pieces('sparse/only-hole-4MiB', 4 * MiB, [], { cases: ['sparseFile'] });
}

async function addHardLinks(b: Builder): Promise<void> {
  await b.dir('hardlinks');
  await b.dir('hardlinks/sub');
  await b.dir('hardlinks-elsewhere');
  await b.hardLinkGroup(
    ['hardlinks/one', 'hardlinks/sub/two', 'hardlinks-elsewhere/three'],
    keystream('hardlinks', 3000),
    { mode: 0o640, cases: ['hardLink'] },
  );
}

async function addSymlinks(b: Builder): Promise<void> {
  await b.dir('symlinks');
  const links: [string, string][] = [
    ['relative', '../sizes/one-byte'],
    ['absolute', '/dev/null'],
    ['dangling', 'does/not/exist'],
    ['to-dir', '../deep'],
    ['self-loop', 'self-loop'],
    ['long-target', 'x/'.repeat(600) + 'end'],
    ['unicode-target', '../names/漢字ファイル名.txt'],
  ];
  for (const [name, target] of links) await b.symlink(`symlinks/${name}`, target, { cases: ['symlink'] });
  await b.symlink('symlinks/non-utf8-target', Buffer.from([0x74, 0x61, 0x72, 0x67, 0x65, 0x74, 0x2d, 0xff]), {
    cases: ['symlink', 'nonUtf8SymlinkTarget'],
  });
}

async function addXattrs(b: Builder): Promise<void> {
  if (!hasTool('setfattr')) {
    const reason = 'setfattr is not installed (apt-get install attr)';
    b.skip('xattr', reason);
    b.skip('symlinkXattr', reason);
    return;
  }
  await b.dir('xattrs');
  const file = await b.file('xattrs/file', text('has attributes'));
  b.xattr(file, 'user.plain', Buffer.from('hello'));
  b.xattr(file, 'user.binary', Buffer.from([0x00, 0xff, 0x0a, 0x3d, 0x22, 0x5c, 0x80]));
  b.xattr(file, 'user.empty', Buffer.alloc(0));
  b.xattr(file, 'user.large', keystream('xattr/large', KiB));
  const empty = await b.file('xattrs/empty-file', Buffer.alloc(0));
  b.xattr(empty, 'user.on-empty', Buffer.from('v'));
  const dir = await b.dir('xattrs/dir');
  b.xattr(dir, 'user.on-dir', Buffer.from([1, 2, 3]));
  await b.file('xattrs/dir/plain', text('no attributes, inside a directory with some'));
  b.xattr(b.entry(''), 'user.on-root', Buffer.from('root'));
  b.xattr(
    b.entry(Buffer.concat([Buffer.from('names/bad'), Buffer.from([0xff]), Buffer.from('.txt')])),
    'user.x',
    Buffer.from('y'),
  );
  if (isRoot()) {
    // Linux refuses user.* attributes on symlinks; trusted.* needs CAP_SYS_ADMIN.
    const link = await b.symlink('xattrs/link', 'file');
    b.xattr(link, 'trusted.on-symlink', Buffer.from('link'), 'symlinkXattr');
  } else {
    b.skip('symlinkXattr', 'needs root (trusted.* attributes)');
  }
}

async function addModes(b: Builder): Promise<void> {
  await b.dir('modes');
  // Without root, a mode-0000 file could be neither backed up nor compared.
  const modes = isRoot() ? [0o600, 0o755, 0o444, 0o400, 0o000, 0o777] : [0o600, 0o755, 0o444, 0o400, 0o777];
  for (const mode of modes) {
    await b.file(`modes/file-${mode.toString(8).padStart(4, '0')}`, text(mode.toString(8)), {
      mode,
      cases: ['mode'],
    });
  }
  await b.dir('modes/dir-0700', { mode: 0o700, cases: ['mode'] });
  await b.file('modes/dir-0700/inside', text('inside 0700'));
  await b.dir('modes/dir-0555-read-only', { mode: 0o555, cases: ['mode', 'readOnlyDir'] });
  await b.file('modes/dir-0555-read-only/inside', text('inside a read-only directory'));
  await b.dir('modes/dir-0555-read-only/sub', { mode: 0o500, cases: ['readOnlyDir'] });
  await b.file('modes/dir-0555-read-only/sub/inside', text('two read-only levels down'));
  await b.file('modes/setuid', text('setuid'), { mode: 0o4755, cases: ['specialBits'] });
  await b.file('modes/setgid', text('setgid'), { mode: 0o2755, cases: ['specialBits'] });
  await b.file('modes/sticky-file', text('sticky'), { mode: 0o1644, cases: ['specialBits'] });
  await b.file('modes/all-bits', text('7777'), { mode: 0o7777, cases: ['specialBits'] });
  await b.dir('modes/setgid-dir', { mode: 0o2775, cases: ['specialBits'] });
  await b.file('modes/setgid-dir/inside', text('inside setgid dir'));
  await b.dir('modes/sticky-dir', { mode: 0o1777, cases: ['specialBits'] });
  await b.file('modes/sticky-dir/inside', text('inside sticky dir'));
}

async function addTimes(b: Builder): Promise<void> {
  await b.dir('times');
  const at = (atimeNs: bigint, mtimeNs: bigint) => ({ atimeNs, mtimeNs });
  await b.file('times/before-1970', text('1966'), {
    times: at(-1n * secondNs + 1n, -123_456_789_987_654_321n),
    cases: ['extremeTimes'],
  });
  await b.file('times/epoch', text('1970'), { times: at(0n, 0n), cases: ['extremeTimes'] });
  await b.file('times/after-2038', text('2100'), {
    times: at(4_102_444_800n * secondNs + 999_999_999n, 4_102_444_800n * secondNs + 1n),
    cases: ['extremeTimes'],
  });
  await b.file('times/whole-seconds', text('no fraction'), {
    times: at(1_600_000_000n * secondNs, 1_500_000_000n * secondNs),
    cases: ['extremeTimes'],
  });
  await b.symlink('times/link-before-1970', 'before-1970', {
    times: at(-2n * secondNs, -86_400n * secondNs + 7n),
    cases: ['extremeTimes'],
  });
}

async function addSpecialFiles(b: Builder): Promise<void> {
  await b.dir('specials');
  await b.special('specials/fifo', (abs) => runOk('mkfifo', ['--', abs]).then(() => {}), {
    mode: 0o640,
    cases: ['fifo'],
  });
  try {
    await b.special('specials/socket', makeSocket, { mode: 0o755, cases: ['socket'] });
  } catch (err) {
    if (!isErrno(err, 'EXDEV')) throw err;
    b.skip('socket', 'the temp directory is on another filesystem than the fixture');
  }
  if (isRoot()) {
    const mknod = (type: string, major: number, minor: number) => (abs: string) =>
      runOk('mknod', ['--', abs, type, String(major), String(minor)]).then(() => {});
    await b.special('specials/char-null', mknod('c', 1, 3), { mode: 0o666, cases: ['charDevice'] });
    await b.special('specials/block-loop200', mknod('b', 7, 200), { mode: 0o660, cases: ['blockDevice'] });
  } else {
    b.skip('charDevice', 'needs root (mknod)');
    b.skip('blockDevice', 'needs root (mknod)');
  }
}

/**
 * A socket file left behind by a closed listener. Node removes a listener's socket on
 * close and socket paths are limited to 108 bytes, so listen on a short path and keep a
 * hard link.
 */
async function makeSocket(abs: string): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'arca-sock-'));
  const listenPath = path.join(dir, 's');
  const server = net.createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(listenPath, resolve);
    });
    await link(listenPath, abs);
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rmdir(dir).catch(() => {});
  }
}

async function addOwners(b: Builder): Promise<void> {
  if (!isRoot()) {
    b.skip('foreignOwner', 'needs root (lchown)');
    return;
  }
  await b.dir('owners');
  const cases: FixtureCase[] = ['foreignOwner'];
  b.owner(await b.file('owners/file-1234-5678', text('owned by 1234:5678'), { cases }), 1234, 5678);
  b.owner(await b.file('owners/group-only', text('owned by 0:5678'), { cases }), 0, 5678);
  const dir = await b.dir('owners/dir-1234-5678', { mode: 0o750, cases });
  b.owner(dir, 1234, 5678);
  await b.file('owners/dir-1234-5678/inside', text('in a foreign-owned directory'));
  b.owner(await b.symlink('owners/link-1234-5678', 'file-1234-5678', { cases }), 1234, 5678);
  // Restoring this needs chown before chmod: chown clears the setuid bit.
  const setuid = await b.file('owners/setuid-foreign', text('setuid, foreign owner'), {
    mode: 0o4755,
    cases: [...cases, 'specialBits'],
  });
  b.owner(setuid, 1234, 5678);
}
