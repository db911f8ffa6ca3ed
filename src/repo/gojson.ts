/**
 * Byte-exact emulation of the Go encodings restic uses for trees and snapshots:
 * `strconv.Quote`/`Unquote` for node names, `encoding/json` strings, `time.Time` as
 * RFC 3339, uint64 integers and `[]byte`. Tree IDs are SHA-256 of the JSON bytes, so a tree
 * arca writes deduplicates against restic's only if every byte matches.
 *
 * Known, documented divergences from Go:
 * - `strconv.IsPrint` is evaluated with the JavaScript engine's Unicode tables (Node 20:
 *   ICU, Unicode 15.1–17) instead of Go's (Go 1.19/1.20: Unicode 13.0, Go 1.21+: 15.0).
 *   A code point assigned only in the newer Unicode version is written raw by arca where
 *   that restic writes `\u`/`\U`; the tree is still valid, it just does not dedup.
 * - {@link encodeGoString} follows Go ≥ 1.22 (`\b`, `\f`); Go ≤ 1.21 wrote `\u0008`,
 *   `\u000c`. Node names never contain raw control characters (they are quoted first).
 * - {@link goUnquoteName} accepts any backslash-free string as a plain name (old restic).
 */
import { isInteger, parse as parseLossless } from 'lossless-json';
import { ArcaError } from '../errors.js';

const hexDigits = '0123456789abcdef';

function _hex(value: number, digits: number): string {
  let out = '';
  for (let shift = (digits - 1) * 4; shift >= 0; shift -= 4) out += hexDigits[(value >>> shift) & 0xf];
  return out;
}

/**
 * Go's `utf8.DecodeRune` at `buf[i]`: the rune and its width, or rune -1 (RuneError)
 * with width 1 for every invalid sequence, so each bad byte is reported on its own.
 */
function _decodeRune(buf: Uint8Array, i: number): [rune: number, width: number] {
  const b0 = buf[i]!;
  if (b0 < 0x80) return [b0, 1];
  const n = buf.length - i;
  const cont = (j: number, lo = 0x80, hi = 0xbf): number => {
    const b = buf[i + j]!;
    return b >= lo && b <= hi ? b & 0x3f : -1;
  };
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    const c1 = n >= 2 ? cont(1) : -1;
    if (c1 >= 0) return [((b0 & 0x1f) << 6) | c1, 2];
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    const lo = b0 === 0xe0 ? 0xa0 : 0x80;
    const hi = b0 === 0xed ? 0x9f : 0xbf;
    const c1 = n >= 2 ? cont(1, lo, hi) : -1;
    const c2 = c1 >= 0 && n >= 3 ? cont(2) : -1;
    if (c2 >= 0) return [((b0 & 0x0f) << 12) | (c1 << 6) | c2, 3];
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    const lo = b0 === 0xf0 ? 0x90 : 0x80;
    const hi = b0 === 0xf4 ? 0x8f : 0xbf;
    const c1 = n >= 2 ? cont(1, lo, hi) : -1;
    const c2 = c1 >= 0 && n >= 3 ? cont(2) : -1;
    const c3 = c2 >= 0 && n >= 4 ? cont(3) : -1;
    if (c3 >= 0) return [((b0 & 0x07) << 18) | (c1 << 12) | (c2 << 6) | c3, 4];
  }
  return [-1, 1];
}

// Go's IsPrint: letters, marks, numbers, punctuation, symbols and the ASCII space only.
const printable = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;

/** Go `strconv.IsPrint` (with the engine's Unicode version, see the module note). */
function _isPrint(r: number): boolean {
  if (r <= 0xff) return (r >= 0x20 && r <= 0x7e) || (r >= 0xa1 && r !== 0xad);
  return printable.test(String.fromCodePoint(r));
}

const shortQuoteEscapes: Record<number, string> = {
  7: '\\a',
  8: '\\b',
  9: '\\t',
  10: '\\n',
  11: '\\v',
  12: '\\f',
  13: '\\r',
  34: '\\"',
  92: '\\\\',
};

/** The inside of Go `strconv.Quote(string(name))`, which restic stores as a node's `name`. */
export function goQuoteName(name: Uint8Array): string {
  let plain = true;
  for (const b of name) {
    if (b < 0x20 || b > 0x7e || b === 0x22 || b === 0x5c) {
      plain = false;
      break;
    }
  }
  if (plain) return Buffer.from(name.buffer, name.byteOffset, name.byteLength).toString('latin1');
  let out = '';
  for (let i = 0; i < name.length; ) {
    const [r, width] = _decodeRune(name, i);
    if (r < 0) out += '\\x' + _hex(name[i]!, 2);
    else if (shortQuoteEscapes[r] !== undefined) out += shortQuoteEscapes[r];
    else if (_isPrint(r)) out += String.fromCodePoint(r);
    else if (r < 0x20 || r === 0x7f) out += '\\x' + _hex(r, 2);
    else if (r < 0x10000) out += '\\u' + _hex(r, 4);
    else out += '\\U' + _hex(r, 8);
    i += width;
  }
  return out;
}

const unquoteSimple: Record<number, number> = {
  97: 0x07, // a
  98: 0x08, // b
  102: 0x0c, // f
  110: 0x0a, // n
  114: 0x0d, // r
  116: 0x09, // t
  118: 0x0b, // v
  92: 0x5c, // backslash
  34: 0x22, // "
};

function _unhex(b: number | undefined): number {
  if (b === undefined) return -1;
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x61 && b <= 0x66) return b - 0x61 + 10;
  if (b >= 0x41 && b <= 0x46) return b - 0x41 + 10;
  return -1;
}

/**
 * Go `strconv.Unquote("\"" + quoted + "\"")` to the raw name bytes (`\xNN` and octal give
 * single bytes, so non-UTF-8 names round-trip). Throws ArcaError `corrupt` on bad input.
 */
export function goUnquoteName(quoted: string): Buffer {
  const src = Buffer.from(quoted, 'utf8');
  // Names written by old restic were not quoted; without a backslash there is nothing to undo.
  if (!quoted.includes('\\')) return src;
  const fail = (at: number, why: string): never => {
    throw new ArcaError('corrupt', `malformed quoted name ${JSON.stringify(quoted)}: ${why} at byte ${at}`);
  };
  // Every escape is at least as long as what it stands for, so the input length bounds the output.
  const out = Buffer.allocUnsafe(src.length);
  let o = 0;
  for (let i = 0; i < src.length; ) {
    const c = src[i]!;
    if (c === 0x22) fail(i, 'unescaped quote');
    if (c === 0x0a) fail(i, 'unescaped newline');
    if (c !== 0x5c) {
      out[o++] = c;
      i++;
      continue;
    }
    const e = src[i + 1];
    if (e === undefined) fail(i, 'trailing backslash');
    const simple = unquoteSimple[e!];
    if (simple !== undefined) {
      out[o++] = simple;
      i += 2;
    } else if (e === 0x78 || e === 0x75 || e === 0x55) {
      const digits = e === 0x78 ? 2 : e === 0x75 ? 4 : 8;
      let v = 0;
      for (let j = 0; j < digits; j++) {
        const d = _unhex(src[i + 2 + j]);
        if (d < 0) fail(i, `\\${String.fromCharCode(e)} needs ${digits} hex digits`);
        v = v * 16 + d;
      }
      if (e === 0x78) out[o++] = v;
      else if (v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        fail(i, `invalid code point U+${v.toString(16)}`);
      else o += out.write(String.fromCodePoint(v), o, 'utf8');
      i += 2 + digits;
    } else if (e! >= 0x30 && e! <= 0x37) {
      let v = 0;
      for (let j = 1; j <= 3; j++) {
        const d = (src[i + j] ?? 0) - 0x30;
        if (d < 0 || d > 7) fail(i, 'octal escape needs 3 digits');
        v = v * 8 + d;
      }
      if (v > 0xff) fail(i, 'octal escape above \\377');
      out[o++] = v;
      i += 4;
    } else {
      fail(i, `unknown escape \\${String.fromCharCode(e!)}`);
    }
  }
  return out.subarray(0, o);
}

const jsonAsciiEscapes: string[] = Array.from({ length: 0x80 }, (_, c) =>
  c < 0x20 ? '\\u00' + _hex(c, 2) : '',
);
jsonAsciiEscapes[0x08] = '\\b';
jsonAsciiEscapes[0x09] = '\\t';
jsonAsciiEscapes[0x0a] = '\\n';
jsonAsciiEscapes[0x0c] = '\\f';
jsonAsciiEscapes[0x0d] = '\\r';
jsonAsciiEscapes[0x22] = '\\"';
jsonAsciiEscapes[0x5c] = '\\\\';
jsonAsciiEscapes[0x3c] = '\\u003c';
jsonAsciiEscapes[0x3e] = '\\u003e';
jsonAsciiEscapes[0x26] = '\\u0026';

// Anything Go's encoder would not copy verbatim (surrogates cover both lone ones and pairs).
// biome-ignore lint/suspicious/noControlCharactersInRegex: JSON must escape the C0 controls.
const jsonNeedsEscape = /[\u0000-\u001f"\\<>&\u2028\u2029\ud800-\udfff]/;

/**
 * A string as Go `encoding/json` writes it (HTML-safe, Go ≥ 1.22), quotes included. For a
 * JS string lone surrogates become `\ufffd`; for bytes each invalid UTF-8 byte does.
 */
export function encodeGoString(s: string | Uint8Array): string {
  if (typeof s !== 'string') return _encodeGoBytes(s);
  if (!jsonNeedsEscape.test(s)) return '"' + s + '"';
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) {
      out += jsonAsciiEscapes[c] || s[i];
    } else if (c === 0x2028 || c === 0x2029) {
      out += '\\u' + _hex(c, 4);
    } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      out += s[i]! + s[i + 1]!;
      i++;
    } else if (c >= 0xd800 && c <= 0xdfff) {
      out += '\\ufffd';
    } else {
      out += s[i];
    }
  }
  return out + '"';
}

function _encodeGoBytes(buf: Uint8Array): string {
  let out = '"';
  for (let i = 0; i < buf.length; ) {
    const [r, width] = _decodeRune(buf, i);
    if (r < 0) out += '\\ufffd';
    else if (r < 0x80) out += jsonAsciiEscapes[r] || String.fromCharCode(r);
    else if (r === 0x2028 || r === 0x2029) out += '\\u' + _hex(r, 4);
    else out += String.fromCodePoint(r);
    i += width;
  }
  return out + '"';
}

/** An instant as Go's `time.Time` carries it: Unix seconds, nanoseconds, zone offset. */
export interface GoTime {
  sec: bigint;
  nsec: number;
  offsetMinutes?: number;
}

const secondsPerDay = 86400n;

// Howard Hinnant's days_from_civil / civil_from_days (proleptic Gregorian, day 0 = 1970-01-01).
function _daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function _civilFromDays(days: number): [year: number, month: number, day: number] {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365,
  );
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  return [yoe + era * 400 + (month <= 2 ? 1 : 0), month, day];
}

function _floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q;
}

/** Local wall-clock date and second of day of `t` in its own zone. */
function _localCivil(t: GoTime): { year: number; month: number; day: number; secOfDay: number } {
  const local = t.sec + BigInt((t.offsetMinutes ?? 0) * 60);
  const days = _floorDiv(local, secondsPerDay);
  const [year, month, day] = _civilFromDays(Number(days));
  return { year, month, day, secOfDay: Number(local - days * secondsPerDay) };
}

function _pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

/**
 * restic's `fixTime`: a time whose local year is before 0 or after 9999 becomes
 * 0000-01-01T00:00:00 or 9999-12-31T23:59:59.999999999 in the same zone.
 */
export function clampGoYear(t: GoTime): GoTime {
  const { year } = _localCivil(t);
  if (year >= 0 && year <= 9999) return t;
  const offsetSec = BigInt((t.offsetMinutes ?? 0) * 60);
  const sec =
    year < 0
      ? BigInt(_daysFromCivil(0, 1, 1)) * secondsPerDay - offsetSec
      : BigInt(_daysFromCivil(9999, 12, 31)) * secondsPerDay + 86399n - offsetSec;
  return { sec, nsec: year < 0 ? 0 : 999_999_999, offsetMinutes: t.offsetMinutes ?? 0 };
}

/**
 * Go `time.Time.MarshalJSON` text (RFC 3339, nanoseconds with trailing zeros trimmed,
 * `Z` for offset 0), without quotes. Throws RangeError outside years 0–9999: clamp first.
 */
export function formatGoTime(t: GoTime): string {
  const offset = t.offsetMinutes ?? 0;
  if (!Number.isInteger(t.nsec) || t.nsec < 0 || t.nsec > 999_999_999) {
    throw new RangeError(`nanoseconds out of range: ${t.nsec}`);
  }
  if (!Number.isInteger(offset) || Math.abs(offset) >= 24 * 60) {
    throw new RangeError(`timezone offset out of range: ${offset} minutes`);
  }
  const { year, month, day, secOfDay } = _localCivil(t);
  if (year < 0 || year > 9999) throw new RangeError(`year ${year} outside of range [0,9999]`);
  let out =
    `${_pad(year, 4)}-${_pad(month, 2)}-${_pad(day, 2)}T` +
    `${_pad(Math.floor(secOfDay / 3600), 2)}:${_pad(Math.floor(secOfDay / 60) % 60, 2)}:${_pad(secOfDay % 60, 2)}`;
  if (t.nsec !== 0) out += '.' + _pad(t.nsec, 9).replace(/0+$/, '');
  if (offset === 0) return out + 'Z';
  const abs = Math.abs(offset);
  return out + (offset < 0 ? '-' : '+') + _pad(Math.floor(abs / 60), 2) + ':' + _pad(abs % 60, 2);
}

const rfc3339 =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:(Z)|([+-])(\d{2}):(\d{2}))$/;

/** Parses Go's RFC 3339 time text (as restic writes it) exactly to the nanosecond. */
export function parseGoTime(s: string): Required<GoTime> {
  const m = rfc3339.exec(s);
  const bad = (): never => {
    throw new ArcaError('corrupt', `invalid RFC 3339 time ${JSON.stringify(s)}`);
  };
  if (m === null) return bad();
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const monthDays = [
    31,
    year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28,
    31,
    30,
    31,
    30,
    31,
    31,
    30,
    31,
    30,
    31,
  ];
  if (month < 1 || month > 12 || day < 1 || day > monthDays[month - 1]!) bad();
  if (hour > 23 || minute > 59 || second > 59) bad();
  let offsetMinutes = 0;
  if (m[8] === undefined) {
    const oh = Number(m[10]);
    const om = Number(m[11]);
    if (oh > 23 || om > 59) bad();
    offsetMinutes = (m[9] === '-' ? -1 : 1) * (oh * 60 + om) || 0;
  }
  const local =
    BigInt(_daysFromCivil(year, month, day)) * secondsPerDay + BigInt(hour * 3600 + minute * 60 + second);
  return {
    sec: local - BigInt(offsetMinutes * 60),
    nsec: m[7] === undefined ? 0 : Number(m[7].padEnd(9, '0')),
    offsetMinutes,
  };
}

/** Nanoseconds since the Unix epoch. */
export function goTimeToNs(t: GoTime): bigint {
  return t.sec * 1_000_000_000n + BigInt(t.nsec);
}

/** A time from nanoseconds since the Unix epoch (e.g. `lstat`'s `mtimeNs`), in the given zone. */
export function goTimeFromNs(ns: bigint, offsetMinutes = 0): Required<GoTime> {
  const sec = _floorDiv(ns, 1_000_000_000n);
  return { sec, nsec: Number(ns - sec * 1_000_000_000n), offsetMinutes };
}

// An integer literal of 16+ digits may exceed 2^53; a match inside a string only costs the slow path.
const longInteger = /(?:^|[:,[])\s*-?\d{16}/;

function _parseNumber(text: string): number | bigint {
  const n = Number(text);
  return isInteger(text) && !Number.isSafeInteger(n) ? BigInt(text) : n;
}

/**
 * `JSON.parse` without loss of integer precision: integers beyond 2^53 come back as
 * bigint, so uint64 fields (`inode`, `device_id`, `device`, `size`, `links`) may be
 * number or bigint. Throws SyntaxError on invalid JSON.
 */
export function parseJson(text: string): unknown {
  return longInteger.test(text) ? parseLossless(text, null, _parseNumber) : JSON.parse(text);
}

/** A uint64 as Go writes it: plain decimal digits. Throws RangeError outside 0…2^64−1. */
export function goUint(n: number | bigint): string {
  if (typeof n === 'number' ? !Number.isSafeInteger(n) || n < 0 : n < 0n || n >= 1n << 64n) {
    throw new RangeError(`not a uint64: ${n}`);
  }
  return String(n);
}

/** A `[]byte` as Go `encoding/json` writes it: standard base64 with padding, no quotes. */
export function goBase64(buf: Uint8Array): string {
  return Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).toString('base64');
}
