/**
 * What the evidence pack is computed from, and only that: the policy file, the journal and
 * the repositories as they are now. Gathering reads; it decides nothing (compute.ts does),
 * so the same {@link ReportData} can be built by hand in tests.
 */
import type { Journal } from '../journal/journal.js';
import type { JournalRecord } from '../journal/record.js';
import { cleanLocation, cleanText } from '../journal/secrets.js';
import type { VerifyResult } from '../journal/verify.js';
import type { LoadedPolicy } from '../policy/load.js';
import { parseKeyFile } from '../repo/key.js';
import type { Repository } from '../repo/repository.js';
import { openPolicyRepository, type RepoAccess } from '../runner/repos.js';

/** The period a report covers: operations started at or after `from` and before `to` (ISO 8601 UTC). */
export interface ReportPeriod {
  from: string;
  to: string;
}

/** A snapshot as the report shows it. */
export interface SnapshotInfo {
  id: string;
  time: string;
  tags: string[];
  hostname: string | null;
  paths: string[];
  /** Bytes the backup processed (the snapshot's summary), when restic or arca stored one. */
  bytes: number | null;
}

/** How a repository is encrypted, read from its config and the key that opened it. */
export interface EncryptionInfo {
  /** restic repositories are always encrypted. */
  encrypted: true;
  cipher: 'AES-256-CTR';
  mac: 'Poly1305-AES';
  kdf: string;
  kdf_params: { N: number; r: number; p: number };
  key_id: string;
  key_created: string | null;
  repository_version: number;
}

/** One repository of the policy as found now. */
export interface RepositoryState {
  name: string;
  /** The location without credentials. */
  location: string;
  site: string;
  media: string;
  offsite: boolean;
  immutable: boolean;
  reachable: boolean;
  /** Why it could not be read, when it could not. */
  error: string | null;
  encryption: EncryptionInfo | null;
  /** Every snapshot, oldest first. */
  snapshots: SnapshotInfo[];
}

/** Everything a report is computed from. */
export interface ReportData {
  generated_at: string;
  period: ReportPeriod;
  policy: LoadedPolicy;
  journal: { file: string; verify: VerifyResult };
  /** Every journal record of operations started before the period's end, oldest first. */
  records: JournalRecord[];
  repositories: RepositoryState[];
}

/** Reads the journal (records and chain) and every repository of the policy. */
export async function gatherReport(
  loaded: LoadedPolicy,
  journal: Journal,
  access: RepoAccess,
  period: ReportPeriod,
  now: Date,
): Promise<ReportData> {
  const records = journal.list({ until: period.to });
  const verify = journal.verify();
  const repositories: RepositoryState[] = [];
  for (const name of Object.keys(loaded.policy.repositories))
    repositories.push(await repositoryState(loaded, name, access));
  return {
    generated_at: now.toISOString(),
    period,
    policy: loaded,
    journal: { file: journal.file, verify },
    records,
    repositories,
  };
}

async function repositoryState(
  loaded: LoadedPolicy,
  name: string,
  access: RepoAccess,
): Promise<RepositoryState> {
  const r = loaded.policy.repositories[name]!;
  const state: RepositoryState = {
    name,
    location: cleanLocation(r.location),
    site: r.site,
    media: r.media,
    offsite: r.offsite,
    immutable: r.immutable,
    reachable: false,
    error: null,
    encryption: null,
    snapshots: [],
  };
  let repo: Repository | undefined;
  try {
    repo = await openPolicyRepository(loaded.policy, name, access);
    state.encryption = await encryptionOf(repo);
    state.snapshots = (await repo.listSnapshots()).map((s) => ({
      id: s.id,
      time: new Date(Date.parse(s.time)).toISOString(),
      tags: s.tags ?? [],
      hostname: s.hostname ?? null,
      paths: s.paths,
      bytes: s.summary?.total_bytes_processed ?? null,
    }));
    state.reachable = true;
  } catch (err) {
    state.error = cleanText(err instanceof Error ? err.message : String(err));
  } finally {
    await repo?.backend.close();
  }
  return state;
}

/** The key's scrypt parameters and the repository's format version; never the key itself. */
async function encryptionOf(repo: Repository): Promise<EncryptionInfo> {
  const kf = parseKeyFile(repo.keyId, await repo.backend.load({ type: 'keys', name: repo.keyId }));
  return {
    encrypted: true,
    cipher: 'AES-256-CTR',
    mac: 'Poly1305-AES',
    kdf: kf.kdf,
    kdf_params: { N: kf.N, r: kf.r, p: kf.p },
    key_id: repo.keyId,
    key_created: kf.created ?? null,
    repository_version: repo.version,
  };
}
