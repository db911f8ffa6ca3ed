/**
 * Gathers what a restoration procedure says from where it is kept, so that nothing in it is
 * typed by hand: the dataset, its sources and copies from the policy; the last backup, the
 * last (non-simulated) drill and the open corrective actions from the journal.
 */
import path from 'node:path';
import { arcaDirs } from '../dirs.js';
import { ArcaError } from '../errors.js';
import type { Journal } from '../journal/journal.js';
import type { JournalRecord, JsonObject, JsonValue } from '../journal/record.js';
import { cleanLocation } from '../journal/secrets.js';
import type { Dataset } from '../policy/datasets.js';
import type { LoadedPolicy } from '../policy/load.js';
import { dumpFilename } from '../policy/sources.js';
import type {
  RunbookBackup,
  RunbookCorrectiveAction,
  RunbookData,
  RunbookDataset,
  RunbookDrill,
  RunbookDump,
} from './data.js';

/** Where the journal came from, for the runbook's footer. */
export type JournalSource = RunbookData['journal'];

/** What {@link gatherRunbook} reads. */
export interface GatherInput {
  loaded: LoadedPolicy;
  /** The journal, or undefined when there is none (then the history sections say so). */
  journal: Journal | undefined;
  journalSource: JournalSource;
  /** Only this dataset (default: every dataset of the policy). */
  dataset?: string;
  /** For the staging directory (`$XDG_STATE_HOME/arca/staging`). */
  env?: NodeJS.ProcessEnv;
  now?: Date;
  arcaVersion: string;
}

/** The runbook data for the policy's datasets (or the one named); ArcaError `usage` for an unknown dataset. */
export function gatherRunbook(input: GatherInput): RunbookData {
  const { policy } = input.loaded;
  const names = Object.keys(policy.datasets);
  if (input.dataset !== undefined && !names.includes(input.dataset))
    throw new ArcaError(
      'usage',
      `the policy has no dataset ${JSON.stringify(input.dataset)} (datasets: ${names.join(', ')})`,
    );
  const staging = path.join(arcaDirs(input.env ?? process.env).state, 'staging');
  const m = policy.metadata;
  return {
    generatedAt: (input.now ?? new Date()).toISOString(),
    arcaVersion: input.arcaVersion,
    policy: {
      file: input.loaded.file,
      id: m.id,
      version: m.version,
      owner: m.owner,
      approvedBy: m.approved_by,
      approvedOn: m.approved_on,
      sha256: input.loaded.sha256,
    },
    journal: input.journalSource,
    datasets: (input.dataset === undefined ? names : [input.dataset]).map((name) =>
      gatherDataset(input, name, policy.datasets[name]!, path.join(staging, name)),
    ),
  };
}

function gatherDataset(input: GatherInput, name: string, d: Dataset, stagingDir: string): RunbookDataset {
  const records = input.journal?.list({ dataset: name }) ?? [];
  return {
    name,
    owner: d.owner,
    classification: d.classification,
    tier: d.tier,
    rpo: d.rpo,
    rto: d.rto,
    mtd: d.mtd,
    paths: d.sources.paths ?? [],
    exclude: d.sources.exclude ?? [],
    dumps: dumpsOf(d, stagingDir),
    stagingDir,
    copies: d.copies.map((repo) => ({ name: repo, repository: input.loaded.policy.repositories[repo]! })),
    drillEvery: d.drill?.every ?? null,
    checks: (d.drill?.validate ?? []).map((c) => ({ name: c.name, command: c.command })),
    lastBackup: lastBackup(records),
    lastDrill: lastDrill(records),
    openActions: openActions(records),
  };
}

function dumpsOf(d: Dataset, stagingDir: string): RunbookDump[] {
  const s = d.sources;
  const at = (filename: string) => path.posix.join(stagingDir, filename);
  return [
    ...(s.commands ?? []).map((c) => ({
      kind: 'commands' as const,
      source: c.command,
      filename: c.filename,
    })),
    ...(s.postgres ?? []).map((p) => ({
      kind: 'postgres' as const,
      source: p.database,
      filename: dumpFilename('postgres', p),
      host: p.host,
      port: p.port,
      user: p.user,
    })),
    ...(s.mysql ?? []).map((p) => ({
      kind: 'mysql' as const,
      source: p.database,
      filename: dumpFilename('mysql', p),
      host: p.host,
      port: p.port,
      user: p.user,
    })),
    ...(s.sqlite ?? []).map((q) => ({
      kind: 'sqlite' as const,
      source: q.path,
      filename: dumpFilename('sqlite', q),
    })),
  ].map((dump) => ({ ...dump, snapshotPath: at(dump.filename) }));
}

function lastBackup(records: JournalRecord[]): RunbookBackup | null {
  const r = records.findLast(
    (x) => x.operation === 'backup' && (x.result === 'success' || x.result === 'partial'),
  );
  if (r === undefined) return null;
  return {
    time: r.ended_at ?? r.started_at,
    snapshotId: r.snapshot_id,
    repository: r.repository === null ? null : cleanLocation(r.repository),
  };
}

const obj = (v: JsonValue | undefined): JsonObject =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? v : {};
const str = (v: JsonValue | undefined): string | null => (typeof v === 'string' ? v : null);
const num = (v: JsonValue | undefined): number | null => (typeof v === 'number' ? v : null);
const bool = (v: JsonValue | undefined): boolean | null => (typeof v === 'boolean' ? v : null);

/** The newest drill that counts as evidence: a `--dry-run` (simulated) drill never does. */
function lastDrill(records: JournalRecord[]): RunbookDrill | null {
  const r = records.findLast((x) => x.operation === 'drill' && obj(x.details).simulated !== true);
  if (r === undefined) return null;
  const details = obj(r.details);
  const m = obj(details.measurements);
  const source = obj(details.source);
  const kind = str(m.restore_time_kind);
  return {
    drillId: str(details.drill_id),
    startedAt: r.started_at,
    result: r.result,
    repository: r.repository === null ? null : cleanLocation(r.repository),
    repositoryName: str(source.repository_name) ?? str(obj(details.selection).repository_name),
    snapshotId: r.snapshot_id,
    scope: str(details.scope),
    restoreTimeKind: kind === 'measured' || kind === 'forecast' ? kind : null,
    restoreTimeSeconds: num(m.restore_time_seconds) ?? num(m.restore_seconds),
    rtoSeconds: num(m.rto_seconds),
    rtoMet: bool(m.rto_met),
    rpoMet: bool(m.rpo_met),
    recoveryPointAgeSeconds: num(m.recovery_point_age_seconds),
    failureStage: str(obj(details.failure).stage),
    error: r.error,
  };
}

/** Corrective actions opened and not closed by a later record with the same id. */
function openActions(records: JournalRecord[]): RunbookCorrectiveAction[] {
  const open = new Map<string, RunbookCorrectiveAction>();
  for (const r of records) {
    if (r.operation !== 'corrective-action') continue;
    const d = obj(r.details);
    const id = str(d.id);
    if (id === null) continue;
    if (d.status === 'closed' || r.result === 'success') open.delete(id);
    else if (!open.has(id)) {
      open.set(id, {
        id,
        openedAt: r.started_at,
        drillId: str(d.drill_id),
        stage: str(d.stage),
        description: str(d.description),
      });
    }
  }
  return [...open.values()];
}
