import assert from 'node:assert/strict';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { restic, resticBackup, resticInit, writePasswordFile } from '../../test/support/restic.js';
import { tempDir } from '../../test/support/tmp.js';
import { requireTool } from '../../test/support/tools.js';
import { ArcaError } from '../errors.js';
import {
  childMayMatch,
  type FilterPath,
  makeRestoreSelector,
  match,
  PathFilter,
  parsePatternFile,
  type RestoreFilterOptions,
} from './filter.js';

const bytes = (...parts: (string | number)[]): Buffer =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from([p]))));

function checkTable(
  fn: (pattern: FilterPath, path: FilterPath) => boolean,
  cases: [string, string, boolean][],
) {
  for (const [pattern, p, want] of cases) {
    assert.equal(fn(pattern, p), want, `${fn.name}(${JSON.stringify(pattern)}, ${JSON.stringify(p)})`);
  }
}

test('match: globs per component, relative patterns at any depth, parents match', () => {
  checkTable(match, [
    ['', '/anything/at/all', true],
    ['*.txt', '/home/ann/notes.txt', true],
    ['*.txt', '/home/ann/notes.md', false],
    ['*', '/home/ann/notes.txt', true],
    ['**', '/home/ann/notes.txt', true],
    ['ann*', '/home/ann/notes.txt', true],
    ['home', '/home/ann/notes.txt', true],
    ['ann/notes.txt', '/home/ann/notes.txt', true],
    ['ann/*.txt', '/home/ann/notes.txt', true],
    ['an?/*.txt', '/home/ann/notes.txt', true],
    ['bob/*.txt', '/home/ann/notes.txt', false],
    ['Notes.*', '/home/ann/notes.txt', false],
    ['*/notes.txt', '/home/ann/notes.txt', true],
    ['home/notes.txt', '/home/ann/notes.txt', false],
    // `*` never crosses a `/`.
    ['home*notes.txt', '/home/ann/notes.txt', false],
    ['ann', '/home/ann/notes.txt', true],
    ['ann', '/home/anna', false],
    ['notes.txt', 'rel/ann/notes.txt', true],
    ['ann/*', 'rel/ann/notes.txt', true],
    ['src', '/x/src/lib/deep/file.ts', true],
  ]);
});

test('match: a leading / anchors at the root; patterns are cleaned like filepath.Clean', () => {
  checkTable(match, [
    ['/home', '/home/ann/notes.txt', true],
    ['/ann', '/home/ann/notes.txt', false],
    ['/home/ann', '/home/ann', true],
    ['/home/ann/', '/home/ann', true],
    ['/home//ann', '/home/ann/x', true],
    ['/home/./ann', '/home/ann/x', true],
    ['/home/bob/../ann', '/home/ann/x', true],
    ['/home/bob/../ann', '/home/bob/ann', false],
    ['/../home', '/home', true],
    ['/home/ann', '/home/bob', false],
    ['/home/ann', '/home/bob/', false],
    ['/home/*', '/home', false],
    ['/home/*', '/home/ann', true],
    ['/home/*/notes.*', '/home/ann/notes.txt', true],
    ['/home/*notes.*', '/home/ann/notes.txt', false],
    ['/*/*/x/notes.*', '/home/ann/notes.txt', false],
    ['/*/*/x/notes.*', '/home/ann/x/notes.txt', true],
    ['/home/ann/notes.txt', 'home/ann/notes.txt', false],
    ['C:/data', 'C:/data/file', true],
    ['C:/data/*/f', 'C:/data/x/f', true],
    // restic's quirk: "/" cleans to a root followed by an empty part, which acts as `**`.
    ['/', '/home/ann', true],
    ['/', 'relative/path', false],
  ]);
});

test('match: ** stands for zero or more components', () => {
  checkTable(match, [
    ['src/**/test/*.ts', '/repo/src/a/b/c/test/x.ts', true],
    ['src/**/test/*.ts', '/repo/src/test/x.ts', true],
    ['src/**/test/*.ts', 'src/test/x.ts', true],
    ['src/**/test/*.ts', 'src/test/y/test/x.ts', true],
    ['src/**/test/*.ts', '/repo/src/x.ts', false],
    ['src/**/test/*.ts', 'test/src/x.ts', false],
    ['src/**/test', '/repo/src/a/test/deeper/file', true],
    ['a/**/b/**/c', '/a/x/y/b/z/c', true],
    ['a/**/b/**/c', '/a/b/c', true],
    ['a/**/b/**/c', '/a/c/b', false],
    ['a/**', '/x/a', true],
    ['**/a', '/x/a/y', true],
    ['/**/a', '/a', true],
    ['/**', '/', true],
    ['/x/**', '/x', true],
    ['/x/**', '/y/x', false],
    ['**', '/', true],
  ]);
});

test('childMayMatch: relative patterns always may; absolute ones when the path is on their way', () => {
  checkTable(childMayMatch, [
    ['', '/x', true],
    ['deep/file', '/anything', true],
    ['*', '/a/b', true],
    ['/a/b/c', '/a', true],
    ['/a/b/c', '/a/b', true],
    ['/a/b/c', '/a/x', false],
    ['/a/b/c', '/z', false],
    ['/a/b', '/a/b/c/d', true],
    ['/a/b', '/a/c/d', false],
    ['/a/*/c', '/a/q', true],
    ['/a/*/c', '/a/q/r', false],
    ['/a/*/c', '/a/q/c/r', true],
    ['/a/**/c', '/a/q/r/s', true],
    ['/a/**/c', '/b/q', false],
    ['/a/**', '/a/q/r', true],
    ['/**/c', '/anything/else', true],
    ['/*/c', '/q', true],
    ['/x/*', '/y', false],
  ]);
});

test('globs follow Go filepath.Match: classes, ranges, ^ negation, escapes, runes', () => {
  checkTable(match, [
    ['[abc].txt', '/b.txt', true],
    ['[abc].txt', '/d.txt', false],
    ['[a-c]x', '/bx', true],
    ['[a-cx-z]1', '/y1', true],
    ['[^a-c]x', '/bx', false],
    ['[^a-c]x', '/dx', true],
    // Go has no `!` negation: [!x] is the class of '!' and 'x'.
    ['[!x]', '/x', true],
    ['[!x]', '/y', false],
    ['[!x]', '/!', true],
    ['\\*', '/*', true],
    ['\\*', '/a', false],
    ['a\\?', '/a?', true],
    ['a\\?', '/ab', false],
    ['[\\]]', '/]', true],
    ['[\\-]', '/-', true],
    ['[[]x]', '/[x]', true],
    ['[*]', '/*', true],
    ['[*]', '/a', false],
    ['a]', '/a]', true],
    ['[z-a]', '/m', false],
    ['?', '/é', true],
    ['??', '/é', false],
    ['[à-ü]', '/é', true],
    ['caf?', '/café', true],
    ['*é', '/café', true],
    ['*?', '/x', true],
    ['a*b*c', '/aXbYbZc', true],
    ['a*b*c', '/aXbYbZ', false],
    ['*.*.gz', '/a.tar.gz', true],
    ['*x', '/xxxxy', false],
  ]);
});

test('byte paths match as restic matches Go strings, including names that are not UTF-8', () => {
  const latin1Name = bytes('/data/caf', 0xe9, '.txt');
  assert.equal(match('caf?.txt', latin1Name), true, 'an invalid byte is one rune for ?');
  assert.equal(match('caf[^e].txt', latin1Name), true, 'and U+FFFD for a class');
  assert.equal(match('caf[\ufffd].txt', latin1Name), true);
  assert.equal(match('café.txt', latin1Name), false, 'a string pattern is UTF-8');
  assert.equal(match(bytes('caf', 0xe9, '.txt'), latin1Name), true, 'byte patterns compare bytes');
  assert.equal(match('/data', latin1Name), true);
  assert.equal(match('café.txt', bytes('/data/café.txt')), true);
  assert.equal(match('café.txt', '/data/café.txt'), true);
  const view = bytes('xx/a/b.txt').subarray(2);
  assert.equal(match('/a/*.txt', view), true, 'a view is read at its offset');
  assert.equal(new PathFilter(['*.txt']).matches(latin1Name), true);
});

test('PathFilter: any pattern matches; ! patterns cancel earlier matches; empty patterns are ignored', () => {
  const cases: [string[], string, boolean, boolean][] = [
    [[], '/a/b', false, false],
    [[''], '/a/b', false, false],
    [['', '*.c'], '/a/b.go', false, true],
    [['*.go'], '/a/b.go', true, true],
    [['*.go'], '/a', false, true],
    [['*.c', '*.go'], '/a/b.go', true, true],
    [['x', '?'], '/a/x', true, true],
    [['/*/*/b/t.*'], '/a/b/t.go', false, false],
    [['/*/*/b/t.*'], '/a/b/b', false, true],
    [['/a/**/t.c'], '/a/b/a/b/t.c', true, true],
    [['/a/*/t.c'], '/a/b/a/b/t.c', false, false],
    [['/a/*/t.c', '*.c'], '/a/b/a/b/t.c', true, true],
    [['/a', '!/a/x'], '/a/b', true, true],
    [['/a', '!/a/x'], '/a/x', false, false],
    [['/a', '!/a/x'], '/a/x/deep', false, false],
    [['/a', '!/a/x', '/a/x/keep'], '/a/x/keep', true, true],
    [['*.log', '!important.log'], '/var/important.log', false, false],
    [['*.log', '!important.log'], '/var/other.log', true, true],
    [['!*.log', '*.log'], '/var/other.log', true, true],
    [['/home/*', '!/home/ann'], '/home', false, true],
  ];
  for (const [patterns, p, wantMatch, wantChild] of cases) {
    const f = new PathFilter(patterns);
    const what = `${JSON.stringify(patterns)} on ${p}`;
    assert.deepEqual(f.matchWithChild(p), { matched: wantMatch, childMayMatch: wantChild }, what);
    assert.equal(f.matches(p), wantMatch, what);
    assert.equal(f.childMayMatch(p), wantChild, what);
  }
  assert.equal(new PathFilter(['', '']).empty, true);
  assert.equal(new PathFilter(['x']).empty, false);
});

test('PathFilter caseInsensitive lowers patterns and paths as Go strings.ToLower does', () => {
  const f = new PathFilter(['/Home/*/NOTES.txt', 'ÉTÉ'], { caseInsensitive: true });
  assert.equal(f.matches('/home/ann/notes.TXT'), true);
  assert.equal(f.matches('/HOME/Ann/Notes.Txt'), true);
  assert.equal(f.matches('/x/été/y'), true);
  assert.equal(f.matches('/x/ÉtÉ'), true);
  assert.equal(new PathFilter(['/Home']).matches('/home'), false);
  // Go lowers rune by rune: Σ is always σ (no final ς), İ is i.
  assert.equal(new PathFilter(['ΟΔΟΣ*'], { caseInsensitive: true }).matches('/ΟΔΟΣΑ'), true);
  assert.equal(new PathFilter(['İ'], { caseInsensitive: true }).matches('/i'), true);
  // ToLower turns invalid bytes into U+FFFD.
  assert.equal(new PathFilter(['caf\ufffd'], { caseInsensitive: true }).matches(bytes('/CAF', 0xe9)), true);
});

test('invalid patterns are rejected up front with an ArcaError naming each of them', () => {
  const invalid = [
    '[',
    'a/[b',
    'x/**/[',
    'a\\',
    '[]',
    '[^]',
    '[a-]',
    '[-a]',
    '[z',
    '[\\',
    '!foo/[',
    'ok/[a-',
  ];
  for (const pattern of invalid) {
    assert.throws(
      () => new PathFilter([pattern]),
      (err: unknown) =>
        err instanceof ArcaError && err.code === 'usage' && err.message.includes(`"${pattern}"`),
      pattern,
    );
    assert.throws(() => match(pattern, '/x'), ArcaError, pattern);
  }
  assert.throws(
    () => new PathFilter(['[', 'fine', 'b\\']),
    (err: unknown) =>
      err instanceof ArcaError &&
      /^invalid patterns "\[" \(unterminated character class.*\), "b\\" \(trailing backslash\)$/.test(
        err.message,
      ),
  );
  assert.throws(() => new PathFilter([bytes('[', 0xff, ']')]), /invalid UTF-8 in character class/);
  for (const valid of ['a]', '[\\]]', '[^^]', '\\[', '[a\\-z]', '**', '!', '/']) new PathFilter([valid]);
});

test('an empty path is a caller bug', () => {
  assert.throws(() => new PathFilter(['x']).matches(''), TypeError);
  assert.throws(() => match('x', ''), TypeError);
});

test('makeRestoreSelector applies restic 0.14 restore rules', () => {
  const all = makeRestoreSelector({});
  assert.deepEqual(all('/a', true), { selected: true, descend: true });
  assert.deepEqual(all('/a/f', false), { selected: true, descend: false });

  const inc = makeRestoreSelector({ include: ['/a/b', '*.log'] });
  assert.deepEqual(inc('/a', true), { selected: false, descend: true });
  assert.deepEqual(inc('/a/b', true), { selected: true, descend: true });
  assert.deepEqual(inc('/a/b/x', false), { selected: true, descend: false });
  assert.deepEqual(inc('/z/x.log', false), { selected: true, descend: false });
  assert.deepEqual(inc('/z/x.txt', false), { selected: false, descend: false });

  const absolute = makeRestoreSelector({ include: ['/a/b'] });
  assert.deepEqual(absolute('/z', true), { selected: false, descend: false }, 'subtree skipped');

  const both = makeRestoreSelector({ include: ['/A'], iinclude: ['/B'] });
  assert.deepEqual(both('/b', true), { selected: true, descend: true });
  assert.deepEqual(both('/a', true), { selected: false, descend: false });

  const exc = makeRestoreSelector({ exclude: ['*.log'], iexclude: ['TMP'] });
  assert.deepEqual(exc('/a', true), { selected: true, descend: true });
  assert.deepEqual(exc('/a/x.log', false), { selected: false, descend: false });
  assert.deepEqual(exc('/a/tmp', true), { selected: false, descend: false });
  assert.deepEqual(exc('/a/f', false), { selected: true, descend: false });

  assert.deepEqual(makeRestoreSelector({ include: [''] })('/a', true), { selected: false, descend: false });
  assert.deepEqual(makeRestoreSelector({ exclude: [''] })('/a', true), { selected: true, descend: true });

  assert.throws(
    () => makeRestoreSelector({ include: ['a'], iexclude: ['b'] }),
    (err: unknown) =>
      err instanceof ArcaError && err.message === 'exclude and include patterns are mutually exclusive',
  );
  assert.throws(
    () => makeRestoreSelector({ iinclude: ['ok', '[x'] }),
    (err: unknown) =>
      err instanceof ArcaError && err.code === 'usage' && err.message.startsWith('--iinclude: '),
  );
});

test('parsePatternFile reads lines like restic: trims, skips comments, expands $VAR', () => {
  const env = { HOME: '/home/ann', EMPTY: '', X: 'x' };
  const text = [
    '# comment',
    '',
    '   ',
    '  $HOME/cache  ',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: os.Expand syntax under test
    '${HOME}/.local',
    '$$literal',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: os.Expand syntax under test
    '${X}y$X',
    '$UNSET/a',
    'price$',
    'a$ b',
    'bad${x',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: os.Expand syntax under test
    'bad${}x',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: os.Expand syntax under test
    '${$}',
    '\t*.tmp\r',
    '!$HOME/keep',
    ' # not a comment after trimming? it is',
  ].join('\n');
  assert.deepEqual(parsePatternFile(text, env), [
    '/home/ann/cache',
    '/home/ann/.local',
    '$literal',
    'xyx',
    '/a',
    'price$',
    'a$ b',
    'badx',
    'badx',
    '$',
    '*.tmp',
    '!/home/ann/keep',
  ]);
  const utf8Bom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('a\nb\n')]);
  assert.deepEqual(parsePatternFile(utf8Bom, env), ['a', 'b']);
  const utf16le = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('x/é\r\ny', 'utf16le')]);
  assert.deepEqual(parsePatternFile(utf16le, env), ['x/é', 'y']);
  const utf16be = Buffer.from(
    Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from('q', 'utf16le')]).swap16(),
  );
  assert.deepEqual(parsePatternFile(Buffer.concat([Buffer.from([0xfe, 0xff]), utf16be.subarray(2)]), env), [
    'q',
  ]);
  assert.deepEqual(parsePatternFile('\u0085a\u0085\n\ufeffb', env), ['a', '\ufeffb']);
});

/** The files and directories below `root`, as snapshot paths ("/a/b"). */
async function listTree(root: string, prefix = ''): Promise<Set<string>> {
  const out = new Set<string>();
  for (const entry of await readdir(path.join(root, prefix), { withFileTypes: true })) {
    const p = `${prefix}/${entry.name}`;
    out.add(p);
    if (entry.isDirectory()) for (const q of await listTree(root, p)) out.add(q);
  }
  return out;
}

/** What restic's restorer creates under a selector: selected nodes and the directories above them. */
async function selectTree(root: string, select: ReturnType<typeof makeRestoreSelector>, prefix = '') {
  const out = new Set<string>();
  for (const entry of await readdir(path.join(root, prefix), { withFileTypes: true })) {
    const p = `${prefix}/${entry.name}`;
    const { selected, descend } = select(p, entry.isDirectory());
    if (selected) {
      for (let q = p; q !== ''; q = q.slice(0, q.lastIndexOf('/'))) out.add(q);
    }
    if (descend) for (const q of await selectTree(root, select, p)) out.add(q);
  }
  return out;
}

test('restore selection agrees with restic restore --include/--exclude', async (t) => {
  if (!requireTool(t, 'restic', 'restic')) return;
  const dir = await tempDir(t, 'filter');
  const src = path.join(dir, 'src');
  const files = [
    'a/b/c.txt',
    'a/b/d.log',
    'a/x/c.txt',
    'top.txt',
    'logs/2024/app.log',
    'foo/f.txt',
    'a/foo/g.txt',
    'Docs/ReadMe.MD',
    'café/Menü.txt',
    '[x].txt',
    'x.txt',
  ];
  for (const f of files) {
    await mkdir(path.dirname(path.join(src, f)), { recursive: true });
    await writeFile(path.join(src, f), f);
  }
  await mkdir(path.join(src, 'empty'));
  const repo = path.join(dir, 'repo');
  const passwordFile = await writePasswordFile(dir, 'filter-oracle');
  const cacheDir = path.join(dir, 'cache');
  await resticInit(repo, passwordFile);
  // Backing up "." from inside the tree stores it at the snapshot root: /a/b/c.txt.
  await resticBackup(repo, passwordFile, ['.'], { cwd: src });

  const cases: RestoreFilterOptions[] = [
    { include: ['c.txt'] },
    { include: ['/a/b'] },
    { include: ['*.log'] },
    { include: ['foo'] },
    { include: ['a/*/c.txt'] },
    { include: ['/logs/**/app.log'] },
    { include: ['**/foo'] },
    { include: ['/a', '!/a/x'] },
    { include: ['a', '!a/x', 'a/x/c.txt'] },
    { include: ['[a-b]'] },
    { include: ['[!x]'] },
    { include: ['?.txt'] },
    { include: ['[[]x].txt'] },
    { include: ['/*'] },
    { include: ['/'] },
    { include: ['**'] },
    { include: ['empty'] },
    { include: [''] },
    { include: ['/a/*', '!*.log'] },
    { include: ['/a/foo/../b'] },
    { include: ['café', 'Men?.txt'] },
    { include: ['/a/b/c.txt', '/top.txt'] },
    { iinclude: ['readme.md'] },
    { iinclude: ['DOCS', 'CAFÉ/menü.TXT'] },
    { include: ['x.txt'], iinclude: ['TOP.TXT'] },
    { exclude: ['foo'] },
    { exclude: ['*.log'] },
    { exclude: ['/a/b'] },
    { exclude: ['a/*', '!a/b'] },
    { exclude: ['a', '!a/b'] },
    { exclude: ['/'] },
    { exclude: ['**'] },
    { exclude: ['*'] },
    { exclude: [''] },
    { exclude: ['/a/**/c.txt'] },
    { exclude: ['b', 'x'] },
    { iexclude: ['DOCS'] },
    { iexclude: ['*.TXT'], exclude: ['empty'] },
  ];
  const flags = (opts: RestoreFilterOptions): string[] =>
    (['include', 'exclude', 'iinclude', 'iexclude'] as const).flatMap((flag) =>
      (opts[flag] ?? []).map((p) => `--${flag}=${String(p)}`),
    );

  // Each restic run spends most of its time deriving the key, so a few run side by side.
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < cases.length; i = next++) {
      const opts = cases[i]!;
      const target = path.join(dir, `restore-${i}`);
      await restic(['restore', 'latest', '--target', target, ...flags(opts)], {
        repo,
        passwordFile,
        cacheDir,
      });
      await mkdir(target, { recursive: true });
      const got = await selectTree(src, makeRestoreSelector(opts));
      assert.deepEqual([...got].sort(), [...(await listTree(target))].sort(), JSON.stringify(opts));
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));

  for (const opts of [
    { include: ['['] },
    { exclude: ['a/[b'] },
    { include: ['x\\'] },
    { include: ['a'], exclude: ['b'] },
  ]) {
    const args = ['restore', 'latest', '--target', path.join(dir, 'never'), ...flags(opts)];
    const result = await restic(args, { repo, passwordFile, cacheDir, allowFail: true });
    assert.notEqual(result.code, 0, `restic accepted ${JSON.stringify(opts)}`);
    assert.throws(() => makeRestoreSelector(opts), ArcaError, JSON.stringify(opts));
  }
});
