import { ArcaError } from '../errors.js';
import type { Id } from './id.js';
import { shortId } from './id.js';
import { encodeIndexFile, type IndexPack } from './index.js';
import { eagerHeaderBytes, headerLength, parseHeader } from './pack.js';
import type { Repository } from './repository.js';
import { saveUnpacked } from './unpacked.js';

/** What adopting orphaned packs did. */
export interface OrphanReport {
  adopted: number;
  blobs: number;
  /** Packs whose header could not be read or authenticated; they are left alone. */
  unreadable: Id[];
}

/**
 * Indexes complete packs that no index names: what an interrupted backup (arca's or
 * restic's) uploaded before it could write its index. Each header is authenticated with
 * the master key, so only blobs this repository's key wrote are adopted, and a new index
 * file lists them, after which a backup can reuse them instead of uploading them again.
 * Pack files are written atomically, so a listed pack is complete. Nothing is deleted.
 */
export async function adoptOrphanPacks(
  repo: Repository,
  opts: { dryRun?: boolean } = {},
): Promise<OrphanReport> {
  await repo.loadIndex();
  const known = repo.index.packs();
  const orphans: { id: Id; size: number }[] = [];
  for await (const fi of repo.backend.list('data'))
    if (!known.has(fi.name)) orphans.push({ id: fi.name, size: fi.size });
  const report: OrphanReport = { adopted: 0, blobs: 0, unreadable: [] };
  const adopted: IndexPack[] = [];
  for (const o of orphans) {
    try {
      const tailLen = Math.min(o.size, eagerHeaderBytes);
      let tail = await repo.backend.load({ type: 'data', name: o.id }, o.size - tailLen, tailLen);
      const hlen = headerLength(tail, o.size, o.id);
      if (hlen + 4 > tail.length)
        tail = await repo.backend.load({ type: 'data', name: o.id }, o.size - hlen - 4, hlen + 4);
      const blobs = parseHeader(
        repo.key,
        tail.subarray(tail.length - 4 - hlen, tail.length - 4),
        o.size,
        o.id,
      );
      adopted.push({ id: o.id, blobs });
      report.blobs += blobs.length;
    } catch (err) {
      if (!(err instanceof ArcaError)) throw err;
      report.unreadable.push(o.id);
    }
  }
  if (adopted.length > 0 && !opts.dryRun) {
    await saveUnpacked(repo.backend, repo.key, repo.version, 'index', encodeIndexFile(adopted));
    for (const p of adopted) repo.index.addPack(p.id, p.blobs);
  }
  report.adopted = adopted.length;
  return report;
}

/** A one-line description of an orphan report, for logs. */
export function describeOrphans(r: OrphanReport): string {
  const parts = [`indexed ${r.adopted} packs (${r.blobs} blobs) left by an interrupted run`];
  if (r.unreadable.length > 0)
    parts.push(
      `${r.unreadable.length} unreadable packs left alone (${r.unreadable.map(shortId).join(', ')})`,
    );
  return parts.join('; ');
}
