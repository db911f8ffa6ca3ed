/**
 * A journal record: what arca did, when, where and how it ended, chained to the record
 * before it by a SHA-256 hash. The canonical form hashed here is documented in
 * docs/journal.md, precisely enough for an auditor to recompute it without arca.
 */
import { createHash } from 'node:crypto';
import os from 'node:os';
import { ArcaError } from '../errors.js';
import { cleanDetails, cleanLocation, cleanText } from './secrets.js';

/** How an operation ended. */
export const journalResults = ['success', 'partial', 'failed', 'interrupted'] as const;
export type JournalResult = (typeof journalResults)[number];

/** The operations arca records; others may be added (lowercase words joined by `-`). */
export type KnownOperation =
  | 'backup'
  | 'copy'
  | 'forget'
  | 'prune'
  | 'check'
  | 'restore'
  | 'drill'
  | 'policy-change'
  | 'key-change'
  | 'notification';

/** A JSON value as it is stored and hashed. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** The `prev_hash` of the first record. */
export const genesisHash = '0'.repeat(64);

/** One stored journal record, with the field names of its JSON form (export, `--json`, hash). */
export interface JournalRecord {
  /** 1 for the first record, then consecutive. */
  seq: number;
  /** `hash` of the record before, or {@link genesisHash} for the first. */
  prev_hash: string;
  /** SHA-256 (lowercase hex) of the canonical form of every other field. */
  hash: string;
  /** When the record was appended (ISO 8601 UTC). */
  recorded_at: string;
  /** `user@host` that performed the operation. */
  who: string;
  operation: KnownOperation | (string & {});
  started_at: string;
  ended_at: string | null;
  duration_ms: number | null;
  dataset: string | null;
  /** The repository's printable location, never with credentials. */
  repository: string | null;
  /** Backup level (`full`, `differential`, `incremental`) where one applies. */
  level: string | null;
  snapshot_id: string | null;
  bytes_read: number | null;
  files_read: number | null;
  bytes_added: number | null;
  files_added: number | null;
  result: JournalResult;
  error: string | null;
  /** SHA-256 (lowercase hex) of the policy file in force when the operation ran. */
  policy_hash: string | null;
  /** Anything else worth keeping, as a JSON object (secrets are redacted). */
  details: JsonObject;
}

/** The fields of a record that the journal fills in when it appends. */
export type ChainFields = 'seq' | 'prev_hash' | 'hash' | 'recorded_at';

/** What a caller records: the operation, its outcome and what it touched. */
export interface JournalEntry {
  operation: KnownOperation | (string & {});
  result: JournalResult;
  started_at: string | Date;
  ended_at?: string | Date | null;
  /** Computed from `started_at` and `ended_at` when not given. */
  duration_ms?: number | null;
  /** Defaults to the current user at this host. */
  who?: string;
  dataset?: string | null;
  repository?: string | null;
  level?: string | null;
  snapshot_id?: string | null;
  bytes_read?: number | null;
  files_read?: number | null;
  bytes_added?: number | null;
  files_added?: number | null;
  error?: string | null;
  policy_hash?: string | null;
  details?: Record<string, unknown>;
}

/** A record before the journal gives it its place in the chain. */
export type RecordBody = Omit<JournalRecord, ChainFields>;

/**
 * The canonical JSON form (RFC 8785, JCS): object keys sorted by UTF-16 code units,
 * no whitespace, strings and numbers as ECMAScript's JSON.stringify writes them.
 */
export function canonicalJson(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new ArcaError('usage', `journal: ${value} is not a JSON number`);
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
      const o = value as Record<string, unknown>;
      const keys = Object.keys(o).sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
    }
    default:
      throw new ArcaError('usage', `journal: a ${typeof value} cannot be stored`);
  }
}

/** SHA-256 (lowercase hex) of the UTF-8 canonical form of `record` without its `hash` field. */
export function recordHash(record: object): string {
  const { hash: _hash, ...rest } = record as Record<string, unknown>;
  return createHash('sha256').update(canonicalJson(rest), 'utf8').digest('hex');
}

/** Gives `body` its place in the chain: sequence number, previous hash, append time and its own hash. */
export function sealRecord(body: RecordBody, seq: number, prevHash: string, recordedAt: Date): JournalRecord {
  const unsealed = { seq, prev_hash: prevHash, recorded_at: recordedAt.toISOString(), ...body };
  return { ...unsealed, hash: recordHash(unsealed) };
}

/** `user@host` of this process. */
export function currentWho(): string {
  let user: string;
  try {
    user = os.userInfo().username;
  } catch {
    // No passwd entry for the uid (common in containers).
    user = process.env.USER || process.env.LOGNAME || `uid${process.getuid?.() ?? ''}`;
  }
  return `${user}@${os.hostname()}`;
}

/** Checks an entry and turns it into a record body: UTC times, whole counts, secrets removed. */
export function entryToBody(entry: JournalEntry): RecordBody {
  if (typeof entry.operation !== 'string' || !/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/.test(entry.operation))
    throw new ArcaError(
      'usage',
      `journal: operation ${JSON.stringify(entry.operation)} is not a lowercase word`,
    );
  if (!journalResults.includes(entry.result))
    throw new ArcaError(
      'usage',
      `journal: result ${JSON.stringify(entry.result)} is not one of ${journalResults.join(', ')}`,
    );
  const started = isoTime(entry.started_at, 'started_at')!;
  const ended = isoTime(entry.ended_at, 'ended_at');
  let duration = count(entry.duration_ms, 'duration_ms');
  if (duration === null && ended !== null) duration = Math.max(0, Date.parse(ended) - Date.parse(started));
  if (entry.policy_hash != null && !/^[0-9a-f]{64}$/.test(entry.policy_hash))
    throw new ArcaError('usage', 'journal: policy_hash must be a lowercase hex SHA-256');
  const details = entry.details ?? {};
  if (typeof details !== 'object' || details === null || Array.isArray(details))
    throw new ArcaError('usage', 'journal: details must be a JSON object');
  return {
    who: text(entry.who ?? currentWho(), 'who')!,
    operation: entry.operation,
    started_at: started,
    ended_at: ended,
    duration_ms: duration,
    dataset: text(entry.dataset, 'dataset'),
    repository: entry.repository == null ? null : cleanLocation(text(entry.repository, 'repository')!),
    level: text(entry.level, 'level'),
    snapshot_id: text(entry.snapshot_id, 'snapshot_id'),
    bytes_read: count(entry.bytes_read, 'bytes_read'),
    files_read: count(entry.files_read, 'files_read'),
    bytes_added: count(entry.bytes_added, 'bytes_added'),
    files_added: count(entry.files_added, 'files_added'),
    result: entry.result,
    error: text(entry.error, 'error'),
    policy_hash: entry.policy_hash ?? null,
    details: cleanDetails(details),
  };
}

function isoTime(t: string | Date | null | undefined, field: string): string | null {
  if (t == null) return null;
  const ms = t instanceof Date ? t.getTime() : Date.parse(t);
  if (!Number.isFinite(ms)) throw new ArcaError('usage', `journal: ${field} ${String(t)} is not a time`);
  return new Date(ms).toISOString();
}

function count(n: number | null | undefined, field: string): number | null {
  if (n == null) return null;
  if (!Number.isFinite(n) || n < 0)
    throw new ArcaError('usage', `journal: ${field} must be a number of at least 0, not ${n}`);
  return Math.round(n);
}

function text(s: string | null | undefined, field: string): string | null {
  if (s == null) return null;
  if (typeof s !== 'string') throw new ArcaError('usage', `journal: ${field} must be a string`);
  return cleanText(s);
}
