import { createHash } from 'node:crypto';
import { closeSync, lstatSync, openSync, readSync } from 'node:fs';
import { goTimeToNs, parseGoTime } from '../repo/gojson.js';
import type { Repository } from '../repo/repository.js';
import { displayName, type Node, posixMode } from '../repo/tree.js';
import { blobSize } from './restorer.js';

/** One restored file that does not match the snapshot. */
export interface VerifyProblem {
  path: string;
  message: string;
}

/** What verification looked at. */
export interface VerifyResult {
  files: number;
  bytes: number;
  problems: VerifyProblem[];
}

/**
 * Re-reads restored files and compares them with the snapshot: size, type, mode, mtime,
 * and content blob by blob (each piece re-hashed and compared with its blob ID), so no
 * data has to be fetched from the repository again.
 */
export function verifyRestoredFiles(
  repo: Repository,
  files: readonly { path: Buffer; node: Node }[],
  onProgress?: (filesDone: number, bytesDone: number) => void,
): VerifyResult {
  const problems: VerifyProblem[] = [];
  let bytes = 0;
  let done = 0;
  let buf = Buffer.allocUnsafe(1024 * 1024);
  for (const f of files) {
    const bad = (message: string): void => {
      problems.push({ path: displayName(f.path), message });
    };
    done++;
    let st: ReturnType<typeof lstatSync>;
    try {
      st = lstatSync(f.path, { bigint: true });
    } catch (err) {
      bad(`missing: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      continue;
    }
    if (!st.isFile()) {
      bad('is not a regular file');
      continue;
    }
    const size = f.node.size ?? 0;
    if (st.size !== BigInt(size)) bad(`size is ${st.size}, snapshot says ${size}`);
    if ((Number(st.mode) & 0o7777) !== posixMode(f.node.mode)) {
      bad(
        `mode is ${(Number(st.mode) & 0o7777).toString(8)}, snapshot says ${posixMode(f.node.mode).toString(8)}`,
      );
    }
    if (f.node.mtime && st.mtimeNs !== goTimeToNs(parseGoTime(f.node.mtime)))
      bad(`mtime differs from the snapshot`);
    const fd = openSync(f.path, 'r');
    try {
      let pos = 0;
      for (const id of f.node.content ?? []) {
        const loc = repo.index.lookup(id, 'data');
        if (!loc) {
          bad(`blob ${id.slice(0, 8)} is not in the index`);
          break;
        }
        const len = blobSize(loc);
        if (buf.length < len) buf = Buffer.allocUnsafe(len);
        let got = 0;
        while (got < len) {
          const n = readSync(fd, buf, got, len - got, pos + got);
          if (n === 0) break;
          got += n;
        }
        if (got !== len || createHash('sha256').update(buf.subarray(0, len)).digest('hex') !== id) {
          bad(`content differs from the snapshot at offset ${pos}`);
          break;
        }
        pos += len;
        bytes += len;
      }
    } finally {
      closeSync(fd);
    }
    onProgress?.(done, bytes);
  }
  return { files: files.length, bytes, problems };
}
