import { createHash } from 'node:crypto';
import { lstat, open, readdir, readlink } from 'node:fs/promises';
import path from 'node:path';

/** One entry of a tree manifest, keyed by its path relative to the root. */
export interface ManifestEntry {
  /** Type, size, content hash or link target: what must match for a restore to be correct. */
  content: string;
  /** Permission bits and modification time (ns): reported, but a mismatch does not invalidate. */
  meta: string;
}

/** A tree's manifest: entries in C order of their relative paths, plus summary hashes. */
export interface Manifest {
  entries: Map<string, ManifestEntry>;
  contentHash: string;
  files: number;
  dirs: number;
  symlinks: number;
  bytes: number;
}

const readSize = 1 << 20;

/**
 * Walks `root` (not following symlinks) and hashes every regular file's content. Names are
 * compared as bytes, as `sort -z` does under LC_ALL=C, so the order does not depend on locale.
 */
export async function buildManifest(root: string): Promise<Manifest> {
  const entries = new Map<string, ManifestEntry>();
  const total = createHash('sha256');
  const counts = { files: 0, dirs: 0, symlinks: 0, bytes: 0 };
  const buf = Buffer.allocUnsafe(readSize);

  const walk = async (dir: string, rel: string): Promise<void> => {
    const names = (await readdir(dir, { encoding: 'buffer' })).sort(Buffer.compare);
    for (const nameBuf of names) {
      const name = nameBuf.toString('latin1');
      const abs = path.join(dir, nameBuf.toString());
      const relPath = rel === '' ? name : `${rel}/${name}`;
      const st = await lstat(abs, { bigint: true });
      const meta = `${(st.mode & 0o7777n).toString(8)} ${st.mtimeNs}`;
      let content: string;
      if (st.isFile()) {
        counts.files++;
        counts.bytes += Number(st.size);
        content = `f ${st.size} ${await hashFile(abs, buf)}`;
      } else if (st.isSymbolicLink()) {
        counts.symlinks++;
        content = `l ${(await readlink(abs, { encoding: 'buffer' })).toString('hex')}`;
      } else if (st.isDirectory()) {
        counts.dirs++;
        content = 'd';
      } else {
        content = `o ${st.mode & 0o170000n}`;
      }
      entries.set(relPath, { content, meta });
      total.update(relPath, 'latin1');
      total.update(`\0${content}\n`);
      if (st.isDirectory()) await walk(abs, relPath);
    }
  };
  await walk(root, '');
  return { entries, contentHash: total.digest('hex'), ...counts };
}

async function hashFile(file: string, buf: Buffer): Promise<string> {
  const h = createHash('sha256');
  const fh = await open(file, 'r');
  try {
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      h.update(buf.subarray(0, bytesRead));
    }
  } finally {
    await fh.close();
  }
  return h.digest('hex');
}

/** How a restored tree differs from its source. */
export interface ManifestDiff {
  /** True when every path exists on both sides with the same type, size and content. */
  contentEqual: boolean;
  missing: number;
  extra: number;
  contentDiffers: number;
  metaDiffers: number;
  /** A few differing paths, for the report. */
  examples: string[];
}

/** Compares a restored tree's manifest with the source's. */
export function compareManifests(source: Manifest, restored: Manifest): ManifestDiff {
  const d: ManifestDiff = {
    contentEqual: true,
    missing: 0,
    extra: 0,
    contentDiffers: 0,
    metaDiffers: 0,
    examples: [],
  };
  const note = (what: string, p: string): void => {
    if (d.examples.length < 5) d.examples.push(`${what}: ${p}`);
  };
  for (const [p, e] of source.entries) {
    const r = restored.entries.get(p);
    if (!r) {
      d.missing++;
      note('missing', p);
    } else if (r.content !== e.content) {
      d.contentDiffers++;
      note('content', p);
    } else if (r.meta !== e.meta) {
      d.metaDiffers++;
      if (d.metaDiffers <= 2) note(`meta ${e.meta} -> ${r.meta}`, p);
    }
  }
  for (const p of restored.entries.keys()) {
    if (!source.entries.has(p)) {
      d.extra++;
      note('extra', p);
    }
  }
  d.contentEqual = d.missing === 0 && d.extra === 0 && d.contentDiffers === 0;
  return d;
}
