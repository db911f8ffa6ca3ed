/**
 * Path filters with restic's semantics (`internal/filter`), for `restore --include/--exclude`
 * and `backup --exclude/--exclude-file`.
 *
 * A pattern is cleaned like Go's `filepath.Clean` and split on `/`; each component is a Go
 * `filepath.Match` glob (`*`, `?`, `[a-z]`, `[^a-z]`, `\` escapes — `[!x]` is NOT a negation in
 * Go, it is the class of `!` and `x`), a literal, or `**`, which stands for zero or more
 * components. A pattern matches a path when it matches a run of consecutive components of
 * it: one starting with `/` from the root, any other from any component. The run may stop
 * before the end of the path, so a pattern that matches a directory matches everything below
 * it (`foo` excludes `/x/foo/y`). restic's quirk that the pattern `/` matches every path is kept.
 *
 * In a list, a pattern starting with `!` (restic ≥ 0.13) cancels the matches of the patterns
 * before it, as in `.gitignore`; empty patterns are ignored. Patterns are validated when a
 * list is built (restic ≥ 0.14 does the same before it starts), never at match time.
 *
 * Matching works on bytes, as restic does on Go strings: a path or pattern given as a string
 * is taken as its UTF-8 encoding, one given as a `Uint8Array` (a node name read from a tree)
 * as is, so names that are not UTF-8 match exactly as restic matches them.
 */
import { ArcaError } from '../errors.js';

/**
 * A path or pattern: a string (matched as its UTF-8 bytes) or raw bytes. A caller holding node
 * names as Buffers should join them into a byte path (`Buffer.concat` with `/` separators)
 * rather than decode them: `toString('utf8')` would turn a non-UTF-8 name into U+FFFD.
 */
export type FilterPath = string | Uint8Array;

/** Whether a path matched, and whether something below it still could. */
export interface MatchResult {
  matched: boolean;
  childMayMatch: boolean;
}

/** How a restore treats one node: restore it, and look at its children. */
export interface RestoreSelection {
  readonly selected: boolean;
  readonly descend: boolean;
}

/** Decides for a snapshot path (`/home/user/file`) and its node type whether restore takes it. */
export type RestoreSelector = (path: FilterPath, isDir: boolean) => RestoreSelection;

/** The pattern flags of `restic restore` (0.14): with includes, or excludes, but not both. */
export interface RestoreFilterOptions {
  include?: readonly FilterPath[];
  exclude?: readonly FilterPath[];
  /** Like `include`, ignoring case. */
  iinclude?: readonly FilterPath[];
  /** Like `exclude`, ignoring case. */
  iexclude?: readonly FilterPath[];
}

/** A list of patterns compiled once, for matching many paths. */
export class PathFilter {
  readonly #patterns: _Pattern[];
  readonly #caseInsensitive: boolean;
  readonly #hasNegated: boolean;

  /** Compiles `patterns`; throws an ArcaError (`usage`) naming every invalid one. */
  constructor(patterns: readonly FilterPath[], opts: { caseInsensitive?: boolean } = {}) {
    this.#caseInsensitive = opts.caseInsensitive === true;
    this.#patterns = _compileAll(patterns, this.#caseInsensitive);
    this.#hasNegated = this.#patterns.some((p) => p.negated);
  }

  /** True when the list has no (non-empty) pattern, so it matches nothing. */
  get empty(): boolean {
    return this.#patterns.length === 0;
  }

  /** Whether `path` is matched (restic's `filter.List`). */
  matches(path: FilterPath): boolean {
    const strs = _splitPath(path, this.#caseInsensitive);
    let matched = false;
    for (const p of this.#patterns) {
      if (p.negated) {
        if (matched) matched = !_match(p, strs);
      } else if (!matched) {
        matched = _match(p, strs);
        if (matched && !this.#hasNegated) break;
      }
    }
    return matched;
  }

  /** Whether some path below `path` may match, so a walk must descend into it. */
  childMayMatch(path: FilterPath): boolean {
    return this.matchWithChild(path).childMayMatch;
  }

  /** Both answers at once, splitting the path once (restic's `filter.ListWithChild`). */
  matchWithChild(path: FilterPath): MatchResult {
    const strs = _splitPath(path, this.#caseInsensitive);
    let matched = false;
    let childMayMatch = false;
    for (const p of this.#patterns) {
      if (p.negated) {
        // A negated pattern only cancels: what it matches, and everything below, is out.
        if ((matched || childMayMatch) && _match(p, strs)) {
          matched = false;
          childMayMatch = false;
        }
        continue;
      }
      if (!matched) matched = _match(p, strs);
      if (!childMayMatch) childMayMatch = _childMatch(p, strs);
      if (matched && childMayMatch && !this.#hasNegated) break;
    }
    return { matched, childMayMatch };
  }
}

/** Whether `path` matches the single `pattern` (restic's `filter.Match`); the empty pattern matches all. */
export function match(pattern: FilterPath, path: FilterPath): boolean {
  const [compiled] = _compileAll([pattern], false);
  return compiled === undefined || _match(compiled, _splitPath(path, false));
}

/** Whether some path below `path` may match `pattern` (restic's `filter.ChildMatch`). */
export function childMayMatch(pattern: FilterPath, path: FilterPath): boolean {
  const [compiled] = _compileAll([pattern], false);
  return compiled === undefined || _childMatch(compiled, _splitPath(path, false));
}

/**
 * The node selection of `restic restore` 0.14 (`selectIncludeFilter`/`selectExcludeFilter` in
 * `cmd_restore.go`). With excludes, a node matching one is skipped with its whole subtree and
 * every other node is restored. With includes, a node is restored when it matches one, and a
 * directory is entered when a child may match (its own metadata is then not restored, restic
 * only creates it as the parent of what is). Case-sensitive and case-insensitive lists are
 * or-ed. Giving both includes and excludes is a usage error, as in restic; a flag given only
 * with empty patterns still counts, so `--include ''` restores nothing, as in restic.
 *
 * @example
 * const select = makeRestoreSelector({ include: ['*.log'] });
 * select('/var/log/app.log', false); // { selected: true, descend: false }
 * select('/var', true); // { selected: false, descend: true }
 */
export function makeRestoreSelector(opts: RestoreFilterOptions): RestoreSelector {
  const lists = (flag: string, patterns: readonly FilterPath[] | undefined, caseInsensitive: boolean) => {
    if (patterns === undefined || patterns.length === 0) return [];
    try {
      return [new PathFilter(patterns, { caseInsensitive })];
    } catch (err) {
      if (err instanceof ArcaError) throw new ArcaError('usage', `--${flag}: ${err.message}`);
      throw err;
    }
  };
  const includes = [...lists('include', opts.include, false), ...lists('iinclude', opts.iinclude, true)];
  const excludes = [...lists('exclude', opts.exclude, false), ...lists('iexclude', opts.iexclude, true)];
  if (includes.length > 0 && excludes.length > 0) {
    throw new ArcaError('usage', 'exclude and include patterns are mutually exclusive');
  }

  if (excludes.length > 0) {
    return (path, isDir) => {
      const selected = !excludes.some((f) => f.matches(path));
      return _selection(selected, selected && isDir);
    };
  }
  if (includes.length > 0) {
    return (path, isDir) => {
      let selected = false;
      let descend = false;
      for (const f of includes) {
        const r = f.matchWithChild(path);
        selected ||= r.matched;
        descend ||= r.childMayMatch;
      }
      return _selection(selected, descend && isDir);
    };
  }
  return (_path, isDir) => _selection(true, isDir);
}

/**
 * The patterns of an exclude/include file as restic reads them (`readPatternsFromFiles`): a
 * UTF-8 or UTF-16 byte order mark is honoured, each line is trimmed, blank lines and lines
 * starting with `#` are skipped, and `$VAR`/`${VAR}` are replaced from `env` (`$$` is a
 * literal `$`), with Go's `os.Expand` rules. Patterns given on the command line are not
 * expanded (the shell does that). Bytes that are not UTF-8 become U+FFFD.
 */
export function parsePatternFile(
  content: string | Uint8Array,
  env: NodeJS.ProcessEnv = process.env,
): string[] {
  const text = typeof content === 'string' ? content.replace(/^\ufeff/, '') : _decodeText(content);
  const lookup = (name: string): string => (name === '$' ? '$' : (env[name] ?? ''));
  const patterns: string[] = [];
  for (const rawLine of text.split('\n')) {
    const line = rawLine.replace(_goSpaceEdges, '');
    if (line === '' || line.startsWith('#')) continue;
    patterns.push(_goExpand(line, lookup));
  }
  return patterns;
}

// ---------------------------------------------------------------------------------------------
// Compiled patterns. Paths and patterns are "byte strings": one char per byte (latin1), the
// form in which Go compares strings, so literal components compare with `===`.

/** One component of a pattern: the root marker "/" and other literals compare equal. */
type _Part = { kind: 'literal'; text: string } | _Glob | { kind: 'doubleStar' };

/**
 * A glob component. Go's matcher commits each chunk to the first place it fits, which equals a
 * regular expression's answer whenever every token has a fixed width: always for literals and
 * `*`, and for `?` and classes when the name is ASCII. Only the other cases run Go's loop.
 */
interface _Glob {
  kind: 'glob';
  chunks: _Chunk[];
  regex: RegExp;
  /** The glob has no `?` or class, so `regex` is exact for every name. */
  regexAlways: boolean;
}

interface _Pattern {
  negated: boolean;
  /** Starts with `/`: parts[0] is the literal "/" and matching is anchored at the root. */
  absolute: boolean;
  parts: _Part[];
  /** Index of the first `**`, or -1. */
  firstDoubleStar: number;
}

/** A run of a Go glob after a (possibly empty) sequence of `*`, as Go's `scanChunk` cuts it. */
interface _Chunk {
  star: boolean;
  tokens: _Token[];
}

type _Token =
  | { kind: 'literal'; text: string }
  | { kind: 'any' }
  /** `ranges` holds lo, hi pairs of code points. */
  | { kind: 'class'; negated: boolean; ranges: number[] };

class _SyntaxError extends Error {}

const _results: readonly RestoreSelection[] = [
  { selected: false, descend: false },
  { selected: false, descend: true },
  { selected: true, descend: false },
  { selected: true, descend: true },
].map((r) => Object.freeze(r));

/** Shared frozen answers: the selector runs for every node of a snapshot and allocates nothing. */
function _selection(selected: boolean, descend: boolean): RestoreSelection {
  return _results[(selected ? 2 : 0) + (descend ? 1 : 0)]!;
}

/** restic's ParsePatterns and ValidatePatterns: empty patterns dropped, every invalid one reported. */
function _compileAll(patterns: readonly FilterPath[], caseInsensitive: boolean): _Pattern[] {
  const compiled: _Pattern[] = [];
  const invalid: string[] = [];
  for (const raw of patterns) {
    let text = _toBytes(raw);
    if (text === '') continue;
    if (caseInsensitive) text = _goToLower(text);
    try {
      compiled.push(_compilePattern(text));
    } catch (err) {
      if (!(err instanceof _SyntaxError)) throw err;
      invalid.push(`"${_display(raw)}" (${err.message})`);
    }
  }
  if (invalid.length > 0) {
    throw new ArcaError('usage', `invalid pattern${invalid.length > 1 ? 's' : ''} ${invalid.join(', ')}`);
  }
  return compiled;
}

function _compilePattern(text: string): _Pattern {
  const negated = text.startsWith('!');
  const parts = _components(_goClean(negated ? text.slice(1) : text)).map(_compilePart);
  return {
    negated,
    absolute: parts[0]?.kind === 'literal' && parts[0].text === '/',
    parts,
    firstDoubleStar: parts.findIndex((p) => p.kind === 'doubleStar'),
  };
}

function _compilePart(part: string): _Part {
  // restic marks `**` with an empty component, so the one empty component a cleaned pattern
  // can have — the pattern "/" split into "/" and "" — also acts as `**`.
  if (part === '**' || part === '') return { kind: 'doubleStar' };
  if (!/[\\[\]*?]/.test(part)) return { kind: 'literal', text: part };
  const chunks = _compileGlob(part);
  const tokens = chunks.flatMap((c) => c.tokens);
  return {
    kind: 'glob',
    chunks,
    regex: _globRegex(chunks),
    regexAlways: tokens.every((t) => t.kind === 'literal'),
  };
}

/** Components as restic splits a path or pattern: on `/`, with a leading "/" marking the root. */
function _components(bytes: string): string[] {
  const parts = bytes.split('/');
  if (parts[0] === '') parts[0] = '/';
  return parts;
}

/** A path to match, as components (lowered for case-insensitive lists). */
function _splitPath(path: FilterPath, caseInsensitive: boolean): string[] {
  const bytes = _toBytes(path);
  if (bytes === '') throw new TypeError('filter: cannot match an empty path');
  return _components(caseInsensitive ? _goToLower(bytes) : bytes);
}

/** restic's `match`: the pattern, each `**` expanded to zero or more components, equals a run of components. */
function _match(p: _Pattern, strs: string[]): boolean {
  if (p.absolute) return _matchFrom(p.parts, 0, strs, 0, 0);
  // A relative pattern never matches the root marker.
  for (let start = strs[0] === '/' ? 1 : 0; start < strs.length; start++) {
    if (_matchFrom(p.parts, 0, strs, start, start)) return true;
  }
  return false;
}

/** Whether parts[pi…] match strs from si on; the run must not be empty (restic: "an empty pattern never matches"). */
function _matchFrom(parts: _Part[], pi: number, strs: string[], si: number, start: number): boolean {
  for (; pi < parts.length; pi++, si++) {
    const part = parts[pi]!;
    if (part.kind === 'doubleStar') {
      for (let next = si; next <= strs.length; next++) {
        if (_matchFrom(parts, pi + 1, strs, next, start)) return true;
      }
      return false;
    }
    if (si >= strs.length || !_matchPart(part, strs[si]!)) return false;
  }
  return si > start;
}

/** restic's `childMatch`: relative patterns may always match below; absolute ones when the path is a prefix. */
function _childMatch(p: _Pattern, strs: string[]): boolean {
  if (!p.absolute) return true;
  let n = strs.length;
  // Everything below a `**` can match, so only the components before it have to.
  if (p.firstDoubleStar >= 0 && n >= p.firstDoubleStar) n = p.firstDoubleStar;
  const l = Math.min(n, p.parts.length);
  for (let i = 0; i < l; i++) {
    if (!_matchPart(p.parts[i]!, strs[i]!)) return false;
  }
  return true;
}

function _matchPart(part: _Part, name: string): boolean {
  if (part.kind === 'literal') return part.text === name;
  if (part.kind === 'glob') {
    return part.regexAlways || _ascii.test(name) ? part.regex.test(name) : _globMatch(part.chunks, name);
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Go's path/filepath.Match (Go ≥ 1.16, which validates the whole pattern), split into a parse
// done once and a match over the parsed chunks. It compares literals byte by byte, while `?`
// and classes take one rune (an invalid byte is one rune, U+FFFD), and `*` skips bytes.

function _compileGlob(pattern: string): _Chunk[] {
  const chunks: _Chunk[] = [];
  let rest = pattern;
  while (rest.length > 0) {
    let star = false;
    while (rest.startsWith('*')) {
      rest = rest.slice(1);
      star = true;
    }
    // Go's scanChunk: up to the next `*` outside a class, skipping escaped bytes.
    let inRange = false;
    let i = 0;
    for (; i < rest.length; i++) {
      const c = rest[i];
      if (c === '\\') {
        if (i + 1 < rest.length) i++;
      } else if (c === '[') inRange = true;
      else if (c === ']') inRange = false;
      else if (c === '*' && !inRange) break;
    }
    chunks.push({ star, tokens: _parseChunk(rest.slice(0, i)) });
    rest = rest.slice(i);
  }
  return chunks;
}

function _parseChunk(chunk: string): _Token[] {
  const tokens: _Token[] = [];
  const literal = (byte: string): void => {
    const last = tokens[tokens.length - 1];
    if (last?.kind === 'literal') last.text += byte;
    else tokens.push({ kind: 'literal', text: byte });
  };
  let i = 0;
  while (i < chunk.length) {
    const c = chunk[i]!;
    if (c === '[') {
      i++;
      const negated = chunk[i] === '^';
      if (negated) i++;
      const ranges: number[] = [];
      for (;;) {
        if (chunk[i] === ']' && ranges.length > 0) {
          i++;
          break;
        }
        const [lo, afterLo] = _classChar(chunk, i);
        let hi = lo;
        i = afterLo;
        if (chunk[i] === '-') [hi, i] = _classChar(chunk, i + 1);
        ranges.push(lo, hi);
      }
      tokens.push({ kind: 'class', negated, ranges });
    } else if (c === '?') {
      tokens.push({ kind: 'any' });
      i++;
    } else if (c === '\\') {
      if (i + 1 >= chunk.length) throw new _SyntaxError('trailing backslash');
      literal(chunk[i + 1]!);
      i += 2;
    } else {
      literal(c);
      i++;
    }
  }
  return tokens;
}

/** The glob as a RegExp over byte strings, exact for ASCII names (see {@link _Glob}). */
function _globRegex(chunks: _Chunk[]): RegExp {
  const byte = (c: string): string =>
    /\w/.test(c) ? c : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
  let source = '';
  for (const { star, tokens } of chunks) {
    if (star) source += '.*';
    for (const t of tokens) {
      if (t.kind === 'literal') source += [...t.text].map(byte).join('');
      else if (t.kind === 'any') source += '.';
      else {
        let set = '';
        for (let r = 0; r < t.ranges.length; r += 2) {
          const lo = t.ranges[r]!;
          const hi = Math.min(t.ranges[r + 1]!, 0x7f);
          if (lo <= hi) set += `${byte(String.fromCharCode(lo))}-${byte(String.fromCharCode(hi))}`;
        }
        source += `[${t.negated ? '^' : ''}${set}]`;
      }
    }
  }
  return new RegExp(`^${source}$`, 's');
}

/** Go's getEsc: one possibly escaped rune of a class, and where the class continues. */
function _classChar(chunk: string, i: number): [rune: number, next: number] {
  const c = chunk[i];
  if (c === undefined) throw new _SyntaxError("unterminated character class, missing ']'");
  if (c === '-' || c === ']')
    throw new _SyntaxError(`misplaced '${c}' in a character class (escape it with \\)`);
  if (c === '\\') {
    i++;
    if (i >= chunk.length) throw new _SyntaxError("unterminated character class, missing ']'");
  }
  const [rune, width] = _decodeRune(chunk, i);
  if (rune === _runeError && width === 1) throw new _SyntaxError('invalid UTF-8 in character class');
  if (i + width >= chunk.length) throw new _SyntaxError("unterminated character class, missing ']'");
  return [rune, i + width];
}

/** Go's Match loop: each chunk at the first place it fits after its `*`, the last one at the end. */
function _globMatch(chunks: _Chunk[], name: string): boolean {
  let pos = 0;
  next: for (let ci = 0; ci < chunks.length; ci++) {
    const { star, tokens } = chunks[ci]!;
    const last = ci === chunks.length - 1;
    // A trailing `*` takes the rest (components hold no `/`, which it could not take).
    if (star && tokens.length === 0) return true;
    const end = _matchChunk(tokens, name, pos);
    if (end >= 0 && (end === name.length || !last)) {
      pos = end;
      continue;
    }
    if (star) {
      for (let skip = pos + 1; skip <= name.length; skip++) {
        const t = _matchChunk(tokens, name, skip);
        if (t >= 0 && !(last && t < name.length)) {
          pos = t;
          continue next;
        }
      }
    }
    return false;
  }
  return pos === name.length;
}

/** Go's matchChunk: where `tokens` matched at `pos` end, or -1. */
function _matchChunk(tokens: _Token[], name: string, pos: number): number {
  for (const token of tokens) {
    if (token.kind === 'literal') {
      if (!name.startsWith(token.text, pos)) return -1;
      pos += token.text.length;
      continue;
    }
    if (pos >= name.length) return -1;
    const [rune, width] = _decodeRune(name, pos);
    pos += width;
    if (token.kind === 'class') {
      let inClass = false;
      for (let r = 0; r < token.ranges.length && !inClass; r += 2) {
        inClass = token.ranges[r]! <= rune && rune <= token.ranges[r + 1]!;
      }
      if (inClass === token.negated) return -1;
    }
  }
  return pos;
}

// ---------------------------------------------------------------------------------------------
// Go strings in JavaScript.

const _runeError = 0xfffd;
const _ascii = /^[^\u0080-\uffff]*$/;

/** A string as its UTF-8 bytes, or bytes as they are, one char per byte. */
function _toBytes(s: FilterPath): string {
  if (Buffer.isBuffer(s)) return s.toString('latin1');
  if (typeof s !== 'string') return Buffer.from(s.buffer, s.byteOffset, s.byteLength).toString('latin1');
  return _ascii.test(s) ? s : Buffer.from(s, 'utf8').toString('latin1');
}

/** A pattern for an error message: as given, or its bytes decoded as UTF-8. */
function _display(s: FilterPath): string {
  return typeof s === 'string' ? s : Buffer.from(s).toString('utf8');
}

/** Go's utf8.DecodeRune over a byte string: [rune, width], U+FFFD with width 1 for each invalid byte. */
function _decodeRune(s: string, i: number): [rune: number, width: number] {
  const b0 = s.charCodeAt(i);
  if (b0 < 0x80) return [b0, 1];
  const cont = (j: number, lo = 0x80, hi = 0xbf): number => {
    const b = i + j < s.length ? s.charCodeAt(i + j) : -1;
    return b >= lo && b <= hi ? b & 0x3f : -1;
  };
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    const c1 = cont(1);
    if (c1 >= 0) return [((b0 & 0x1f) << 6) | c1, 2];
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    const c1 = cont(1, b0 === 0xe0 ? 0xa0 : 0x80, b0 === 0xed ? 0x9f : 0xbf);
    const c2 = c1 >= 0 ? cont(2) : -1;
    if (c2 >= 0) return [((b0 & 0x0f) << 12) | (c1 << 6) | c2, 3];
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    const c1 = cont(1, b0 === 0xf0 ? 0x90 : 0x80, b0 === 0xf4 ? 0x8f : 0xbf);
    const c2 = c1 >= 0 ? cont(2) : -1;
    const c3 = c2 >= 0 ? cont(3) : -1;
    if (c3 >= 0) return [((b0 & 0x07) << 18) | (c1 << 12) | (c2 << 6) | c3, 4];
  }
  return [_runeError, 1];
}

/**
 * Go's strings.ToLower over a byte string: each rune to its simple lower case, invalid bytes to
 * U+FFFD. JavaScript's toLowerCase differs from that only for İ (to "i̇") and a final Σ (to ς).
 */
function _goToLower(s: string): string {
  if (_ascii.test(s)) return s.toLowerCase();
  let text = '';
  for (let i = 0; i < s.length; ) {
    const [rune, width] = _decodeRune(s, i);
    text += String.fromCodePoint(rune);
    i += width;
  }
  const lower = text
    .replace(/\u0130/g, 'i')
    .replace(/\u03a3/g, '\u03c3')
    .toLowerCase();
  return Buffer.from(lower, 'utf8').toString('latin1');
}

/** Go's path.Clean: no empty or `.` components, `..` resolved lexically, "." for nothing. */
function _goClean(path: string): string {
  const rooted = path.startsWith('/');
  const out: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part !== '..') out.push(part);
    else if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
    else if (!rooted) out.push('..');
  }
  const cleaned = (rooted ? '/' : '') + out.join('/');
  return cleaned === '' ? '.' : cleaned;
}

/** Go's unicode.IsSpace set, which strings.TrimSpace trims (unlike String#trim: U+0085 yes, U+FEFF no). */
const _goSpaceEdges =
  /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g;

/** restic's textfile.Decode: drop a UTF-8 BOM, decode UTF-16 when a BOM says so, else UTF-8. */
function _decodeText(bytes: Uint8Array): string {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b[0] === 0xfe && b[1] === 0xff) return new TextDecoder('utf-16be').decode(b.subarray(2));
  if (b[0] === 0xff && b[1] === 0xfe) return new TextDecoder('utf-16le').decode(b.subarray(2));
  return new TextDecoder('utf-8').decode(b);
}

/** Go's os.Expand: `$name`, `${name}`, `$` + one special character; bad `${…}` syntax is dropped. */
function _goExpand(s: string, lookup: (name: string) => string): string {
  let out = '';
  let i = 0;
  for (let j = 0; j < s.length; j++) {
    if (s[j] !== '$' || j + 1 >= s.length) continue;
    out += s.slice(i, j);
    const [name, width] = _shellName(s.slice(j + 1));
    if (name !== '') out += lookup(name);
    else if (width === 0) out += '$';
    j += width;
    i = j + 1;
  }
  return out + s.slice(i);
}

/** Go's getShellName: the variable name after a `$` and how many characters it took. */
function _shellName(s: string): [name: string, width: number] {
  const special = (c: string | undefined): boolean => c !== undefined && '*#$@!?-0123456789'.includes(c);
  if (s[0] === '{') {
    if (s.length > 2 && special(s[1]) && s[2] === '}') return [s[1]!, 3];
    const close = s.indexOf('}', 1);
    if (close === 1) return ['', 2];
    return close < 0 ? ['', 1] : [s.slice(1, close), close + 1];
  }
  if (special(s[0])) return [s[0]!, 1];
  const name = /^[A-Za-z0-9_]*/.exec(s)![0];
  return [name, name.length];
}
