/**
 * Paths as bytes. File names on Linux are byte strings that need not be UTF-8, so the
 * interoperability support code walks and reports trees with Buffer paths.
 */

const slash = Buffer.from('/');

/** `dir/name` as bytes; an empty `dir` yields `name` (paths relative to a tree root). */
export function joinPath(dir: Buffer, name: Buffer): Buffer {
  return dir.length === 0 ? name : Buffer.concat([dir, slash, name]);
}

/** A lossless string key for a byte path, usable in Maps and Sets. */
export function pathKey(path: Buffer): string {
  return path.toString('latin1');
}

/** The byte path behind a {@link pathKey}. */
export function keyPath(key: string): Buffer {
  return Buffer.from(key, 'latin1');
}

/** A byte path for a person: quoted, control characters escaped, bytes that are not UTF-8 as `\xNN`. */
export function showPath(path: Buffer): string {
  if (path.length === 0) return '"."';
  const text = path.toString('utf8');
  if (Buffer.from(text, 'utf8').equals(path)) return JSON.stringify(text);
  let out = '';
  for (const byte of path) {
    if (byte === 0x22 || byte === 0x5c) out += '\\' + String.fromCharCode(byte);
    else if (byte >= 0x20 && byte < 0x7f) out += String.fromCharCode(byte);
    else out += '\\x' + byte.toString(16).padStart(2, '0');
  }
  return '"' + out + '"';
}
