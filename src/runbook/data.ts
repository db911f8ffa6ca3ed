/**
 * What a restoration procedure is made of: plain data gathered from the policy and the
 * journal (gather.ts) and turned into markdown (render.ts). Kept apart so that rendering
 * can be tested on data made by hand, without a policy file or a journal.
 */
import type { Repository as PolicyRepository } from '../policy/repositories.js';

/** The policy a runbook was generated from. */
export interface RunbookPolicy {
  file: string;
  id: string;
  version: string;
  /** Who maintains the policy: where the key-escrow copies are looked after. */
  owner: string;
  approvedBy: string;
  approvedOn: string;
  /** SHA-256 of the policy file's bytes. */
  sha256: string;
}

/** A dump a dataset backs up: the output of a command or database tool, stored as a file in the snapshot. */
export interface RunbookDump {
  kind: 'commands' | 'postgres' | 'mysql' | 'sqlite';
  /** What was dumped: the command, database name or SQLite file. */
  source: string;
  /** Its name under the staging directory (`sqlite/app.db`). */
  filename: string;
  /** Its absolute path inside the snapshot. */
  snapshotPath: string;
  /** Database server connection, for the commands that load the dump again. */
  host?: string;
  port?: number;
  user?: string;
}

/** A repository holding a copy, with its policy entry (which may hold secrets: render never prints them). */
export interface RunbookCopy {
  name: string;
  repository: PolicyRepository;
}

/** A user-supplied check to run after a restore (`drill.validate` in the policy). */
export interface RunbookCheck {
  name: string;
  command: string;
}

/** The newest non-simulated drill of a dataset, from its journal record. */
export interface RunbookDrill {
  drillId: string | null;
  startedAt: string;
  result: string;
  /** The location drilled from (without credentials) and its name in the policy. */
  repository: string | null;
  repositoryName: string | null;
  snapshotId: string | null;
  scope: string | null;
  restoreTimeKind: 'measured' | 'forecast' | null;
  restoreTimeSeconds: number | null;
  rtoSeconds: number | null;
  rtoMet: boolean | null;
  rpoMet: boolean | null;
  recoveryPointAgeSeconds: number | null;
  failureStage: string | null;
  error: string | null;
}

/** A corrective action that is still open. */
export interface RunbookCorrectiveAction {
  id: string;
  openedAt: string;
  drillId: string | null;
  stage: string | null;
  description: string | null;
}

/** The newest good backup of a dataset. */
export interface RunbookBackup {
  time: string;
  snapshotId: string | null;
  repository: string | null;
}

/** Everything one dataset's procedure says. */
export interface RunbookDataset {
  name: string;
  owner: string;
  classification: string;
  tier: number;
  rpo: string;
  rto: string;
  mtd: string;
  paths: string[];
  exclude: string[];
  dumps: RunbookDump[];
  /** The staging directory dumps are written to and backed up from. */
  stagingDir: string;
  copies: RunbookCopy[];
  drillEvery: string | null;
  checks: RunbookCheck[];
  lastBackup: RunbookBackup | null;
  lastDrill: RunbookDrill | null;
  openActions: RunbookCorrectiveAction[];
}

/** Every dataset's procedure, with where it comes from. */
export interface RunbookData {
  generatedAt: string;
  arcaVersion: string;
  policy: RunbookPolicy;
  /** The journal read, and whether it was there (a missing journal just means no history). */
  journal: { file: string; state: 'read' | 'missing' | 'unreadable'; problem?: string };
  datasets: RunbookDataset[];
}
