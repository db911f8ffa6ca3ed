/**
 * The journal database: one SQLite file (WAL mode) holding every record in a hash chain.
 * Appends take SQLite's write lock before reading the head (BEGIN IMMEDIATE), so several
 * arca processes can append at once and the chain stays linear.
 */
import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { ArcaError } from '../errors.js';
import {
  entryToBody,
  genesisHash,
  type JournalEntry,
  type JournalRecord,
  type JournalResult,
  sealRecord,
} from './record.js';
import { type ChainExpectation, type VerifyResult, verifyChain } from './verify.js';

/** The schema this code writes; a newer one is refused rather than misread. */
export const journalSchemaVersion = 1;

/** Which records `list` returns; every given criterion must match. */
export interface JournalFilter {
  dataset?: string | string[];
  operation?: string | string[];
  result?: JournalResult | JournalResult[];
  repository?: string;
  /** Operations started at or after this time. */
  since?: string | Date;
  /** Operations started before this time. */
  until?: string | Date;
  /** Only the newest `last` of the matching records. */
  last?: number;
}

/** How to open a journal. */
export interface OpenJournalOptions {
  /** Open for reading only; the file must exist. */
  readonly?: boolean;
  /** How long to wait for another process's write lock, in ms (default 60 s). */
  busyTimeoutMs?: number;
}

// Every column of a record, in the order of the JournalRecord type.
const columns = [
  'seq',
  'prev_hash',
  'hash',
  'recorded_at',
  'who',
  'operation',
  'started_at',
  'ended_at',
  'duration_ms',
  'dataset',
  'repository',
  'level',
  'snapshot_id',
  'bytes_read',
  'files_read',
  'bytes_added',
  'files_added',
  'result',
  'error',
  'policy_hash',
  'details',
] as const satisfies readonly (keyof JournalRecord)[];

const schema = `
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL) STRICT;
CREATE TABLE IF NOT EXISTS records (
  id INTEGER PRIMARY KEY,
  seq INTEGER NOT NULL UNIQUE,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL,
  recorded_at TEXT NOT NULL,
  who TEXT NOT NULL,
  operation TEXT NOT NULL,
  started_at TEXT NOT NULL,
  ended_at TEXT,
  duration_ms INTEGER,
  dataset TEXT,
  repository TEXT,
  level TEXT,
  snapshot_id TEXT,
  bytes_read INTEGER,
  files_read INTEGER,
  bytes_added INTEGER,
  files_added INTEGER,
  result TEXT NOT NULL,
  error TEXT,
  policy_hash TEXT,
  details TEXT NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS records_started_at ON records (started_at);
CREATE INDEX IF NOT EXISTS records_dataset ON records (dataset, started_at);
-- Not a security boundary (whoever can write the file can drop these), but it stops
-- well-meant edits; the hash chain is what makes any change visible.
CREATE TRIGGER IF NOT EXISTS records_append_only_update BEFORE UPDATE ON records
  BEGIN SELECT RAISE(ABORT, 'journal records are append-only'); END;
CREATE TRIGGER IF NOT EXISTS records_append_only_delete BEFORE DELETE ON records
  BEGIN SELECT RAISE(ABORT, 'journal records are append-only'); END;
`;

type Row = Record<(typeof columns)[number], unknown>;

/** An open journal database. Synchronous, like better-sqlite3. */
export class Journal {
  private readonly insert: Database.Statement;
  private readonly headQuery: Database.Statement<[], { seq: number; hash: string }>;

  private constructor(
    /** The database file. */
    readonly file: string,
    private readonly db: Database.Database,
  ) {
    this.insert = db.prepare(
      `INSERT INTO records (${columns.join(', ')}) VALUES (${columns.map((c) => `@${c}`).join(', ')})`,
    );
    this.headQuery = db.prepare('SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1');
  }

  /** Opens the journal at `file`, creating it (and its directory, mode 0700) unless read-only. */
  static open(file: string, options: OpenJournalOptions = {}): Journal {
    const readonly = options.readonly === true;
    if (readonly && !existsSync(file)) throw new ArcaError('not-found', `no journal at ${file}`);
    const created = !existsSync(file);
    if (created) mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    let db: Database.Database | undefined;
    try {
      db = new Database(file, {
        readonly,
        fileMustExist: readonly,
        timeout: options.busyTimeoutMs ?? 60_000,
      });
      if (created) chmodSync(file, 0o600);
      if (!readonly) {
        db.pragma('journal_mode = WAL');
        // A record is on disk when append returns, even if the machine loses power.
        db.pragma('synchronous = FULL');
        const setup = db.transaction((d: Database.Database) => {
          d.exec(schema);
          const row = d.prepare('SELECT version FROM schema_version').get() as
            | { version: number }
            | undefined;
          if (row === undefined)
            d.prepare('INSERT INTO schema_version (version) VALUES (?)').run(journalSchemaVersion);
        });
        setup.immediate(db);
      }
      checkSchemaVersion(db, file);
      return new Journal(file, db);
    } catch (err) {
      db?.close();
      throw journalError(err, file);
    }
  }

  /** Appends a record for `entry` (checked and cleaned of secrets) and returns it as stored. */
  append(entry: JournalEntry): JournalRecord {
    const body = entryToBody(entry);
    const tx = this.db.transaction(() => {
      const head = this.headQuery.get();
      const record = sealRecord(body, head ? head.seq + 1 : 1, head?.hash ?? genesisHash, new Date());
      this.insert.run({ ...record, details: JSON.stringify(record.details) });
      return record;
    });
    try {
      return tx.immediate();
    } catch (err) {
      throw journalError(err, this.file);
    }
  }

  /** The records matching `filter`, oldest first (by seq). */
  list(filter: JournalFilter = {}): JournalRecord[] {
    const where: string[] = [];
    const params: unknown[] = [];
    const anyOf = (column: string, v: string | string[] | undefined): void => {
      if (v === undefined) return;
      const values = Array.isArray(v) ? v : [v];
      if (values.length === 0) return;
      where.push(`${column} IN (${values.map(() => '?').join(', ')})`);
      params.push(...values);
    };
    anyOf('dataset', filter.dataset);
    anyOf('operation', filter.operation);
    anyOf('result', filter.result);
    anyOf('repository', filter.repository);
    if (filter.since !== undefined) {
      where.push('started_at >= ?');
      params.push(isoBound(filter.since, 'since'));
    }
    if (filter.until !== undefined) {
      where.push('started_at < ?');
      params.push(isoBound(filter.until, 'until'));
    }
    let sql = `SELECT ${columns.join(', ')} FROM records${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''}`;
    if (filter.last !== undefined) {
      sql = `SELECT * FROM (${sql} ORDER BY seq DESC LIMIT ?) ORDER BY seq`;
      params.push(Math.max(0, Math.floor(filter.last)));
    } else {
      sql += ' ORDER BY seq';
    }
    try {
      return (this.db.prepare(sql).all(...params) as Row[]).map(rowToRecord);
    } catch (err) {
      throw journalError(err, this.file);
    }
  }

  /** Every record in stored (insertion) order, as verification and export read them. */
  *records(): Generator<JournalRecord> {
    const q = this.db.prepare(`SELECT ${columns.join(', ')} FROM records ORDER BY id`);
    for (const row of q.iterate() as IterableIterator<Row>) yield rowToRecord(row);
  }

  /** The newest record's seq and hash, or null when the journal is empty. */
  head(): { seq: number; hash: string } | null {
    return this.headQuery.get() ?? null;
  }

  /** Checks the whole chain (and, with `expect`, that nothing was cut from its end). */
  verify(expect: ChainExpectation = {}): VerifyResult {
    try {
      // One read transaction: appends by other processes meanwhile are not half-seen.
      return this.db.transaction(() => verifyChain(this.records(), expect)).deferred();
    } catch (err) {
      throw journalError(err, this.file);
    }
  }

  /** Closes the database; the journal cannot be used afterwards. */
  close(): void {
    if (this.db.open) this.db.close();
  }
}

function checkSchemaVersion(db: Database.Database, file: string): void {
  let row: { version: number } | undefined;
  try {
    row = db.prepare('SELECT max(version) AS version FROM schema_version').get() as typeof row;
  } catch {
    throw new ArcaError('corrupt', `${file} is not an arca journal (no schema_version table)`);
  }
  if (row?.version == null)
    throw new ArcaError('corrupt', `${file} is not an arca journal (no schema version)`);
  if (row.version > journalSchemaVersion)
    throw new ArcaError(
      'unsupported',
      `journal ${file} has schema version ${row.version}; this arca understands up to ${journalSchemaVersion}`,
    );
}

// A record exactly as stored, without repairing anything: a changed type or unparseable
// details must make verification fail, not be smoothed over.
function rowToRecord(row: Row): JournalRecord {
  let details: unknown = row.details;
  if (typeof details === 'string') {
    try {
      details = JSON.parse(details);
    } catch {
      // Left as text; the hash will not match.
    }
  }
  return { ...row, details } as JournalRecord;
}

function isoBound(t: string | Date, name: string): string {
  const ms = t instanceof Date ? t.getTime() : Date.parse(t);
  if (!Number.isFinite(ms)) throw new ArcaError('usage', `journal: ${name} ${String(t)} is not a time`);
  return new Date(ms).toISOString();
}

function journalError(err: unknown, file: string): unknown {
  if (err instanceof ArcaError || !(err instanceof Database.SqliteError)) return err;
  const msg = `journal ${file}: ${err.message}`;
  if (err.code.startsWith('SQLITE_BUSY') || err.code.startsWith('SQLITE_LOCKED'))
    return new ArcaError('locked', `${msg} (another process holds it)`, { cause: err, transient: true });
  if (err.code === 'SQLITE_NOTADB' || err.code.startsWith('SQLITE_CORRUPT'))
    return new ArcaError('corrupt', msg, { cause: err });
  return new ArcaError('io', msg, { cause: err });
}
