/**
 * Extended attributes through the attr tools (setfattr, getfattr), so the tests need no
 * native code. Values are bytes and may be anything, including empty.
 */
import path from 'node:path';
import { pathKey } from './buffer-path.js';
import { runOk } from './run.js';

/** The extended attributes of one file: value bytes by attribute name. */
export type XattrSet = Map<string, Buffer>;

/** Sets attribute `name` of `file` (the link itself, for a symlink) to `value`. */
export async function setXattr(file: string, name: string, value: Buffer): Promise<void> {
  await runOk('setfattr', ['-h', '-n', name, '-v', '0x' + value.toString('hex'), '--', file]);
}

/**
 * Every extended attribute in the tree at `root` (not following symlinks), keyed by
 * {@link pathKey} of the path relative to `root` (the root itself is the empty path).
 * Files without attributes are absent.
 */
export async function readTreeXattrs(root: string): Promise<Map<string, XattrSet>> {
  const absRoot = Buffer.from(path.resolve(root));
  const { stdout } = await runOk('getfattr', [
    '-R',
    '-h',
    '-d',
    '-m',
    '-',
    '-e',
    'hex',
    '--absolute-names',
    '--',
    absRoot.toString(),
  ]);
  const result = new Map<string, XattrSet>();
  let current: XattrSet | undefined;
  for (const line of splitLines(stdout)) {
    if (line.length === 0) {
      current = undefined;
    } else if (line.subarray(0, 8).toString('latin1') === '# file: ') {
      const file = unescapeOctal(line.subarray(8));
      current = new Map();
      result.set(pathKey(relativeTo(absRoot, file)), current);
    } else if (current !== undefined) {
      const eq = line.indexOf(0x3d);
      const name = unescapeOctal(eq < 0 ? line : line.subarray(0, eq)).toString('utf8');
      const value = eq < 0 ? '' : line.subarray(eq + 1).toString('latin1');
      if (!value.startsWith('0x') && value !== '')
        throw new Error(`getfattr printed a value not in hex: ${value}`);
      current.set(name, Buffer.from(value.slice(2), 'hex'));
    }
  }
  return result;
}

function splitLines(bytes: Buffer): Buffer[] {
  const lines: Buffer[] = [];
  let start = 0;
  for (let nl = bytes.indexOf(0x0a); nl >= 0; nl = bytes.indexOf(0x0a, start)) {
    lines.push(bytes.subarray(start, nl));
    start = nl + 1;
  }
  if (start < bytes.length) lines.push(bytes.subarray(start));
  return lines;
}

/** getfattr writes newline, backslash and the like in names as `\ooo`; backslash is always escaped. */
function unescapeOctal(quoted: Buffer): Buffer {
  const out: number[] = [];
  for (let i = 0; i < quoted.length; i++) {
    const byte = quoted[i]!;
    if (byte === 0x5c && /^[0-7]{3}$/.test(quoted.toString('latin1', i + 1, i + 4))) {
      out.push(Number.parseInt(quoted.toString('latin1', i + 1, i + 4), 8));
      i += 3;
    } else {
      out.push(byte);
    }
  }
  return Buffer.from(out);
}

function relativeTo(root: Buffer, file: Buffer): Buffer {
  if (file.equals(root)) return Buffer.alloc(0);
  const prefix = root.at(-1) === 0x2f ? root : Buffer.concat([root, Buffer.from('/')]);
  if (!file.subarray(0, prefix.length).equals(prefix)) {
    throw new Error(`getfattr reported ${file.toString()} outside ${root.toString()}`);
  }
  return file.subarray(prefix.length);
}
