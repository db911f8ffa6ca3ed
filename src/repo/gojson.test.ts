import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ArcaError } from '../errors.js';
import {
  clampGoYear,
  encodeGoString,
  formatGoTime,
  goBase64,
  goQuoteName,
  goTimeFromNs,
  goTimeToNs,
  goUint,
  goUnquoteName,
  parseGoTime,
  parseJson,
} from './gojson.js';

const bytes = (...b: number[]): Buffer => Buffer.from(b);
const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');

/** Deterministic PRNG (mulberry32) so failures reproduce. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('goQuoteName matches strconv.Quote (Go quote_test vectors and more)', () => {
  const cases: [Buffer, string][] = [
    [bytes(), ''],
    [utf8('plain name.txt'), 'plain name.txt'],
    [utf8('\x07\x08\x0c\r\n\t\v'), '\\a\\b\\f\\r\\n\\t\\v'],
    [utf8('\\'), '\\\\'],
    [utf8('"'), '\\"'],
    [utf8("it's"), "it's"],
    [Buffer.concat([utf8('abc'), bytes(0xff), utf8('def')]), 'abc\\xffdef'],
    [utf8('\u263a'), '\u263a'],
    [utf8('\u{10ffff}'), '\\U0010ffff'],
    [utf8('\x04'), '\\x04'],
    [utf8('!\u00a0!\u2000!\u3000!'), '!\\u00a0!\\u2000!\\u3000!'],
    [utf8('\x7f'), '\\x7f'],
    [utf8('\x00\x1b'), '\\x00\\x1b'],
    [utf8('\u0080\u009f\u0085'), '\\u0080\\u009f\\u0085'],
    [utf8('soft\u00adhyphen'), 'soft\\u00adhyphen'],
    [utf8('a\u2028b\u2029c'), 'a\\u2028b\\u2029c'],
    [utf8('zw\u200bj\u200dr\u200f'), 'zw\\u200bj\\u200dr\\u200f'],
    [utf8('\ue000\ufffe\u0378'), '\\ue000\\ufffe\\u0378'],
    [utf8('\u{e0001}\u{f0000}'), '\\U000e0001\\U000f0000'],
    [utf8('\ufffd'), '\ufffd'],
    [utf8('e\u0301 ünïcödé 日本語 emoji😀 ¡ÿ'), 'e\u0301 ünïcödé 日本語 emoji😀 ¡ÿ'],
    [utf8('&amp<>'), '&amp<>'],
    // Go's DecodeRune consumes one byte per invalid sequence: overlong, surrogate, > U+10FFFF, truncated.
    [bytes(0xc0, 0x80), '\\xc0\\x80'],
    [bytes(0xed, 0xa0, 0x80), '\\xed\\xa0\\x80'],
    [bytes(0xf4, 0x90, 0x80, 0x80), '\\xf4\\x90\\x80\\x80'],
    [bytes(0xe0, 0x80, 0x80), '\\xe0\\x80\\x80'],
    [bytes(0xf0, 0x80, 0x80, 0x80), '\\xf0\\x80\\x80\\x80'],
    [bytes(0xe2, 0x82, 0x41), '\\xe2\\x82A'],
    [bytes(0xe2, 0x82), '\\xe2\\x82'],
    [bytes(0xf0, 0x9f, 0x98), '\\xf0\\x9f\\x98'],
    [bytes(0x80, 0xbf, 0xf5, 0xfe, 0xff), '\\x80\\xbf\\xf5\\xfe\\xff'],
    [bytes(0xc2, 0xa1, 0xef, 0xbf, 0xbd, 0xf4, 0x8f, 0xbf, 0xbf), '¡\ufffd\\U0010ffff'],
  ];
  for (const [input, want] of cases) {
    assert.equal(goQuoteName(input), want, `quote of ${input.toString('hex')}`);
    assert.deepEqual(goUnquoteName(want), input, `unquote of ${JSON.stringify(want)}`);
  }
});

test('goQuoteName reads a Buffer view at its offset', () => {
  const big = utf8('xxa\tbyy');
  assert.equal(goQuoteName(big.subarray(2, 5)), 'a\\tb');
  assert.equal(goQuoteName(big.subarray(0, 2)), 'xx');
});

test('goUnquoteName follows strconv.Unquote', () => {
  const ok: [string, Buffer][] = [
    ['', bytes()],
    ['\\x61\\x62', utf8('ab')],
    ['\\xFF\\xfe', bytes(0xff, 0xfe)],
    ['\\u263a\\U0001F600', utf8('\u263a\u{1f600}')],
    ['\\u0041', utf8('A')],
    ['\\000\\101\\377', bytes(0x00, 0x41, 0xff)],
    ['\\a\\b\\f\\n\\r\\t\\v\\\\\\"', utf8('\x07\b\f\n\r\t\v\\"')],
    ['raw\ttab and ünï', utf8('raw\ttab and ünï')],
    // Old restic stored names unquoted: no backslash, nothing to undo (Go would reject the quote).
    ['old "plain" name', utf8('old "plain" name')],
    ['lone\ud800\\x41', Buffer.concat([utf8('lone'), bytes(0xef, 0xbf, 0xbd, 0x41)])],
  ];
  for (const [input, want] of ok) assert.deepEqual(goUnquoteName(input), want, JSON.stringify(input));

  const bad = [
    '\\',
    'a\\',
    "\\'",
    '\\x4',
    '\\xzz',
    '\\u12',
    '\\u12g4',
    '\\U0011ffff',
    '\\ud800',
    '\\udfff',
    '\\400',
    '\\08',
    '\\1',
    '\\q',
    '\\x41"',
    '\\x41\n',
  ];
  for (const input of bad) {
    assert.throws(
      () => goUnquoteName(input),
      (err: unknown) =>
        err instanceof ArcaError && err.code === 'corrupt' && /malformed quoted name/.test(err.message),
      JSON.stringify(input),
    );
  }
});

test('1000 seeded random byte strings round-trip through goQuoteName/goUnquoteName and JSON', () => {
  const next = rng(0x61726361);
  const pieces = [
    () => Math.floor(next() * 256),
    () => 0x20 + Math.floor(next() * 0x5f),
    () => [...utf8(String.fromCodePoint(0x80 + Math.floor(next() * 0x780)))],
    () => [...utf8(String.fromCodePoint(0x800 + Math.floor(next() * 0xd000)))],
    () => [...utf8(String.fromCodePoint(0x10000 + Math.floor(next() * 0x100000)))],
  ];
  for (let n = 0; n < 1000; n++) {
    const parts: number[] = [];
    const len = Math.floor(next() * 24);
    for (let i = 0; i < len; i++) parts.push(...[pieces[Math.floor(next() * pieces.length)]!()].flat());
    const raw = Buffer.from(parts);
    const quoted = goQuoteName(raw);
    assert.deepEqual(goUnquoteName(quoted), raw, raw.toString('hex'));
    const viaJson = JSON.parse(encodeGoString(quoted)) as string;
    assert.equal(viaJson, quoted);
    assert.deepEqual(goUnquoteName(viaJson), raw);
  }
});

test('encodeGoString matches encoding/json', () => {
  const cases: [string | Buffer, string][] = [
    ['', '""'],
    ['plain', '"plain"'],
    ['a"b\\c/d', '"a\\"b\\\\c/d"'],
    ['\x00\x01\x08\x09\x0a\x0b\x0c\x0d\x1f\x7f', '"\\u0000\\u0001\\b\\t\\n\\u000b\\f\\r\\u001f\x7f"'],
    ['<a href="x">&amp;</a>', '"\\u003ca href=\\"x\\"\\u003e\\u0026amp;\\u003c/a\\u003e"'],
    ['a\u2028b\u2029c\u0085', '"a\\u2028b\\u2029c\u0085"'],
    ['ünïcödé 日本語 emoji😀', '"ünïcödé 日本語 emoji😀"'],
    [
      'lone \ud800 x \udc00 rev \udc00\ud800 end\ud83d',
      '"lone \\ufffd x \\ufffd rev \\ufffd\\ufffd end\\ufffd"',
    ],
    [bytes(0x61, 0xff, 0xfe, 0x62), '"a\\ufffd\\ufffdb"'],
    [bytes(0xed, 0xa0, 0x80), '"\\ufffd\\ufffd\\ufffd"'],
    [utf8('ü<\u2028\n😀'), '"ü\\u003c\\u2028\\n😀"'],
  ];
  for (const [input, want] of cases) assert.equal(encodeGoString(input), want, JSON.stringify(input));
  for (let c = 0; c < 0x80; c++) {
    const s = String.fromCharCode(c);
    assert.equal(JSON.parse(encodeGoString(s)), s);
    assert.equal(encodeGoString(utf8(s)), encodeGoString(s));
  }
});

test('formatGoTime writes RFC 3339 the way Go does', () => {
  const cases: [bigint, number, number, string][] = [
    [0n, 0, 0, '1970-01-01T00:00:00Z'],
    [0n, 500_000_000, 0, '1970-01-01T00:00:00.5Z'],
    [0n, 1, 0, '1970-01-01T00:00:00.000000001Z'],
    [0n, 120_000, 0, '1970-01-01T00:00:00.00012Z'],
    [-1n, 999_999_999, 0, '1969-12-31T23:59:59.999999999Z'],
    [1700000000n, 123_456_789, 120, '2023-11-15T00:13:20.123456789+02:00'],
    [1700000000n, 0, -330, '2023-11-14T16:43:20-05:30'],
    [1709164800n, 0, 0, '2024-02-29T00:00:00Z'],
    [951782400n, 0, 0, '2000-02-29T00:00:00Z'],
    [-62167219200n, 0, 0, '0000-01-01T00:00:00Z'],
    [253402300799n, 999_999_999, 0, '9999-12-31T23:59:59.999999999Z'],
    [-2208988800n, 0, 0, '1900-01-01T00:00:00Z'],
  ];
  for (const [sec, nsec, offsetMinutes, want] of cases) {
    assert.equal(formatGoTime({ sec, nsec, offsetMinutes }), want);
    assert.deepEqual(parseGoTime(want), { sec, nsec, offsetMinutes });
  }
  assert.equal(formatGoTime({ sec: 0n, nsec: 0 }), '1970-01-01T00:00:00Z');
  assert.throws(() => formatGoTime({ sec: 253402300800n, nsec: 0 }), RangeError);
  assert.throws(() => formatGoTime({ sec: -62167219201n, nsec: 0 }), RangeError);
  assert.throws(() => formatGoTime({ sec: 0n, nsec: 1e9 }), RangeError);
  assert.throws(() => formatGoTime({ sec: 0n, nsec: 0, offsetMinutes: 24 * 60 }), RangeError);
});

test('clampGoYear is restic fixTime', () => {
  const clampFmt = (sec: bigint, nsec: number, offsetMinutes?: number) =>
    formatGoTime(clampGoYear({ sec, nsec, offsetMinutes }));
  assert.equal(clampFmt(1n << 40n, 5, 0), '9999-12-31T23:59:59.999999999Z');
  assert.equal(clampFmt(1n << 40n, 5, 60), '9999-12-31T23:59:59.999999999+01:00');
  assert.equal(clampFmt(-(1n << 40n), 5, 0), '0000-01-01T00:00:00Z');
  assert.equal(clampFmt(-(1n << 40n), 5, -90), '0000-01-01T00:00:00-01:30');
  // The year is judged in the time's own zone, as Go's t.Year() does.
  assert.equal(clampFmt(253402300799n, 0, 60), '9999-12-31T23:59:59.999999999+01:00');
  assert.equal(clampFmt(253402300799n, 0, -60), '9999-12-31T22:59:59-01:00');
  const inRange = { sec: 1700000000n, nsec: 7, offsetMinutes: 0 };
  assert.equal(clampGoYear(inRange), inRange);
});

test('parseGoTime is exact and strict', () => {
  assert.deepEqual(parseGoTime('2026-11-27T09:32:25.95515636Z'), {
    sec: 1795771945n,
    nsec: 955156360,
    offsetMinutes: 0,
  });
  assert.deepEqual(parseGoTime('2026-11-27T10:32:25.1+01:00').sec, 1795771945n);
  assert.equal(parseGoTime('2026-11-27T09:32:25-00:00').offsetMinutes, 0);
  assert.equal(goTimeToNs(parseGoTime('1969-12-31T23:59:59.999999999Z')), -1n);
  assert.equal(goTimeToNs(parseGoTime('2262-04-11T23:47:16.854775807Z')), (1n << 63n) - 1n);
  for (const bad of [
    '',
    '2024-01-01T00:00:00',
    '2024-01-01 00:00:00Z',
    '2024-01-01t00:00:00Z',
    '2024-01-01T00:00:00z',
    '2024-01-01T00:00:00.Z',
    '2024-01-01T00:00:00.1234567890Z',
    '2024-13-01T00:00:00Z',
    '2024-00-01T00:00:00Z',
    '2023-02-29T00:00:00Z',
    '1900-02-29T00:00:00Z',
    '2024-04-31T00:00:00Z',
    '2024-01-01T24:00:00Z',
    '2024-01-01T00:60:00Z',
    '2024-01-01T00:00:60Z',
    '2024-01-01T00:00:00+24:00',
    '2024-01-01T00:00:00+01:60',
    '2024-01-01T00:00:00+0100',
    '+12024-01-01T00:00:00Z',
  ]) {
    assert.throws(
      () => parseGoTime(bad),
      (err: unknown) => err instanceof ArcaError && err.code === 'corrupt',
      bad,
    );
  }
});

test('random times round-trip and agree with Date', () => {
  const next = rng(2006);
  const min = -62167219200n * 1_000_000_000n;
  const span = 253402300800n * 1_000_000_000n - min;
  for (let n = 0; n < 1000; n++) {
    const ns =
      min + (span * BigInt(Math.floor(next() * 2 ** 32))) / 2n ** 32n + BigInt(Math.floor(next() * 1e9));
    const offsetMinutes = n % 3 === 0 ? 0 : Math.floor(next() * 2 * 1439) - 1439;
    const t = clampGoYear(goTimeFromNs(ns, offsetMinutes));
    const text = formatGoTime(t);
    const back = parseGoTime(text);
    assert.deepEqual(back, { sec: t.sec, nsec: t.nsec, offsetMinutes: t.offsetMinutes ?? 0 }, text);
    assert.equal(formatGoTime(back), text);
    if (offsetMinutes === 0) {
      const ms = Number(t.sec) * 1000 + Math.floor(t.nsec / 1e6);
      const iso = new Date(ms).toISOString();
      if (!iso.startsWith('-') && !iso.startsWith('+'))
        assert.equal(text.slice(0, 19), iso.slice(0, 19), text);
    }
  }
  assert.deepEqual(goTimeFromNs(-1n), { sec: -1n, nsec: 999_999_999, offsetMinutes: 0 });
});

test('parseJson keeps uint64 precision', () => {
  assert.deepEqual(parseJson('{"a":1,"b":[2.5,-3,"x"],"c":null,"d":true}'), {
    a: 1,
    b: [2.5, -3, 'x'],
    c: null,
    d: true,
  });
  const tree = parseJson(
    '{"nodes":[{"inode":18446744073709551615,"device_id":9007199254740993,"size":9007199254740991,' +
      '"links":-9223372036854775808,"mtime":"x:1234567890123456789","f":1.5e300,"g":1234567890123456.5}]}',
  ) as { nodes: Record<string, unknown>[] };
  const node = tree.nodes[0]!;
  assert.equal(node['inode'], 18446744073709551615n);
  assert.equal(node['device_id'], 9007199254740993n);
  assert.equal(node['size'], 9007199254740991);
  assert.equal(node['links'], -9223372036854775808n);
  assert.equal(node['mtime'], 'x:1234567890123456789');
  assert.equal(node['f'], 1.5e300);
  assert.equal(node['g'], 1234567890123456.5);
  assert.equal(parseJson('12345678901234567890'), 12345678901234567890n);
  assert.deepEqual(parseJson(' [ 12345678901234567890 ]\n'), [12345678901234567890n]);
  assert.throws(() => parseJson('{"a":'), SyntaxError);
  assert.throws(() => parseJson('{"a":12345678901234567890'), SyntaxError);
});

test('goUint and goBase64', () => {
  assert.equal(goUint(0), '0');
  assert.equal(goUint(420), '420');
  assert.equal(goUint(Number.MAX_SAFE_INTEGER), '9007199254740991');
  assert.equal(goUint(18446744073709551615n), '18446744073709551615');
  for (const bad of [-1, 1.5, Number.NaN, 2 ** 60, -1n, 1n << 64n])
    assert.throws(() => goUint(bad), RangeError);
  assert.equal(goBase64(bytes()), '');
  assert.equal(goBase64(bytes(0xff)), '/w==');
  assert.equal(goBase64(utf8('user.comment')), 'dXNlci5jb21tZW50');
  assert.equal(goBase64(new Uint8Array([0, 1, 0xfb, 0xff]).subarray(1, 3)), 'Afs=');
});

// ---- vectors from the real restic binary -------------------------------------------------

const resticMissingMessage = 'restic is not installed (apt-get install restic)';

function _hasRestic(): boolean {
  try {
    execFileSync('restic', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const vectorNames: Buffer[] = [
  'we"ird<name>',
  'back\\slash',
  'tab\there',
  'newline\nname',
  'ünïcödé',
  '日本語',
  'emoji😀',
  'soft\u00adhyphen',
  'a\u2028b',
  '&amp<>',
  'ctl\x01',
  'bell\x07del\x7fesc\x1b[0m',
  'vt\vff\fbs\bcr\r',
  'nbsp\u00a0c1\u0085',
  'zwj\u200drlm\u200f',
  'tag\u{e0001}pua\ue000',
  'unassigned\u0378nonchar\ufffe',
  'repl\ufffd',
  'e\u0301',
  'octal\\101hex\\x41',
  "quote's",
].map(utf8);
vectorNames.push(bytes(0x66, 0xff, 0xfe, 0x66));
vectorNames.push(bytes(0x61, 0xc0, 0x80, 0xed, 0xa0, 0x80, 0xe2, 0x82, 0x62, 0xf4, 0x90, 0x80, 0x80));

interface ResticNode {
  name: string;
  type: string;
  mtime: string;
  atime: string;
  ctime: string;
  inode?: number | bigint;
  subtree?: string;
}

test('vectors from real restic: names, times and inodes', (t) => {
  if (!_hasRestic()) {
    if (process.env['CI'] === 'true') assert.fail(resticMissingMessage);
    t.skip(resticMissingMessage);
    return;
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'arca-gojson-'));
  try {
    const passwordFile = path.join(tmp, 'password');
    fs.writeFileSync(passwordFile, 'gojson-test\n');
    const restic = (...args: string[]): Buffer =>
      execFileSync(
        'restic',
        ['-r', path.join(tmp, 'repo'), '--password-file', passwordFile, '--no-cache', ...args],
        {
          cwd: tmp,
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
    restic('init', '--quiet');
    const dir = path.join(tmp, 'names');
    fs.mkdirSync(dir);
    const pathOf = (name: Buffer) => Buffer.concat([utf8(dir + '/'), name]);
    for (const name of vectorNames) fs.writeFileSync(pathOf(name), name);
    restic('backup', '--quiet', 'names');

    const snapshots = JSON.parse(restic('snapshots', '--json').toString()) as { id: string }[];
    assert.equal(snapshots.length, 1);
    const snapshotText = restic('cat', 'snapshot', snapshots[0]!.id).toString();
    const snapshot = parseJson(snapshotText) as { time: string; tree: string };
    assert.equal(formatGoTime(parseGoTime(snapshot.time)), snapshot.time);

    const root = parseJson(restic('cat', 'blob', snapshot.tree).toString()) as { nodes: ResticNode[] };
    const dirNode = root.nodes.find((n) => n.name === 'names');
    assert.ok(dirNode?.subtree, 'root tree has the backed-up directory');
    const raw = restic('cat', 'blob', dirNode.subtree);
    const tree = parseJson(raw.toString('utf8')) as { nodes: ResticNode[] };

    // (a) every name decodes back to its exact bytes, and nothing else is there
    const got = tree.nodes.map((n) => goUnquoteName(n.name).toString('hex')).sort();
    const want = vectorNames.map((n) => n.toString('hex')).sort();
    assert.deepEqual(got, want);

    for (const node of tree.nodes) {
      const name = goUnquoteName(node.name);
      // (b) our Quote + JSON encoding of the name is byte-identical to restic's
      const encoded = '{"name":' + encodeGoString(goQuoteName(name)) + ',"type":"file",';
      assert.ok(raw.includes(utf8(encoded)), `restic bytes contain ${encoded}`);
      const st = fs.lstatSync(pathOf(name), { bigint: true });
      // (c) times round-trip byte-exactly and agree with lstat to the nanosecond
      for (const field of ['mtime', 'atime', 'ctime'] as const) {
        assert.equal(formatGoTime(parseGoTime(node[field])), node[field]);
      }
      assert.equal(goTimeToNs(parseGoTime(node.mtime)), st.mtimeNs);
      assert.equal(goTimeToNs(parseGoTime(node.ctime)), st.ctimeNs);
      // (d) inode is exact
      assert.ok(node.inode !== undefined);
      assert.equal(BigInt(node.inode), st.ino);
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
