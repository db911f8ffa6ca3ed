/**
 * Writing the evidence pack: the chosen renderings into a directory, then `index.json`
 * naming every artifact with its SHA-256 and size, so anyone can check later that nothing
 * was changed. The pack can also be stored into the policy's repositories as a snapshot of
 * its own (tag `arca-report`), so the evidence survives what the backups survive; each
 * store is recorded in the journal as a `report` operation.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ArcaError } from '../errors.js';
import type { Journal } from '../journal/journal.js';
import { recordRun } from '../journal/record_run.js';
import { backup } from '../ops/backup.js';
import type { LoadedPolicy } from '../policy/load.js';
import { type RepoAccess, withPolicyRepository } from '../runner/repos.js';
import type { Report } from './compute.js';
import { renderHtml } from './html.js';
import { renderMarkdown } from './markdown.js';

/** The tag of the pack's snapshots. */
export const reportTag = 'arca-report';

/** The renderings a pack can hold. */
export const reportFormats = ['html', 'json', 'md'] as const;
export type ReportFormat = (typeof reportFormats)[number];

/** One file of the pack, as index.json lists it. */
export interface Artifact {
  name: string;
  media_type: string;
  bytes: number;
  sha256: string;
}

/** What index.json holds. */
export interface PackIndex {
  schema: 'arca-report-index/v1';
  generated_at: string;
  period: Report['period'];
  policy: { id: string; version: string; sha256: string };
  journal_head: Report['journal']['head'];
  artifacts: Artifact[];
}

const files: Record<ReportFormat, { name: string; type: string; render: (r: Report) => string }> = {
  html: { name: 'report.html', type: 'text/html', render: renderHtml },
  json: { name: 'report.json', type: 'application/json', render: (r) => `${JSON.stringify(r, null, 2)}\n` },
  md: { name: 'report.md', type: 'text/markdown', render: renderMarkdown },
};

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** Writes the chosen renderings and index.json into `dir` (created if missing); returns the index. */
export function writePack(report: Report, dir: string, formats: readonly ReportFormat[]): PackIndex {
  try {
    mkdirSync(dir, { recursive: true });
    const artifacts: Artifact[] = [];
    for (const format of reportFormats) {
      if (!formats.includes(format)) continue;
      const f = files[format];
      const bytes = Buffer.from(f.render(report), 'utf8');
      writeFileSync(path.join(dir, f.name), bytes, { mode: 0o644 });
      artifacts.push({ name: f.name, media_type: f.type, bytes: bytes.length, sha256: sha256(bytes) });
    }
    const index: PackIndex = {
      schema: 'arca-report-index/v1',
      generated_at: report.generated_at,
      period: report.period,
      policy: { id: report.policy.id, version: report.policy.version, sha256: report.policy.sha256 },
      journal_head: report.journal.head,
      artifacts,
    };
    writeFileSync(path.join(dir, 'index.json'), `${JSON.stringify(index, null, 2)}\n`, { mode: 0o644 });
    return index;
  } catch (err) {
    throw new ArcaError('io', `cannot write the report into ${dir}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/** The SHA-256 of index.json in `dir`, as the journal records it. */
export function indexHash(dir: string): string {
  return sha256(readFileSync(path.join(dir, 'index.json')));
}

/** Where a pack was stored. */
export interface StoredPack {
  repository: string;
  snapshot_id: string | null;
  error: string | null;
}

/** What {@link storePack} needs. */
export interface StoreOptions {
  loaded: LoadedPolicy;
  journal: Journal;
  access: RepoAccess;
  host: string;
  /** Directory name inside the snapshot, e.g. `arca-report-2026-01-31`. */
  name: string;
}

/**
 * Backs the pack in `dir` (index.json and the files it lists) up into every repository of
 * the policy as one snapshot tagged `arca-report`, recording each as a `report` operation.
 * A repository that fails does not stop the others; its error is returned.
 */
export async function storePack(dir: string, index: PackIndex, o: StoreOptions): Promise<StoredPack[]> {
  const policy = o.loaded.policy;
  const staging = mkdtempSync(path.join(os.tmpdir(), 'arca-report-'));
  const packDir = path.join(staging, o.name);
  const out: StoredPack[] = [];
  try {
    mkdirSync(packDir);
    for (const name of ['index.json', ...index.artifacts.map((a) => a.name)])
      copyFileSync(path.join(dir, name), path.join(packDir, name));
    const indexSha = indexHash(dir);
    for (const name of Object.keys(policy.repositories)) {
      try {
        const { value } = await recordRun(
          o.journal,
          {
            operation: 'report',
            repository: policy.repositories[name]!.location,
            policy_hash: o.loaded.sha256,
            details: {
              repository_name: name,
              index_sha256: indexSha,
              period: { ...index.period },
              artifacts: index.artifacts.map((a) => ({ name: a.name, sha256: a.sha256, bytes: a.bytes })),
            },
          },
          (report) =>
            withPolicyRepository(policy, name, o.access, 'shared', async (repo) => {
              const saved = await backup(repo, {
                paths: [packDir],
                tags: [reportTag],
                host: o.host,
                workers: false,
              });
              report.snapshot_id = saved.snapshot?.id ?? null;
              report.bytes_read = saved.stats.totalBytes;
              report.files_read = saved.stats.totalFiles;
              report.bytes_added = saved.saver.dataAddedPacked;
              return saved.snapshot?.id ?? null;
            }),
        );
        out.push({ repository: name, snapshot_id: value, error: null });
      } catch (err) {
        out.push({
          repository: name,
          snapshot_id: null,
          error: err instanceof Error ? err.message : String(err),
        });
      }
    }
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  return out;
}
